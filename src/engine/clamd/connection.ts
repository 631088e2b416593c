import net from 'node:net';
import { messageOf, ScanGateError } from '../../errors.ts';
import { type ClamdAddress, formatClamdAddress } from './address.ts';
import { type ClamdCommandName, encodeCommand, parseSessionReply, ReplyAccumulator } from './protocol.ts';

export interface ConnectOptions {
  connectTimeoutMs: number;
  /** Aborting destroys the connection; pending calls reject with the signal's reason. */
  signal?: AbortSignal | undefined;
}

function unavailable(message: string, cause?: unknown): ScanGateError {
  return new ScanGateError('engine_unavailable', message, { retryable: true, cause });
}

/**
 * One clamd connection: either one command (clamd answers once and closes) or an IDSESSION
 * session, which carries command after command, each reply prefixed with its command's id.
 * The reply is collected from the moment the command starts: clamd may answer (and close) while we
 * are still streaming, and that reply must not be lost to the write error that follows.
 */
export class ClamdConnection {
  readonly address: string;
  readonly #socket: net.Socket;
  #accumulator = new ReplyAccumulator();
  #reply = Promise.withResolvers<string>();
  /** False between commands of a session: clamd sends nothing unasked there. */
  #awaitingReply = true;
  #closedError: unknown;
  #lastSocketError: Error | undefined;
  /** The signal of the command in progress: aborting it destroys the connection. */
  #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.destroy();
  /** Inside IDSESSION: the id of the last command sent (clamd counts every command from 1). */
  #sessionCommandId: number | undefined;

  private constructor(address: string, socket: net.Socket, session: boolean) {
    this.address = address;
    this.#socket = socket;
    if (session) this.#sessionCommandId = 0;
    this.#reply.promise.catch(() => {}); // read through readReply(); a destroyed connection's reply is moot
    socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('error', (error) => {
      this.#lastSocketError = error;
    });
    socket.on('close', () => {
      this.#signal?.removeEventListener('abort', this.#onAbort);
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

  #onData(data: Buffer): void {
    const socket = this.#socket;
    if (!this.#awaitingReply) {
      // Only a session clamd ends on its own (its ReadTimeout) speaks unasked: never reuse it.
      socket.destroy(new Error(`clamd sent ${JSON.stringify(data.toString('latin1', 0, 100))} unasked`));
      return;
    }
    let reply: string | undefined;
    try {
      reply = this.#accumulator.push(data);
    } catch (error) {
      socket.destroy(error as Error);
      return;
    }
    if (reply === undefined) return;
    this.#awaitingReply = false;
    if (this.#sessionCommandId === undefined) {
      this.#reply.resolve(reply);
      return;
    }
    const { id, text } = parseSessionReply(reply);
    if (id === this.#sessionCommandId || (id === undefined && text === 'COMMAND READ TIMED OUT')) {
      this.#reply.resolve(text);
      if (this.#accumulator.trailing) socket.destroy(new Error('clamd sent more than the reply'));
      return;
    }
    // A reply to another command is no answer to this one: the scan fails, never borrows a verdict.
    socket.destroy(
      new Error(
        `clamd answered ${JSON.stringify(reply.slice(0, 100))} while command ${this.#sessionCommandId} of the session waited`,
      ),
    );
  }

  /** Connects and starts an IDSESSION, checked with a PING: rejects if clamd will not hold one. */
  static async openSession(
    address: ClamdAddress,
    options: ConnectOptions & { replyTimeoutMs: number },
  ): Promise<ClamdConnection> {
    const connection = await ClamdConnection.#connect(address, options, true);
    try {
      connection.startCommand(options.signal);
      await connection.write([encodeCommand('IDSESSION'), encodeCommand('PING')], options.replyTimeoutMs);
      const pong = await connection.readReply(options.replyTimeoutMs);
      if (pong !== 'PONG') throw new Error(`it answered ${JSON.stringify(pong.slice(0, 100))} to PING`);
      connection.endCommand();
      return connection;
    } catch (error) {
      connection.destroy();
      if (options.signal?.aborted) throw options.signal.reason;
      // Connected, yet no session: the pool falls back to one connection per scan.
      throw new ScanGateError(
        'engine_unavailable',
        `clamd at ${connection.address} holds no IDSESSION: ${messageOf(error)}`,
        {
          retryable: true,
          cause: error,
          details: { sessionRefused: true },
        },
      );
    }
  }

  /** Connects for one command; aborting `options.signal` destroys the connection. */
  static async open(address: ClamdAddress, options: ConnectOptions): Promise<ClamdConnection> {
    const connection = await ClamdConnection.#connect(address, options, false);
    connection.startCommand(options.signal);
    return connection;
  }

  /**
   * Starts the next command: a fresh reply is awaited, in a session under the next id. Aborting
   * `signal` destroys the connection until endCommand().
   */
  startCommand(signal: AbortSignal | undefined): void {
    if (this.#closedError) throw this.#closedError;
    this.#bindSignal(signal);
    if (this.#sessionCommandId !== undefined) {
      this.#sessionCommandId++;
      this.#accumulator = new ReplyAccumulator();
      this.#reply = Promise.withResolvers<string>();
      this.#reply.promise.catch(() => {});
    }
    this.#awaitingReply = true;
  }

  /** The command is over: its signal no longer reaches the connection. */
  endCommand(): void {
    this.#bindSignal(undefined);
  }

  #bindSignal(signal: AbortSignal | undefined): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = signal;
    if (signal?.aborted) this.destroy();
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** A session whose last command was answered and which clamd has not closed. */
  get reusable(): boolean {
    return (
      this.#sessionCommandId !== undefined && !this.closed && !this.#awaitingReply && !this.#socket.destroyed
    );
  }

  /** Commands sent on this session so far (its PING included); undefined for a one-command connection. */
  get sessionCommands(): number | undefined {
    return this.#sessionCommandId;
  }

  static #connect(
    address: ClamdAddress,
    options: ConnectOptions,
    session: boolean,
  ): Promise<ClamdConnection> {
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
        resolve(new ClamdConnection(name, socket, session));
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
