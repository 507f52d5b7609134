-- The mass-termination hold (docs/hr-sources.md, "Mass-termination hold"): when an HR source that
-- is not trusted for bulk sends more terminations in an hour than its threshold, the notices over
-- the threshold are held in one batch per source until a person confirms or rejects them.
-- Runtime SQL: src/db/bulk-holds.ts.

-- One batch of held notices per source at a time: while it is open every further termination of
-- that source joins it, so a layoff is decided once, not in hourly slices.
CREATE TABLE bulk_holds (
  id uuid PRIMARY KEY,
  source text NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'rejected')),
  threshold_per_hour integer NOT NULL CHECK (threshold_per_hour > 0),
  held_count integer NOT NULL DEFAULT 0 CHECK (held_count >= 0),
  first_held_at timestamptz NOT NULL,
  last_held_at timestamptz NOT NULL,
  -- The earliest HR effective moment among the held terminations: the SLA clocks run from there.
  earliest_effective_at timestamptz,
  correlation_id text NOT NULL,
  decided_by text,
  decided_by_type text,
  decided_at timestamptz,
  reason text,
  CHECK ((status = 'open') = (decided_at IS NULL)),
  CHECK (status = 'open' OR (decided_by IS NOT NULL AND reason IS NOT NULL))
);
CREATE UNIQUE INDEX bulk_holds_one_open_idx ON bulk_holds (source) WHERE status = 'open';
CREATE INDEX bulk_holds_recent_idx ON bulk_holds (first_held_at DESC);
-- The guard's window restarts at the last confirmation of the source.
CREATE INDEX bulk_holds_confirmed_idx ON bulk_holds (source, decided_at) WHERE status = 'confirmed';

-- Each held notice, with what it would have done (read at hold time) and why it was held.
CREATE TABLE bulk_hold_items (
  inbox_id uuid PRIMARY KEY REFERENCES hr_inbox (id),
  hold_id uuid NOT NULL REFERENCES bulk_holds (id),
  seq bigint NOT NULL,
  employee_external_id text NOT NULL,
  vendor_event_type text NOT NULL,
  -- Canonical event types of the notice; NULL when it was held unread behind an earlier held notice.
  event_types text[],
  effective_at timestamptz,
  immediate boolean,
  why text NOT NULL CHECK (why IN ('over_threshold', 'hold_open', 'employee_held')),
  held_at timestamptz NOT NULL
);
CREATE INDEX bulk_hold_items_hold_idx ON bulk_hold_items (hold_id, seq);

ALTER TABLE hr_inbox DROP CONSTRAINT hr_inbox_status_check;
ALTER TABLE hr_inbox ADD CONSTRAINT hr_inbox_status_check CHECK (status IN ('received', 'processed', 'failed', 'held', 'rejected'));
-- When the guard let a termination of an untrusted source through: what the hourly count reads.
-- Set in the same locked transaction that decides, so two workers cannot both take the last slot.
ALTER TABLE hr_inbox ADD COLUMN termination_admitted_at timestamptz;
CREATE INDEX hr_inbox_admitted_idx ON hr_inbox (source, termination_admitted_at) WHERE termination_admitted_at IS NOT NULL;
-- "Does this employee have an earlier held notice?" reads hr_inbox_employee_idx (0001).

-- Held and rejected notices are evidence: the application never deletes them.
REVOKE ALL ON bulk_holds, bulk_hold_items FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON bulk_holds, bulk_hold_items TO tenure_app;
