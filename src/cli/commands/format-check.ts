import type { Config } from '../../config.ts';
import { ClamdPool } from '../../engine/clamd/pool.ts';
import {
  type FormatSelfTestReport,
  runFormatSelfTest,
  summarizeFormatSelfTest,
} from '../../engine/format-self-test.ts';
import type { CheckResult } from './check-result.ts';

/** Pure: the doctor line for a format self-test report. */
export function formatSupportCheck(report: FormatSelfTestReport): CheckResult {
  const summary = summarizeFormatSelfTest(report);
  const name = 'container formats';
  if (!report.probeDetected) {
    return {
      name,
      status: 'fail',
      detail: "scangate's shipped signatures are not loaded: Zip64, RAR, zstd… pass unread as clean",
      fix: "node scripts/write-signatures.ts <clamd's DatabaseDirectory> --shipped, then reload clamd",
    };
  }
  const detail = `read: ${summary.readable.join(', ')}; reported unscannable: ${summary.unsupported.join(', ')}`;
  if (summary.blind.length > 0 || summary.error.length > 0) {
    const blind = [...summary.blind, ...summary.error];
    return {
      name,
      status: 'warn',
      detail: `${detail}; answered clean unread: ${blind.join(', ')}`,
      fix: 'see "Known gaps" in docs/RELIABILITY.md',
    };
  }
  return { name, status: 'ok', detail };
}

/** Runs the format self-test against the configured clamd addresses. */
export async function configuredFormatCheck(config: Config): Promise<CheckResult> {
  const pool = new ClamdPool(config.engine.addresses, {
    connectTimeoutMs: config.engine.connectTimeoutMs,
    scanTimeoutMs: config.engine.scanTimeoutMs,
    healthCheckIntervalMs: 60_000,
    encryptedVerdict: config.engine.encryptedVerdict,
  });
  try {
    return formatSupportCheck(await runFormatSelfTest(pool));
  } finally {
    await pool.close();
  }
}
