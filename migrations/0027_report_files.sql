-- Report history: a past report can be downloaded again, byte for byte (GET
-- /api/v1/reports/exports/:id/file). report_exports (0007, 0024) keeps the signed manifest of every
-- export but not the file; an auditor who lost the file, or who was not the one who generated it,
-- could only verify a copy they no longer had. Regenerating from the stored query cannot give the
-- same bytes (the audit chain head, the generation time and the cases move on), so the file
-- itself is kept, for reports.keepDays (docs/reports.md says why).
--
-- report_exports stays insert-only for the application (0007); what changes over a file's life
-- (pruned) lives here. The bytes are in chunks so neither the export nor a download holds a whole
-- report in memory. A chunk changed in the database is caught on the way out: a download is
-- served only when the stored bytes hash to the SHA-256 in the signed manifest.
CREATE TABLE report_files (
  export_id uuid PRIMARY KEY REFERENCES report_exports (id),
  -- generated_at + reports.keepDays at export time; the retention sweep removes the bytes after it.
  kept_until timestamptz NOT NULL,
  -- Set when the retention sweep removed the chunks: the download then answers 410 report_file_pruned.
  pruned_at timestamptz
);
CREATE INDEX report_files_due_idx ON report_files (kept_until) WHERE pruned_at IS NULL;

CREATE TABLE report_file_chunks (
  export_id uuid NOT NULL REFERENCES report_files (export_id),
  seq integer NOT NULL CHECK (seq >= 0),
  data bytea NOT NULL,
  PRIMARY KEY (export_id, seq)
);

REVOKE ALL ON report_files, report_file_chunks FROM PUBLIC, tenure_app;
GRANT SELECT, INSERT, UPDATE ON report_files TO tenure_app;
GRANT SELECT, INSERT, DELETE ON report_file_chunks TO tenure_app;
