-- Bucket scans (issue #16). Times are integer milliseconds since the Unix epoch, as in 001.

CREATE TABLE bucket_scans (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  origin TEXT NOT NULL CHECK (origin IN ('scan', 'events', 'watch')),
  bucket TEXT NOT NULL,
  prefix TEXT NOT NULL,
  since INTEGER,                      -- only objects modified at or after (scan); high-water mark (watch)
  actions TEXT NOT NULL,              -- JSON BucketActions
  state TEXT NOT NULL CHECK (state IN ('running', 'done', 'cancelled', 'failed')),
  paused INTEGER NOT NULL DEFAULT 0,
  cursor TEXT,                        -- ListObjectsV2 continuation token of the next page
  listing_done INTEGER NOT NULL DEFAULT 0,
  watch_interval_ms INTEGER,          -- watch: time between two passes over the prefix
  next_pass_at INTEGER, -- watch: when the next pass starts
  high_water INTEGER, -- watch: newest LastModified seen so far
  listed INTEGER NOT NULL DEFAULT 0,
  bytes_listed INTEGER NOT NULL DEFAULT 0,
  clean INTEGER NOT NULL DEFAULT 0,
  infected INTEGER NOT NULL DEFAULT 0,
  unscannable INTEGER NOT NULL DEFAULT 0,
  other_verdicts INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  skipped INTEGER NOT NULL DEFAULT 0,
  rescans INTEGER NOT NULL DEFAULT 0,
  bytes_settled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER,
  last_error TEXT,
  lease_token TEXT,
  lease_expires_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX bucket_scans_tenant_idx ON bucket_scans (tenant_id, created_at);
CREATE INDEX bucket_scans_active_idx ON bucket_scans (lease_expires_at) WHERE state = 'running';
-- One event inbox per tenant and bucket.
CREATE UNIQUE INDEX bucket_scans_events_idx ON bucket_scans (tenant_id, bucket) WHERE origin = 'events';

CREATE TABLE bucket_scan_objects (
  seq INTEGER PRIMARY KEY,
  scan_id TEXT NOT NULL REFERENCES bucket_scans (id),
  -- What makes two sightings the same object: key + version (listing), + sequencer (events),
  -- + ETag (watch passes, which see unchanged objects again).
  dedupe_key TEXT NOT NULL,
  object_key TEXT NOT NULL,
  version_id TEXT,
  etag TEXT,
  size INTEGER NOT NULL DEFAULT 0,
  job_id TEXT NOT NULL,               -- the scan job of the current attempt (decided before it is submitted)
  state TEXT NOT NULL CHECK (state IN ('listed', 'queued', 'settled', 'cancelled')),
  scan_attempts INTEGER NOT NULL DEFAULT 1,
  outcome TEXT,                       -- clean | infected | unscannable | … | failed | skipped
  finding TEXT,
  actions TEXT NOT NULL DEFAULT '[]', -- JSON BucketActionRecord[]
  created_at INTEGER NOT NULL,
  settled_at INTEGER,
  UNIQUE (scan_id, dedupe_key)
) STRICT;

CREATE INDEX bucket_scan_objects_pending_idx ON bucket_scan_objects (scan_id, state, seq)
  WHERE state IN ('listed', 'queued');
CREATE INDEX bucket_scan_objects_job_idx ON bucket_scan_objects (job_id);

CREATE TABLE bucket_tenant_settings (
  tenant_id TEXT PRIMARY KEY,
  actions TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
