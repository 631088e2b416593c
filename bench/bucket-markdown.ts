/**
 * The generated part of BENCHMARKS.md's bucket-scan section, from `bench/bucket.ts`'s report. It
 * has markers of its own, so the main bench's renderer and this one never rewrite each other.
 */
const BEGIN = '<!-- bench-bucket:begin: written by `node bench/bucket.ts`; edit outside these markers -->';
const END = '<!-- bench-bucket:end -->';

interface CpuSeconds {
  s3rverAndBench: number;
  scangate: number;
  clamd: number;
}

export interface BucketBenchReport {
  at: string;
  command: string;
  commit: string;
  machine: { cpus: number; model: string; loadAverageStart: number; loadAverageEnd: number };
  objects: number;
  objectBytes: number;
  concurrency: number;
  /** Extra environment given to scangate (`--env NAME=value`). */
  settings: Record<string, string>;
  writeObjectsPerSecond: number;
  objectsWrittenThrough: string;
  bucketScan: {
    state: string;
    seconds: number;
    objectsPerSecond: number;
    verdicts: number;
    rescans: number;
    exactlyOneVerdictPerObject: boolean;
    s3Requests: number;
    s3RequestsPerObject: number;
    s3Operations: Record<string, number>;
    cpuSeconds: CpuSeconds;
  };
  s3rverAlone: {
    objects: number;
    requests: number;
    seconds: number;
    objectsPerSecond: number;
    requestsPerSecond: number;
    cpuSecondsPerRequest: number;
  };
  uploads?: { seconds: number; objectsPerSecond: number; submitted: number; cpuSeconds: CpuSeconds };
}

function perObject(seconds: number, objects: number): string {
  return `${((seconds / objects) * 1000).toFixed(2)} ms`;
}

function cpuLine(label: string, cpu: CpuSeconds, objects: number): string {
  return `| ${label} | ${cpu.s3rverAndBench} s (${perObject(cpu.s3rverAndBench, objects)}/object) | ${cpu.scangate} s (${perObject(cpu.scangate, objects)}/object) | ${cpu.clamd} s (${perObject(cpu.clamd, objects)}/object) |`;
}

export function renderBucketSection(report: BucketBenchReport, jsonPath: string): string {
  const { bucketScan, uploads, s3rverAlone, machine } = report;
  const ratio = uploads
    ? ` (${(bucketScan.objectsPerSecond / uploads.objectsPerSecond).toFixed(2)}× uploads)`
    : '';
  const operations = Object.entries(bucketScan.s3Operations)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ');
  const settings = Object.entries(report.settings)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  return [
    BEGIN,
    `### Latest run: ${report.objects.toLocaleString('en')} objects of ${report.objectBytes} bytes`,
    '',
    `Command: \`${report.command}\`, started ${report.at}, commit ${report.commit}${settings ? `, scangate with ${settings}` : ''}; raw results in [${jsonPath}](${jsonPath}). ${machine.cpus} × ${machine.model}; 1-minute load average ${machine.loadAverageStart} at the start and ${machine.loadAverageEnd} at the end (s3rver, the bench, scangate and clamd share these cores).`,
    '',
    '| | objects/s | seconds | |',
    '|---|---:|---:|---|',
    `| bucket scan | **${bucketScan.objectsPerSecond}**${ratio} | ${bucketScan.seconds} | ${bucketScan.state}, ${bucketScan.verdicts} verdicts, ${bucketScan.rescans} rescans, exactly one verdict per object: **${bucketScan.exactlyOneVerdictPerObject ? 'yes' : 'NO'}** |`,
    uploads
      ? `| the same bytes as async uploads (\`POST /v1/scans/file\`) | ${uploads.objectsPerSecond} | ${uploads.seconds} | the first ${uploads.submitted.toLocaleString('en')} objects |`
      : '| async uploads | — | — | skipped (`--skip-uploads`) |',
    `| s3rver alone, the bucket scan's object requests from a bare loop (${s3rverAlone.objects} objects) | ${s3rverAlone.objectsPerSecond} | ${s3rverAlone.seconds} | ${s3rverAlone.requestsPerSecond} requests/s, ${(s3rverAlone.cpuSecondsPerRequest * 1000).toFixed(2)} ms of s3rver CPU per request |`,
    `| making the bucket (${report.objectsWrittenThrough}) | ${report.writeObjectsPerSecond} | | |`,
    '',
    'Uploads are of the same size as the objects but other bytes, so no cache answers them.',
    '',
    `S3 requests of the bucket scan: ${bucketScan.s3Requests} (${bucketScan.s3RequestsPerObject} per object): ${operations}.`,
    '',
    '| CPU during | s3rver (+ bench) | scangate | clamd |',
    '|---|---:|---:|---:|',
    cpuLine('bucket scan', bucketScan.cpuSeconds, report.objects),
    ...(uploads ? [cpuLine('uploads', uploads.cpuSeconds, uploads.submitted)] : []),
    END,
  ].join('\n');
}

/** Replaces the generated bucket section, or appends it after the hand-written bucket text. */
export function spliceBucketSection(
  existing: string | undefined,
  report: BucketBenchReport,
  jsonPath: string,
): string {
  const generated = renderBucketSection(report, jsonPath);
  if (existing === undefined) return `# Benchmarks\n\n${generated}\n`;
  const begin = existing.indexOf(BEGIN);
  const end = existing.indexOf(END);
  if (begin === -1 || end < begin) return `${existing.trimEnd()}\n\n${generated}\n`;
  return existing.slice(0, begin) + generated + existing.slice(end + END.length);
}
