-- Emergency off-boarding: a person (an admin, or a role configured for it) cuts someone off now,
-- without waiting for HR. One row per request. With offboarding.emergency.requireSecondApprover
-- the row waits as `pending` until a different person approves it (four-eyes) or it expires;
-- otherwise it is `applied` at once. The termination itself goes through the lifecycle engine as
-- an `employee.terminated` (same SLA, same evidence as HR's); this row keeps who, why, and what
-- HR said afterwards (hr_status): `confirmed` when HR's own termination arrived, `discrepancy`
-- when HR still shows the person employed (a task for a person; access stays cut).
CREATE TABLE emergency_terminations (
  id uuid PRIMARY KEY,
  employee_id uuid NOT NULL REFERENCES employees (id),
  -- The employment it cut (employees.generation when requested): a later rehire is not touched.
  generation integer NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'applied', 'rejected', 'expired')),
  reason text NOT NULL,
  requested_by text NOT NULL,
  requested_by_type text NOT NULL,
  requested_by_name text,
  requested_at timestamptz NOT NULL,
  -- Pending requests only: after this moment nobody can approve it any more.
  expires_at timestamptz,
  decided_by text,
  decided_by_name text,
  decided_at timestamptz,
  decision_reason text,
  applied_at timestamptz,
  case_id uuid REFERENCES cases (id),
  correlation_id text NOT NULL,
  -- Who gets the discrepancy task if HR disagrees (config at request time).
  discrepancy_owner_group text NOT NULL,
  hr_status text NOT NULL DEFAULT 'unconfirmed' CHECK (hr_status IN ('unconfirmed', 'confirmed', 'discrepancy')),
  hr_status_at timestamptz,
  hr_event_id uuid,
  discrepancy_task_id uuid REFERENCES manual_tasks (id)
);
-- At most one request waits per person: a second terminate finds it instead of making another.
CREATE UNIQUE INDEX emergency_terminations_one_pending ON emergency_terminations (employee_id) WHERE status = 'pending';
CREATE INDEX emergency_terminations_employee_idx ON emergency_terminations (employee_id, requested_at DESC);
CREATE INDEX emergency_terminations_status_idx ON emergency_terminations (status, requested_at DESC);

-- The discrepancy is work for a person: HR still shows someone employed whom security cut off.
ALTER TABLE manual_tasks DROP CONSTRAINT manual_tasks_kind_check;
ALTER TABLE manual_tasks ADD CONSTRAINT manual_tasks_kind_check
  CHECK (kind IN ('provision', 'revoke', 'suspend', 'enable', 'change', 'residual', 'hr_discrepancy'));
