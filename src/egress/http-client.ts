/**
 * undici, the HTTP client of every outbound request (URL downloads, callbacks, SNS confirmations),
 * imported at the first of them: its entry module loads every part of it (fetch, mocks, caches,
 * WebSocket), ~4.5 MiB of heap that a service which never makes one should not hold.
 */
type HttpClient = typeof import('undici');

let loading: Promise<HttpClient> | undefined;

export function loadHttpClient(): Promise<HttpClient> {
  // undici is CommonJS: Node's import gives its exports as named exports and as `default`; the
  // bundled build's lazy chunk gives them as `default` only. `default` is right in both.
  loading ??= import('undici').then((module) => (module as { default?: HttpClient }).default ?? module);
  return loading;
}
