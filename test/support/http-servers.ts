import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';

/** A real HTTP server on a loopback address and random port, counting what reaches it. */
export interface TestHttpServer {
  host: string;
  port: number;
  /** http://host:port (IPv6 hosts bracketed). */
  origin: string;
  /** TCP connections accepted so far. */
  connections: number;
  /** Requests received so far, in order. */
  requests: http.IncomingMessage[];
  close(): Promise<void>;
}

export type TestHandler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

export async function startHttpServer(handler: TestHandler, host = '127.0.0.1'): Promise<TestHttpServer> {
  const server = http.createServer();
  const sockets = new Set<net.Socket>();
  const state: TestHttpServer = {
    host,
    port: 0,
    origin: '',
    connections: 0,
    requests: [],
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  server.on('connection', (socket: net.Socket) => {
    state.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    state.requests.push(request);
    handler(request, response);
  });
  server.listen(0, host);
  await once(server, 'listening');
  state.port = (server.address() as net.AddressInfo).port;
  state.origin = `http://${net.isIPv6(host) ? `[${host}]` : host}:${state.port}`;
  return state;
}

/** A bare TCP listener that only counts connections: proof that nothing was dialled. */
export interface Canary {
  host: string;
  port: number;
  connections: number;
  close(): Promise<void>;
}

export async function startCanary(host = '127.0.0.1', port = 0): Promise<Canary> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    canary.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.destroy();
  });
  const canary: Canary = {
    host,
    port: 0,
    connections: 0,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  server.listen(port, host);
  await once(server, 'listening');
  canary.port = (server.address() as net.AddressInfo).port;
  return canary;
}

/** Reads a request body whole (test receivers only: bodies here are tiny JSON). */
export async function readBody(request: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
