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
import { appendAudit, markWroteAudit, pendingColumns, prepareAudit, type AuditEntryInput, type PreparedAuditEntry } from '../audit/index.ts'
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

type BatchRow = { id: string; input: StoreInput; notice: InboxNotice; bodySha256: string; index: number }

/** Each notice of each delivery as an inbox row with its id, and one empty result per delivery. */
function planBatch(inputs: StoreInput[]): { rows: BatchRow[]; results: StoreResult[] } {
  const rows: BatchRow[] = []
  inputs.forEach((input, index) => {
    const bodySha256 = createHash('sha256').update(input.body).digest('hex')
    for (const notice of input.notices) rows.push({ id: randomUUID(), input, notice, bodySha256, index })
  })
  return { rows, results: inputs.map(() => ({ stored: [], duplicates: [] })) }
}

/**
 * The multi-row inbox INSERT; a row whose (source, dedupe_key) is stored already is skipped.
 * unnest() keeps the order given, so of two equal keys in one batch the earlier one is stored.
 * The statement is sent before this returns (a pipelined connection keeps the order of sending).
 */
function insertInboxRows(client: PoolClient, rows: BatchRow[]): Promise<Set<string>> {
  return client
    .query<{ id: string }>(
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
    .then(({ rows: inserted }) => new Set(inserted.map((r) => r.id)))
}

/** The notice's job: to the employee's strict-FIFO lane, with the inbox row's id. */
function jobOf(r: BatchRow): { id: string; data: object; singletonKey: string } {
  const data: HrEventJobData = { inboxId: r.id, correlationId: r.input.correlationId }
  return { id: r.id, data, singletonKey: `${r.input.source}:${r.notice.employeeId}` }
}

function auditOf(r: BatchRow): AuditEntryInput {
  return {
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
  }
}

/** Sort the rows into the results: stored ones (in `storedIds`) and duplicates. */
function settle(rows: BatchRow[], storedIds: Set<string>, results: StoreResult[]): BatchRow[] {
  const stored: BatchRow[] = []
  for (const r of rows) {
    if (storedIds.has(r.id)) {
      results[r.index]!.stored.push({ inboxId: r.id, dedupeKey: r.notice.dedupeKey })
      stored.push(r)
    } else results[r.index]!.duplicates.push(r.notice.dedupeKey)
  }
  return stored
}

/**
 * storeNotices() for several deliveries in one transaction: one multi-row INSERT for the inbox,
 * one for the jobs and one audit append for all of them (queued for the sealer: no chain lock).
 */
export async function storeNoticeBatch(client: PoolClient, boss: Boss, inputs: StoreInput[]): Promise<StoreResult[]> {
  const { rows, results } = planBatch(inputs)
  if (rows.length === 0) return results
  const stored = settle(rows, await insertInboxRows(client, rows), results)
  // One statement for every job; pg-boss fills the queue's retry/expiry policy in the same SQL send() uses.
  if (stored.length > 0) await boss.insert(HR_EVENT_QUEUE, stored.map(jobOf), { db: inTransaction(client) })
  await appendAudit(client, stored.map(auditOf))
  return results
}

/**
 * pg-boss runs one statement per call on the `db` it is given, after an await or two of its own
 * (its queue cache). This adapter says when that statement has been sent, so the caller can send
 * its next statement behind it on a pipelined connection without waiting for the answer.
 */
function sentThrough(client: PoolClient): { db: ReturnType<typeof inTransaction>; sent: Promise<void> } {
  let markSent!: () => void
  const sent = new Promise<void>((resolve) => (markSent = resolve))
  const db = inTransaction(client)
  return {
    sent,
    db: {
      executeSql: (text: string, values?: unknown[]) => {
        const result = db.executeSql(text, values)
        markSent()
        return result
      },
    },
  }
}

/** Waits for every promise (so nothing sent is left unanswered), then rethrows the first rejection. */
async function settled(promises: Array<Promise<unknown>>): Promise<unknown[]> {
  const outcomes = await Promise.allSettled(promises)
  const failed = outcomes.find((o) => o.status === 'rejected')
  if (failed) throw failed.reason
  return outcomes.map((o) => (o as PromiseFulfilledResult<unknown>).value)
}

/**
 * The jobs of `ids` whose inbox row this transaction did not store (duplicates): the job id is the
 * inbox id planned for the notice (jobOf), a fresh UUID, so an inbox row with that id exists only
 * if this batch stored it. pg-boss's own deleteJob needs the duplicates' ids, known only from the
 * inbox INSERT's answer; this condition lets the DELETE travel in the same write as the INSERT.
 * `jobSchema` is pg-boss's schema (config.queue.schema); DELETE on its parent job table reaches the queue's partition.
 */
function deleteDuplicateJobs(client: PoolClient, jobSchema: string, ids: string[]): Promise<unknown> {
  if (!/^[a-z_][a-z0-9_]*$/.test(jobSchema)) throw new Error(`not a schema name: ${jobSchema}`)
  return client.query(
    `DELETE FROM ${jobSchema}.job j WHERE j.name = $1 AND j.id = ANY($2::uuid[])
        AND NOT EXISTS (SELECT 1 FROM hr_inbox i WHERE i.id = j.id)`,
    [HR_EVENT_QUEUE, ids],
  )
}

/**
 * The audit entries of the notices this transaction stored, queued for the sealer
 * (src/audit/writer.ts queuePending(), audit_pending in migrations/0028_audit_pending.sql) with
 * the same condition as deleteDuplicateJobs(): entries of duplicates are left out by the INSERT
 * itself, so it too travels before the inbox INSERT's answer.
 */
function queueStoredAudit(client: PoolClient, rows: BatchRow[], audit: PreparedAuditEntry[]): Promise<unknown> {
  markWroteAudit(client)
  const c = pendingColumns(audit)
  return client.query(
    {
      name: 'tenure_hr_inbox_queue_audit',
      text: `INSERT INTO audit_pending (occurred_at, actor_type, actor_id, action, employee_id, system, account_id, correlation_id, details)
             SELECT date_trunc('milliseconds', statement_timestamp()), e.actor_type, e.actor_id, e.action, e.employee_id, e.system, e.account_id, e.correlation_id, e.details
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[])
                  WITH ORDINALITY AS e(inbox_id, actor_type, actor_id, action, employee_id, system, account_id, correlation_id, details, n)
             WHERE EXISTS (SELECT 1 FROM hr_inbox i WHERE i.id = e.inbox_id)
             ORDER BY e.n`,
    },
    [rows.map((r) => r.id), c.actorType, c.actorId, c.action, c.employeeId, c.system, c.accountId, c.correlationId, c.details],
  )
}

/**
 * storeNoticeBatch() in a transaction of its own, in ONE round trip to PostgreSQL. The statements
 * are pipelined (node-postgres pipeline mode, https://node-postgres.com/features/pipelining: each
 * is sent without waiting for the answer to the previous one; PostgreSQL runs them in order):
 *
 *   BEGIN; the inbox INSERT; the jobs of every notice (pg-boss insert); the DELETE of the jobs of
 *   duplicates; the audit entries of the stored notices (audit_pending); COMMIT.
 *
 * Nothing here waits for another transaction: the audit entries are queued for the sealer
 * (src/audit/sealer.ts), which takes the chain lock after this commits, so deliveries no longer
 * queue behind the worker process's audit appends. The jobs are sent before the inbox INSERT's
 * answer says which notices are duplicates, so the job of a duplicate (its id is the inbox id that
 * was not stored) is deleted by a statement whose condition is "no inbox row with this id",
 * before anything commits; a batch of duplicates only commits nothing but the insert and delete of
 * its jobs. When a statement fails, PostgreSQL aborts the transaction, the ones behind it fail,
 * and a COMMIT sent behind them rolls back: nothing is stored unless every statement succeeded,
 * and the caller learns of it from the rejection.
 */
export async function commitNoticeBatch(pool: Pool, boss: Boss, inputs: StoreInput[], jobSchema: string): Promise<StoreResult[]> {
  const { rows, results } = planBatch(inputs)
  if (rows.length === 0) return results
  // Validated and redacted before anything is sent: an invalid entry sends nothing.
  const audit = prepareAudit(rows.map(auditOf))
  const client = await pool.connect()
  // Pipeline mode is the node-postgres Client option `pipeline`, read on every query; this pooled
  // client is in it for this transaction only, and every answer has been read when it is switched
  // back and released (a pipelined client must be idle before another user gets it).
  const mode = client as unknown as { pipeline: boolean }
  mode.pipeline = true
  let committed = false
  try {
    const sent = await inOneWrite(client, async () => {
      const steps: Array<Promise<unknown>> = [client.query('BEGIN'), insertInboxRows(client, rows)]
      const jobs = sentThrough(client)
      const inserting = boss.insert(HR_EVENT_QUEUE, rows.map(jobOf), { db: jobs.db })
      steps.push(inserting)
      // The rest right behind the jobs' statement; not sent when pg-boss failed before sending it (settled() throws its error).
      if (!(await Promise.race([jobs.sent.then(() => true), inserting.then(() => true, () => false)]))) return steps
      steps.push(deleteDuplicateJobs(client, jobSchema, rows.map((r) => r.id)))
      steps.push(queueStoredAudit(client, rows, audit))
      steps.push(client.query('COMMIT').then(() => (committed = true)))
      return steps
    })
    const [, storedIds] = (await settled(sent)) as [unknown, Set<string>]
    settle(rows, storedIds, results)
    return results
  } finally {
    // Behind anything still unanswered; after a failed COMMIT it only warns (no transaction).
    if (!committed) await client.query('ROLLBACK').catch(() => {})
    mode.pipeline = false
    client.release()
  }
}

/**
 * The statements `send` sends leave in one write to the socket: it is corked until `send` returns
 * (it may wait for a statement to be sent, never for an answer). Each write to PostgreSQL's socket
 * is a system call that also wakes the server process; in a CPU profile of the intake under load,
 * writes to PostgreSQL were a third of the HTTP process's busy time, one write per statement.
 */
async function inOneWrite<T>(client: PoolClient, send: () => Promise<T>): Promise<T> {
  const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream
  stream?.cork?.()
  try {
    return await send()
  } finally {
    stream?.uncork?.()
  }
}

/**
 * Group commit for the webhook route: deliveries that arrive while transactions are committing
 * wait for the next one, which stores all of them at once (commitNoticeBatch). Nothing waits on
 * purpose, so a lone delivery is one transaction as before; under load the batch grows instead
 * of the queue of transactions, each paying its own WAL flush. Each caller still gets its answer
 * only after COMMIT: a 202 means the notice, its job and its audit entry are durable (the entry is
 * committed in audit_pending; the sealer chains it moments later, and no ack waits for that).
 *
 * Two transactions at a time (`maxInFlight`): while one commits, the next sends its statements,
 * so a delivery does not wait for a whole transaction before its own starts. More would only
 * queue more commits, each with its own WAL flush, where one larger batch pays one.
 *
 * Order of acceptance, per employee: a delivery is never committed before an earlier one that
 * names the same employee. A delivery waits while an earlier one for one of its employees is
 * waiting or in a transaction that has not committed, and two notices for one employee never
 * share a batch, because jobs of one transaction share created_on and pg-boss's strict FIFO would
 * then order them by their random id.
 */
export interface InboxWriter {
  store(input: StoreInput): Promise<StoreResult>
}

export function createInboxWriter(deps: { pool: Pool; boss: Boss; jobSchema: string; maxBatch?: number; maxInFlight?: number }): InboxWriter {
  const maxBatch = deps.maxBatch ?? 128
  const maxInFlight = deps.maxInFlight ?? 2
  type Waiting = { input: StoreInput; resolve: (r: StoreResult) => void; reject: (e: unknown) => void }
  let waiting: Waiting[] = []
  let inFlight = 0
  /** The employees of the deliveries in a transaction that has not committed yet. */
  const committing = new Set<string>()
  const keysOf = (input: StoreInput) => input.notices.map((n) => `${input.source}:${n.employeeId}`)
  const take = (): { batch: Waiting[]; keys: Set<string> } => {
    const batch: Waiting[] = []
    const rest: Waiting[] = []
    const keys = new Set<string>()
    // An employee of a delivery left waiting holds back every later delivery that names it.
    const held = new Set(committing)
    for (const w of waiting) {
      const k = keysOf(w.input)
      if (batch.length >= maxBatch || k.some((x) => keys.has(x) || held.has(x))) {
        rest.push(w)
        for (const x of k) held.add(x)
      } else {
        batch.push(w)
        for (const x of k) keys.add(x)
      }
    }
    waiting = rest
    return { batch, keys }
  }
  const run = async (batch: Waiting[]) => {
    try {
      const results = await commitNoticeBatch(deps.pool, deps.boss, batch.map((w) => w.input), deps.jobSchema)
      batch.forEach((w, i) => w.resolve(results[i]!))
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err)
      // One bad delivery must not fail the others: store each on its own.
      for (const w of batch) await withTransaction(deps.pool, (client) => storeNotices(client, deps.boss, w.input)).then(w.resolve, w.reject)
    }
  }
  const pump = () => {
    while (inFlight < maxInFlight && waiting.length > 0) {
      const { batch, keys } = take()
      // Everything waiting names an employee still committing: its end pumps again.
      if (batch.length === 0) return
      inFlight += 1
      for (const k of keys) committing.add(k)
      void run(batch)
        .catch((err: unknown) => batch.forEach((w) => w.reject(err)))
        .finally(() => {
          inFlight -= 1
          for (const k of keys) committing.delete(k)
          pump()
        })
    }
  }
  return {
    store: (input) =>
      new Promise<StoreResult>((resolve, reject) => {
        waiting.push({ input, resolve, reject })
        pump()
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
