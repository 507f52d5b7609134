-- Compliance reports: the manifest of every export, and the indexes the access-revocation report
-- reads through (src/reports/sql.ts).

-- One row per export (API or CLI): the signed manifest exactly as handed out, so
-- GET /api/v1/reports/exports/:id/manifest returns the same bytes later, and who exported what
-- and when stays answerable. The file itself is not kept: its SHA-256 is in the manifest.
CREATE TABLE report_exports (
  id uuid PRIMARY KEY,
  report text NOT NULL,
  format text NOT NULL CHECK (format IN ('csv', 'json', 'ndjson', 'html')),
  period_from timestamptz NOT NULL,
  period_to timestamptz NOT NULL CHECK (period_to > period_from),
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  bytes bigint NOT NULL CHECK (bytes >= 0),
  row_count integer NOT NULL CHECK (row_count >= 0),
  generated_at timestamptz NOT NULL,
  generated_by text NOT NULL,
  -- Text, not jsonb: the manifest is served byte for byte as it was signed.
  manifest text NOT NULL
);
CREATE INDEX report_exports_generated_idx ON report_exports (generated_at DESC);

-- hr.event_stored rows are found by the inbox id they record (the evidence behind "HR told us at").
CREATE INDEX audit_events_hr_inbox_idx ON audit_events ((details ->> 'inboxId')) WHERE action = 'hr.event_stored';
-- A leaver case is found from the HR event that opened it (completeness: every termination in HR
-- is matched to its case).
CREATE INDEX cases_hr_event_idx ON cases (hr_event_id) WHERE hr_event_id IS NOT NULL;
-- Repeat termination notices of one person (webhook and reconciliation both reporting it).
CREATE INDEX hr_events_terminations_idx ON hr_events (source, employee_external_id) WHERE type = 'employee.terminated';

-- Exports are records: the application inserts and reads them, never changes them.
REVOKE ALL ON report_exports FROM PUBLIC;
GRANT SELECT, INSERT ON report_exports TO tenure_app;
