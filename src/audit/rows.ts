/** Database rows → the published shapes (AuditRow, SignedCheckpoint). */
import { AuditError } from './errors.ts'
import type { ActorType, AuditRow, JsonObject } from './record.ts'

export interface DbAuditRow {
  seq: string | number
  occurred_at: string
  actor_type: string
  actor_id: string
  action: string
  employee_id: string | null
  system: string | null
  account_id: string | null
  correlation_id: string | null
  details: JsonObject
  prev_hash: string
  hash: string
}

/**
 * PostgreSQL formats timestamps with microseconds (ROW_COLUMNS). Tenure writes milliseconds, so
 * `….123000Z` becomes `….123Z`; any other value is kept whole and will not hash to the stored
 * hash, which is right: someone changed it.
 */
export function isoFromPg(value: string): string {
  const match = /^(.*\.\d{3})000Z$/.exec(value)
  return match ? `${match[1]}Z` : value
}

export function toSafeInteger(value: string | number, what: string): number {
  const n = typeof value === 'number' ? value : Number(value)
  if (!Number.isSafeInteger(n)) throw new AuditError('integer_out_of_range', `${what} ${value} is not a safe integer`)
  return n
}

export function fromDbRow(row: DbAuditRow): AuditRow {
  return {
    seq: toSafeInteger(row.seq, 'seq'),
    occurred_at: isoFromPg(row.occurred_at),
    actor: { type: row.actor_type as ActorType, id: row.actor_id },
    action: row.action,
    subject: { employee_id: row.employee_id, system: row.system, account_id: row.account_id },
    correlation_id: row.correlation_id,
    details: row.details,
    prev_hash: row.prev_hash,
    hash: row.hash,
  }
}
