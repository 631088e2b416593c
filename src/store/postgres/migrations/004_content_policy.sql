-- Content policies (docs/POLICY.md): each tenant's, and the one in force for each job, resolved at submit.

ALTER TABLE jobs ADD COLUMN policy jsonb; -- ContentPolicy; NULL is the default policy

CREATE TABLE tenant_policies (
  tenant_id text PRIMARY KEY,
  policy jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
