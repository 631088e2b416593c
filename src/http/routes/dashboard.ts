import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { packageFile } from '../../package-files.ts';

const WEB_DIR = packageFile('src/web');

/** The dashboard's files: a fixed list, so no request path ever reaches the file system. */
const ASSETS: Record<string, string> = {
  'dashboard.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
  'buckets.js': 'text/javascript; charset=utf-8',
  'buckets.css': 'text/css; charset=utf-8',
};

/**
 * Scripts and styles only from this origin, API calls only to it, no framing: an injected string
 * could not run even if one slipped past the textContent-only rendering.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/**
 * The web dashboard at `/`: static files, no server-side session. The page asks for an API key,
 * keeps it in sessionStorage and calls the native API with it like any other client.
 */
export function dashboardRoutes(): FastifyPluginAsync {
  return async (app) => {
    const index = await readFile(path.join(WEB_DIR, 'index.html'));
    const bucketsPage = await readFile(path.join(WEB_DIR, 'buckets.html'));
    const assets = new Map<string, { body: Buffer; type: string }>();
    for (const [name, type] of Object.entries(ASSETS)) {
      assets.set(name, { body: await readFile(path.join(WEB_DIR, name)), type });
    }

    app.get('/', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) =>
      reply.headers(SECURITY_HEADERS).type('text/html; charset=utf-8').send(index),
    );

    app.get('/buckets', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) =>
      reply.headers(SECURITY_HEADERS).type('text/html; charset=utf-8').send(bucketsPage),
    );

    app.get<{ Params: { asset: string } }>(
      '/dashboard/:asset',
      { schema: { hide: true }, logLevel: 'warn' },
      async (request, reply) => {
        const asset = assets.get(request.params.asset);
        if (!asset) return reply.code(404).send({ code: 'not_found', message: 'no such dashboard file' });
        return reply.headers(SECURITY_HEADERS).type(asset.type).send(asset.body);
      },
    );
  };
}
