-- Times are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY,            -- insertion order: the FIFO tie-break and "newest" for trace ids
  id TEXT NOT NULL UNIQUE,
  tenant_id TEXT NOT NULL,
  trace_id TEXT,
  dialect TEXT NOT NULL,
  source TEXT NOT NULL,               -- JSON ScanSource
  callback TEXT,                      -- JSON CallbackTarget
  custom_data TEXT,
  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER,
  -- When the job may be leased next: the retry time while queued, the lease expiry while running.
  -- One column for both keeps the lease query a single range scan of jobs_lease_idx.
  next_attempt_at INTEGER NOT NULL,
  lease_token TEXT,
  last_error TEXT,
  result TEXT,                        -- JSON ScanResult
  result_status TEXT                  -- result.status, for filters and counts
) STRICT;

CREATE INDEX jobs_lease_idx ON jobs (next_attempt_at, seq) WHERE state <> 'done';
-- Race-safe duplicate check: one unfinished job per (tenant, trace id). Also serves the quota count.
CREATE UNIQUE INDEX jobs_unfinished_trace_idx ON jobs (tenant_id, trace_id) WHERE state <> 'done';
CREATE INDEX jobs_trace_idx ON jobs (tenant_id, trace_id, seq);
CREATE INDEX jobs_tenant_created_idx ON jobs (tenant_id, created_at, seq);
CREATE INDEX jobs_tenant_completed_idx ON jobs (tenant_id, completed_at) WHERE state = 'done';
CREATE INDEX jobs_completed_idx ON jobs (completed_at) WHERE state = 'done';

CREATE TABLE deliveries (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,            -- webhook-id
  job_id TEXT NOT NULL REFERENCES jobs (id),
  tenant_id TEXT NOT NULL,
  url TEXT NOT NULL,
  headers TEXT NOT NULL,              -- JSON object
  body TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,   -- retry time, or lease expiry while leased (as for jobs)
  delivered_at INTEGER,
  lease_token TEXT,
  last_error TEXT,
  last_status_code INTEGER
) STRICT;

CREATE INDEX deliveries_lease_idx ON deliveries (next_attempt_at, seq) WHERE state = 'pending';
CREATE INDEX deliveries_job_idx ON deliveries (job_id);

CREATE TABLE verdict_cache (
  sha256 TEXT NOT NULL,
  signature_version TEXT NOT NULL,
  result TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (sha256, signature_version)
) STRICT, WITHOUT ROWID;

CREATE INDEX verdict_cache_created_idx ON verdict_cache (created_at);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
) STRICT;

CREATE TABLE webhook_secrets (
  tenant_id TEXT PRIMARY KEY,
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
