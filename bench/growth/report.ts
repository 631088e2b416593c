import type { machineInfo } from '../report.ts';
import type { LatencySummary } from '../stats.ts';
import type { StorageFigures } from './fill.ts';

/** What `npm run bench:growth` measures, as written to bench/results/growth.json. */
export interface GrowthSettings {
  sizes: number[];
  postgresSizes: number[];
  dialects: ('sqlite' | 'postgres')[];
  queued: number;
  tenants: number;
  sweepRows: number;
  churnCycles: number;
  submits: number;
  claims: number;
  /** Seconds of submits alongside each sweep (the sweep then finishes alone). */
  sweepWindowSeconds?: number;
}

export interface PointResult {
  retained: number;
  queued: number;
  loadAverage: number;
  submit: LatencySummary;
  claimsPerSecond: number;
  claimMs: number;
  lookupById: LatencySummary;
  lookupByTraceId: LatencySummary;
  listFirstPage: LatencySummary;
  listDeepPage: LatencySummary;
  statsBigTenant: LatencySummary;
  statsSmallTenant: LatencySummary;
  /**
   * The same measurements on a second scangate beside this one whose store holds only the bench's
   * own jobs, taken in turns with these (ABBA) so both share the machine's seconds. Absent in runs
   * before it was measured.
   */
  reference?: ReferenceResult;
}

/** What the empty store beside the filled one measured at the same point. */
export interface ReferenceResult {
  submit: LatencySummary;
  claimsPerSecond: number;
  claimMs: number;
  lookupById: LatencySummary;
  lookupByTraceId: LatencySummary;
}

export interface SweepResult {
  retained: number;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /**
   * Submits run while the sweep does, for at most this long; then the sweep goes on alone. Absent in
   * runs before the window: their submits ran for the whole sweep.
   */
  windowSeconds?: number;
  /** Rows the sweep deleted while the submits ran, per second. */
  rowsPerSecondWhileSubmitting?: number;
  loadAverage: number;
  submitBefore: LatencySummary;
  submitDuring: LatencySummary;
  storageBefore: StorageFigures;
  storageFilled: StorageFigures;
  storageAfter: StorageFigures;
  /** The cycle's own submits (still queued: no workers), removed before storageAfter was taken. */
  ownSubmitsRemoved?: number;
}

export interface FairnessResult {
  queuedJobs: number;
  loadAverage: number;
  oneTenantClaimMs: number;
  manyTenantsClaimMs: number;
  tenants: number;
}

export interface DialectResult {
  dialect: 'sqlite' | 'postgres';
  points: PointResult[];
  sweeps: SweepResult[];
  storage: { retained: number; figures: StorageFigures }[];
  fairness?: FairnessResult;
  explain?: { retained: number; queued: number; plans: { name: string; plan: string[] }[] };
  fillSeconds: { what: string; rows: number; seconds: number }[];
  /** Set when this entry comes from a separate run of one dialect, merged into the report. */
  label?: string;
  /** Where that separate run came from (command, time, commit, load). */
  runDetail?: string;
  /** Sweeps measured by a later run of this dialect alone (the code of the sweep changed after). */
  sweepsRun?: { command: string; startedAt: string; gitCommit: string; loadAverages: number[] };
  /** The sweeps of this run, kept beside the later ones they were replaced by. */
  sweepsBeforeMaintenanceThread?: SweepResult[];
}

export interface GrowthReport {
  command: string;
  startedAt: string;
  durationSeconds: number;
  machine: ReturnType<typeof machineInfo> & { loadAverages: number[] };
  settings: GrowthSettings;
  dialects: DialectResult[];
  /** Errors the run survived (listed in the report). */
  incidents: string[];
}
