-- Reconciliation findings get a lifecycle: a person acknowledges one with a reason, links an orphan
-- account to an employee, or turns a finding into a cut-off. Each action is audited; the columns
-- here are what the next run and the console read.

-- The account's listed access when the finding was last seen (sorted lists: groups, licences,
-- roles, active). An acknowledgement keeps the snapshot it was given for: when a later run sees
-- different access, the finding is raised again (status back to open).
ALTER TABLE reconciliation_findings
  ADD COLUMN access jsonb,
  ADD COLUMN status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged')),
  ADD COLUMN acknowledged_at timestamptz,
  ADD COLUMN acknowledged_by text,
  ADD COLUMN acknowledged_by_type text,
  ADD COLUMN acknowledge_reason text,
  ADD COLUMN acknowledged_access jsonb,
  ADD COLUMN raised_again_at timestamptz,
  ADD COLUMN cutoff_requested_at timestamptz,
  ADD COLUMN cutoff_requested_by text,
  ADD COLUMN cutoff_requested_by_type text,
  ADD COLUMN cutoff_reason text;
CREATE INDEX reconciliation_findings_status_idx ON reconciliation_findings (status, last_seen_at) WHERE resolved_at IS NULL;

-- A person's decision that an account in a system belongs to an employee (an account made by hand,
-- a second login). Reconciliation maps the account to that employee on every later run; the link
-- wins over matching by account id, login or identity key because a person looked at it.
CREATE TABLE reconciliation_account_links (
  system text NOT NULL,
  account_id text NOT NULL,
  employee_id uuid NOT NULL REFERENCES employees (id),
  reason text NOT NULL,
  linked_by text NOT NULL,
  linked_by_type text NOT NULL,
  linked_at timestamptz NOT NULL DEFAULT now(),
  finding_id uuid REFERENCES reconciliation_findings (id),
  PRIMARY KEY (system, account_id)
);
CREATE INDEX reconciliation_account_links_employee_idx ON reconciliation_account_links (employee_id);
