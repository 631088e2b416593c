-- Fair picking without walking every tenant (issue #18). Runs with search_path set to the store's
-- schema. One row per tenant that has had queued jobs, holding next_due: when its oldest queued job
-- is due, NULL when it has none queued. A lease then looks at:
--   * live leases (jobs running and not expired): at most as many as there are worker slots, counted
--     per tenant at each pick (jobs_running_expiry_idx), so running counts are never stored and a
--     completion never writes tenant_queue;
--   * tenant_queue in next_due order, skipping the few tenants with live leases: the oldest due
--     tenant with nothing running; else, among the tenants with live leases, fewest running first.
-- A claim therefore costs O(live leases), not O(tenants). Heartbeats, completions, the reclaim of an
-- expired lease and the retention sweep never touch tenant_queue.
--
-- next_due is exact when a tenant's jobs are not leased concurrently, and otherwise a lower bound:
-- it is never later than the tenant's oldest queued job, and NULL only when none is queued. A lease
-- recomputes it only if it gets the row's lock at once (SKIP LOCKED): when another lease or a
-- submit holds the row, the recompute is skipped and next_due stays early (a job of the tenant was
-- leased, so its oldest queued job can only be later). Leases check that a candidate tenant really
-- has a due job, so an early next_due costs one index probe and a slightly early place among
-- tenants with as many running, until the tenant's next lease or the retention sweep corrects it.
-- This is what keeps one busy tenant's leases from queueing on its row, one commit at a time.
--
-- Why submits lock with FOR KEY SHARE: a recompute reads jobs, and must not miss a queued job
-- committed after its snapshot, or next_due would be later than that job (or NULL) and the job left
-- out. Submitters (and retries, releases) take FOR KEY SHARE on the tenant's row, which does not
-- conflict between them (one busy tenant's submits do not queue on each other); a recompute needs
-- FOR UPDATE, which conflicts with it: while a submitter holds the row a lease skips the recompute,
-- and while a lease holds it a submitter waits for that lease's commit, then brings next_due
-- forward from what the lease wrote. The recompute is a statement after the lock, so under READ
-- COMMITTED it sees every submit committed before it.
--
-- Lock order (no deadlock; docs/SCALING.md): leases never wait for a lock (SKIP LOCKED on tenant
-- and job rows). Submits, retries and releases wait only for tenant rows, in ascending tenant_id
-- (statement triggers) and holding no other tenant row; a FOR KEY SHARE holder's own update of the
-- row does not conflict with other KEY SHARE holders, only with another update, which is done with
-- that row. Deletes of queued jobs and the sweep's repair take tenant rows in ascending tenant_id.

CREATE TABLE tenant_queue (
  tenant_id text PRIMARY KEY,
  next_due timestamptz
);

CREATE INDEX tenant_queue_due_idx ON tenant_queue (next_due, tenant_id) WHERE next_due IS NOT NULL;

-- A tenant's queued jobs in lease order: its oldest due job, and next_due recomputed after a lease.
CREATE INDEX jobs_tenant_queued_idx ON jobs (tenant_id, next_attempt_at, seq) WHERE state = 'queued';
-- Running jobs by lease expiry: an expired lease (its worker died) with one probe, and the live
-- leases (not expired) counted per tenant at each pick.
CREATE INDEX jobs_running_expiry_idx ON jobs (next_attempt_at, seq) INCLUDE (tenant_id) WHERE state = 'running';
-- The tenant walk's indexes and the old single-scan lease index: no statement reads them any more.
DROP INDEX jobs_tenant_due_idx;
DROP INDEX jobs_running_idx;
DROP INDEX jobs_lease_idx;

INSERT INTO tenant_queue (tenant_id, next_due)
SELECT tenant_id, min(next_attempt_at) FROM jobs WHERE state = 'queued' GROUP BY tenant_id;

-- Brings a tenant's next_due forward to `due` if that is earlier (see FOR KEY SHARE above).
CREATE FUNCTION tenant_queue_bring_forward(tenant text, due timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO tenant_queue (tenant_id, next_due) VALUES (tenant, NULL) ON CONFLICT (tenant_id) DO NOTHING;
  PERFORM 1 FROM tenant_queue WHERE tenant_id = tenant FOR KEY SHARE;
  UPDATE tenant_queue SET next_due = due WHERE tenant_id = tenant AND (next_due IS NULL OR next_due > due);
END $$;

-- Looks a tenant's next_due up again after one of its queued jobs went (leased, deleted): only when
-- its row can be locked at once (see the lower bound above). The lookup is a later statement than the
-- lock, so it reads jobs with a snapshot taken after every submitter that held the row committed.
CREATE FUNCTION tenant_queue_recompute(tenant text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM 1 FROM tenant_queue WHERE tenant_id = tenant FOR UPDATE SKIP LOCKED;
  IF FOUND THEN
    UPDATE tenant_queue SET next_due = (SELECT min(next_attempt_at) FROM jobs
                                        WHERE tenant_id = tenant AND state = 'queued')
    WHERE tenant_id = tenant;
  END IF;
END $$;

-- Statement level: a batch (submitMany, a bulk insert) goes through its tenants in tenant_id order.
CREATE FUNCTION tenant_queue_on_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  queued record;
BEGIN
  FOR queued IN
    SELECT tenant_id, min(next_attempt_at) AS due FROM inserted_jobs WHERE state = 'queued'
    GROUP BY tenant_id ORDER BY tenant_id
  LOOP
    PERFORM tenant_queue_bring_forward(queued.tenant_id, queued.due);
  END LOOP;
  RETURN NULL;
END $$;

CREATE TRIGGER tenant_queue_insert AFTER INSERT ON jobs
REFERENCING NEW TABLE AS inserted_jobs FOR EACH STATEMENT EXECUTE FUNCTION tenant_queue_on_insert();

-- Row level, for one job entering or leaving 'queued' (lease, retry, release).
CREATE FUNCTION tenant_queue_on_update() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  -- tenant_queue_recompute inlined: this runs once per lease.
  IF OLD.state = 'queued' THEN
    PERFORM 1 FROM tenant_queue WHERE tenant_id = OLD.tenant_id FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
      UPDATE tenant_queue SET next_due = (SELECT min(next_attempt_at) FROM jobs
                                          WHERE tenant_id = OLD.tenant_id AND state = 'queued')
      WHERE tenant_id = OLD.tenant_id;
    END IF;
  END IF;
  IF NEW.state = 'queued' THEN
    PERFORM tenant_queue_bring_forward(NEW.tenant_id, NEW.next_attempt_at);
  END IF;
  RETURN NULL;
END $$;

-- The WHEN clause is evaluated without calling the function: completions (running -> done),
-- heartbeats and the reclaim of an expired lease (running -> running) cost nothing here.
CREATE TRIGGER tenant_queue_update AFTER UPDATE OF state, tenant_id, next_attempt_at ON jobs
FOR EACH ROW WHEN ((OLD.state = 'queued' OR NEW.state = 'queued') AND (
  OLD.state <> NEW.state OR OLD.tenant_id <> NEW.tenant_id OR OLD.next_attempt_at <> NEW.next_attempt_at))
EXECUTE FUNCTION tenant_queue_on_update();

-- Deletes of queued jobs (a cancelled bucket scan's, the bench's bulk removal) only make next_due
-- early, which is allowed; it is looked up again where the row is free. The retention sweep deletes
-- done jobs only: the function finds none of those and writes nothing.
CREATE FUNCTION tenant_queue_on_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  tenant text;
BEGIN
  FOR tenant IN SELECT DISTINCT tenant_id FROM deleted_jobs WHERE state = 'queued' ORDER BY tenant_id LOOP
    PERFORM tenant_queue_recompute(tenant);
  END LOOP;
  RETURN NULL;
END $$;

CREATE TRIGGER tenant_queue_delete AFTER DELETE ON jobs
REFERENCING OLD TABLE AS deleted_jobs FOR EACH STATEMENT EXECUTE FUNCTION tenant_queue_on_delete();
