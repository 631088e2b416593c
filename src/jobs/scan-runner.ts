import type { Readable } from 'node:stream';
import type { ScanEngine } from '../engine/engine.ts';
import { FileTypeSniffer } from '../engine/file-type-sniffer.ts';
import { type ScanOutcome, verdictCacheKey } from '../engine/verdict.ts';
import type { SourceOpener } from '../sources/open-source.ts';
import type { JobStore, ScanResult, ScanSource } from './model.ts';

export interface ScanRunnerDependencies {
  store: JobStore;
  engine: ScanEngine;
  sources: SourceOpener;
  maxFileSizeBytes: number;
  verdictCache: boolean;
}

function resultFromOutcome(outcome: ScanOutcome): ScanResult {
  return {
    ...outcome.verdict,
    size: outcome.size,
    sha256: outcome.sha256,
    engine: outcome.engine,
    engineVersion: outcome.engineVersion,
    signatureVersion: outcome.signatureVersion,
    ...(outcome.signatureDatabase ? { signatureDatabase: outcome.signatureDatabase } : {}),
    downloadTimeMs: outcome.transferMs,
    scanTimeMs: outcome.scanMs,
  };
}

/** Only real judgements are cached; an unscannable verdict may be different next time. */
function cacheable(result: ScanResult): boolean {
  return (result.status === 'clean' || result.status === 'infected') && !!result.sha256;
}

/**
 * Scans one source: opens its bytes, answers from the verdict cache when the bytes' sha256 is
 * known before scanning (staged uploads) and the same signatures judged them already, otherwise
 * streams them through the engine. Throws the source's or engine's error for the caller to judge.
 */
export async function runScan(
  source: ScanSource,
  dependencies: ScanRunnerDependencies,
  signal: AbortSignal,
): Promise<ScanResult> {
  const { store, engine, sources, verdictCache } = dependencies;
  const knownSha256 = source.kind === 'upload' ? source.sha256 : undefined;
  if (verdictCache && knownSha256) {
    const cacheKey = await engine.verdictCacheKey();
    if (cacheKey) {
      const cached = await store.getCachedVerdict(knownSha256, cacheKey);
      // A hit skips the scan: make sure clamd has not loaded new signatures since its last health check.
      if (cached && (await engine.verdictCacheKey({ fresh: true })) === cacheKey) {
        return { ...cached, cached: true, downloadTimeMs: 0, scanTimeMs: 0 };
      }
    }
  }
  const opened = await sources.open(source, signal);
  return scanStream(opened.stream, dependencies, signal);
}

/** Streams bytes through the engine and remembers a real judgement in the verdict cache. */
export async function scanStream(
  input: Readable,
  dependencies: Omit<ScanRunnerDependencies, 'sources'>,
  signal: AbortSignal,
): Promise<ScanResult> {
  let outcome: ScanOutcome;
  const sniffer = new FileTypeSniffer();
  try {
    outcome = await dependencies.engine.scan(input, {
      signal,
      maxBytes: dependencies.maxFileSizeBytes,
      observeChunk: sniffer.observe,
    });
  } finally {
    input.destroy();
  }
  const result = resultFromOutcome(outcome);
  const fileType = await sniffer.detect();
  if (fileType) result.fileType = fileType;
  const cacheKey = verdictCacheKey(outcome);
  if (dependencies.verdictCache && cacheKey && cacheable(result)) {
    await dependencies.store.putCachedVerdict({ sha256: result.sha256!, cacheKey, result });
  }
  return result;
}
