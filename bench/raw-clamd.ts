import net from 'node:net';
import type { Payload } from './data.ts';

const INSTREAM = Buffer.from('zINSTREAM\0');
const END = Buffer.alloc(4);
const CHUNK = 256 * 1024;

function header(length: number): Buffer {
  const buffer = Buffer.allocUnsafe(4);
  buffer.writeUInt32BE(length);
  return buffer;
}

function write(socket: net.Socket, data: Buffer): Promise<void> | undefined {
  if (socket.write(data)) return undefined;
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      socket.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      socket.off('drain', onDrain);
      reject(new Error('clamd closed the connection while we were sending'));
    };
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

/**
 * The ceiling: the least a client can do to have clamd scan one file. One unix-socket connection per
 * file, `zINSTREAM`, 256 KiB frames (one write per in-memory file), the zero frame, read the reply.
 */
export function rawInstream(socketPath: string, payload: Payload): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    const replies: Buffer[] = [];
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(error);
    };
    socket.on('data', (data: Buffer) => {
      replies.push(data);
      if (data.includes(0)) {
        settled = true;
        const reply = Buffer.concat(replies).toString('latin1');
        socket.destroy();
        resolve(reply.slice(0, reply.indexOf('\0')));
      }
    });
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('clamd closed the connection without a reply')));
    socket.once('connect', () => {
      if (payload.buffer) {
        const frames: Buffer[] = [INSTREAM];
        for (let offset = 0; offset < payload.buffer.length; offset += CHUNK) {
          const chunk = payload.buffer.subarray(offset, offset + CHUNK);
          frames.push(header(chunk.length), chunk);
        }
        frames.push(END);
        socket.write(Buffer.concat(frames));
        return;
      }
      (async () => {
        await write(socket, INSTREAM);
        for await (const chunk of payload.chunks(CHUNK))
          await write(socket, Buffer.concat([header(chunk.length), chunk]));
        await write(socket, END);
      })().catch(fail);
    });
  });
}
