/**
 * Compliance reports: the access-revocation log auditors export and verify on their own
 * (docs/reports.md). The API routes, the CLI commands and the offline verifier share one
 * generator (export.ts) and one manifest format (manifest.ts).
 */
export { REPORT_ROUTES } from './routes.ts'
export { registerReportCommands, type ReportCommandsDeps } from './cli.ts'
export {
  MAX_PERIOD_DAYS,
  REPORT_NAME,
  TENURE_VERSION,
  findExportManifest,
  reportFileName,
  reportQuerySchema,
  writeAccessRevocationReport,
  type ExportResult,
  type ReportActor,
  type ReportDeps,
  type ReportQuery,
} from './export.ts'
export {
  MANIFEST_TYPE,
  REPORT_FORMATS,
  manifestSchema,
  manifestSigningBytes,
  signManifest,
  verifyReportFile,
  type ManifestVerification,
  type ReportFormat,
  type ReportManifest,
} from './manifest.ts'
export { OUTCOMES, OUTCOME_MEANINGS, decideOutcome, type Outcome, type ReportRow } from './rows.ts'
export { CSV_COLUMNS, csvField } from './csv.ts'
