/**
 * Runtime SQL for the mass-termination hold (migrations/0008_bulk_holds.sql): bulk_holds,
 * bulk_hold_items and the hold-related columns of hr_inbox. The decisions live in
 * src/hr/bulk-hold.ts; this module only reads and writes rows.
 */
import type { PoolClient, Queryable } from './pool.ts'

export const HOLD_STATUSES = ['open', 'confirmed', 'rejected'] as const
export type HoldStatus = (typeof HOLD_STATUSES)[number]
export type HoldWhy = 'over_threshold' | 'hold_open' | 'employee_held'

export interface HoldRow {
  id: string
  source: string
  status: HoldStatus
  threshold_per_hour: number
  held_count: number
  first_held_at: Date
  last_held_at: Date
  earliest_effective_at: Date | null
  correlation_id: string
  decided_by: string | null
  decided_by_type: string | null
  decided_at: Date | null
  reason: string | null
}

export interface HoldItemRow {
  inbox_id: string
  hold_id: string
  seq: string
  employee_external_id: string
  vendor_event_type: string
  event_types: string[] | null
  effective_at: Date | null
  immediate: boolean | null
  why: HoldWhy
  held_at: Date
  /** The notice's inbox status now: held, then received/processed after a confirmation, or rejected. */
  status: string
  employee_id: string | null
  display_name: string | null
}

/**
 * Serialise every hold decision of one source (count-and-admit, hold, confirm, reject) for the
 * rest of the caller's transaction. Transaction-scoped, so a crashed worker cannot leave it held.
 */
export async function lockSourceHolds(client: PoolClient, source: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`tenure.bulk_hold:${source}`])
}

export async function openHoldOf(db: Queryable, source: string): Promise<HoldRow | undefined> {
  const { rows } = await db.query<HoldRow>(`SELECT * FROM bulk_holds WHERE source = $1 AND status = 'open'`, [source])
  return rows[0]
}

