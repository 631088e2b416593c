-- Fair picking without walking every tenant (issue #18). One row per tenant that has had unfinished
-- jobs: how many of its jobs are running and when its oldest queued job is due. A lease reads the
-- first row of tenant_queue_pick_idx and that tenant's oldest queued job, two index lookups whatever
-- the number of tenants. Triggers keep the rows in the transaction that changes a job, so they always
-- equal a recount from jobs:
--   running  = count of the tenant's jobs in state 'running' (expired leases included, until reclaimed)
--   next_due = the earliest next_attempt_at of its jobs in state 'queued'; NULL when none is queued
-- A lease extension (running -> running) and the retention sweep (deletes of done jobs) never touch
-- the table. A tenant's row stays (running 0, next_due NULL) when it has nothing left: the next
-- submit updates it instead of inserting, and the pick index leaves it out.

CREATE TABLE tenant_queue (
  tenant_id TEXT PRIMARY KEY,
  running INTEGER NOT NULL,
  next_due INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX tenant_queue_pick_idx ON tenant_queue (running, next_due, tenant_id) WHERE next_due IS NOT NULL;

-- A tenant's queued jobs in lease order: its oldest due job, and next_due recomputed after a lease.
CREATE INDEX jobs_tenant_queued_idx ON jobs (tenant_id, next_attempt_at, seq) WHERE state = 'queued';
-- Running jobs by lease expiry: an expired lease (its worker died) is found with one probe.
CREATE INDEX jobs_running_expiry_idx ON jobs (next_attempt_at, seq) WHERE state = 'running';
-- The tenant walk's indexes and the old single-scan lease index: no statement reads them any more.
DROP INDEX jobs_tenant_due_idx;
DROP INDEX jobs_running_idx;
DROP INDEX jobs_lease_idx;

INSERT INTO tenant_queue (tenant_id, running, next_due)
SELECT tenant_id, sum(state = 'running'), min(CASE WHEN state = 'queued' THEN next_attempt_at END)
FROM jobs WHERE state <> 'done' GROUP BY tenant_id;

CREATE TRIGGER tenant_queue_on_insert AFTER INSERT ON jobs WHEN NEW.state <> 'done'
BEGIN
  INSERT INTO tenant_queue (tenant_id, running, next_due)
  VALUES (NEW.tenant_id, NEW.state = 'running', CASE WHEN NEW.state = 'queued' THEN NEW.next_attempt_at END)
  ON CONFLICT (tenant_id) DO UPDATE SET
    running = running + excluded.running,
    next_due = CASE WHEN excluded.next_due IS NOT NULL AND (next_due IS NULL OR excluded.next_due < next_due)
                 THEN excluded.next_due ELSE next_due END;
END;

-- A job changing state (lease, completion, retry, release) changes its tenant's row once. Leaving
-- 'queued' may take the tenant's oldest queued job away, so next_due is looked up again in
-- jobs_tenant_queued_idx (the row has its new state by now); entering 'queued' can only lower it.
-- The upsert covers a done job brought back (nothing does that today; the counters stay right anyway).
CREATE TRIGGER tenant_queue_on_update
AFTER UPDATE OF state, next_attempt_at ON jobs
WHEN NEW.tenant_id = OLD.tenant_id AND (OLD.state <> 'done' OR NEW.state <> 'done')
  AND (NEW.state <> OLD.state OR (NEW.state = 'queued' AND NEW.next_attempt_at <> OLD.next_attempt_at))
BEGIN
  INSERT INTO tenant_queue (tenant_id, running, next_due)
  VALUES (NEW.tenant_id, NEW.state = 'running', CASE WHEN NEW.state = 'queued' THEN NEW.next_attempt_at END)
  ON CONFLICT (tenant_id) DO UPDATE SET
    running = running - (OLD.state = 'running') + excluded.running,
    next_due = CASE
      WHEN OLD.state = 'queued'
        THEN (SELECT min(next_attempt_at) FROM jobs WHERE tenant_id = OLD.tenant_id AND state = 'queued')
      WHEN excluded.next_due IS NOT NULL AND (next_due IS NULL OR excluded.next_due < next_due)
        THEN excluded.next_due
      ELSE next_due END;
END;

-- A job moved to another tenant (nothing does that today): out of the old row, into the new one.
CREATE TRIGGER tenant_queue_on_move AFTER UPDATE OF tenant_id ON jobs
WHEN NEW.tenant_id <> OLD.tenant_id
BEGIN
  UPDATE tenant_queue SET
    running = running - (OLD.state = 'running'),
    next_due = (SELECT min(next_attempt_at) FROM jobs WHERE tenant_id = OLD.tenant_id AND state = 'queued')
  WHERE tenant_id = OLD.tenant_id AND OLD.state <> 'done';
  INSERT INTO tenant_queue (tenant_id, running, next_due)
  SELECT NEW.tenant_id, NEW.state = 'running', CASE WHEN NEW.state = 'queued' THEN NEW.next_attempt_at END
  WHERE NEW.state <> 'done'
  ON CONFLICT (tenant_id) DO UPDATE SET
    running = running + excluded.running,
    next_due = CASE WHEN excluded.next_due IS NOT NULL AND (next_due IS NULL OR excluded.next_due < next_due)
                 THEN excluded.next_due ELSE next_due END;
END;

-- Deletes of unfinished jobs (a cancelled bucket scan's queued jobs, the bench's bulk removal). The
-- retention sweep deletes done jobs only and passes the WHEN clause without running anything.
CREATE TRIGGER tenant_queue_on_delete AFTER DELETE ON jobs WHEN OLD.state <> 'done'
BEGIN
  UPDATE tenant_queue SET
    running = running - (OLD.state = 'running'),
    next_due = CASE WHEN OLD.state = 'queued'
                 THEN (SELECT min(next_attempt_at) FROM jobs WHERE tenant_id = OLD.tenant_id AND state = 'queued')
                 ELSE next_due END
  WHERE tenant_id = OLD.tenant_id;
END;
