import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable, Transform } from 'node:stream';
import type { Multipart } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { ScanGateError } from '../errors.ts';
import { lingerOnRefusal } from './lingering-close.ts';

/** Longest upload filename kept (UTF-8 bytes): it is stored with the job and echoed in answers. */
export const MAX_FILENAME_BYTES = 1024;

export interface UploadedFile {
  stream: Readable;
  filename: string;
  /** Text fields that came before the file part. */
  fields: Record<string, string>;
}

/** busboy's limit errors and parse failures, as our codes: a hostile form is never a 500. */
function formError(error: unknown): unknown {
  if (error instanceof ScanGateError) return error;
  const { code, statusCode, message } = error as { code?: string; statusCode?: number; message?: string };
  if (code === 'FST_FILES_LIMIT') return new ScanGateError('payload_too_large', 'only one file per request');
  if (statusCode === 413)
    return new ScanGateError('payload_too_large', `the form has too many parts (${message})`);
  if (statusCode === 406 || statusCode === 415)
    return new ScanGateError('unsupported_media_type', message ?? 'not a multipart body', { cause: error });
  // A client's mistake (a `__proto__` field name, …) stays a 400 even when it surfaces only after
  // the file was read: as a ScanGateError a synchronous scan answers it instead of a verdict.
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500)
    return new ScanGateError('invalid_request', message ?? 'malformed multipart body', { cause: error });
  return new ScanGateError('invalid_request', `malformed multipart body: ${message ?? 'unreadable'}`);
}

/**
 * The stream handed to the consumer ends only once the rest of the form is known to be empty, so
 * a second file, a field after the file, or a limit busboy hit makes the consumer fail (the blob
 * store removes what it staged) instead of being silently ignored after the job was queued.
 */
function endsWithTheForm(parts: AsyncIterator<Multipart>): Transform {
  return new Transform({
    transform(chunk, _encoding, callback) {
      callback(null, chunk);
    },
    flush(callback) {
      parts.next().then(
        (next) => {
          if (next.done) return callback();
          if (next.value.type === 'file') next.value.file.resume();
          callback(
            new ScanGateError('invalid_request', 'nothing may follow the file part of the form', {
              details: { field: next.value.fieldname },
            }),
          );
        },
        (error: unknown) => callback(formError(error) as Error),
      );
    },
  });
}

/**
 * `source` piped into `stream`, and each one's end passed to the other as stream.pipeline would:
 * a client abort or busboy's error fails the consumer's stream, and a consumer that stops reading
 * early ends the file part (busboy stops, the form's iteration ends). pipeline itself costs every
 * upload an AbortController aborted at its end, a DOMException and its stack trace (1.2 % of an
 * async 1 KB job's CPU in the profile).
 */
function connected(source: Readable, stream: Transform): Transform {
  source.on('error', (error) => stream.destroy(error));
  source.once('close', () => {
    if (!source.readableEnded)
      stream.destroy(
        source.errored ?? new ScanGateError('invalid_request', 'the upload ended before its file part did'),
      );
  });
  stream.once('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  // The consumer hears the stream's error through its own read; one that comes after it stopped
  // reading (the form's second file, found at the end) must not be an uncaught 'error' event.
  stream.on('error', () => {});
  source.pipe(stream);
  return stream;
}

/**
 * The single file part of a multipart request, as a stream: nothing is buffered. Size is enforced
 * by whoever consumes the stream (blob store or engine), which stops at the limit.
 */
export async function singleFile(
  request: FastifyRequest,
  fieldName: string | undefined,
): Promise<UploadedFile> {
  if (!request.isMultipart())
    throw new ScanGateError('unsupported_media_type', 'expected multipart/form-data');
  const fields: Record<string, string> = {};
  let parts: AsyncIterator<Multipart>;
  let file: Extract<Multipart, { type: 'file' }> | undefined;
  try {
    parts = request.parts()[Symbol.asyncIterator]();
    for (let next = await parts.next(); !next.done; next = await parts.next()) {
      const part = next.value;
      if (part.type === 'file') {
        file = part;
        break;
      }
      // busboy cuts an over-long field silently; a truncated trace_id or URL must not be used.
      if (part.valueTruncated || part.fieldnameTruncated)
        throw new ScanGateError('payload_too_large', `form field "${part.fieldname}" is too long`, {
          details: { field: part.fieldname },
        });
      if (typeof part.value === 'string') fields[part.fieldname] ??= part.value;
    }
  } catch (error) {
    throw formError(error);
  }
  if (!file)
    throw new ScanGateError('invalid_request', 'the form has no file part', {
      details: { field: fieldName ?? 'file' },
    });
  if (fieldName && file.fieldname !== fieldName) {
    file.file.resume();
    throw new ScanGateError('invalid_request', `the file must be sent in the "${fieldName}" field`, {
      details: { field: fieldName },
    });
  }
  if (Buffer.byteLength(file.filename ?? '', 'utf8') > MAX_FILENAME_BYTES) {
    file.file.resume();
    throw new ScanGateError('invalid_request', `the filename exceeds ${MAX_FILENAME_BYTES} bytes`, {
      details: { field: 'filename', maxBytes: MAX_FILENAME_BYTES },
    });
  }
  return { stream: connected(file.file, endsWithTheForm(parts)), filename: file.filename, fields };
}

/**
 * The engine destroys a stream it stops reading (at the size limit, or when clamd fails), and
 * destroying the request itself would reset the socket before the 413 or 503 reaches the client.
 * So the engine gets a stream of its own, and the rest of the request lingers (bounded) behind the
 * answer.
 */
export function detachedRequestBody(request: IncomingMessage): Readable {
  const detached = new PassThrough();
  request.pipe(detached);
  detached.once('close', () => {
    if (request.readableEnded) return;
    request.unpipe(detached);
    lingerOnRefusal(request);
  });
  return detached;
}
