import type { ScanJob } from '../scan.ts';

/** bucketscan's result words; its callback body is bucketAV's (bucketav.ts). */
export type BucketScanResult = 'pending' | 'failed' | 'completed_clean' | 'completed_infected';

export function bucketScanResult(job: ScanJob): BucketScanResult {
  if (job.state !== 'done' || !job.result) return 'pending';
  switch (job.result.status) {
    case 'clean':
      return 'completed_clean';
    case 'infected':
    case 'blocked':
      return 'completed_infected';
    case 'unscannable':
      return 'failed';
  }
}
