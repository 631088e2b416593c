import { round } from '../stats.ts';
import type { DialectResult, GrowthReport, ReferenceResult, SweepResult } from './report.ts';

const BEGIN = '<!-- growth:begin: written by `npm run bench:growth`; edit outside these markers -->';
const END = '<!-- growth:end -->';
const MiB = 1024 * 1024;

type Cell = string | number | null | undefined;

function table(header: string[], rows: Cell[][]): string {
  const cell = (value: Cell) =>
    value === null || value === undefined || Number.isNaN(value) ? '–' : String(value);
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, index) => (index === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

const millions = (rows: number) =>
  rows >= 1e6 ? `${round(rows / 1e6, 1)} M` : rows >= 1e3 ? `${round(rows / 1e3, 1)} k` : String(rows);

export interface GrowthTarget {
  dialect: string;
  target: string;
  held: boolean | null;
  measured: string;
}

/** Every target of issue #18, judged against the empty store of the same run. */
export function growthTargets(report: GrowthReport): GrowthTarget[] {
  const targets: GrowthTarget[] = [];
  for (const result of report.dialects) {
    const base = result.points.find((point) => point.retained === 0 && point.queued === 0);
    const top = [...result.points].sort((a, b) => b.retained - a.retained || b.queued - a.queued)[0];
    const where = top ? `${millions(top.retained)} retained, ${millions(top.queued)} queued` : '';
    const ratio = (
      pick: (point: ReferenceResult) => number,
      limit: number,
      name: string,
      higherIsBetter = false,
    ) => {
      if (!top || (top === base && !top.reference)) return;
      const against = (baseline: ReferenceResult, point: ReferenceResult) =>
        higherIsBetter ? pick(baseline) / pick(point) : pick(point) / pick(baseline);
      const figures = (baseline: ReferenceResult, point: ReferenceResult) =>
        `${round(pick(baseline), 2)} → ${round(pick(point), 2)} (${round(against(baseline, point), 2)}×)`;
      const sequential = base && top !== base ? figures(base, top) : undefined;
      // The empty store measured in turns with the filled one shares its seconds of the machine; the
      // one measured minutes before does not (its claims/s moved 3,001–5,230 between runs).
      const value = top.reference ? against(top.reference, top) : against(base!, top);
      targets.push({
        dialect: result.label ?? result.dialect,
        target: `${name} within ${limit}× of the empty store (at ${where})`,
        held: value <= limit,
        measured: top.reference
          ? `${figures(top.reference, top)} against the empty store beside it, in turns${sequential ? `; against the empty point before: ${sequential}` : ''}`
          : sequential!,
      });
    };
    ratio((point) => point.submit.p99Ms, 1.3, 'submit p99 (ms)');
    ratio((point) => point.claimsPerSecond, 1.3, 'claims/s', true);
    ratio((point) => point.lookupById.p50Ms, 1.3, 'lookup by id p50 (ms)');
    ratio((point) => point.lookupByTraceId.p50Ms, 1.3, 'lookup by trace_id p50 (ms)');
    const largest = Math.max(...result.points.map((point) => point.retained));
    for (const point of result.points.filter((candidate) => candidate.retained === largest)) {
      targets.push({
        dialect: result.label ?? result.dialect,
        target: `stats p99 < 200 ms (${millions(point.retained)} retained, ${millions(point.queued)} queued)`,
        held: point.statsBigTenant.p99Ms < 200,
        measured: `${point.statsBigTenant.p99Ms} ms (the tenant with half the results)`,
      });
    }
    for (const sweep of result.sweeps) {
      const value = sweep.submitDuring.p99Ms / sweep.submitBefore.p99Ms;
      targets.push({
        dialect: result.label ?? result.dialect,
        target: `submit p99 ≤ 2× while the sweep deletes ${millions(sweep.rows)} (${millions(sweep.retained)} retained)`,
        held: value <= 2,
        measured: `${sweep.submitBefore.p99Ms} → ${sweep.submitDuring.p99Ms} ms (${round(value, 2)}×, ${sweep.submitDuring.count} submits)${sweepRates(sweep)}`,
      });
    }
    if (result.dialect === 'sqlite') {
      for (const retained of new Set(result.sweeps.map((sweep) => sweep.retained))) {
        const cycles = result.sweeps.filter((sweep) => sweep.retained === retained);
        const first = cycles[0]!;
        const last = cycles.at(-1)!;
        const sizes = cycles.map((sweep) => round(sweep.storageAfter.bytes / MiB, 1)).join(' → ');
        targets.push({
          dialect: result.label ?? result.dialect,
          target: `SQLite file stops growing under churn (${millions(retained)} retained, ${cycles.length} cycles of ${millions(first.rows)} added and swept)`,
          held: cycles.length < 2 ? null : last.storageAfter.bytes <= first.storageAfter.bytes * 1.05,
          measured: `${round(first.storageBefore.bytes / MiB, 1)} MiB before, ${round(first.storageFilled.bytes / MiB, 1)} filled; after each sweep ${sizes} MiB`,
        });
      }
    }
    if (result.fairness) {
      const value = result.fairness.manyTenantsClaimMs / result.fairness.oneTenantClaimMs;
      targets.push({
        dialect: result.label ?? result.dialect,
        target: `claim with ${result.fairness.tenants} tenants queued within 1.3× of one tenant`,
        held: value <= 1.3,
        measured: `${result.fairness.oneTenantClaimMs} → ${result.fairness.manyTenantsClaimMs} ms per claim (${round(value, 1)}×)`,
      });
    }
  }
  return targets;
}

function pointsTable(result: DialectResult): string {
  return table(
    [
      'retained',
      'queued',
      'load',
      'submit p50 / p99 ms',
      'claims/s',
      'by id p50 / p99 ms',
      'by trace_id p50 / p99 ms',
      'list first p50 / p99 ms',
      'list deep p50 / p99 ms',
      'stats (big) p50 / p99 ms',
      'stats (small) p50 / p99 ms',
    ],
    result.points.map((point) => [
      millions(point.retained),
      millions(point.queued),
      point.loadAverage,
      `${point.submit.p50Ms} / ${point.submit.p99Ms}`,
      point.claimsPerSecond,
      `${point.lookupById.p50Ms} / ${point.lookupById.p99Ms}`,
      `${point.lookupByTraceId.p50Ms} / ${point.lookupByTraceId.p99Ms}`,
      `${point.listFirstPage.p50Ms} / ${point.listFirstPage.p99Ms}`,
      `${point.listDeepPage.p50Ms} / ${point.listDeepPage.p99Ms}`,
      `${point.statsBigTenant.p50Ms} / ${point.statsBigTenant.p99Ms}`,
      `${point.statsSmallTenant.p50Ms} / ${point.statsSmallTenant.p99Ms}`,
    ]),
  );
}

/** Each point beside the empty store measured in turns with it: the ratios the targets judge. */
function referenceTable(result: DialectResult): string {
  const points = result.points.filter((point) => point.reference);
  if (points.length === 0) return '';
  const pair = (empty: number, filled: number, higherIsBetter = false) =>
    `${empty} / ${filled} (${round(higherIsBetter ? empty / filled : filled / empty, 2)}×)`;
  return table(
    [
      'retained',
      'queued',
      'submit p99 ms, empty / filled',
      'claims/s, empty / filled',
      'by id p50 ms, empty / filled',
      'by trace_id p50 ms, empty / filled',
    ],
    points.map((point) => {
      const empty = point.reference!;
      return [
        millions(point.retained),
        millions(point.queued),
        pair(empty.submit.p99Ms, point.submit.p99Ms),
        pair(empty.claimsPerSecond, point.claimsPerSecond, true),
        pair(empty.lookupById.p50Ms, point.lookupById.p50Ms),
        pair(empty.lookupByTraceId.p50Ms, point.lookupByTraceId.p50Ms),
      ];
    }),
  );
}

/** Rows/s while the submits ran (a window of the sweep, when it had one) and over the whole sweep. */
function sweepRates(sweep: SweepResult): string {
  const whole = `${sweep.rowsPerSecond} rows/s over the sweep`;
  return sweep.rowsPerSecondWhileSubmitting === undefined
    ? `, ${whole}`
    : `, ${sweep.rowsPerSecondWhileSubmitting} rows/s during the ${sweep.windowSeconds} s of submits, ${whole}`;
}

function sweepTable(result: DialectResult): string {
  return table(
    [
      'retained',
      'load',
      'rows deleted',
      'seconds',
      'rows/s',
      'rows/s while submitting (s of submits)',
      'submit p99 before / during ms',
      'store MiB before / filled / after',
    ],
    result.sweeps.map((sweep) => [
      millions(sweep.retained),
      sweep.loadAverage,
      sweep.rows,
      sweep.seconds,
      sweep.rowsPerSecond,
      sweep.rowsPerSecondWhileSubmitting === undefined
        ? 'whole sweep'
        : `${sweep.rowsPerSecondWhileSubmitting} (${sweep.windowSeconds})`,
      `${sweep.submitBefore.p99Ms} / ${sweep.submitDuring.p99Ms}`,
      `${round(sweep.storageBefore.bytes / MiB, 1)} / ${round(sweep.storageFilled.bytes / MiB, 1)} / ${round(sweep.storageAfter.bytes / MiB, 1)}`,
    ]),
  );
}

function storageLine(result: DialectResult): string {
  const largest = [...result.storage].sort((a, b) => b.retained - a.retained)[0];
  const empty = result.storage.find((entry) => entry.retained === 0);
  if (!largest || largest.retained === 0) return '';
  const perMillion = ((largest.figures.bytes - (empty?.figures.bytes ?? 0)) / largest.retained) * 1e6;
  return `Storage: ${round(largest.figures.bytes / MiB, 0)} MiB at ${millions(largest.retained)} retained results, ${round(perMillion / MiB, 0)} MiB per million (tables and indexes; detail in the JSON).`;
}

function explainSection(result: DialectResult): string {
  if (!result.explain) return '';
  const lines = [
    `EXPLAIN at ${millions(result.explain.retained)} retained, ${millions(result.explain.queued)} queued (${result.dialect}):`,
    '',
    '```text',
  ];
  for (const plan of result.explain.plans) {
    lines.push(`-- ${plan.name}`);
    lines.push(...plan.plan.map((line) => `   ${line}`));
  }
  lines.push('```');
  return lines.join('\n');
}

export function renderGrowthMarkdown(report: GrowthReport, jsonLink: string): string {
  const { machine } = report;
  const sections = [
    BEGIN,
    '## Growth: ten million results, ten thousand tenants, a queue a million deep (`npm run bench:growth`)',
    '',
    `Command: \`${report.command}\`, started ${report.startedAt}, took ${round(report.durationSeconds / 60, 1)} min; raw results in [${jsonLink}](${jsonLink}). ` +
      `Machine: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, commit ${machine.gitCommit || 'unknown'}. ` +
      `1-minute load average at the start and after each dialect: ${machine.loadAverages.join(', ')} (two other engineers' work shares these 2 cores; each row shows the load when it started).`,
    '',
    'Setup: scangate started in the bench process (`startService`, role api: no local workers, so the queue keeps what was filled; SIGNATURES=test); ' +
      'the bench claims and sweeps on the service’s own store, as the workers and the sweeper of a single node do (on SQLite the sweep runs on the store’s maintenance thread and takes the write turn the API’s writes share). ' +
      'The store is filled with SQL (bench/growth/fill.ts): retained results half one tenant’s (`tenant-big`, whose lists and stats are read) and half spread over 9,999 others, completed over the last 22 hours; ' +
      `queued jobs spread over ${report.settings.tenants.toLocaleString('en')} tenants, all due. Submits are 1 KiB native uploads (\`POST /v1/scans/file\`), one at a time; ` +
      'claims are taken one at a time as a busy worker slot takes them, each verdict stored in the transaction that leases the next job (`completeAndLease`; lease + complete, two transactions, in runs before 2026-12-02 12:00), with a turn of the event loop after each (as a worker slot waits for clamd), each measurement after 100 claims not counted (the jobs of the empty store are one tenant’s); ' +
      'a second scangate with a store of its own that is never filled (its jobs are the bench’s own) runs beside the filled one, and at every point the submits, claims (blocks of 50) and lookups go to the two in turns (ABBA), so the ratios the targets judge share the machine’s seconds; ' +
      'lookups read the big tenant’s results by id (`GET /v1/scans/:id`) and by trace_id (bucketAV `GET /api/v1/scan/async/result`); the deep list page is `before` = 20 hours ago; ' +
      `stats are \`GET /v1/stats?hours=24\`. The sweep is \`store.jobs.sweepExpired\` on expired results added for it (completed 25–26 hours ago); ${
        report.settings.sweepWindowSeconds === undefined
          ? 'the bench submits for as long as it runs.'
          : `the bench submits for ${report.settings.sweepWindowSeconds} s before it and alongside it for up to as long, then lets it finish alone.`
      }`,
    '',
    '### Targets (ratios against the empty store beside the filled one, measured in turns; in runs without it, the empty point measured first)',
    '',
    table(
      ['dialect', 'target', 'result', 'measured'],
      growthTargets(report).map((target) => [
        target.dialect,
        target.target,
        target.held === null ? 'not judged' : target.held ? '**held**' : '**missed**',
        target.measured,
      ]),
    ),
  ];
  for (const result of report.dialects) {
    sections.push(
      '',
      `### ${result.dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'}${result.label ? ` (${result.label})` : ''}`,
      ...(result.runDetail ? ['', result.runDetail] : []),
      '',
      pointsTable(result),
    );
    const beside = referenceTable(result);
    if (beside)
      sections.push(
        '',
        'Against the empty store beside it (a second scangate in the bench process, measured in turns with this one):',
        '',
        beside,
      );
    if (result.sweeps.length > 0) {
      const run = result.sweepsRun;
      sections.push(
        '',
        run
          ? `Retention sweep, measured by a later run of this dialect alone (\`${run.command}\`, ${run.startedAt}, commit ${run.gitCommit}, load ${run.loadAverages.join(' → ')}):`
          : 'Retention sweep:',
        '',
        sweepTable(result),
      );
    }
    if (result.sweepsBeforeMaintenanceThread?.length) {
      sections.push(
        '',
        'The same sweep in this run, still on the thread that answers requests (before the maintenance thread):',
        '',
        sweepTable({ ...result, sweeps: result.sweepsBeforeMaintenanceThread }),
      );
    }
    if (result.fairness) {
      sections.push(
        '',
        `Fair picking: ${result.fairness.queuedJobs.toLocaleString('en')} queued jobs in one tenant, ${result.fairness.oneTenantClaimMs} ms per claim; ` +
          `over ${result.fairness.tenants.toLocaleString('en')} tenants, ${result.fairness.manyTenantsClaimMs} ms per claim (load ${result.fairness.loadAverage}).`,
      );
    }
    const storage = storageLine(result);
    if (storage) sections.push('', storage);
    const fills = result.fillSeconds.map((fill) => `${fill.what} ${fill.seconds} s`).join('; ');
    if (fills) sections.push('', `Fills (SQL): ${fills}.`);
    const explain = explainSection(result);
    if (explain) sections.push('', explain);
  }
  if (report.incidents?.length)
    sections.push('', `Incidents during the run: ${report.incidents.join('; ')}.`);
  sections.push(END);
  return sections.join('\n');
}

/** The file with the growth section replaced, or appended when the file has none yet. */
export function replaceGrowthSection(existing: string, generated: string): string {
  const begin = existing.indexOf(BEGIN);
  const end = existing.indexOf(END);
  if (begin < 0 || end < 0) return `${existing.trimEnd()}\n\n${generated}\n`;
  return existing.slice(0, begin) + generated + existing.slice(end + END.length);
}
