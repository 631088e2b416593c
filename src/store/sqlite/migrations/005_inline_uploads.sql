-- Small uploads are stored with their job instead of as a staged file (one write, no fsync of
-- their own); cleared when the job completes, removed with the job by retention in any case.

ALTER TABLE jobs ADD COLUMN upload_bytes BLOB;
