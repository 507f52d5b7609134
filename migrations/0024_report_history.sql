-- Report history (GET /api/v1/reports, `tenure reports history`): report_exports (0007) already
-- holds one row per export with its signed manifest. This adds what the history shows beside it:
-- a report for one employee (no period needed), and the name of whoever generated it.

-- A one-employee report may cover all time: no period. A period report still has both ends
-- (the existing CHECK period_to > period_from holds whenever both are set).
ALTER TABLE report_exports ALTER COLUMN period_from DROP NOT NULL;
ALTER TABLE report_exports ALTER COLUMN period_to DROP NOT NULL;
ALTER TABLE report_exports ADD CONSTRAINT report_exports_period_both_or_none CHECK ((period_from IS NULL) = (period_to IS NULL));

-- The employee as the auditor named them (Tenure id, HR id or e-mail, like the audit log's
-- filter) and the Tenure ids that resolved to; NULL for a period report.
ALTER TABLE report_exports ADD COLUMN employee text CHECK (employee IS NULL OR length(employee) BETWEEN 1 AND 320);
ALTER TABLE report_exports ADD COLUMN employee_ids text[];
ALTER TABLE report_exports ADD CONSTRAINT report_exports_scope CHECK (employee IS NOT NULL OR (period_from IS NOT NULL AND employee_ids IS NULL));

-- The name of the actor at the time (an API token's name, the SSO user's name); generated_by
-- keeps the id. NULL for exports made before this migration.
ALTER TABLE report_exports ADD COLUMN generated_by_name text;

-- The history is read newest first with a (generated_at, id) cursor.
CREATE INDEX report_exports_history_idx ON report_exports (generated_at DESC, id DESC);
DROP INDEX report_exports_generated_idx;
