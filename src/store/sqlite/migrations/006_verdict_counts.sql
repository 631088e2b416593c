-- Verdict counters per tenant and hour (issue #18): the dashboard's stats read at most one row per
-- hour of the window instead of counting the tenant's retained results. Triggers keep them in the
-- transaction that finishes, inserts or deletes a job, so they always equal a count over the table.
-- Hours are epoch-aligned, in milliseconds like every time here.

CREATE TABLE verdict_counts (
  tenant_id TEXT NOT NULL,
  hour_start INTEGER NOT NULL,
  clean INTEGER NOT NULL DEFAULT 0,
  infected INTEGER NOT NULL DEFAULT 0,
  unscannable INTEGER NOT NULL DEFAULT 0,
  blocked INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, hour_start)
) STRICT, WITHOUT ROWID;

INSERT INTO verdict_counts (tenant_id, hour_start, clean, infected, unscannable, blocked)
SELECT tenant_id, (completed_at / 3600000) * 3600000,
  sum(result_status = 'clean'), sum(result_status = 'infected'),
  sum(result_status = 'unscannable'), sum(result_status = 'blocked')
FROM jobs WHERE state = 'done' GROUP BY 1, 2;

CREATE TRIGGER verdict_counts_add_on_insert AFTER INSERT ON jobs WHEN NEW.state = 'done'
BEGIN
  INSERT INTO verdict_counts (tenant_id, hour_start, clean, infected, unscannable, blocked)
  VALUES (NEW.tenant_id, (NEW.completed_at / 3600000) * 3600000,
    NEW.result_status = 'clean', NEW.result_status = 'infected',
    NEW.result_status = 'unscannable', NEW.result_status = 'blocked')
  ON CONFLICT (tenant_id, hour_start) DO UPDATE SET
    clean = clean + excluded.clean, infected = infected + excluded.infected,
    unscannable = unscannable + excluded.unscannable, blocked = blocked + excluded.blocked;
END;

-- A finished job is normally never updated again; subtracting the old row and adding the new one
-- keeps the counters right even if it were.
CREATE TRIGGER verdict_counts_remove_on_update
AFTER UPDATE OF state, tenant_id, completed_at, result_status ON jobs WHEN OLD.state = 'done'
BEGIN
  UPDATE verdict_counts SET
    clean = clean - (OLD.result_status = 'clean'), infected = infected - (OLD.result_status = 'infected'),
    unscannable = unscannable - (OLD.result_status = 'unscannable'),
    blocked = blocked - (OLD.result_status = 'blocked')
  WHERE tenant_id = OLD.tenant_id AND hour_start = (OLD.completed_at / 3600000) * 3600000;
END;

CREATE TRIGGER verdict_counts_add_on_update
AFTER UPDATE OF state, tenant_id, completed_at, result_status ON jobs WHEN NEW.state = 'done'
BEGIN
  INSERT INTO verdict_counts (tenant_id, hour_start, clean, infected, unscannable, blocked)
  VALUES (NEW.tenant_id, (NEW.completed_at / 3600000) * 3600000,
    NEW.result_status = 'clean', NEW.result_status = 'infected',
    NEW.result_status = 'unscannable', NEW.result_status = 'blocked')
  ON CONFLICT (tenant_id, hour_start) DO UPDATE SET
    clean = clean + excluded.clean, infected = infected + excluded.infected,
    unscannable = unscannable + excluded.unscannable, blocked = blocked + excluded.blocked;
END;

-- The retention sweep deletes whole hours: an hour whose results are all gone loses its row.
CREATE TRIGGER verdict_counts_remove_on_delete AFTER DELETE ON jobs WHEN OLD.state = 'done'
BEGIN
  UPDATE verdict_counts SET
    clean = clean - (OLD.result_status = 'clean'), infected = infected - (OLD.result_status = 'infected'),
    unscannable = unscannable - (OLD.result_status = 'unscannable'),
    blocked = blocked - (OLD.result_status = 'blocked')
  WHERE tenant_id = OLD.tenant_id AND hour_start = (OLD.completed_at / 3600000) * 3600000;
  DELETE FROM verdict_counts
  WHERE tenant_id = OLD.tenant_id AND hour_start = (OLD.completed_at / 3600000) * 3600000
    AND clean = 0 AND infected = 0 AND unscannable = 0 AND blocked = 0;
END;
