/**
 * The HR inbox: verified notices stored with their processing job in one transaction, before the
 * sender gets its acknowledgement. Runtime SQL for hr_inbox and hr_events.
 */
import { createHash, randomUUID } from 'node:crypto'
import type { PoolClient, Queryable } from './pool.ts'
import type { Boss } from '../queue/boss.ts'
import { inTransaction } from '../queue/boss.ts'
import { HR_EVENT_QUEUE } from '../jobs/queues.ts'
import { appendAudit, type AuditEntryInput } from '../audit/index.ts'
import type { HrSource } from '../../state-machines/events.ts'
import type { CanonicalEvent } from '../../state-machines/events.ts'

/** Headers never stored: signatures, credentials, cookies. */
const SECRET_HEADERS = /^(authorization|cookie|proxy-authorization|webhook-signature|bob-signature|x-bamboohr-signature|x-merge-webhook-signature|x-deel-signature|x-gusto-signature|x-api-key)$/i

export function storableHeaders(headers: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !SECRET_HEADERS.test(k)) out[k] = v
  return out
}

export interface InboxNotice {
  dedupeKey: string
  employeeId: string
  vendorEventType: string
  occurredAt: string | undefined
  /** The notice's data (webhook), or the canonical events found (reconciliation). */
  notice: unknown
}

export interface StoreInput {
  source: HrSource
  foundBy: 'webhook' | 'reconciliation' | 'manual'
  body: Buffer
  contentType: string | undefined
  headers: Record<string, string>
  receivedAt: Date
  correlationId: string
  actor: AuditEntryInput['actor']
  notices: InboxNotice[]
}

export interface StoreResult {
  stored: Array<{ inboxId: string; dedupeKey: string }>
  duplicates: string[]
}

export interface HrEventJobData {
  inboxId: string
  correlationId: string
}

/**
 * Insert each notice (a duplicate of a stored one is skipped: same vendor event id, or same
 * payload hash where the vendor has none) and its job, in the caller's transaction. The job goes
 * to the employee's strict-FIFO lane, so one person's notices apply in the order accepted.
 */
export async function storeNotices(client: PoolClient, boss: Boss, input: StoreInput): Promise<StoreResult> {
  const bodySha256 = createHash('sha256').update(input.body).digest('hex')
  const stored: StoreResult['stored'] = []
  const duplicates: string[] = []
  const audit: AuditEntryInput[] = []
  for (const notice of input.notices) {
    const id = randomUUID()
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO hr_inbox (id, source, dedupe_key, employee_external_id, vendor_event_type, occurred_at, notice, received_at,
                             content_type, headers, body, body_sha256, found_by, correlation_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       ON CONFLICT (source, dedupe_key) DO NOTHING
       RETURNING id`,
      [
        id,
        input.source,
        notice.dedupeKey,
        notice.employeeId,
        notice.vendorEventType,
        notice.occurredAt ?? null,
        JSON.stringify(notice.notice ?? null),
        input.receivedAt,
        input.contentType ?? null,
        JSON.stringify(input.headers),
        input.body,
        bodySha256,
        input.foundBy,
        input.correlationId,
      ],
    )
    if (!rows[0]) {
      duplicates.push(notice.dedupeKey)
      continue
    }
    const data: HrEventJobData = { inboxId: id, correlationId: input.correlationId }
    await boss.send(HR_EVENT_QUEUE, data as unknown as object, {
      id,
      singletonKey: `${input.source}:${notice.employeeId}`,
      db: inTransaction(client),
    })
    stored.push({ inboxId: id, dedupeKey: notice.dedupeKey })
    audit.push({
      actor: input.actor,
      action: 'hr.event_stored',
      subject: { employeeId: null },
      correlationId: input.correlationId,
      details: {
        inboxId: id,
        source: input.source,
        foundBy: input.foundBy,
        dedupeKey: notice.dedupeKey,
        vendorEventType: notice.vendorEventType,
        hrEmployeeId: notice.employeeId,
        bodySha256,
        receivedAt: input.receivedAt.toISOString(),
      },
    })
  }
  await appendAudit(client, audit)
  return { stored, duplicates }
}

export interface InboxRow {
  id: string
  /** Acceptance order (bigint, as text). */
  seq: string
  source: HrSource
  dedupe_key: string
  employee_external_id: string
  vendor_event_type: string
  occurred_at: Date | null
  notice: unknown
  received_at: Date
  found_by: 'webhook' | 'reconciliation' | 'manual'
  status: string
  correlation_id: string
  /** Set when the mass-termination guard counted this notice's termination (src/hr/bulk-hold.ts). */
  termination_admitted_at: Date | null
}

export async function readInbox(db: Queryable, id: string): Promise<InboxRow | undefined> {
  const { rows } = await db.query<InboxRow>(
    `SELECT id, seq, source, dedupe_key, employee_external_id, vendor_event_type, occurred_at, notice, received_at, found_by, status, correlation_id,
            termination_admitted_at
       FROM hr_inbox WHERE id = $1`,
    [id],
  )
  return rows[0]
}

export async function markInbox(db: Queryable, id: string, status: 'processed' | 'failed', eventsCount: number, error?: unknown): Promise<void> {
  await db.query('UPDATE hr_inbox SET status = $2, processed_at = now(), events_count = $3, error = $4 WHERE id = $1', [
    id,
    status,
    eventsCount,
    error === undefined ? null : JSON.stringify(error),
  ])
}

/** Record a canonical event; returns false when the same event was recorded before. */
export async function recordHrEvent(db: Queryable, inboxId: string | null, event: CanonicalEvent): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO hr_events (event_id, inbox_id, source, source_event_id, employee_external_id, type, occurred_at, received_at, found_by, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT DO NOTHING`,
    [event.eventId, inboxId, event.source, event.sourceEventId, event.employeeId, event.type, event.occurredAt, event.receivedAt, event.foundBy, JSON.stringify(event)],
  )
  return rowCount === 1
}

export async function markHrEvent(db: Queryable, eventId: string, employeeId: string, outcome: 'applied' | 'ignored' | 'duplicate', reason?: string): Promise<void> {
  await db.query('UPDATE hr_events SET employee_id = $2, outcome = $3, outcome_reason = $4, applied_at = now() WHERE event_id = $1', [
    eventId,
    employeeId,
    outcome,
    reason ?? null,
  ])
}
