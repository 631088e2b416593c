-- Runs with search_path set to the store's schema.

CREATE TABLE jobs (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- FIFO tie-break and "newest" for trace ids
  id text NOT NULL UNIQUE,
  tenant_id text NOT NULL,
  trace_id text,
  dialect text NOT NULL,
  source jsonb NOT NULL,
  callback jsonb,
  custom_data text,
  state text NOT NULL CHECK (state IN ('queued', 'running', 'done')),
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  completed_at timestamptz,
  -- When the job may be leased next: the retry time while queued, the lease expiry while running.
  -- One column for both keeps the lease query a single range scan of jobs_lease_idx.
  next_attempt_at timestamptz NOT NULL,
  lease_token text,
  last_error text,
  result jsonb,
  result_status text
);

CREATE INDEX jobs_lease_idx ON jobs (next_attempt_at, seq) WHERE state <> 'done';
-- Race-safe duplicate check: one unfinished job per (tenant, trace id). Also serves the quota count.
CREATE UNIQUE INDEX jobs_unfinished_trace_idx ON jobs (tenant_id, trace_id) WHERE state <> 'done';
CREATE INDEX jobs_trace_idx ON jobs (tenant_id, trace_id, seq);
CREATE INDEX jobs_tenant_created_idx ON jobs (tenant_id, created_at, seq);
CREATE INDEX jobs_tenant_completed_idx ON jobs (tenant_id, completed_at) WHERE state = 'done';
CREATE INDEX jobs_completed_idx ON jobs (completed_at) WHERE state = 'done';

CREATE TABLE deliveries (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE, -- webhook-id
  job_id text NOT NULL REFERENCES jobs (id),
  tenant_id text NOT NULL,
  url text NOT NULL,
  headers jsonb NOT NULL,
  body text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL, -- retry time, or lease expiry while leased (as for jobs)
  delivered_at timestamptz,
  lease_token text,
  last_error text,
  last_status_code integer
);

CREATE INDEX deliveries_lease_idx ON deliveries (next_attempt_at, seq) WHERE state = 'pending';
CREATE INDEX deliveries_job_idx ON deliveries (job_id);

CREATE TABLE verdict_cache (
  sha256 text NOT NULL,
  signature_version text NOT NULL,
  result jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sha256, signature_version)
);

CREATE INDEX verdict_cache_created_idx ON verdict_cache (created_at);

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  prefix text NOT NULL,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz
);

CREATE TABLE webhook_secrets (
  tenant_id text PRIMARY KEY,
  secret text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
