import { performance } from 'node:perf_hooks';
import { diskPayload, RoundStamp } from './data.ts';
import type { FileServer } from './file-server.ts';
import { memory, resetPeakRss, sampleRss } from './processes.ts';
import { rawInstream } from './raw-clamd.ts';
import { waitForVerdict } from './rounds.ts';
import type { ScangateClient } from './scangate-client.ts';
import { round } from './stats.ts';

export interface DownloadResult {
  bytes: number;
  status: string;
  reason: string | null;
  /** Submit to the verdict seen by polling (100 ms). */
  seconds: number;
  /** 10^6 bytes per second over `seconds`. */
  mbPerSecond: number;
  /** The service's own split of the job: download (stream into clamd) and the wait for clamd's reply. */
  serviceDownloadSeconds: number | null;
  serviceScanSeconds: number | null;
  /** RSS of the scangate process (bytes): before the submit, the largest 20 ms sample, and VmHWM. */
  scangateRss: { before: number; peakSampled: number; peakHwm: number | null };
  /** RSS of the service that ran the earlier phases, just before this one replaced it with a fresh one. */
  previousServiceRss?: number;
  /** clamd's RSS over the same time, for context (it spools the stream to a temp file). */
  clamdRss: { peakSampled: number };
  /** The same bytes (with another stamp) through raw INSTREAM from the bench, for comparison. */
  raw: { seconds: number; mbPerSecond: number; reply: string };
}

export interface DownloadContext {
  client: ScangateClient;
  files: FileServer;
  socketPath: string;
  scangatePid: number;
  clamdPid: number | undefined;
}

/**
 * One large file through a native URL job (the worker downloads it from the bench's file server and
 * streams it into clamd), with the service's RSS sampled throughout; then the raw-clamd time of the
 * same file as the ceiling. Each pass uses a fresh stamp, so clamd's MD5 cache never answers.
 */
export async function measureDownload(
  context: DownloadContext,
  file: string,
  bytes: number,
): Promise<DownloadResult> {
  const { client, files, scangatePid } = context;
  // VmHWM since the reset is the true peak; the 20 ms samples are a cross-check (and the only
  // measure where clear_refs is not permitted).
  const hwmReset = resetPeakRss(scangatePid);
  const before = memory(scangatePid).rss;
  const stopScangateSampling = sampleRss(scangatePid, 20);
  const stopClamdSampling = context.clamdPid === undefined ? undefined : sampleRss(context.clamdPid, 20);
  const started = performance.now();
  const job = await client.submitUrl(files.urlFor(file, new RoundStamp()));
  const done = await waitForVerdict(client, job.id, 100);
  const seconds = (performance.now() - started) / 1000;
  const scangate = stopScangateSampling();
  const clamd = stopClamdSampling?.() ?? { peakSampledRss: 0 };

  const rawStarted = performance.now();
  const reply = await rawInstream(context.socketPath, diskPayload(file, bytes, new RoundStamp()));
  const rawSeconds = (performance.now() - rawStarted) / 1000;
  return {
    bytes,
    status: done.status,
    reason: done.reason,
    seconds: round(seconds, 3),
    mbPerSecond: round(bytes / 1e6 / seconds),
    serviceDownloadSeconds: done.download_time,
    serviceScanSeconds: done.scan_time,
    scangateRss: { before, peakSampled: scangate.peakSampledRss, peakHwm: hwmReset ? scangate.hwm : null },
    clamdRss: { peakSampled: clamd.peakSampledRss },
    raw: { seconds: round(rawSeconds, 3), mbPerSecond: round(bytes / 1e6 / rawSeconds), reply },
  };
}
