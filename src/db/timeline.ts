/**
 * One employee's timeline: their HR events and their audit rows in one list, newest first,
 * filtered and paged in SQL (a long-lived employee has thousands of target API calls; the page
 * used to read the newest 500 audit rows and filter in the browser).
 *
 * The order is (at DESC, key DESC) with key `a:<seq, zero-padded>` for audit rows and
 * `h:<event id>` for HR events, so the keyset cursor is total and stable while new rows arrive.
 */
import type { Queryable } from './pool.ts'

export interface TimelineFilters {
  /** hr_event: HR events only; audit: audit rows only. */
  kind?: 'hr_event' | 'audit'
  /** An action (`target.api_called`, `employee.hired`) or a prefix ending in `.*` (`job.*`); several, comma-separated, match any. */
  actions?: string[]
  /** Only rows about this system (HR events have none, so none match). */
  system?: string
  from?: string
  to?: string
}

export interface TimelineRow {
  kind: 'hr_event' | 'audit'
  at: Date
  key: string
  /** `at` as PostgreSQL prints it, microseconds kept: the cursor position (a Date keeps milliseconds only). */
  at_text: string
  action: string
  seq: number | null
  system: string | null
  actor_type: string
  actor_id: string
  details: Record<string, unknown>
}

const UNION = `
  SELECT 'audit' AS kind, a.occurred_at AS at, 'a:' || lpad(a.seq::text, 20, '0') AS key, a.action, a.seq, a.system,
         a.actor_type, a.actor_id, a.details
    FROM audit_events a WHERE a.employee_id = $1
  UNION ALL
  SELECT 'hr_event', h.received_at, 'h:' || h.event_id::text, h.type, NULL::bigint, NULL::text,
         'hr_source', h.source,
         jsonb_build_object('eventId', h.event_id, 'occurredAt', h.occurred_at, 'foundBy', h.found_by, 'outcome', h.outcome, 'reason', h.outcome_reason)
    FROM hr_events h WHERE h.employee_id = $1::uuid`

function where(filters: TimelineFilters, params: unknown[]): string {
  const conds: string[] = []
  const add = (sql: (p: string) => string, value: unknown) => {
    params.push(value)
    conds.push(sql(`$${params.length}`))
  }
  if (filters.kind) add((p) => `kind = ${p}`, filters.kind)
  if (filters.system) add((p) => `system = ${p}`, filters.system)
  if (filters.from) add((p) => `at >= ${p}::timestamptz`, filters.from)
  if (filters.to) add((p) => `at < ${p}::timestamptz`, filters.to)
  if (filters.actions && filters.actions.length > 0) {
    const exact = filters.actions.filter((a) => !a.endsWith('.*'))
    const prefixes = filters.actions.filter((a) => a.endsWith('.*')).map((a) => `${a.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
    const any: string[] = []
    if (exact.length) {
      params.push(exact)
      any.push(`action = ANY($${params.length}::text[])`)
    }
    if (prefixes.length) {
      params.push(prefixes)
      any.push(`action LIKE ANY($${params.length}::text[])`)
    }
    conds.push(`(${any.join(' OR ')})`)
  }
  return conds.length ? `WHERE ${conds.join(' AND ')}` : ''
}

/** A page of the timeline, newest first, after the cursor position; and how many rows match in all. */
export async function timelineOf(
  db: Queryable,
  employeeId: string,
  filters: TimelineFilters,
  page: { limit: number; after?: { at: string; key: string } },
): Promise<{ rows: TimelineRow[]; total: number }> {
  const params: unknown[] = [employeeId]
  const filter = where(filters, params)
  const counted = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${UNION}) t ${filter}`, params)
  const pageParams = [...params]
  let cond = filter
  if (page.after) {
    pageParams.push(page.after.at, page.after.key)
    const after = `(at, key) < ($${pageParams.length - 1}::timestamptz, $${pageParams.length})`
    cond = cond ? `${cond} AND ${after}` : `WHERE ${after}`
  }
  pageParams.push(page.limit)
  const { rows } = await db.query<TimelineRow & { seq: string | number | null }>(
    `SELECT *, at::text AS at_text FROM (${UNION}) t ${cond} ORDER BY at DESC, key DESC LIMIT $${pageParams.length}`,
    pageParams,
  )
  return { rows: rows.map((r) => ({ ...r, seq: r.seq === null ? null : Number(r.seq) })), total: counted.rows[0]?.n ?? 0 }
}

/** The systems and actions this employee's timeline holds, for the filter's choices. */
export async function timelineFacets(db: Queryable, employeeId: string): Promise<{ systems: string[]; actions: string[] }> {
  const { rows } = await db.query<{ systems: string[] | null; actions: string[] | null }>(
    `SELECT array_agg(DISTINCT system) FILTER (WHERE system IS NOT NULL) AS systems, array_agg(DISTINCT action) AS actions FROM (${UNION}) t`,
    [employeeId],
  )
  return { systems: rows[0]?.systems ?? [], actions: rows[0]?.actions ?? [] }
}
