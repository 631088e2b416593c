import net from 'node:net';
import { ScanGateError } from '../../errors.ts';
import { type ClamdAddress, formatClamdAddress } from './address.ts';
import { type ClamdCommandName, encodeCommand, ReplyAccumulator } from './protocol.ts';

export interface ConnectOptions {
  connectTimeoutMs: number;
  /** Aborting destroys the connection; pending calls reject with the signal's reason. */
  signal?: AbortSignal | undefined;
}

function unavailable(message: string, cause?: unknown): ScanGateError {
  return new ScanGateError('engine_unavailable', message, { retryable: true, cause });
}

/**
 * One clamd connection carrying one command. clamd answers once and closes, so the reply is
 * collected from the moment the socket connects: clamd may answer (and close) while we are still
 * streaming, and that reply must not be lost to the write error that follows.
 */
export class ClamdConnection {
  readonly address: string;
  readonly #socket: net.Socket;
  readonly #accumulator = new ReplyAccumulator();
  readonly #reply = Promise.withResolvers<string>();
  #closedError: unknown;
  #lastSocketError: Error | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.destroy();

  private constructor(address: string, socket: net.Socket, signal: AbortSignal | undefined) {
    this.address = address;
    this.#socket = socket;
    this.#signal = signal;
    this.#reply.promise.catch(() => {}); // read through readReply(); a destroyed connection's reply is moot
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    socket.on('data', (data: Buffer) => {
      try {
        const reply = this.#accumulator.push(data);
        if (reply !== undefined) this.#reply.resolve(reply);
      } catch (error) {
        socket.destroy(error as Error);
      }
    });
    socket.on('error', (error) => {
      this.#lastSocketError = error;
    });
    socket.on('close', () => {
      signal?.removeEventListener('abort', this.#onAbort);
      const cause = this.#lastSocketError;
      this.#closedError =
        this.#abortReason() ??
        unavailable(
          `clamd at ${address} closed the connection without a reply${cause ? ` (${cause.message})` : ''}`,
          cause,
        );
      // A no-op when the reply already arrived.
      this.#reply.reject(this.#closedError);
    });
  }

  static open(address: ClamdAddress, options: ConnectOptions): Promise<ClamdConnection> {
    const name = formatClamdAddress(address);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const socket =
        address.kind === 'unix'
          ? net.connect({ path: address.path })
          : net.connect({ host: address.host, port: address.port });
      const settle = (error?: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off('connect', onConnect);
        if (error) {
          socket.destroy();
          reject(error);
        }
      };
      const onConnect = () => {
        settle();
        socket.setNoDelay(true);
        resolve(new ClamdConnection(name, socket, signal));
      };
      const onError = (error: Error) =>
        settle(unavailable(`cannot connect to clamd at ${name}: ${error.message}`, error));
      const onAbort = () => settle(signal?.reason);
      const timer = setTimeout(
        () =>
          settle(
            unavailable(
              `cannot connect to clamd at ${name}: no answer within ${options.connectTimeoutMs} ms`,
            ),
          ),
        options.connectTimeoutMs,
      );
      socket.once('connect', onConnect);
      socket.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #abortReason(): unknown {
    return this.#signal?.aborted ? this.#signal.reason : undefined;
  }

  /** The reply, if clamd has answered already. */
  get reply(): string | undefined {
    return this.#accumulator.reply;
  }

  get closed(): boolean {
    return this.#closedError !== undefined;
  }

  /**
   * Writes buffers as one write (one INSTREAM frame: header and payload) and waits while the
   * socket's buffer is full (backpressure: at most one frame is held beyond the kernel's buffers).
   * A write stalled for `stallTimeoutMs` is an engine timeout.
   */
  async write(buffers: Buffer[], stallTimeoutMs: number): Promise<void> {
    if (this.#closedError) throw this.#closedError;
    const socket = this.#socket;
    // Corked writes go out as one writev: no copy of the payload into a joined buffer.
    socket.cork();
    let flushed = true;
    for (const buffer of buffers) flushed = socket.write(buffer);
    socket.uncork();
    if (flushed) {
      // Let the event loop read before we write again: clamd may have answered (refusing the
      // stream) and closed, and the write error that follows would destroy the socket unread.
      await new Promise((resolve) => setImmediate(resolve));
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const done = (error?: unknown) => {
        clearTimeout(timer);
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.#closedError);
      const timer = setTimeout(() => {
        const error = new ScanGateError(
          'engine_timeout',
          `clamd at ${this.address} accepted no data for ${stallTimeoutMs} ms`,
          { retryable: true },
        );
        done(error);
        this.destroy();
      }, stallTimeoutMs);
      socket.on('drain', onDrain);
      socket.on('close', onClose);
    });
  }

  /** Waits for clamd's reply; no reply within `timeoutMs` is an engine timeout. */
  async readReply(timeoutMs: number): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new ScanGateError(
            'engine_timeout',
            `clamd at ${this.address} did not answer within ${timeoutMs} ms`,
            {
              retryable: true,
            },
          ),
        );
        this.destroy();
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.#reply.promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

export interface CommandOptions extends ConnectOptions {
  replyTimeoutMs: number;
}

/** Sends one short command (PING, VERSION, STATS) on its own connection and answers the reply. */
export async function clamdCommand(
  address: ClamdAddress,
  command: Exclude<ClamdCommandName, 'INSTREAM'>,
  options: CommandOptions,
): Promise<string> {
  const connection = await ClamdConnection.open(address, options);
  try {
    await connection.write([encodeCommand(command)], options.replyTimeoutMs);
    return await connection.readReply(options.replyTimeoutMs);
  } finally {
    connection.destroy();
  }
}
