import assert from 'node:assert/strict';

/** What must never reach a client: our paths, source locations, dependency paths, stack frames. */
const LEAKS = [/\/work\//, /\.ts:\d/, /node_modules/, /\bError:/, /^\s+at .+\(.+\)$/m, /\bat [\w.<>]+ \(/];

/**
 * Checks a refusal: its status, our JSON error shape with a stable code, and that its body holds
 * no path or stack trace. Returns the parsed body.
 */
export async function expectRefusal(
  response: Response,
  status: number,
  code: string,
): Promise<{ code: string; message: string }> {
  const text = await response.text();
  assert.equal(response.status, status, `expected ${status} ${code}, got ${response.status}: ${text}`);
  for (const leak of LEAKS) assert.doesNotMatch(text, leak, `error body leaks internals: ${text}`);
  const body = JSON.parse(text) as { code: string; message: string };
  assert.equal(body.code, code, text);
  assert.ok(typeof body.message === 'string' && body.message.length > 0);
  return body;
}

export function assertNoLeak(text: string): void {
  for (const leak of LEAKS) assert.doesNotMatch(text, leak, `error body leaks internals: ${text}`);
}
