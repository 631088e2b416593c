-- Small uploads are stored with their job instead of as a staged blob (one write, no object or
-- file of their own); cleared when the job completes, removed with the job by retention in any case.

ALTER TABLE jobs ADD COLUMN upload_bytes bytea;
