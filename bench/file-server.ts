import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RoundStamp, STAMP_BYTES } from './data.ts';

export interface FileServer {
  /** URL of a file under the served directory; with `stamp`, served with that RoundStamp applied. */
  urlFor(file: string, stamp?: RoundStamp): string;
  close(): Promise<void>;
}

/** XORs a RoundStamp into the tail of a file as it streams past, tracking the offset of each chunk. */
function stamping(stamp: RoundStamp, fileSize: number): Transform {
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      stamp.apply(chunk, offset, fileSize);
      offset += chunk.length;
      done(null, chunk);
    },
  });
}

function stampOf(url: URL): RoundStamp | undefined {
  const hex = url.searchParams.get('stamp');
  if (!hex || !new RegExp(`^[0-9a-f]{${2 * STAMP_BYTES}}$`).test(hex)) return undefined;
  return new RoundStamp(Buffer.from(hex, 'hex'));
}

/**
 * A plain HTTP server on 127.0.0.1 that serves files of one directory, with Content-Length. A
 * `?stamp=` query serves the file with its tail XORed, so one file on disk yields bytes that clamd's
 * MD5 cache has never seen, for every request that asks with a fresh stamp.
 */
export async function startFileServer(root: string): Promise<FileServer> {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const file = path.resolve(root, decodeURIComponent(url.pathname).slice(1));
    if (!file.startsWith(path.resolve(root) + path.sep)) {
      response.writeHead(404).end();
      return;
    }
    stat(file).then(
      (info) => {
        response.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(info.size),
        });
        const stamp = stampOf(url);
        const source = createReadStream(file, { highWaterMark: 256 * 1024 });
        const streamed = stamp
          ? pipeline(source, stamping(stamp, info.size), response)
          : pipeline(source, response);
        // The client hung up (a cancelled download): nothing to answer any more.
        streamed.catch(() => response.destroy());
      },
      () => response.writeHead(404).end(),
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    urlFor: (file, stamp) => {
      const relative = path.relative(root, file).split(path.sep).map(encodeURIComponent).join('/');
      return `http://127.0.0.1:${port}/${relative}${stamp ? `?stamp=${stamp.key.toString('hex')}` : ''}`;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
