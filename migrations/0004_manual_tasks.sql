-- Manual tasks: work for a person, for systems with no API (badge access, a legacy app, a
-- hardware return). A revocation task counts as the system's revocation once someone attests
-- that it is done; it carries the same deadline as the automated systems.
CREATE TABLE manual_tasks (
  id uuid PRIMARY KEY,
  system text NOT NULL,
  employee_external_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('provision', 'revoke', 'suspend', 'enable', 'change')),
  -- The job idempotency key that created it: a retried job finds the same task.
  idempotency_key text NOT NULL UNIQUE,
  owner_group text NOT NULL,
  title text NOT NULL,
  instructions text,
  details jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'cancelled')),
  deadline_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  completed_by text,
  attestation jsonb
);
CREATE INDEX manual_tasks_open_idx ON manual_tasks (status, deadline_at);
CREATE INDEX manual_tasks_employee_idx ON manual_tasks (system, employee_external_id, created_at);
