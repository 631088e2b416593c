import { defaultConfig } from '../src/config.ts';
import { type Mode, SIGNATURE_SETS, type SignatureSet } from './options.ts';
import type { BenchReport } from './report.ts';
import type { RoundResult } from './rounds.ts';
import { type ScaleoutRun, scaleoutRatio } from './scaleout-report.ts';
import { round, roundRate } from './stats.ts';
import { cpuPerThousand, cpuRatio, downloadPeakRss, ratioToRaw, signaturesOf } from './targets.ts';

const BEGIN = '<!-- bench:begin: written by `npm run bench`; edit outside these markers -->';
const END = '<!-- bench:end -->';
const MiB = 1024 * 1024;

type Row = (string | number | null | undefined)[];

function table(header: string[], rows: Row[]): string {
  const cell = (value: Row[number]) => (value === null || value === undefined ? '–' : String(value));
  // Numbers right-aligned, text left: a column is numeric when every filled cell parses as a number.
  const numeric = header.map((_, column) =>
    rows.every((row) => {
      const value = row[column];
      return value === null || value === undefined || value === '–' || !Number.isNaN(Number(value));
    }),
  );
  return [
    `| ${header.join(' | ')} |`,
    `| ${numeric.map((isNumber) => (isNumber ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

const mib = (bytes: number) => `${round(bytes / MiB, 1)} MiB`;

function machineSection(report: BenchReport, jsonPath: string): string {
  const { machine, settings } = report;
  const uncommitted = machine.uncommittedSrcFiles.length
    ? ` with ${machine.uncommittedSrcFiles.length} uncommitted files under src/ (${machine.uncommittedSrcFiles.join(', ')})`
    : '';
  return [
    `Command: \`${report.command}\`, started ${report.startedAt}, took ${round(report.durationSeconds / 60, 1)} min; raw results in [${jsonPath}](${jsonPath}).`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${mib(machine.memoryBytes)} RAM, ${machine.os}, Node ${machine.node}, ${machine.clamd}. ` +
      `1-minute load average ${round(machine.loadAverageStart)} at the start and ${round(machine.loadAverageEnd)} at the end ` +
      '(the bench client, the service and clamd share these cores; other work on the machine shows up here). ' +
      `Code: commit ${machine.gitCommit || 'unknown'}${uncommitted}.`,
    '',
    `Setup: one clamd (MaxThreads ${settings.clamdMaxThreads}, nice ${defaultConfig().engine.clamdNiceness} like the managed clamd) on a unix socket: on the offline test signatures ` +
      'restarted before every round; on the full database (make-synthetic-sigdb.sh: 3 M MD5 + 2 M SHA-256 + 2.5 M PE-section hashes, ' +
      '100 k body patterns, 20 k logical signatures, ~1 GiB in clamd) loaded once, as it takes ~16 s, and warmed up with 200 raw scans before the first round. ' +
      `scangate as a child process (the compiled build, \`node dist/src/cli/main.js serve\`, SQLite store, WORKER_CONCURRENCY ${settings.workerConcurrency}, ` +
      `MAX_FILE_SIZE ${mib(settings.maxFileSizeBytes)}) on 127.0.0.1. Files are random binary data whose last 16 bytes change every ` +
      'round, so neither clamd’s MD5 cache nor the verdict cache answers any of them. raw = one unix-socket INSTREAM per file from the bench ' +
      '(the ceiling); sync = `POST /api/v1/scan/sync/binary`; async = native multipart upload `POST /v1/scans/file`, timed from the first ' +
      'submit until the last verdict is stored (latency per file: submit to its completed_at). MB = 10^6 bytes.',
  ].join('\n');
}

function targetsSection(report: BenchReport): string {
  const held = (value: boolean | null) => (value === null ? 'not judged' : value ? '**held**' : '**missed**');
  return table(
    ['target', 'result', 'measured'],
    report.targets.map((target) => [target.target, held(target.held), target.measured]),
  );
}

const DATABASE_TITLES: Record<SignatureSet, string> = {
  test: 'Test database (offline test signatures: scangate’s own cost shows)',
  full: 'Full database (synthetic, shaped like the official one: what users get)',
};

function cell(rounds: RoundResult[], mode: Mode, size: string, concurrency: number): RoundResult | undefined {
  return rounds.find(
    (entry) => entry.mode === mode && entry.size === size && entry.concurrency === concurrency,
  );
}

/** One row per size and concurrency: raw clamd, sync and async side by side, with the CPU each process spent. */
function databaseTable(rounds: RoundResult[], all: RoundResult[]): string {
  const keys = [...new Map(rounds.map((entry) => [`${entry.size} ${entry.concurrency}`, entry])).values()];
  const rows = keys
    .sort((a, b) => a.fileBytes - b.fileBytes || a.concurrency - b.concurrency)
    .map(({ size, concurrency }) => {
      const [raw, sync, async] = (['raw', 'sync', 'async'] as const).map((mode) =>
        cell(rounds, mode, size, concurrency),
      );
      const rate = (entry: RoundResult | undefined) =>
        entry ? roundRate(entry.files / entry.seconds) : null;
      const ratio = (entry: RoundResult | undefined) => (entry ? ratioToRaw(entry, all)?.toFixed(2) : null);
      const cpu = (entry: RoundResult | undefined, process: 'clamd' | 'scangate') =>
        entry ? cpuPerThousand(entry.cpuSeconds[process], entry.files) : '–';
      const p99 = (entry: RoundResult | undefined) => (entry ? entry.latency.p99Ms : '–');
      const files = raw?.files ?? sync?.files ?? async?.files;
      return [
        size,
        files,
        concurrency,
        rate(raw),
        rate(sync),
        ratio(sync),
        rate(async),
        ratio(async),
        `${p99(raw)} / ${p99(sync)} / ${p99(async)}`,
        `${cpu(raw, 'clamd')} / ${cpu(sync, 'clamd')} / ${cpu(async, 'clamd')}`,
        `${cpu(sync, 'scangate')} / ${cpu(async, 'scangate')}`,
        async ? cpuRatio(async) : null,
      ];
    });
  const unexpected = rounds.filter((entry) =>
    Object.keys(entry.verdicts).some((status) => status !== 'clean'),
  );
  return [
    table(
      [
        'size',
        'files',
        'concurrency',
        'raw files/s',
        'sync files/s',
        'sync × raw',
        'async files/s',
        'async × raw',
        'p99 ms raw / sync / async',
        'clamd CPU s per 1,000 files raw / sync / async',
        'scangate CPU s per 1,000 files sync / async',
        'async scangate ÷ clamd CPU',
      ],
      rows,
    ),
    '',
    unexpected.length === 0
      ? 'Every verdict was clean, as the random files are.'
      : `Rounds with verdicts other than clean: ${unexpected
          .map(
            (entry) =>
              `${entry.mode} ${entry.size} c${entry.concurrency} (${Object.entries(entry.verdicts)
                .map(([status, count]) => `${count} ${status}`)
                .join(', ')})`,
          )
          .join('; ')}.`,
  ].join('\n');
}

function roundsSection(report: BenchReport): string {
  const sections: string[] = [];
  for (const signatures of SIGNATURE_SETS) {
    const rounds = report.rounds.filter((entry) => signaturesOf(entry) === signatures);
    if (rounds.length === 0) continue;
    sections.push(`### ${DATABASE_TITLES[signatures]}`, '', databaseTable(rounds, report.rounds), '');
  }
  return sections.join('\n');
}

function memorySection(report: BenchReport): string {
  const memory = report.memory;
  if (!memory) return '';
  const lines = ['### Memory of the service', ''];
  if (memory.idle?.length) {
    lines.push(
      '`SIGNATURES=test scangate serve` with its own managed clamd (not counted: the node process only), ' +
        'read after it had been ready and idle for a while. src = the TypeScript sources through type stripping ' +
        '(development); dist = the compiled build, without and with the node flags `npm start` and the image use. ' +
        'Anonymous = heap, malloc, V8 code; file-backed = touched pages of the node binary and libraries.',
      '',
      table(
        ['entry', 'node flags', 'idle s', 'RSS', 'anonymous', 'file-backed'],
        memory.idle.map((entry) => [
          entry.entry,
          entry.nodeFlags?.length ? `\`${entry.nodeFlags.join(' ')}\`` : 'none',
          entry.idleSeconds,
          mib(entry.rss),
          mib(entry.rssAnon),
          mib(entry.rssFile),
        ]),
      ),
      '',
    );
  }
  const rows: Row[] = [];
  if (memory.uploads) {
    const uploads = memory.uploads;
    rows.push([
      `${uploads.uploads} concurrent uploads of ${mib(uploads.fileBytes)} (async, until every verdict: ${uploads.seconds} s; ` +
        `${Object.entries(uploads.verdicts)
          .map(([status, count]) => `${count} ${status}`)
          .join(', ')})`,
      mib(uploads.rssBefore),
      mib(Math.max(uploads.peakSampled, uploads.peakHwm ?? 0)),
    ]);
  }
  if (memory.queued) {
    const queued = memory.queued;
    rows.push([
      `${queued.jobs} queued jobs of ${queued.fileBytes} B (clamd paused; submitted in ${queued.submitSeconds} s, ` +
        `drained in ${queued.drainSeconds} s)`,
      mib(queued.rssBefore),
      `${mib(queued.rssQueued)} queued (peak ${queued.peakHwm === null ? '–' : mib(queued.peakHwm)})`,
    ]);
  }
  if (rows.length > 0)
    lines.push(
      'Under load, on a service started for it (test database):',
      '',
      table(['load', 'RSS before', 'RSS under load'], rows),
      '',
    );
  return lines.join('\n');
}

function downloadSection(report: BenchReport): string {
  const download = report.download;
  if (!download) return '';
  const rss = download.scangateRss;
  return [
    `### ${mib(download.bytes)} file through a URL download`,
    '',
    'A native URL job (`POST /v1/scans/url`) for a file on a loopback HTTP server, on a service started for this phase; its',
    'RSS is the VmHWM after a reset at the submit (clear_refs), cross-checked by 20 ms samples. raw = the same bytes streamed',
    'by the bench to clamd.',
    '',
    table(
      [
        'verdict',
        'submit → verdict s',
        'MB/s',
        'raw clamd s',
        'peak RSS (VmHWM)',
        'peak RSS (sampled)',
        'RSS before',
        'clamd peak RSS',
      ],
      [
        [
          download.status + (download.reason ? ` (${download.reason})` : ''),
          download.seconds,
          download.mbPerSecond,
          download.raw.seconds,
          rss.peakHwm === null ? null : mib(rss.peakHwm),
          mib(rss.peakSampled),
          mib(rss.before),
          mib(download.clamdRss.peakSampled),
        ],
      ],
    ),
    '',
    `Peak RSS judged: ${mib(downloadPeakRss(download))}` +
      (download.previousServiceRss
        ? `; for comparison, the service that ran the rounds above had an RSS of ${mib(download.previousServiceRss)} before it was replaced.`
        : '.'),
    '',
  ].join('\n');
}

function latencySection(report: BenchReport): string {
  const latency = report.submitLatency;
  if (!latency) return '';
  const row = (label: string, values: typeof latency.idle) => [
    label,
    values.upload.count,
    values.upload.p50Ms,
    values.upload.p99Ms,
    values.url.p50Ms,
    values.url.p99Ms,
    values.all.p99Ms,
    values.all.maxMs,
  ];
  const { backlog } = latency;
  return [
    '### Submit latency',
    '',
    `One client submits a 1 KB upload (\`POST /v1/scans/file\`) and a URL job (\`POST /v1/scans/url\`), one at a time, alternating; ` +
      `first idle, then while ${backlog.outstandingJobs} URL jobs of ${mib(backlog.fileBytes)} (fresh bytes each) are kept outstanding. ` +
      `During the saturated measurement (${latency.measurementSeconds} s) the queue depth never fell below ${backlog.minQueueDepth} ` +
      `for ${latency.workers} workers (${backlog.saturated ? 'saturated throughout' : 'NOT saturated throughout'}), ` +
      `${backlog.jobsCompletedDuringMeasurement} backlog jobs completed, clamd used ${backlog.clamdCpuShare} and scangate ` +
      `${backlog.scangateCpuShare} CPU seconds per second.`,
    '',
    table(
      [
        'state',
        'submits per kind',
        'upload p50 ms',
        'upload p99 ms',
        'URL p50 ms',
        'URL p99 ms',
        'all p99 ms',
        'all max ms',
      ],
      [row('idle', latency.idle), row('workers saturated', latency.saturated)],
    ),
    '',
  ].join('\n');
}

function cacheSection(report: BenchReport): string {
  const cache = report.verdictCache;
  if (!cache) return '';
  return [
    '### Verdict cache: 50 % repeat workload',
    '',
    `${cache.files} async uploads of ${mib(cache.fileBytes)} at concurrency ${cache.concurrency}. unique: every file distinct. ` +
      'repeat: half the submissions are byte-identical to a file submitted a few places earlier, with VERDICT_CACHE off ' +
      '(clamd’s own MD5 cache of clean files still answers repeats quickly) and on (scangate answers from its store without a scan).',
    '',
    table(
      ['run', 'files', 'distinct', 'files/s', 'MB/s', 'p50 ms', 'p99 ms', 'answered from cache', 'verdicts'],
      cache.runs.map((run) => [
        run.label,
        run.files,
        run.distinctFiles,
        run.filesPerSecond,
        run.mbPerSecond,
        run.latency.p50Ms,
        run.latency.p99Ms,
        run.cachedVerdicts,
        Object.entries(run.verdicts)
          .map(([status, count]) => `${count} ${status}`)
          .join(', '),
      ]),
    ),
    '',
    `Gain of the cache: ${cache.gainOverUnique ?? '–'}× the files/s of the all-distinct workload, ` +
      `${cache.gainOverCacheOff ?? '–'}× the same repeat workload with VERDICT_CACHE=false.`,
    '',
  ].join('\n');
}

function policySection(report: BenchReport): string {
  const policy = report.policy;
  if (!policy) return '';
  return [
    '### Content policy',
    '',
    `${policy.files} sync scans of ${mib(policy.fileBytes)} per content kind at concurrency ${policy.concurrency}, ` +
      'under the default policy and with every switch of the content policy on (every type allowed, so the ' +
      'verdicts and the clamd work are the same). The content inspection runs on every scan; the policy adds ' +
      'the tenant lookup and the judgement.',
    '',
    table(
      ['content', 'policy', 'files/s', 'MB/s', 'p50 ms', 'p99 ms', 'verdicts'],
      policy.runs.map((run) => [
        run.content,
        run.policy,
        run.filesPerSecond,
        run.mbPerSecond,
        run.latency.p50Ms,
        run.latency.p99Ms,
        Object.entries(run.verdicts)
          .map(([status, count]) => `${count} ${status}`)
          .join(', '),
      ]),
    ),
    '',
    `Policy on ÷ default: ${policy.ratio.binary ?? '–'}× (binary), ${policy.ratio.text ?? '–'}× (text). ` +
      `The inspection alone: ${policy.inspectorMBps.binary} MB/s on binary data, ${policy.inspectorMBps.text} MB/s on text.`,
    '',
  ].join('\n');
}

function scaleoutSection(report: BenchReport): string {
  const scaleout = report.scaleout;
  if (!scaleout) return '';
  const concurrencies = [...new Set(scaleout.runs.map((run) => run.concurrency))].sort((a, b) => a - b);
  const find = (setup: ScaleoutRun['setup'], concurrency: number) =>
    scaleout.runs.find((run) => run.setup === setup && run.concurrency === concurrency);
  const perThousand = (run: ScaleoutRun | undefined, seconds: (run: ScaleoutRun) => number) =>
    run ? cpuPerThousand(seconds(run), run.files) : '–';
  const rows = concurrencies.map((concurrency) => {
    const [raw, sqlite, postgres, asyncCommit] = (
      ['raw', 'sqlite', 'postgres', 'postgres-async-commit'] as const
    ).map((setup) => find(setup, concurrency));
    const rate = (run: ScaleoutRun | undefined) => (run ? roundRate(run.files / run.seconds) : null);
    return [
      concurrency,
      rate(raw),
      rate(sqlite),
      rate(postgres),
      scaleoutRatio(scaleout.runs, concurrency)?.toFixed(2),
      rate(asyncCommit),
      scaleoutRatio(scaleout.runs, concurrency, 'postgres-async-commit')?.toFixed(2),
      `${sqlite?.submitLatency?.p50Ms ?? '–'} / ${postgres?.submitLatency?.p50Ms ?? '–'} / ${asyncCommit?.submitLatency?.p50Ms ?? '–'}`,
      `${sqlite?.inWorker?.meanMs ?? '–'} / ${postgres?.inWorker?.meanMs ?? '–'}`,
      `${perThousand(sqlite, (run) => run.cpuSeconds.clamd)} / ${perThousand(postgres, (run) => run.cpuSeconds.clamd)}`,
      perThousand(sqlite, (run) => run.cpuSeconds.api),
      `${perThousand(postgres, (run) => run.cpuSeconds.api)} / ${perThousand(postgres, (run) => run.cpuSeconds.worker)} / ${perThousand(postgres, (run) => run.cpuSeconds.postgres)}`,
    ];
  });
  const idle = scaleout.idle;
  return [
    '### Scale-out: PostgreSQL mode against one process on SQLite',
    '',
    `${scaleout.files} async uploads of ${scaleout.fileBytes / 1024} KiB per round on the same clamd (restarted before every round): ` +
      `one \`serve\` process on SQLite (WORKER_CONCURRENCY ${scaleout.workerSlots}) against ${scaleout.apiProcesses} ` +
      `\`serve --role api\` and ${scaleout.workerProcesses} \`serve --role worker\` processes ` +
      `(WORKER_CONCURRENCY ${scaleout.workerConcurrency.join(' + ')}) on a PostgreSQL database created for the run, ` +
      'the requests spread over the API processes in turn, uploads over INLINE_UPLOAD_MAX_BYTES staged in a data directory ' +
      'the four share. async commit = the same 2 + 2 on a second database with `synchronous_commit=off` on their connections ' +
      '(`DATABASE_URL=…?options=-c%20synchronous_commit%3Doff`): a commit returns before PostgreSQL flushed it, as SQLite’s ' +
      '`synchronous = NORMAL` does; it survives a killed scangate, a crash of PostgreSQL can lose the last ~0.6 s. ' +
      'raw = the bench streaming the same files to clamd. CPU is utime + stime of each process over the round; ' +
      'backends = the PostgreSQL processes serving the bench database.',
    '',
    table(
      [
        'concurrency',
        'raw files/s',
        'SQLite files/s',
        'PostgreSQL 2 + 2 files/s',
        'PostgreSQL ÷ SQLite',
        'async commit files/s',
        'async commit ÷ SQLite',
        'submit p50 ms SQLite / PostgreSQL / async commit',
        'lease → verdict mean ms SQLite / PostgreSQL',
        'clamd CPU s per 1,000 SQLite / PostgreSQL',
        'SQLite process CPU s per 1,000',
        'PostgreSQL: API / worker processes / backends CPU s per 1,000',
      ],
      rows,
    ),
    '',
    idle
      ? `Idle: after ${idle.settleSeconds} s without work, the 2 + 2 processes cost PostgreSQL ${idle.transactions} transactions ` +
        `in ${idle.seconds} s (${idle.transactionsPerSecond}/s; xact_commit + xact_rollback of the bench database, pg_stat_database).`
      : 'Idle transactions were not measured in this run.',
    '',
  ].join('\n');
}

export function renderReport(report: BenchReport, jsonPath: string): string {
  return [
    BEGIN,
    '## Latest results',
    '',
    machineSection(report, jsonPath),
    '',
    '### Targets',
    '',
    targetsSection(report),
    '',
    roundsSection(report),
    memorySection(report),
    downloadSection(report),
    latencySection(report),
    cacheSection(report),
    policySection(report),
    scaleoutSection(report),
    END,
  ]
    .filter((part) => part !== undefined)
    .join('\n');
}

/** Replaces the generated part of the Markdown file, keeping whatever was written around it. */
export function spliceReport(existing: string | undefined, report: BenchReport, jsonPath: string): string {
  const generated = renderReport(report, jsonPath);
  if (existing === undefined)
    return `# Benchmarks\n\nHow fast scangate scans, measured by \`npm run bench\` (see \`npm run bench -- --help\`).\n\n${generated}\n`;
  const begin = existing.indexOf(BEGIN);
  const end = existing.indexOf(END);
  if (begin === -1 || end < begin) return `${existing.trimEnd()}\n\n${generated}\n`;
  return existing.slice(0, begin) + generated + existing.slice(end + END.length);
}
