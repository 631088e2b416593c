import { randomBytes } from 'node:crypto';

export interface MultipartFilePart {
  field: string;
  filename: string;
  contentType: string;
  /** The file's bytes, pulled one chunk at a time: nothing is buffered beyond the chunk in flight. */
  content: AsyncIterable<Uint8Array>;
  /** Known size lets the body carry a Content-Length; unknown sizes are sent chunked. */
  size?: number;
}

export interface MultipartBody {
  contentType: string;
  body: AsyncIterable<Uint8Array>;
  /** Total bytes of the encoded body, when the file's size is known. */
  length?: number;
}

/** Quotes a name the way browsers do (WHATWG multipart/form-data encoding). */
function quoted(name: string): string {
  return name.replaceAll('"', '%22').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

/**
 * Encodes text fields followed by one file part as a multipart/form-data stream. The fields come
 * first because scangate reads them before the file (trace_id, callback_url, custom_data).
 */
export function multipartBody(fields: Record<string, string>, file: MultipartFilePart): MultipartBody {
  const boundary = `----scangate-${randomBytes(16).toString('hex')}`;
  let head = '';
  for (const [name, value] of Object.entries(fields)) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"\r\n\r\n${value}\r\n`;
  }
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(file.field)}"; ` +
    `filename="${quoted(file.filename)}"\r\nContent-Type: ${file.contentType}\r\n\r\n`;
  const headBytes = Buffer.from(head, 'utf8');
  const tailBytes = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');

  async function* body(): AsyncGenerator<Uint8Array> {
    yield headBytes;
    yield* file.content;
    yield tailBytes;
  }

  const encoded: MultipartBody = { contentType: `multipart/form-data; boundary=${boundary}`, body: body() };
  if (file.size !== undefined) encoded.length = headBytes.length + file.size + tailBytes.length;
  return encoded;
}

/** Counts bytes as the consumer pulls them (the request body is pulled as the socket drains). */
export async function* countingBytes(
  content: AsyncIterable<Uint8Array>,
  onBytes: (total: number) => void,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of content) {
    yield chunk;
    total += chunk.byteLength;
    onBytes(total);
  }
}

/** A buffer in slices, so progress moves and the socket gets bounded writes. */
export async function* slices(buffer: Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < buffer.byteLength; offset += size)
    yield buffer.subarray(offset, offset + size);
}
