-- Core schema: the HR inbox, canonical events, employees with their machine snapshots,
-- accounts per system, joiner/leaver cases, and the shared rate limiter.
-- Timestamps are timestamptz named *_at; tables are plural snake_case.

-- Every verified HR notice, stored before the delivery is acknowledged (one delivery can carry
-- several notices, e.g. BambooHR's employees[]). The raw body is kept as evidence (its hash goes
-- into the audit trail); headers are stored without signatures or credentials. `seq` is the
-- acceptance order, in which one employee's notices are applied.
CREATE TABLE hr_inbox (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  source text NOT NULL,
  dedupe_key text NOT NULL,
  employee_external_id text NOT NULL,
  vendor_event_type text NOT NULL,
  occurred_at timestamptz,
  notice jsonb NOT NULL DEFAULT 'null',
  received_at timestamptz NOT NULL DEFAULT now(),
  content_type text,
  headers jsonb NOT NULL DEFAULT '{}',
  body bytea NOT NULL,
  body_sha256 text NOT NULL,
  found_by text NOT NULL DEFAULT 'webhook' CHECK (found_by IN ('webhook', 'reconciliation', 'manual')),
  status text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed', 'failed')),
  processed_at timestamptz,
  events_count integer NOT NULL DEFAULT 0,
  error jsonb,
  correlation_id text NOT NULL,
  UNIQUE (source, dedupe_key)
);
CREATE INDEX hr_inbox_status_idx ON hr_inbox (status, received_at);
CREATE INDEX hr_inbox_employee_idx ON hr_inbox (source, employee_external_id, seq);

-- Canonical lifecycle events (state-machines/events.ts), one row per event, whatever found it.
CREATE TABLE hr_events (
  event_id uuid PRIMARY KEY,
  inbox_id uuid REFERENCES hr_inbox (id),
  source text NOT NULL,
  source_event_id text NOT NULL,
  employee_external_id text NOT NULL,
  employee_id uuid,
  type text NOT NULL,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL,
  found_by text NOT NULL,
  payload jsonb NOT NULL,
  outcome text CHECK (outcome IN ('applied', 'ignored', 'duplicate')),
  outcome_reason text,
  applied_at timestamptz,
  UNIQUE (source, source_event_id, type)
);
CREATE INDEX hr_events_employee_idx ON hr_events (employee_id, occurred_at);
CREATE INDEX hr_events_type_time_idx ON hr_events (type, occurred_at);

-- One row per person per HR source. `snapshot` is the XState persisted snapshot; `version`
-- increases with every applied event (optimistic check on top of the row lock).
CREATE TABLE employees (
  id uuid PRIMARY KEY,
  source text NOT NULL,
  external_id text NOT NULL,
  display_name text,
  email text,
  department text,
  profile jsonb NOT NULL DEFAULT '{}',
  state text NOT NULL DEFAULT 'unknown',
  snapshot jsonb,
  version integer NOT NULL DEFAULT 0,
  generation integer NOT NULL DEFAULT 0,
  start_date date,
  next_action text,
  next_action_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source, external_id)
);
CREATE INDEX employees_state_idx ON employees (state);
CREATE INDEX employees_department_idx ON employees (department);

-- Accounts per employee per system, projected from the machine after every transition.
CREATE TABLE employee_accounts (
  employee_id uuid NOT NULL REFERENCES employees (id),
  system text NOT NULL,
  account_id text,
  login text,
  status text NOT NULL,
  desired jsonb,
  provisioned jsonb,
  attempts integer NOT NULL DEFAULT 0,
  last_error jsonb,
  residual jsonb NOT NULL DEFAULT '[]',
  waiting_on text,
  revoked_at timestamptz,
  verified_at timestamptz,
  cleaned_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (employee_id, system)
);
CREATE INDEX employee_accounts_system_idx ON employee_accounts (system, status);

-- Joiner and leaver cases. A leaver case carries the SLA clock: it starts at the HR effective
-- termination moment, whenever HR told us.
CREATE TABLE cases (
  id uuid PRIMARY KEY,
  employee_id uuid NOT NULL REFERENCES employees (id),
  kind text NOT NULL CHECK (kind IN ('joiner', 'leaver')),
  generation integer NOT NULL,
  status text NOT NULL CHECK (status IN ('scheduled', 'open', 'closed', 'cancelled')),
  hr_event_id uuid,
  effective_at timestamptz,
  hr_notified_at timestamptz,
  received_at timestamptz,
  late_by_hr_seconds integer,
  deadline_at timestamptz,
  opened_at timestamptz NOT NULL DEFAULT now(),
  closed_at timestamptz,
  breached_at timestamptz,
  reopened_count integer NOT NULL DEFAULT 0,
  details jsonb NOT NULL DEFAULT '{}',
  UNIQUE (employee_id, kind, generation)
);
CREATE INDEX cases_open_idx ON cases (kind, status, deadline_at);
CREATE INDEX cases_effective_idx ON cases (kind, effective_at);

-- Per-system progress of a case: what the auditors' report is built from.
CREATE TABLE case_systems (
  case_id uuid NOT NULL REFERENCES cases (id),
  system text NOT NULL,
  status text NOT NULL,
  account_id text,
  deadline_at timestamptz,
  cutoff_at timestamptz,
  verified_at timestamptz,
  cleanup_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error jsonb,
  residual jsonb NOT NULL DEFAULT '[]',
  waiting_on text,
  steps jsonb NOT NULL DEFAULT '[]',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (case_id, system)
);

-- Token buckets shared by every worker process: the per-system limiter that paces vendor calls
-- under their published limits. One row per (system, bucket); updated with a row lock.
CREATE TABLE rate_limit_buckets (
  system text NOT NULL,
  bucket text NOT NULL,
  tokens double precision NOT NULL,
  capacity double precision NOT NULL,
  per_minute double precision NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (system, bucket)
);

-- The `sandbox` target: the simplest system, accounts kept in its own table.
CREATE TABLE sandbox_accounts (
  id uuid PRIMARY KEY,
  system text NOT NULL,
  employee_external_id text NOT NULL,
  login text NOT NULL,
  active boolean NOT NULL,
  sessions_valid_from timestamptz,
  groups text[] NOT NULL DEFAULT '{}',
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (system, employee_external_id)
);
