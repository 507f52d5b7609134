/**
 * Appending to the chain. The engine calls appendAudit() inside the transaction of the change it
 * records, as the last statements before COMMIT:
 *
 *   await client.query('BEGIN')
 *   … lock the employee, persist the snapshot, enqueue jobs …
 *   await appendAudit(client, [{ actor, action: 'lifecycle.transitioned', subject, details }])
 *   await client.query('COMMIT')
 *
 * The entries go to audit_pending (migrations/0028_audit_pending.sql), committed or rolled back
 * with the change; no lock is taken, so writers do not wait for each other. After the commit the
 * sealer (src/audit/sealer.ts) moves them into the chain under the chain lock, in batches: a rollback
 * removes the entries before they ever get a seq, so it leaves no gap.
 */
import type pg from 'pg'
import { z } from 'zod'
import { AuditError } from './errors.ts'
import { ACTION_PATTERN, ACTOR_TYPES, type ActorType, type AuditAction, type AuditRecord } from './record.ts'
import { redactDetails } from './redact.ts'
import { insertPendingBatch, type PendingColumns } from './store.ts'
import { withTransaction } from '../db/pool.ts'

export interface AuditEntryInput {
  actor: { type: ActorType; id: string }
  action: AuditAction
  subject?: { employeeId?: string | null; system?: string | null; accountId?: string | null }
  correlationId?: string | null
  /** Free-form facts; redacted by redactDetails() before hashing. */
  details?: Record<string, unknown>
}

/** Text that PostgreSQL `text` and RFC 8785 both accept. */
const field = z
  .string()
  .min(1)
  .max(1024)
  .refine((s) => !s.includes('\u0000') && s.isWellFormed(), 'must not contain NUL or lone surrogates')

const entrySchema = z.object({
  actor: z.object({ type: z.enum(ACTOR_TYPES), id: field }),
  action: z.string().max(200).regex(ACTION_PATTERN, 'a dotted past-tense name such as lifecycle.transitioned'),
  subject: z
    .object({ employeeId: field.nullish(), system: field.nullish(), accountId: field.nullish() })
    .optional(),
  correlationId: field.nullish(),
  details: z.record(z.string(), z.unknown()).optional(),
})

/**
 * Append entries to the audit trail in the caller's transaction and return them as queued: they
 * are committed (or rolled back) with the caller's change, and the sealer gives them their seq,
 * prev_hash and hash after the commit (src/audit/sealer.ts). No lock is taken: writers do not
 * wait for each other. Entries of one call share one occurred_at (the writer's clock) and one INSERT.
 */
export async function appendAudit(client: pg.PoolClient | pg.Client, entries: AuditEntryInput[]): Promise<PreparedAuditEntry[]> {
  if (entries.length === 0) return []
  const prepared = prepareAudit(entries)
  // An entry outside a transaction would commit alone, apart from the change it records. The
  // status is the one of the last answer (ReadyForQuery), exact here because this path is not pipelined.
  if ((client as { getTransactionStatus?: () => string | null }).getTransactionStatus?.() === 'I') {
    throw new AuditError('audit_not_in_transaction', 'appendAudit() must run inside a transaction (BEGIN … COMMIT) on one client')
  }
  await queuePending(client, prepared)
  return prepared
}

/** An entry validated and redacted (prepareAudit), waiting for its place in the chain. */
export type PreparedAuditEntry = Omit<AuditRecord, 'seq' | 'occurred_at'>

/**
 * Validation and redaction, the part of appendAudit() that sends nothing: a writer that pipelines
 * its statements (src/db/hr-inbox.ts commitNoticeBatch) calls it before sending any, then queuePending().
 */
export function prepareAudit(entries: AuditEntryInput[]): PreparedAuditEntry[] {
  return entries.map((entry, index) => {
    const parsed = entrySchema.safeParse(entry)
    if (!parsed.success) {
      throw new AuditError('audit_entry_invalid', `audit entry ${index}: ${z.prettifyError(parsed.error)}`, {
        status: 400,
        details: parsed.error.issues,
      })
    }
    const e = parsed.data
    return {
      actor: { type: e.actor.type, id: e.actor.id },
      action: e.action,
      subject: { employee_id: e.subject?.employeeId ?? null, system: e.subject?.system ?? null, account_id: e.subject?.accountId ?? null },
      correlation_id: e.correlationId ?? null,
      details: redactDetails(e.details),
    }
  })
}

/** The statement's columns for `prepared`, in insertPendingBatch()'s order. */
export function pendingColumns(prepared: PreparedAuditEntry[]): PendingColumns {
  return {
    actorType: prepared.map((e) => e.actor.type),
    actorId: prepared.map((e) => e.actor.id),
    action: prepared.map((e) => e.action),
    employeeId: prepared.map((e) => e.subject.employee_id),
    system: prepared.map((e) => e.subject.system),
    accountId: prepared.map((e) => e.subject.account_id),
    correlationId: prepared.map((e) => e.correlation_id),
    details: prepared.map((e) => JSON.stringify(e.details)),
  }
}

/**
 * Queues `prepared` for the sealer in the caller's transaction (one INSERT, no lock). The statement
 * is sent before this returns, so on a pipelined connection a COMMIT sent next follows it. Marks
 * the client, so that releasing it to a pool with a sealer kicks the sealer (src/audit/sealer.ts).
 */
export function queuePending(client: pg.PoolClient | pg.Client, prepared: PreparedAuditEntry[]): Promise<unknown> {
  markWroteAudit(client)
  return insertPendingBatch(client, pendingColumns(prepared))
}

/** Clients that queued audit entries since they were last released (read by the sealer's release hook). */
const wroteAudit = new WeakSet<object>()

/** For a writer that queues entries with its own statement (src/db/hr-inbox.ts): kick the sealer on release. */
export function markWroteAudit(client: object): void {
  wroteAudit.add(client)
}

/** Whether `client` queued audit entries since the last call for it (which forgets it). */
export function takeWroteAudit(client: object): boolean {
  return wroteAudit.delete(client)
}

/**
 * Record entries in a transaction of their own, for facts that are not part of another change
 * (config.loaded at start-up, a token created through the API).
 */
export async function recordAudit(pool: pg.Pool, entries: AuditEntryInput[]): Promise<PreparedAuditEntry[]> {
  return withTransaction(pool, (client) => appendAudit(client, entries))
}
