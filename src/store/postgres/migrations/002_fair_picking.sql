-- Fair picking across tenants (store.jobs.lease): the distinct tenants with unfinished jobs are walked
-- with one index probe each, and each tenant's oldest due job and running count are index lookups,
-- so choosing the tenant costs O(tenants × log jobs), not a scan of the backlog.
CREATE INDEX jobs_tenant_due_idx ON jobs (tenant_id, next_attempt_at, seq) WHERE state <> 'done';
CREATE INDEX jobs_running_idx ON jobs (tenant_id) WHERE state = 'running';
