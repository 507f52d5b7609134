/**
 * Audit rows as CSV for spreadsheets (the API's `format=csv`, `tenure audit export --format csv`):
 * RFC 4180 with a header, `details` as its JSON, every cell guarded against formula injection the
 * way the reports are (src/reports/csv.ts). For verification use NDJSON: CSV is for reading.
 */
import { csvLine } from '../reports/csv.ts'
import type { AuditRow } from './record.ts'

export const AUDIT_CSV_COLUMNS = ['seq', 'occurred_at', 'actor_type', 'actor_id', 'action', 'employee_id', 'system', 'account_id', 'correlation_id', 'details', 'prev_hash', 'hash'] as const

/** Audit rows as CSV lines (a header first); `details` is its JSON. Cells guarded against formula injection (src/reports/csv.ts). */
export function csvRows(rows: AsyncIterable<unknown> & { destroy?: (err?: Error) => void }): AsyncIterable<string> & { destroy?: (err?: Error) => void } {
  async function* lines() {
    yield csvLine(AUDIT_CSV_COLUMNS)
    for await (const value of rows) {
      const r = value as AuditRow
      yield csvLine([r.seq, r.occurred_at, r.actor.type, r.actor.id, r.action, r.subject.employee_id, r.subject.system, r.subject.account_id, r.correlation_id, JSON.stringify(r.details), r.prev_hash, r.hash])
    }
  }
  return Object.assign(lines(), { destroy: (err?: Error) => rows.destroy?.(err) })
}