export async function readHold(db: Queryable, id: string, forUpdate = false): Promise<HoldRow | undefined> {
  const { rows } = await db.query<HoldRow>(`SELECT * FROM bulk_holds WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id])
  return rows[0]
}

/**
 * Terminations of `source` the guard let through in the rolling hour before `now`. The window
 * starts no earlier than the source's last confirmed hold: a person has just looked at this
 * source's burst and said it is real, so the count starts again from there.
 */
export async function admittedInWindow(db: Queryable, source: string, now: Date): Promise<{ count: number; windowStart: Date }> {
  const { rows } = await db.query<{ n: number; window_start: Date }>(
    `WITH w AS (
       SELECT GREATEST($2::timestamptz - interval '1 hour',
                       COALESCE((SELECT max(decided_at) FROM bulk_holds WHERE source = $1 AND status = 'confirmed'), '-infinity'::timestamptz)) AS start
     )
     SELECT (SELECT count(*)::int FROM hr_inbox, w WHERE source = $1 AND termination_admitted_at > w.start AND termination_admitted_at <= $2) AS n,
            (SELECT start FROM w) AS window_start`,
    [source, now],
  )
  return { count: rows[0]!.n, windowStart: rows[0]!.window_start }
}

export async function markAdmitted(db: Queryable, inboxId: string, at: Date): Promise<void> {
  await db.query('UPDATE hr_inbox SET termination_admitted_at = $2 WHERE id = $1', [inboxId, at])
}

export async function insertHold(db: Queryable, hold: { id: string; source: string; thresholdPerHour: number; at: Date; correlationId: string }): Promise<HoldRow> {
  const { rows } = await db.query<HoldRow>(
    `INSERT INTO bulk_holds (id, source, threshold_per_hour, first_held_at, last_held_at, correlation_id)
     VALUES ($1, $2, $3, $4, $4, $5) RETURNING *`,
    [hold.id, hold.source, hold.thresholdPerHour, hold.at, hold.correlationId],
  )
  return rows[0]!
}

export interface NewHoldItem {
  holdId: string
  inboxId: string
  seq: string
  employeeExternalId: string
  vendorEventType: string
  eventTypes: string[] | null
  effectiveAt: string | null
  immediate: boolean | null
  why: HoldWhy
  at: Date
}

/** Hold one notice in a batch; returns the batch as it stands after. Idempotent per notice. */
export async function addHoldItem(client: PoolClient, item: NewHoldItem): Promise<HoldRow> {
  const inserted = await client.query(
    `INSERT INTO bulk_hold_items (inbox_id, hold_id, seq, employee_external_id, vendor_event_type, event_types, effective_at, immediate, why, held_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (inbox_id) DO NOTHING`,
    [item.inboxId, item.holdId, item.seq, item.employeeExternalId, item.vendorEventType, item.eventTypes, item.effectiveAt, item.immediate, item.why, item.at],
  )
  await client.query(`UPDATE hr_inbox SET status = 'held' WHERE id = $1 AND status = 'received'`, [item.inboxId])
  const { rows } = await client.query<HoldRow>(
    `UPDATE bulk_holds
        SET held_count = held_count + $2,
            last_held_at = GREATEST(last_held_at, $3),
            earliest_effective_at = CASE WHEN $4::timestamptz IS NULL THEN earliest_effective_at ELSE LEAST(earliest_effective_at, $4::timestamptz) END
      WHERE id = $1 RETURNING *`,
    [item.holdId, inserted.rowCount ?? 0, item.at, item.effectiveAt],
  )
  return rows[0]!
}

/** The status of the hold a notice was held in, if it ever was. */
export async function holdStatusOfNotice(db: Queryable, inboxId: string): Promise<HoldStatus | undefined> {
  const { rows } = await db.query<{ status: HoldStatus }>(
    'SELECT h.status FROM bulk_hold_items i JOIN bulk_holds h ON h.id = i.hold_id WHERE i.inbox_id = $1',
    [inboxId],
  )
  return rows[0]?.status
}

/** The earliest notice of the same person, accepted before `seq`, that is held or still to apply. */
export async function earlierPending(db: Queryable, source: string, employeeExternalId: string, seq: string): Promise<{ id: string; status: 'held' | 'received'; hold_id: string | null } | undefined> {
  const { rows } = await db.query<{ id: string; status: 'held' | 'received'; hold_id: string | null }>(
    `SELECT n.id, n.status, i.hold_id
       FROM hr_inbox n LEFT JOIN bulk_hold_items i ON i.inbox_id = n.id
      WHERE n.source = $1 AND n.employee_external_id = $2 AND n.seq < $3 AND n.status IN ('held', 'received')
      ORDER BY n.seq LIMIT 1`,
    [source, employeeExternalId, seq],
  )
  return rows[0]
}

/** Record the decision; the caller holds the source lock and has checked the hold is open. */
export async function decideHold(client: PoolClient, id: string, decision: { status: 'confirmed' | 'rejected'; by: { type: string; id: string }; at: Date; reason: string }): Promise<HoldRow> {
  const { rows } = await client.query<HoldRow>(
    `UPDATE bulk_holds SET status = $2, decided_by = $3, decided_by_type = $4, decided_at = $5, reason = $6 WHERE id = $1 AND status = 'open' RETURNING *`,
    [id, decision.status, decision.by.id, decision.by.type, decision.at, decision.reason],
  )
  return rows[0]!
}

/** Confirmed: the held notices become receivable again, in acceptance order. */
export async function releaseHeldNotices(client: PoolClient, holdId: string): Promise<Array<{ id: string; source: string; employee_external_id: string; correlation_id: string; seq: string }>> {
  const { rows } = await client.query<{ id: string; source: string; employee_external_id: string; correlation_id: string; seq: string }>(
    `UPDATE hr_inbox n SET status = 'received'
       FROM bulk_hold_items i
      WHERE i.hold_id = $1 AND i.inbox_id = n.id AND n.status = 'held'
      RETURNING n.id, n.source, n.employee_external_id, n.correlation_id, n.seq`,
    [holdId],
  )
  return rows.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1))
}

/** Rejected: the held notices are kept, marked rejected, never applied. */
export async function rejectHeldNotices(client: PoolClient, holdId: string, at: Date, reason: string): Promise<number> {
  const { rowCount } = await client.query(
    `UPDATE hr_inbox n SET status = 'rejected', processed_at = $2, error = $3
       FROM bulk_hold_items i
      WHERE i.hold_id = $1 AND i.inbox_id = n.id AND n.status = 'held'`,
    [holdId, at, JSON.stringify({ rejectedByHold: holdId, reason })],
  )
  return rowCount ?? 0
}

export async function listHolds(db: Queryable, filter: { status?: HoldStatus; source?: string; limit: number; offset: number }): Promise<HoldRow[]> {
  const params: unknown[] = []
  const where: string[] = []
  if (filter.status) where.push(`status = $${params.push(filter.status)}`)
  if (filter.source) where.push(`source = $${params.push(filter.source)}`)
  const { rows } = await db.query<HoldRow>(
    `SELECT * FROM bulk_holds ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY (status = 'open') DESC, first_held_at DESC, id
      LIMIT $${params.push(filter.limit)} OFFSET $${params.push(filter.offset)}`,
    params,
  )
  return rows
}

export async function holdItems(db: Queryable, holdId: string, afterSeq: string | undefined, limit: number): Promise<HoldItemRow[]> {
  const { rows } = await db.query<HoldItemRow>(
    `SELECT i.*, n.status, e.id AS employee_id, e.display_name
       FROM bulk_hold_items i
       JOIN hr_inbox n ON n.id = i.inbox_id
       LEFT JOIN employees e ON e.source = n.source AND e.external_id = i.employee_external_id
      WHERE i.hold_id = $1 AND i.seq > $2
      ORDER BY i.seq LIMIT $3`,
    [holdId, afterSeq ?? '0', limit],
  )
  return rows
}

/** Mass-termination holds still waiting for an approver's confirm or reject (the navigation's pending count). */
export async function countOpenHolds(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM bulk_holds WHERE status = 'open'")
  return rows[0]!.n
}
