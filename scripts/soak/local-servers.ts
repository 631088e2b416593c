import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { verifyCallbackSignature } from 'scangate/client';
import { eicarBytes } from '../../src/engine/eicar.ts';

/** The bytes of soak input number `n`: distinct per n, so clamd's and scangate's caches rarely answer. */
export function soakContent(infected: boolean, n: number): Buffer {
  if (infected) return Buffer.concat([eicarBytes(), Buffer.from(`\n${n}\n`)]);
  const size = 1024 + ((n * 7919) % (48 * 1024));
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(`soak-${n}`).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

interface LocalServer {
  origin: string;
  close(): Promise<void>;
}

async function listen(handler: http.RequestListener): Promise<LocalServer> {
  const server = http.createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Serves `/clean/<n>` and `/infected/<n>` for URL scans. */
export function startFileServer(): Promise<LocalServer> {
  return listen((request, response) => {
    const match = /^\/(clean|infected)\/(\d+)$/.exec(request.url ?? '');
    if (!match) return void response.writeHead(404).end();
    const body = soakContent(match[1] === 'infected', Number(match[2]));
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    response.end(body);
  });
}

export interface ReceivedCallback {
  webhookId: string;
  traceId?: string;
  status?: string;
  signatureValid: boolean;
  /** What the receiver answered: 204 when it accepted the delivery, 500 during an outage. */
  answeredWith: number;
}

/** The callback receiver: records every attempt, and answers 500 while an outage is on. */
export class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  outage = false;
  readonly #secret: string;
  #server: LocalServer | undefined;

  constructor(secret: string) {
    this.#secret = secret;
  }

  get origin(): string {
    if (!this.#server) throw new Error('receiver not started');
    return this.#server.origin;
  }

  async start(): Promise<void> {
    this.#server = await listen((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        let parsed: { trace_id?: string; status?: string } = {};
        try {
          parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
        } catch {
          // recorded with no trace id; an unparsable body is itself a finding
        }
        const answeredWith = this.outage ? 500 : 204;
        this.received.push({
          webhookId: String(request.headers['webhook-id'] ?? ''),
          ...(parsed.trace_id !== undefined ? { traceId: parsed.trace_id } : {}),
          ...(parsed.status !== undefined ? { status: parsed.status } : {}),
          signatureValid: verifyCallbackSignature(this.#secret, request.headers, body),
          answeredWith,
        });
        response.writeHead(answeredWith).end();
      });
    });
  }

  /** Deliveries the receiver accepted (2xx), which is what "delivered" means to the sender. */
  accepted(): ReceivedCallback[] {
    return this.received.filter((entry) => entry.answeredWith < 300);
  }

  close(): Promise<void> {
    return this.#server?.close() ?? Promise.resolve();
  }
}
