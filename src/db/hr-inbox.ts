/**
 * The HR inbox: verified notices stored with their processing job in one transaction, before the
 * sender gets its acknowledgement. Runtime SQL for hr_inbox and hr_events.
 */
import type { HrEventJobData } from '../jobs/payloads.ts'
import { createHash, randomUUID } from 'node:crypto'
import { withTransaction, type Pool, type PoolClient, type Queryable } from './pool.ts'
import type { Boss } from '../jobs/boss.ts'
import { inTransaction } from '../jobs/boss.ts'
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

/** Defined with its schema in src/jobs/payloads.ts. */
export type { HrEventJobData }

/**
 * Insert each notice (a duplicate of a stored one is skipped: same vendor event id, or same
 * payload hash where the vendor has none) and its job, in the caller's transaction. The job goes
 * to the employee's strict-FIFO lane, so one person's notices apply in the order accepted.
 */
export async function storeNotices(client: PoolClient, boss: Boss, input: StoreInput): Promise<StoreResult> {
  return (await storeNoticeBatch(client, boss, [input]))[0]!
}

/**
 * storeNotices() for several deliveries in one transaction: one multi-row INSERT for the inbox,
 * one for the jobs and one audit append for all of them. The audit append takes the chain lock
 * until COMMIT, so per-delivery transactions serialise every webhook on that lock (about one
 * commit per fsync); a batch pays it once for all the deliveries that arrived meanwhile.
 */
export async function storeNoticeBatch(client: PoolClient, boss: Boss, inputs: StoreInput[]): Promise<StoreResult[]> {
  const rows: Array<{ id: string; input: StoreInput; notice: InboxNotice; bodySha256: string; index: number }> = []
  inputs.forEach((input, index) => {
    const bodySha256 = createHash('sha256').update(input.body).digest('hex')
    for (const notice of input.notices) rows.push({ id: randomUUID(), input, notice, bodySha256, index })
  })
  const results: StoreResult[] = inputs.map(() => ({ stored: [], duplicates: [] }))
  if (rows.length === 0) return results
  // unnest() keeps the order given, so of two equal keys in one batch the earlier one is stored.
  const { rows: inserted } = await client.query<{ id: string }>(
    `INSERT INTO hr_inbox (id, source, dedupe_key, employee_external_id, vendor_event_type, occurred_at, notice, received_at,
                           content_type, headers, body, body_sha256, found_by, correlation_id)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::jsonb[], $8::timestamptz[],
                          $9::text[], $10::jsonb[], $11::bytea[], $12::text[], $13::text[], $14::text[])
     ON CONFLICT (source, dedupe_key) DO NOTHING
     RETURNING id`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.input.source),
      rows.map((r) => r.notice.dedupeKey),
      rows.map((r) => r.notice.employeeId),
      rows.map((r) => r.notice.vendorEventType),
      rows.map((r) => r.notice.occurredAt ?? null),
      rows.map((r) => JSON.stringify(r.notice.notice ?? null)),
      rows.map((r) => r.input.receivedAt),
      rows.map((r) => r.input.contentType ?? null),
      rows.map((r) => JSON.stringify(r.input.headers)),
      rows.map((r) => r.input.body),
      rows.map((r) => r.bodySha256),
      rows.map((r) => r.input.foundBy),
      rows.map((r) => r.input.correlationId),
    ],
  )
  const storedIds = new Set(inserted.map((r) => r.id))
  const jobs: Array<{ id: string; data: object; singletonKey: string }> = []
  const audit: AuditEntryInput[] = []
  for (const r of rows) {
    const result = results[r.index]!
    if (!storedIds.has(r.id)) {
      result.duplicates.push(r.notice.dedupeKey)
      continue
    }
    const data: HrEventJobData = { inboxId: r.id, correlationId: r.input.correlationId }
    jobs.push({ id: r.id, data, singletonKey: `${r.input.source}:${r.notice.employeeId}` })
    result.stored.push({ inboxId: r.id, dedupeKey: r.notice.dedupeKey })
    audit.push({
      actor: r.input.actor,
      action: 'hr.event_stored',
      subject: { employeeId: null },
      correlationId: r.input.correlationId,
      details: {
        inboxId: r.id,
        source: r.input.source,
        foundBy: r.input.foundBy,
        dedupeKey: r.notice.dedupeKey,
        vendorEventType: r.notice.vendorEventType,
        hrEmployeeId: r.notice.employeeId,
        bodySha256: r.bodySha256,
        receivedAt: r.input.receivedAt.toISOString(),
      },
    })
  }
  // One statement for every job; pg-boss fills the queue's retry/expiry policy in the same SQL send() uses.
  if (jobs.length > 0) await boss.insert(HR_EVENT_QUEUE, jobs, { db: inTransaction(client) })
  await appendAudit(client, audit)
  return results
}

