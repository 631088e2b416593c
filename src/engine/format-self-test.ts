import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { CONTAINER_FORMATS, type ContainerFormat } from './container-samples.ts';
import type { ScanEngine } from './engine.ts';
import { FORMAT_PROBE_FINDING, formatProbeBytes } from './format-probe.ts';
import { unsupportedFormatOf } from './unsupported-formats.ts';

/**
 * - `readable`: clamd extracted the probe from the container and found it.
 * - `unsupported`: clamd cannot read it, and scangate's signatures make that `unscannable`.
 * - `blind`: clamd answered `clean` without finding the probe: this format passes unread.
 * - `not_produced`: no tool here writes this format; `error`: the scan failed.
 */
export type FormatSupport = 'readable' | 'unsupported' | 'blind' | 'not_produced' | 'error';

export interface FormatSelfTestReport {
  /** The bare probe was found: scangate's shipped signatures are loaded in this clamd. */
  probeDetected: boolean;
  /** The bare probe could not be scanned at all (no clamd answering yet): the report says nothing. */
  engineUnavailable: boolean;
  formats: { format: string; support: FormatSupport; detail?: string }[];
  durationMs: number;
  finishedAt: string;
}

const PROBE_MEMBER = 'scangate-format-probe.txt';

/**
 * Asks the running clamd which containers it can open: wraps the format probe (see
 * format-probe.ts) in every format this machine can write and scans each through the normal scan
 * path. Findings of the unsupported-format signatures count as handled; a `clean` answer means
 * that format would carry anything past clamd unread.
 */
export async function runFormatSelfTest(
  engine: ScanEngine,
  formats: readonly ContainerFormat[] = CONTAINER_FORMATS,
): Promise<FormatSelfTestReport> {
  const started = performance.now();
  const probe = formatProbeBytes();
  const bare = await judge(engine, probe);
  const report: FormatSelfTestReport = {
    probeDetected: bare.support === 'readable',
    engineUnavailable: bare.support === 'error' && bare.thrown === true,
    formats: [],
    durationMs: 0,
    finishedAt: '',
  };
  if (report.engineUnavailable) return report;
  for (const format of formats) {
    let wrapped: Buffer | undefined;
    try {
      wrapped = await format.wrap(probe, PROBE_MEMBER);
    } catch (error) {
      report.formats.push({
        format: format.name,
        support: 'error',
        detail: `cannot build: ${messageOf(error)}`,
      });
      continue;
    }
    if (!wrapped) {
      report.formats.push({ format: format.name, support: 'not_produced', detail: 'no tool here writes it' });
      continue;
    }
    const { support, detail } = await judge(engine, wrapped);
    report.formats.push(
      detail === undefined ? { format: format.name, support } : { format: format.name, support, detail },
    );
  }
  report.durationMs = Math.round(performance.now() - started);
  report.finishedAt = new Date().toISOString();
  return report;
}

async function judge(
  engine: ScanEngine,
  bytes: Buffer,
): Promise<{ support: FormatSupport; detail?: string; thrown?: boolean }> {
  try {
    const { verdict } = await engine.scan(Readable.from([bytes]), { maxBytes: bytes.length });
    const finding = verdict.finding ?? '';
    if (verdict.status === 'infected' && finding.startsWith(FORMAT_PROBE_FINDING))
      return { support: 'readable' };
    if (verdict.status === 'unscannable' && verdict.reason === 'unsupported_format') {
      return { support: 'unsupported', detail: unsupportedFormatOf(finding) ?? verdict.detail ?? '' };
    }
    if (verdict.status === 'clean') return { support: 'blind' };
    return { support: 'error', detail: `${verdict.status} ${verdict.reason ?? finding}`.trim() };
  } catch (error) {
    return { support: 'error', detail: messageOf(error), thrown: true };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One line for logs and doctor: which formats are read, refused as unsupported, or blind. */
export function summarizeFormatSelfTest(report: FormatSelfTestReport): Record<FormatSupport, string[]> {
  const summary: Record<FormatSupport, string[]> = {
    readable: [],
    unsupported: [],
    blind: [],
    not_produced: [],
    error: [],
  };
  for (const entry of report.formats) summary[entry.support].push(entry.format);
  return summary;
}

/** Logs the report: blind formats and missing shipped signatures are errors an operator must see. */
export function logFormatSelfTest(
  logger: { info(o: object, m: string): void; error(o: object, m: string): void },
  report: FormatSelfTestReport,
): void {
  const summary = summarizeFormatSelfTest(report);
  const fields = { ...summary, probeDetected: report.probeDetected, durationMs: report.durationMs };
  if (!report.probeDetected) {
    logger.error(
      fields,
      "format self-test: scangate's shipped signatures are not loaded in clamd; blind formats pass as clean",
    );
  } else if (summary.blind.length > 0 || summary.error.length > 0) {
    logger.error(
      fields,
      `format self-test: clamd answers clean for content it cannot read in ${summary.blind.join(', ')}`,
    );
  } else {
    logger.info(fields, 'format self-test: every container clamd cannot read is reported unscannable');
  }
}
