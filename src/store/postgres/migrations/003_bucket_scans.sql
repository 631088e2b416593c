-- Bucket scans (issue #16). Runs with search_path set to the store's schema. Times are bigint epoch
-- milliseconds (not timestamptz like 001): one SQL text serves both dialects (store/bucket-scans.ts).

CREATE TABLE bucket_scans (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  origin text NOT NULL CHECK (origin IN ('scan', 'events', 'watch')),
  bucket text NOT NULL,
  prefix text NOT NULL,
  since bigint,                      -- only objects modified at or after (scan); high-water mark (watch)
  actions text NOT NULL,              -- JSON BucketActions
  state text NOT NULL CHECK (state IN ('running', 'done', 'cancelled', 'failed')),
  paused bigint NOT NULL DEFAULT 0,
  cursor text,                        -- ListObjectsV2 continuation token of the next page
  listing_done bigint NOT NULL DEFAULT 0,
  watch_interval_ms bigint,          -- watch: time between two passes over the prefix
  next_pass_at bigint, -- watch: when the next pass starts
  high_water bigint, -- watch: newest LastModified seen so far
  listed bigint NOT NULL DEFAULT 0,
  bytes_listed bigint NOT NULL DEFAULT 0,
  clean bigint NOT NULL DEFAULT 0,
  infected bigint NOT NULL DEFAULT 0,
  unscannable bigint NOT NULL DEFAULT 0,
  other_verdicts bigint NOT NULL DEFAULT 0,
  failed bigint NOT NULL DEFAULT 0,
  skipped bigint NOT NULL DEFAULT 0,
  rescans bigint NOT NULL DEFAULT 0,
  bytes_settled bigint NOT NULL DEFAULT 0,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  finished_at bigint,
  last_error text,
  lease_token text,
  lease_expires_at bigint NOT NULL DEFAULT 0
);

CREATE INDEX bucket_scans_tenant_idx ON bucket_scans (tenant_id, created_at);
CREATE INDEX bucket_scans_active_idx ON bucket_scans (lease_expires_at) WHERE state = 'running';
-- One event inbox per tenant and bucket.
CREATE UNIQUE INDEX bucket_scans_events_idx ON bucket_scans (tenant_id, bucket) WHERE origin = 'events';

CREATE TABLE bucket_scan_objects (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  scan_id text NOT NULL REFERENCES bucket_scans (id),
  -- What makes two sightings the same object: key + version (listing), + sequencer (events),
  -- + ETag (watch passes, which see unchanged objects again).
  dedupe_key text NOT NULL,
  object_key text NOT NULL,
  version_id text,
  etag text,
  size bigint NOT NULL DEFAULT 0,
  job_id text NOT NULL,               -- the scan job of the current attempt (decided before it is submitted)
  state text NOT NULL CHECK (state IN ('listed', 'queued', 'settled', 'cancelled')),
  scan_attempts bigint NOT NULL DEFAULT 1,
  outcome text,                       -- clean | infected | unscannable | … | failed | skipped
  finding text,
  actions text NOT NULL DEFAULT '[]', -- JSON BucketActionRecord[]
  created_at bigint NOT NULL,
  settled_at bigint,
  UNIQUE (scan_id, dedupe_key)
);

CREATE INDEX bucket_scan_objects_pending_idx ON bucket_scan_objects (scan_id, state, seq)
  WHERE state IN ('listed', 'queued');
CREATE INDEX bucket_scan_objects_job_idx ON bucket_scan_objects (job_id);

CREATE TABLE bucket_tenant_settings (
  tenant_id text PRIMARY KEY,
  actions text NOT NULL,
  updated_at bigint NOT NULL
);
