/**
 * Appending to the chain. The engine calls appendAudit() inside the transaction of the change it
 * records, as the last statements before COMMIT:
 *
 *   await client.query('BEGIN')
 *   … lock the employee, persist the snapshot, enqueue jobs …
 *   await appendAudit(client, [{ actor, action: 'lifecycle.transitioned', subject, details }])
 *   await client.query('COMMIT')
 *
 * The chain lock (a transaction-level advisory lock) is taken by the append and released by
 * COMMIT or ROLLBACK, so every other writer waits from our append until our commit: keep that
 * window to the append itself. A rollback removes the rows with the change and, because seq is
 * assigned under the lock from the committed head, leaves no gap.
 */
import type pg from 'pg'
import { z } from 'zod'
import { AuditError } from './errors.ts'
import { ACTION_PATTERN, ACTOR_TYPES, computeHash, type ActorType, type AuditAction, type AuditRecord, type AuditRow } from './record.ts'
import { redactDetails } from './redact.ts'
import { insertEventBatch, lockChainHead, type ChainHeadRow } from './store.ts'
import { withTransaction } from '../db/pool.ts'
import { toSafeInteger } from './rows.ts'

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
 * Append entries to the chain in the caller's transaction (READ COMMITTED) and return the rows as
 * written. Entries of one call share one occurred_at and one INSERT.
 */
export async function appendAudit(client: pg.PoolClient | pg.Client, entries: AuditEntryInput[]): Promise<AuditRow[]> {
  if (entries.length === 0) return []
  // Validation and redaction happen before the lock: the lock window is the hot path of every writer.
  const prepared = prepareAudit(entries)
  return appendToHead(client, prepared, await takeChainHead(client))
}

/** An entry validated and redacted (prepareAudit), waiting for its place in the chain. */
export type PreparedAuditEntry = Omit<AuditRecord, 'seq' | 'occurred_at'>

/**
 * appendAudit() in three steps, for a writer that sends its statements pipelined (src/db/hr-inbox.ts
 * commitNoticeBatch): prepareAudit() before any statement, takeChainHead() sent right behind the
 * writer's own statements, appendToHead() sent right before its COMMIT. appendAudit() is the three in a row.
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

/**
 * Takes the chain lock (held until COMMIT or ROLLBACK) and reads the head. The statement is on its
 * way when this returns (a named statement, prepared once per connection).
 */
export async function takeChainHead(client: pg.PoolClient | pg.Client): Promise<ChainHeadRow> {
  const head = await lockChainHead(client, true)
  if (!head) throw new AuditError('chain_head_missing', 'audit_chain_head() returned no row')
  return head
}

/**
 * Chains `prepared` onto `head` (from takeChainHead() in this transaction) and inserts the rows.
 * The INSERT is sent before this returns, so on a pipelined connection a COMMIT sent next follows it.
 */
export function appendToHead(client: pg.PoolClient | pg.Client, prepared: PreparedAuditEntry[], head: ChainHeadRow): Promise<AuditRow[]> {
  let seq = toSafeInteger(head.head_seq, 'head seq')
  let prevHash = head.head_hash
  const written: AuditRow[] = prepared.map((entry) => {
    seq += 1
    const record = { seq, occurred_at: head.now_at, ...entry }
    const hash = computeHash(record, prevHash)
    const row: AuditRow = { ...record, prev_hash: prevHash, hash }
    prevHash = hash
    return row
  })

  const inserted = insertEventBatch(
    client,
    {
      seq: written.map((r) => r.seq),
      occurredAt: written.map((r) => r.occurred_at),
      actorType: written.map((r) => r.actor.type),
      actorId: written.map((r) => r.actor.id),
      action: written.map((r) => r.action),
      employeeId: written.map((r) => r.subject.employee_id),
      system: written.map((r) => r.subject.system),
      accountId: written.map((r) => r.subject.account_id),
      correlationId: written.map((r) => r.correlation_id),
      details: written.map((r) => JSON.stringify(r.details)),
      prevHash: written.map((r) => r.prev_hash),
      hash: written.map((r) => r.hash),
    },
    head.xact_id,
  )
  return inserted.then((count) => {
    if (count !== written.length) {
      throw new AuditError(
        'audit_not_in_transaction',
        'appendAudit() must run inside a transaction (BEGIN … COMMIT) on one client: the chain lock ended before the insert',
      )
    }
    return written
  })
}

/**
 * Record entries in a transaction of their own, for facts that are not part of another change
 * (config.loaded at start-up, a token created through the API).
 */
export async function recordAudit(pool: pg.Pool, entries: AuditEntryInput[]): Promise<AuditRow[]> {
  return withTransaction(pool, (client) => appendAudit(client, entries), 'readCommitted')
}
