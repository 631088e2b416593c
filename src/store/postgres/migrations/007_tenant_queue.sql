-- Fair picking without walking every tenant (issue #18). Runs with search_path set to the store's
-- schema. One row per tenant that has had unfinished jobs: how many of its jobs are running and when
-- its oldest queued job is due. A lease reads the first row of tenant_queue_pick_idx and that
-- tenant's oldest queued job, two index lookups whatever the number of tenants. Triggers keep the
-- rows in the transaction that changes a job, so they always equal a recount from jobs:
--   running  = count of the tenant's jobs in state 'running' (expired leases included, until reclaimed)
--   next_due = the earliest next_attempt_at of its jobs in state 'queued'; NULL when none is queued
-- A lease extension (running -> running) and the retention sweep (deletes of done jobs) never write
-- the table. A tenant's row stays (running 0, next_due NULL) when it has nothing left: no delete
-- can race a concurrent submit's upsert, and the pick index leaves the row out.
--
-- Lock order (no deadlock, docs/SCALING.md): a transaction waits for a tenant_queue row only
--   (1) holding nothing but the one job row it is changing (a lease's first pick, a single
--       complete, retry or release, whose row trigger takes its tenant's row), or
--   (2) taking several tenants' rows in ascending tenant_id (the statement triggers below, and
--       jobs.completeMany, which locks its batch's rows in that order before its first update).
-- A lease never waits for a job row (SKIP LOCKED) and, after its transaction's first pick, never
-- for a tenant row either (SKIP LOCKED); a heartbeat never touches tenant_queue.

CREATE TABLE tenant_queue (
  tenant_id text PRIMARY KEY,
  running integer NOT NULL,
  next_due timestamptz
);

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
SELECT tenant_id, count(*) FILTER (WHERE state = 'running'), min(next_attempt_at) FILTER (WHERE state = 'queued')
FROM jobs WHERE state <> 'done' GROUP BY tenant_id;

-- Statement level: a batch (submitMany, a bulk insert) writes each tenant's row once, in tenant_id
-- order. LEAST ignores NULLs. The upsert waits for a lease holding the row and then applies itself
-- to what that lease committed, so a job submitted while the lease recomputed next_due is not lost.
CREATE FUNCTION tenant_queue_on_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO tenant_queue AS q (tenant_id, running, next_due)
  SELECT tenant_id, count(*) FILTER (WHERE state = 'running'), min(next_attempt_at) FILTER (WHERE state = 'queued')
  FROM inserted_jobs WHERE state <> 'done' GROUP BY tenant_id ORDER BY tenant_id
  ON CONFLICT (tenant_id) DO UPDATE SET
    running = q.running + excluded.running, next_due = LEAST(q.next_due, excluded.next_due);
  RETURN NULL;
END $$;

CREATE TRIGGER tenant_queue_insert AFTER INSERT ON jobs
REFERENCING NEW TABLE AS inserted_jobs FOR EACH STATEMENT EXECUTE FUNCTION tenant_queue_on_insert();

-- Row level, for the one-row state changes (lease, complete, retry, release). Leaving 'queued'
-- means next_due is looked up again, and that lookup must see every queued job committed so far:
-- the row is locked first (waiting for a concurrent submit's upsert to commit), and the lookup is a
-- later statement, so under READ COMMITTED it reads with a snapshot taken after the lock.
CREATE FUNCTION tenant_queue_on_update() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF OLD.state <> 'done' AND (OLD.tenant_id <> NEW.tenant_id OR OLD.state = 'queued') THEN
    PERFORM 1 FROM tenant_queue WHERE tenant_id = OLD.tenant_id FOR NO KEY UPDATE;
  END IF;
  IF OLD.tenant_id = NEW.tenant_id AND OLD.state <> 'done' THEN
    UPDATE tenant_queue SET
      running = running - (OLD.state = 'running')::integer + (NEW.state = 'running')::integer,
      next_due = CASE
        WHEN OLD.state = 'queued'
          THEN (SELECT min(next_attempt_at) FROM jobs WHERE tenant_id = OLD.tenant_id AND state = 'queued')
        WHEN NEW.state = 'queued' THEN LEAST(next_due, NEW.next_attempt_at)
        ELSE next_due END
    WHERE tenant_id = OLD.tenant_id;
    RETURN NULL;
  END IF;
  -- A job moved to another tenant, or a done job brought back (nothing does either today).
  IF OLD.state <> 'done' THEN
    UPDATE tenant_queue SET running = running - (OLD.state = 'running')::integer,
      next_due = (SELECT min(next_attempt_at) FROM jobs WHERE tenant_id = OLD.tenant_id AND state = 'queued')
    WHERE tenant_id = OLD.tenant_id;
  END IF;
  IF NEW.state <> 'done' THEN
    INSERT INTO tenant_queue AS q (tenant_id, running, next_due)
    VALUES (NEW.tenant_id, (NEW.state = 'running')::integer,
      CASE WHEN NEW.state = 'queued' THEN NEW.next_attempt_at END)
    ON CONFLICT (tenant_id) DO UPDATE SET
      running = q.running + excluded.running, next_due = LEAST(q.next_due, excluded.next_due);
  END IF;
  RETURN NULL;
END $$;

-- The WHEN clause is evaluated without calling the function: heartbeats (running -> running, a new
-- expiry), the reclaim of an expired lease and updates of finished jobs cost nothing here.
CREATE TRIGGER tenant_queue_update AFTER UPDATE OF state, tenant_id, next_attempt_at ON jobs
FOR EACH ROW WHEN ((OLD.state <> 'done' OR NEW.state <> 'done') AND (
  OLD.state <> NEW.state OR OLD.tenant_id <> NEW.tenant_id
  OR (NEW.state = 'queued' AND OLD.next_attempt_at <> NEW.next_attempt_at)))
EXECUTE FUNCTION tenant_queue_on_update();

-- Deletes of unfinished jobs (a cancelled bucket scan's queued jobs, the bench's bulk removal). The
-- retention sweep deletes done jobs only: the function finds none of those and writes nothing.
CREATE FUNCTION tenant_queue_on_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM deleted_jobs WHERE state <> 'done') THEN
    RETURN NULL;
  END IF;
  PERFORM 1 FROM tenant_queue
  WHERE tenant_id IN (SELECT tenant_id FROM deleted_jobs WHERE state <> 'done')
  ORDER BY tenant_id FOR NO KEY UPDATE;
  UPDATE tenant_queue q SET running = q.running - d.running,
    next_due = (SELECT min(j.next_attempt_at) FROM jobs j WHERE j.tenant_id = q.tenant_id AND j.state = 'queued')
  FROM (SELECT tenant_id, count(*) FILTER (WHERE state = 'running')::integer AS running
        FROM deleted_jobs WHERE state <> 'done' GROUP BY tenant_id) d
  WHERE q.tenant_id = d.tenant_id;
  RETURN NULL;
END $$;

CREATE TRIGGER tenant_queue_delete AFTER DELETE ON jobs
REFERENCING OLD TABLE AS deleted_jobs FOR EACH STATEMENT EXECUTE FUNCTION tenant_queue_on_delete();