/**
 * Group commit for the webhook route: deliveries that arrive while a transaction is committing
 * wait for the next one, which stores all of them at once (storeNoticeBatch). Nothing waits on
 * purpose, so a lone delivery is one transaction as before; under load the batch grows instead
 * of the queue of transactions waiting for the audit chain lock. Each caller still gets its
 * answer only after COMMIT: a 202 means the notice and its job are durable.
 *
 * One transaction at a time keeps the order of acceptance: a later delivery for the same employee
 * is never committed before an earlier one. Two notices for one employee never share a batch,
 * because jobs of one transaction share created_on and pg-boss's strict FIFO would then order
 * them by their random id.
 */
export interface InboxWriter {
  store(input: StoreInput): Promise<StoreResult>
}

export function createInboxWriter(deps: { pool: Pool; boss: Boss; maxBatch?: number }): InboxWriter {
  const maxBatch = deps.maxBatch ?? 128
  type Waiting = { input: StoreInput; resolve: (r: StoreResult) => void; reject: (e: unknown) => void }
  let waiting: Waiting[] = []
  let busy = false
  const keysOf = (input: StoreInput) => input.notices.map((n) => `${input.source}:${n.employeeId}`)
  const take = (): Waiting[] => {
    const batch: Waiting[] = []
    const rest: Waiting[] = []
    const keys = new Set<string>()
    for (const w of waiting) {
      const k = keysOf(w.input)
      if (batch.length >= maxBatch || k.some((x) => keys.has(x))) rest.push(w)
      else {
        batch.push(w)
        for (const x of k) keys.add(x)
      }
    }
    waiting = rest
    return batch
  }
  const run = async (batch: Waiting[]) => {
    try {
      const results = await withTransaction(deps.pool, (client) => storeNoticeBatch(client, deps.boss, batch.map((w) => w.input)))
      batch.forEach((w, i) => w.resolve(results[i]!))
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err)
      // One bad delivery must not fail the others: store each on its own.
      for (const w of batch) await withTransaction(deps.pool, (client) => storeNotices(client, deps.boss, w.input)).then(w.resolve, w.reject)
    }
  }
  const drain = async () => {
    if (busy) return
    busy = true
    try {
      while (waiting.length > 0) await run(take())
    } finally {
      busy = false
    }
  }
  return {
    store: (input) =>
      new Promise<StoreResult>((resolve, reject) => {
        waiting.push({ input, resolve, reject })
        void drain()
      }),
  }
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

