import type { FastifyReply } from 'fastify';
import type { AddressPolicy } from '../egress/address-policy.ts';
import type { BucketScanService } from '../jobs/buckets/bucket-scan-service.ts';
import type { ScanService } from '../jobs/scan-service.ts';
import type { Tenant } from './api-keys.ts';

declare module 'fastify' {
  interface FastifyRequest {
    tenant: Tenant;
  }
}

/** What route plugins need from the application, passed explicitly. */
export interface RouteContext {
  scans: ScanService;
  maxFileSizeBytes: number;
  /** PUBLIC_URL: base of the absolute URLs handed out; empty derives it from each request. */
  publicUrl: string;
  /** The SSRF policy callback URLs are checked against at submit. */
  destinations: AddressPolicy;
  /** The tenant's Standard Webhooks secret, created on first use. */
  webhookSecret(tenantId: string): Promise<string>;
  /** Shows what a bucket scan did with a job's verdict (tags, quarantine) in its native result. */
  bucketScans?: BucketScanService;
}

/** The response closing before it was written means the client went away: stop scanning for it. */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected'));
  });
  return controller.signal;
}
