-- SLA escalations sent (each step at most once per case), target-side reconciliation findings,
-- and the last HR roster record seen per employee (what the reconciliation poll compares with).

CREATE TABLE case_escalations (
  case_id uuid NOT NULL REFERENCES cases (id),
  step text NOT NULL,
  due_at timestamptz NOT NULL,
  deadline_at timestamptz NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now(),
  open_systems jsonb NOT NULL DEFAULT '[]',
  PRIMARY KEY (case_id, step)
);

CREATE TABLE reconciliation_findings (
  id uuid PRIMARY KEY,
  run_id uuid NOT NULL,
  system text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('active_after_revocation', 'orphan_account', 'excess_access')),
  account_id text NOT NULL,
  login text,
  employee_id uuid REFERENCES employees (id),
  details jsonb NOT NULL DEFAULT '{}',
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz
);
-- One open finding per account and kind; a resolved one may come back as a new finding.
CREATE UNIQUE INDEX reconciliation_findings_open_idx ON reconciliation_findings (system, kind, account_id) WHERE resolved_at IS NULL;
CREATE INDEX reconciliation_findings_seen_idx ON reconciliation_findings (last_seen_at);

CREATE TABLE hr_roster (
  source text NOT NULL,
  employee_external_id text NOT NULL,
  record jsonb NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, employee_external_id)
);
