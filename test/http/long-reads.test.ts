import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import { sqliteStorePath } from '../../src/store/open-store.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { KEY_A, startTestService, type TestService } from '../support/service.ts';

const ROWS = 1_000_000;
const HOUR_MS = 3_600_000;

let dataDir: string;
let running: TestService;

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'scangate-long-reads-'));
  const file = sqliteStorePath(dataDir);
  const store = new SqliteStore(file);
  await store.init();
  await store.close();
  // A million of tenant-a's results over the last day, bulk-inserted: one in 10,000 infected, none
  // blocked, so a list page filtered by status walks the tenant's whole index.
  const raw = new DatabaseSync(file);
  const now = Date.now();
  raw.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
    INSERT INTO jobs (id, tenant_id, dialect, source, state, attempts, created_at, completed_at,
      next_attempt_at, result, result_status)
    SELECT 'bulk-' || i, 'tenant-a', 'native', '{"kind":"upload","blobKey":"k","size":1}', 'done', 1,
      ${now} - i * ${Math.floor((24 * HOUR_MS) / ROWS)}, ${now} - i * ${Math.floor((24 * HOUR_MS) / ROWS)}, 0,
      CASE WHEN i % 10000 = 0 THEN '{"status":"infected","engine":"clamav","signature":"X"}'
           ELSE '{"status":"clean","engine":"clamav"}' END,
      CASE WHEN i % 10000 = 0 THEN 'infected' ELSE 'clean' END
    FROM n`);
  raw.close();
  running = await startTestService({}, dataDir);
});

after(async () => {
  await running?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function timed(url: string, headers: Record<string, string> = {}): Promise<number> {
  const started = performance.now();
  const response = await fetch(url, { headers });
  await response.arrayBuffer();
  assert.equal(response.status, 200, url);
  return performance.now() - started;
}

test('with a million results, /healthz answers within 50 ms while the stats and a deep list page run, and is never held for a read', async (t) => {
  const auth = { authorization: `Bearer ${KEY_A}` };
  const longReads = Promise.all([
    timed(`${running.url}/v1/stats?hours=720`, auth),
    timed(`${running.url}/v1/scans?status=blocked&limit=50`, auth),
    timed(
      `${running.url}/v1/scans?status=infected&limit=50&before=${new Date(Date.now() - 12 * HOUR_MS).toISOString()}`,
      auth,
    ),
  ]);
  let done = false;
  void longReads.finally(() => {
    done = true;
  });
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const probes: number[] = [];
  while (!done) {
    probes.push(await timed(`${running.url}/healthz`));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const [stats, blockedPage, infectedPage] = await longReads;
  const slowest = Math.max(...probes);
  const context = `probes ${probes.length}, slowest ${slowest.toFixed(1)} ms; stats ${stats.toFixed(0)} ms, pages ${blockedPage.toFixed(0)} and ${infectedPage.toFixed(0)} ms`;
  t.diagnostic(context);
  t.diagnostic(
    `probes: ${probes.map((probe) => probe.toFixed(0)).join(' ')}; loop delay max ${(loop.max / 1e6).toFixed(0)} ms p99 ${(loop.percentile(99) / 1e6).toFixed(0)}`,
  );
  assert.ok(probes.length >= 3, `the long reads ran while /healthz was probed (${context})`);
  // The median holds the 50 ms bound; the slowest probe is judged against the reads themselves: a
  // read on the event loop holds a probe for its whole duration, whereas a probe that waited for a
  // core on a busy machine (the CI runner, other suites) is slow without anything being blocked.
  const median = [...probes].sort((a, b) => a - b)[Math.floor(probes.length / 2)]!;
  assert.ok(median < 50, `median probe ${median.toFixed(1)} ms; ${context}`);
  assert.ok(slowest < Math.max(50, Math.max(stats, blockedPage, infectedPage) / 2), context);

  const listed = (await (
    await fetch(`${running.url}/v1/scans?status=infected&limit=500`, { headers: auth })
  ).json()) as {
    scans?: unknown[];
  };
  assert.equal(
    Object.values(listed).find(Array.isArray)?.length,
    ROWS / 10_000,
    'the filtered list is complete',
  );
});
