-- Verdict counters per tenant and hour (issue #18): the dashboard's stats read at most one row per
-- hour of the window instead of counting the tenant's retained results. Triggers keep them in the
-- transaction that finishes, inserts or deletes a job, so they always equal a count over the table.
-- hour_start is epoch milliseconds (not date_trunc, which follows the session's time zone).

CREATE TABLE verdict_counts (
  tenant_id text NOT NULL,
  hour_start bigint NOT NULL,
  clean bigint NOT NULL DEFAULT 0,
  infected bigint NOT NULL DEFAULT 0,
  unscannable bigint NOT NULL DEFAULT 0,
  blocked bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, hour_start)
);

CREATE FUNCTION verdict_hour(completed_at timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (floor(extract(epoch FROM completed_at) / 3600) * 3600000)::bigint;

INSERT INTO verdict_counts (tenant_id, hour_start, clean, infected, unscannable, blocked)
SELECT tenant_id, verdict_hour(completed_at),
  count(*) FILTER (WHERE result_status = 'clean'), count(*) FILTER (WHERE result_status = 'infected'),
  count(*) FILTER (WHERE result_status = 'unscannable'), count(*) FILTER (WHERE result_status = 'blocked')
FROM jobs WHERE state = 'done' GROUP BY 1, 2;

-- Adds (sign 1) or subtracts (sign -1) one finished job. Row level, for the one-row completion.
CREATE FUNCTION verdict_counts_apply_row(job_tenant text, job_completed timestamptz, status text, sign integer)
RETURNS void LANGUAGE sql SET search_path FROM CURRENT
BEGIN ATOMIC
  INSERT INTO verdict_counts AS c (tenant_id, hour_start, clean, infected, unscannable, blocked)
  VALUES (job_tenant, verdict_hour(job_completed),
    sign * (status = 'clean')::integer, sign * (status = 'infected')::integer,
    sign * (status = 'unscannable')::integer, sign * (status = 'blocked')::integer)
  ON CONFLICT (tenant_id, hour_start) DO UPDATE SET
    clean = c.clean + excluded.clean, infected = c.infected + excluded.infected,
    unscannable = c.unscannable + excluded.unscannable, blocked = c.blocked + excluded.blocked;
END;

CREATE FUNCTION verdict_counts_on_update() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF OLD.state = 'done' THEN
    PERFORM verdict_counts_apply_row(OLD.tenant_id, OLD.completed_at, OLD.result_status, -1);
  END IF;
  IF NEW.state = 'done' THEN
    PERFORM verdict_counts_apply_row(NEW.tenant_id, NEW.completed_at, NEW.result_status, 1);
  END IF;
  RETURN NULL;
END $$;

-- The WHEN clause is evaluated without calling the function: leases and heartbeats cost nothing.
CREATE TRIGGER verdict_counts_update AFTER UPDATE OF state, tenant_id, completed_at, result_status ON jobs
FOR EACH ROW WHEN (OLD.state = 'done' OR NEW.state = 'done') EXECUTE FUNCTION verdict_counts_on_update();

-- Statement level with a transition table: a bulk insert or a sweep batch of thousands of rows
-- touches each (tenant, hour) counter once.
CREATE FUNCTION verdict_counts_on_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO verdict_counts AS c (tenant_id, hour_start, clean, infected, unscannable, blocked)
  SELECT tenant_id, verdict_hour(completed_at),
    count(*) FILTER (WHERE result_status = 'clean'), count(*) FILTER (WHERE result_status = 'infected'),
    count(*) FILTER (WHERE result_status = 'unscannable'), count(*) FILTER (WHERE result_status = 'blocked')
  FROM inserted_jobs WHERE state = 'done' GROUP BY 1, 2
  ON CONFLICT (tenant_id, hour_start) DO UPDATE SET
    clean = c.clean + excluded.clean, infected = c.infected + excluded.infected,
    unscannable = c.unscannable + excluded.unscannable, blocked = c.blocked + excluded.blocked;
  RETURN NULL;
END $$;

CREATE TRIGGER verdict_counts_insert AFTER INSERT ON jobs
REFERENCING NEW TABLE AS inserted_jobs FOR EACH STATEMENT EXECUTE FUNCTION verdict_counts_on_insert();

-- The retention sweep deletes whole hours: an hour whose results are all gone loses its row.
CREATE FUNCTION verdict_counts_on_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  UPDATE verdict_counts c SET clean = c.clean - r.clean, infected = c.infected - r.infected,
    unscannable = c.unscannable - r.unscannable, blocked = c.blocked - r.blocked
  FROM (
    SELECT tenant_id, verdict_hour(completed_at) AS hour_start,
      count(*) FILTER (WHERE result_status = 'clean') AS clean,
      count(*) FILTER (WHERE result_status = 'infected') AS infected,
      count(*) FILTER (WHERE result_status = 'unscannable') AS unscannable,
      count(*) FILTER (WHERE result_status = 'blocked') AS blocked
    FROM deleted_jobs WHERE state = 'done' GROUP BY 1, 2
  ) r
  WHERE c.tenant_id = r.tenant_id AND c.hour_start = r.hour_start;
  DELETE FROM verdict_counts c
  USING (SELECT DISTINCT tenant_id, verdict_hour(completed_at) AS hour_start FROM deleted_jobs
         WHERE state = 'done') r
  WHERE c.tenant_id = r.tenant_id AND c.hour_start = r.hour_start
    AND c.clean = 0 AND c.infected = 0 AND c.unscannable = 0 AND c.blocked = 0;
  RETURN NULL;
END $$;

CREATE TRIGGER verdict_counts_delete AFTER DELETE ON jobs
REFERENCING OLD TABLE AS deleted_jobs FOR EACH STATEMENT EXECUTE FUNCTION verdict_counts_on_delete();
