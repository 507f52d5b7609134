/**
 * CSV for spreadsheets and audit tools: RFC 4180 (CRLF line ends, fields with a comma, quote, CR
 * or LF quoted, quotes doubled), a header row, ISO 8601 UTC timestamps.
 *
 * Formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that starts with =, +, -
 * or @ as a formula, and a tab or carriage return at the start can smuggle one past naive checks.
 * Names, reasons and notes come from HR, vendors and people, so every text cell that starts with
 * one of those characters is prefixed with a single quote, which spreadsheets show as text.
 * Numbers we computed are written as numbers (a negative number is data, not a formula).
 * https://owasp.org/www-community/attacks/CSV_Injection
 */
import type { ReportRow } from './rows.ts'

const FORMULA_START = /^[=+\-@\t\r]/
const NEEDS_QUOTES = /[",\r\n]/

export type Cell = string | number | null

/** One field, guarded and escaped. */
export function csvField(value: Cell): string {
  if (value === null) return ''
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : ''
  const guarded = FORMULA_START.test(value) ? `'${value}` : value
  return NEEDS_QUOTES.test(guarded) ? `"${guarded.replaceAll('"', '""')}"` : guarded
}

export function csvLine(cells: readonly Cell[]): string {
  return `${cells.map(csvField).join(',')}\r\n`
}

function json(value: unknown): string | null {
  if (value === null || (Array.isArray(value) && value.length === 0)) return null
  return JSON.stringify(value)
}

/** Columns in file order: the header and the getter of each. Documented in docs/reports.md. */
export const CSV_COLUMNS: ReadonlyArray<readonly [string, (r: ReportRow) => Cell]> = [
  ['case_id', (r) => r.caseId],
  ['employee_id', (r) => r.employee.id],
  ['hr_employee_id', (r) => r.employee.hrId],
  ['hr_source', (r) => r.employee.source],
  ['name', (r) => r.employee.name],
  ['email', (r) => r.employee.email],
  ['hr_event_id', (r) => r.hrEvent.id],
  ['hr_source_event_id', (r) => r.hrEvent.sourceEventId],
  ['found_by', (r) => r.hrEvent.foundBy],
  ['termination_effective_at', (r) => r.terminationEffectiveAt],
  ['hr_notified_at', (r) => r.hrEvent.notifiedAt],
  ['received_at', (r) => r.hrEvent.receivedAt],
  ['hr_late_by_minutes', (r) => r.hrLateByMinutes],
  ['case_status', (r) => r.caseStatus],
  ['system', (r) => r.system],
  ['account_id', (r) => r.accountId],
  ['disabled_at', (r) => r.steps.disabledAt],
  ['sessions_revoked_at', (r) => r.steps.sessionsRevokedAt],
  ['groups_removed_at', (r) => r.steps.groupsRemovedAt],
  ['deleted_at', (r) => r.steps.deletedAt],
  ['revoked_at', (r) => r.revokedAt],
  ['verified_at', (r) => r.verifiedAt],
  ['sla_deadline', (r) => r.slaDeadline],
  ['outcome', (r) => r.outcome],
  ['outcome_reason', (r) => r.outcomeReason],
  ['minutes_to_revoke', (r) => r.minutesToRevoke],
  ['waived_until', (r) => r.waivedUntil],
  ['last_error', (r) => (r.lastError ? `${r.lastError.kind ?? 'error'}: ${r.lastError.message}${r.lastError.at ? ` (${r.lastError.at})` : ''}` : null)],
  ['escalations', (r) => (r.escalations.length > 0 ? r.escalations.map((e) => `${e.step} ${e.sentAt}`).join('; ') : null)],
  ['breached_at', (r) => r.breachedAt],
  ['exceptions', (r) => json(r.exceptions)],
  ['attested_by', (r) => r.manualAttestation?.completedBy ?? null],
  ['attested_at', (r) => r.manualAttestation?.completedAt ?? null],
  ['attestation_done_at', (r) => r.manualAttestation?.doneAt ?? null],
  ['attestation_note', (r) => r.manualAttestation?.note ?? null],
  ['attestation_evidence', (r) => (r.manualAttestation?.evidence == null ? null : typeof r.manualAttestation.evidence === 'string' ? r.manualAttestation.evidence : JSON.stringify(r.manualAttestation.evidence))],
  ['manual_task_id', (r) => r.manualAttestation?.taskId ?? null],
  ['residual_access', (r) => json(r.residualAccess)],
  ['revocation_steps', (r) => json(r.steps.all)],
  ['other_hr_source_event_ids', (r) => (r.hrEvent.otherSourceEventIds.length > 0 ? r.hrEvent.otherSourceEventIds.join('; ') : null)],
  ['audit_seq_hr_event_stored', (r) => r.auditSeqs.hrEventStored],
  ['audit_seq_termination', (r) => r.auditSeqs.termination],
  ['audit_seq_revoked_cutoff', (r) => r.auditSeqs.revokedCutoff],
  ['audit_seq_revoked_cleanup', (r) => r.auditSeqs.revokedCleanup],
  ['audit_seq_verified', (r) => r.auditSeqs.verified],
  ['audit_seq_sla_breached', (r) => r.auditSeqs.slaBreached],
]

export function csvHeader(): string {
  return csvLine(CSV_COLUMNS.map(([name]) => name))
}

export function csvRow(row: ReportRow): string {
  return csvLine(CSV_COLUMNS.map(([, get]) => get(row)))
}
