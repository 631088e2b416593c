-- Unfinished jobs without a trace id (bucket scans, most native uploads) leave the duplicate check's
-- index (issue #18). A NULL trace id never conflicted in it (NULLs are distinct in a unique index),
-- yet every such job was written there at submit, rewritten at each lease (its WHERE reads state)
-- and deleted at completion: with a million jobs queued over 10,000 tenants, one cold page and
-- three index seeks of each claim. The per-tenant quota count it also served now adds the tenant's
-- queued jobs (jobs_tenant_queued_idx) to its running count (tenant_queue, exact since 007).
DROP INDEX jobs_unfinished_trace_idx;
CREATE UNIQUE INDEX jobs_unfinished_trace_idx ON jobs (tenant_id, trace_id)
  WHERE state <> 'done' AND trace_id IS NOT NULL;