export async function markInbox(db: Queryable, id: string, status: 'processed' | 'failed' | 'not_found', eventsCount: number, error?: unknown): Promise<void> {
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

/** The notice's vendor timestamps that were clamped to the receipt time (src/hr/timestamps.ts). */
export async function markInboxClamped(db: Queryable, id: string, clamped: unknown[]): Promise<void> {
  await db.query('UPDATE hr_inbox SET timestamps_clamped = $2 WHERE id = $1', [id, JSON.stringify(clamped)])
}

/** What became of a notice (hr_inbox.status). */
export const HR_INBOX_STATUSES = ['received', 'processed', 'failed', 'held', 'rejected', 'not_found'] as const

/** A vendor timestamp further in the future than the source's tolerance, clamped to the receipt time. */
export interface ClampedTimestamp {
  eventId: string
  type: string
  vendorOccurredAt: string
  clampedTo: string
}

export interface InboxListItem {
  id: string
  source: HrSource
  employee_external_id: string
  vendor_event_type: string
  found_by: string
  status: (typeof HR_INBOX_STATUSES)[number]
  occurred_at: Date | null
  received_at: Date
  processed_at: Date | null
  events_count: number
  error: unknown
  timestamps_clamped: ClampedTimestamp[] | null
}

/**
 * Inbox rows for the console, newest first. `attention` keeps the ones a person should look at:
 * failed, not_found (the re-fetch found no such employee), or with a clamped vendor timestamp.
 */
export async function listInbox(
  db: Queryable,
  filter: { status?: string; source?: string; attention?: boolean; limit: number; offset: number },
): Promise<InboxListItem[]> {
  const where: string[] = []
  const params: unknown[] = []
  if (filter.status) where.push(`status = $${params.push(filter.status)}`)
  if (filter.source) where.push(`source = $${params.push(filter.source)}`)
  if (filter.attention) where.push(`(status IN ('failed', 'not_found') OR timestamps_clamped IS NOT NULL)`)
  const { rows } = await db.query<InboxListItem>(
    `SELECT id, source, employee_external_id, vendor_event_type, found_by, status, occurred_at, received_at, processed_at, events_count, error, timestamps_clamped
       FROM hr_inbox ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY received_at DESC, seq DESC
      LIMIT $${params.push(filter.limit)} OFFSET $${params.push(filter.offset)}`,
    params,
  )
  return rows
}

/** An employee's HR events as received, oldest first (the timeline). */
export async function hrEventsOfEmployee(
  db: Queryable,
  employeeId: string,
): Promise<Array<{ event_id: string; type: string; occurred_at: Date; received_at: Date; found_by: string; outcome: string | null; outcome_reason: string | null; source: string }>> {
  const hr = await db.query<{ event_id: string; type: string; occurred_at: Date; received_at: Date; found_by: string; outcome: string | null; outcome_reason: string | null; source: string }>(
    `SELECT event_id, type, occurred_at, received_at, found_by, outcome, outcome_reason, source FROM hr_events WHERE employee_id = $1 ORDER BY received_at`,
    [employeeId],
  )
  return hr.rows
}

/** The oldest notice of this employee still waiting to be processed. */
export async function nextReceivedNotice(db: Queryable, source: string, employeeExternalId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM hr_inbox WHERE source = $1 AND employee_external_id = $2 AND status = 'received' ORDER BY seq LIMIT 1`,
    [source, employeeExternalId],
  )
  return rows[0]?.id
}

/** Which of these canonical event ids are stored already. */
export async function knownHrEventIds(db: Queryable, eventIds: string[]): Promise<Set<string>> {
  const known = await db.query<{ event_id: string }>('SELECT event_id FROM hr_events WHERE event_id = ANY($1::uuid[])', [eventIds])
  return new Set(known.rows.map((r) => r.event_id))
}

/** The HR record reconciliation saw last for this employee (hr_roster). */
export async function rosterRecord<R>(db: Queryable, source: string, employeeExternalId: string): Promise<R | undefined> {
  const { rows } = await db.query<{ record: R }>('SELECT record FROM hr_roster WHERE source = $1 AND employee_external_id = $2', [source, employeeExternalId])
  return rows[0]?.record
}

export async function saveRosterRecord(db: Queryable, source: string, employeeExternalId: string, record: unknown): Promise<void> {
  await db.query(
    `INSERT INTO hr_roster (source, employee_external_id, record, seen_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (source, employee_external_id) DO UPDATE SET record = EXCLUDED.record, seen_at = now()`,
    [source, employeeExternalId, JSON.stringify(record)],
  )
}

/** The newest notice from a source, and the newest one that failed. */
export async function lastNotices(
  db: Queryable,
  source: string,
): Promise<{ delivery: { received_at: Date; found_by: string; status: string } | undefined; failure: { received_at: Date; error: unknown } | undefined }> {
  const delivery = await db.query<{ received_at: Date; found_by: string; status: string }>('SELECT received_at, found_by, status FROM hr_inbox WHERE source = $1 ORDER BY seq DESC LIMIT 1', [source])
  const failure = await db.query<{ received_at: Date; error: unknown }>(`SELECT received_at, error FROM hr_inbox WHERE source = $1 AND status = 'failed' ORDER BY seq DESC LIMIT 1`, [source])
  return { delivery: delivery.rows[0], failure: failure.rows[0] }
}
