import type { Readable } from 'node:stream';
import type { ScanEngine } from '../engine/engine.ts';
import type { Verdict } from '../engine/verdict.ts';
import { type ScanOutcome, verdictCacheKey } from '../engine/verdict.ts';
import { ContentInspector, INSPECTION_VERSION } from '../policy/inspector.ts';
import { declaredNameOf, judgeContent } from '../policy/judge.ts';
import { type ContentPolicy, DEFAULT_POLICY, isDefaultPolicy } from '../policy/policy.ts';
import type { ScanResult, ScanSource } from '../scan.ts';
import type { SourceOpener } from '../sources/source-opener.ts';
import type { CachedVerdict, Store } from '../store/contracts.ts';

export interface ScanRunnerDependencies {
  store: Store;
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

/**
 * What a worker's lease already knows of the verdict cache (LeasedJob.cachedResult), and where the
 * scan's own verdict goes to be stored with the job's result, in one transaction.
 */
export interface VerdictCacheAccess {
  /** The key the lease looked up under, and what it found there. */
  lookup?: { cacheKey: string; result: ScanResult | undefined } | undefined;
  remember(entry: CachedVerdict): void;
}

/** The content policy a scan is judged by, and the name its content was submitted under. */
export interface PolicyContext {
  policy: ContentPolicy;
  declaredName?: string | undefined;
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
  policy: ContentPolicy = DEFAULT_POLICY,
  /** An inline upload's bytes (source.inline), read with its job. */
  uploadBytes?: Uint8Array,
  cacheAccess?: VerdictCacheAccess,
): Promise<ScanResult> {
  const { store, engine, sources, verdictCache } = dependencies;
  const context: PolicyContext = { policy, declaredName: declaredNameOf(source) };
  const knownSha256 = source.kind === 'upload' ? source.sha256 : undefined;
  if (verdictCache && knownSha256) {
    const cacheKey = await engine.verdictCacheKey();
    if (cacheKey) {
      const { lookup } = cacheAccess ?? {};
      const cached =
        lookup?.cacheKey === cacheKey ? lookup.result : await store.verdicts.get(knownSha256, cacheKey);
      // A hit skips the scan: make sure clamd has not loaded new signatures since its last health check.
      // Entries from an older inspection (none, or one zip level and two type detections) are
      // used only by the default policy, which reads no content finding.
      const usable = cached && (cached.content?.version === INSPECTION_VERSION || isDefaultPolicy(policy));
      if (usable && (await engine.verdictCacheKey({ fresh: true })) === cacheKey) {
        return applyPolicy({ ...cached, cached: true, downloadTimeMs: 0, scanTimeMs: 0 }, context);
      }
    }
  }
  const opened = await sources.open(source, signal, uploadBytes);
  const result = await scanStream(opened.stream, dependencies, signal, context, cacheAccess);
  if (opened.s3Object) result.s3Object = opened.s3Object;
  return result;
}

/**
 * Streams bytes through the engine, inspecting their content in the same pass, and remembers the
 * policy-free judgement in the verdict cache; the job's policy is applied on top (and again on
 * every cache hit), so a verdict never leaks from one tenant's policy to another's.
 */
export async function scanStream(
  input: Readable,
  dependencies: Omit<ScanRunnerDependencies, 'sources'>,
  signal: AbortSignal,
  context: PolicyContext = { policy: DEFAULT_POLICY },
  cacheAccess?: VerdictCacheAccess,
): Promise<ScanResult> {
  const inspector = new ContentInspector();
  let outcome: ScanOutcome;
  try {
    outcome = await dependencies.engine.scan(input, {
      signal,
      maxBytes: dependencies.maxFileSizeBytes,
      // One read feeds clamd and the content inspection, whose one type detection gives every
      // answer's type (detected_type, file_type, realfiletype) and the policy's rules alike.
      observer: inspector,
    });
  } catch (error) {
    // Ends the inspection's inflaters; its answer is not needed.
    void inspector.finish();
    throw error;
  } finally {
    input.destroy();
  }
  const content = await inspector.finish();
  const result: ScanResult = { ...resultFromOutcome(outcome), content };
  if (content.ext !== undefined && content.mime !== undefined)
    result.fileType = { ext: content.ext, mime: content.mime };
  const cacheKey = verdictCacheKey(outcome);
  if (dependencies.verdictCache && cacheKey && cacheable(result)) {
    const entry = { sha256: result.sha256!, cacheKey, result };
    if (cacheAccess) cacheAccess.remember(entry);
    else await dependencies.store.verdicts.put(entry);
  }
  return applyPolicy(result, context);
}

/** The policy-free result with the policy's verdict in place of clamd's. */
function applyPolicy(judged: ScanResult, context: PolicyContext): ScanResult {
  const { status, finding, reason, detail, rule, evidence, ...facts } = judged;
  const engineVerdict: Verdict = { status };
  if (finding !== undefined) engineVerdict.finding = finding;
  if (reason !== undefined) engineVerdict.reason = reason;
  if (detail !== undefined) engineVerdict.detail = detail;
  const judgement = { verdict: engineVerdict, ...(judged.content ? { content: judged.content } : {}) };
  const verdict = judgeContent(
    context.declaredName === undefined ? judgement : { ...judgement, declaredName: context.declaredName },
    context.policy,
  );
  const result: ScanResult = { ...facts, ...verdict };
  if (context.declaredName !== undefined) result.declaredName = context.declaredName;
  return result;
}
