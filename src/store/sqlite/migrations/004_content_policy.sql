-- Content policies (docs/POLICY.md): each tenant's, and the one in force for each job, resolved at submit.

ALTER TABLE jobs ADD COLUMN policy TEXT; -- JSON ContentPolicy; NULL is the default policy

CREATE TABLE tenant_policies (
  tenant_id TEXT PRIMARY KEY,
  policy TEXT NOT NULL,               -- JSON ContentPolicy
  updated_at INTEGER NOT NULL
) STRICT;
