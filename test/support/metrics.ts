import assert from 'node:assert/strict';

/** The value of one sample in Prometheus text format; labels must match exactly (any order). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '')
      .split(/,(?=\w+=")/)
      .filter(Boolean)
      .sort()
      .join(',');
    if (have === wanted) return Number(match[3]);
  }
  return undefined;
}

/** GET /metrics of a running service, checked to be Prometheus text. */
export async function metricsText(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return response.text();
}

/**
 * A snapshot of /metrics to count what happens after it: `delta` is how much a sample grew since
 * (a sample not yet exported counts as 0), for services shared by several tests.
 */
export async function metricsSnapshot(
  url: string,
): Promise<{ delta(name: string, labels?: Record<string, string>): Promise<number> }> {
  const before = await metricsText(url);
  return {
    async delta(name, labels = {}) {
      const now = sample(await metricsText(url), name, labels) ?? 0;
      return now - (sample(before, name, labels) ?? 0);
    },
  };
}
