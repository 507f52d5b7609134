/**
 * Runtime SQL for cases, case_systems and case_escalations: the engine's projection of joiner and
 * leaver cases, and the read API's lists. What a case should say is decided in
 * src/lifecycle/projections.ts and src/api/cases.ts; this module only reads and writes rows. The
 * escalation ladder's own statements (lock, record a step, mark a breach) are in src/sla/store.ts.
 */
import type { Queryable } from './pool.ts'

/** The joiner case of one generation, as the projection computed it. */
export interface JoinerCaseWrite {
  id: string
  employeeId: string
  generation: number
  status: string
  hrEventId: string | null
  deadlineAt: string | null
  openedAt: string
  lateBySeconds: number | null
  closedAt: string | null
  breachedAt: string | null
}

export interface JoinerCaseSystemWrite {
  system: string
  status: string
  accountId: string | null
  deadlineAt: string | null
  provisionedAt: string | null
  attempts: number
  lastError: unknown
}

/**
 * Insert or update the joiner case with its systems, in one statement; a closed or cancelled case
 * is final (the conditional upsert skips it, and its systems with it). Of `systems`, the rows
 * written are those named in `changed` (every one when it is undefined) and any the case has no
 * row for yet (a new case, a system added, a row an older build never wrote); the others are not
 * touched, so no new tuple and no SLA-waiver trigger for them (src/lifecycle/projections.ts
 * changedJoinerSystems decides what changed). Systems not in `systems` leave the case (a system
 * the policy no longer grants), changed or not. Returns the case id when written.
 */
export async function upsertJoinerCaseWithSystems(db: Queryable, c: JoinerCaseWrite, systems: JoinerCaseSystemWrite[], changed?: ReadonlySet<string>): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>({
    // Named: prepared once per connection (parsed and planned on every transition otherwise).
    name: 'tenure-upsert-joiner-case',
    text: `WITH up AS (
       INSERT INTO cases (id, employee_id, kind, generation, status, hr_event_id, effective_at, received_at, late_by_hr_seconds, deadline_at, opened_at, closed_at, breached_at)
       VALUES ($1, $2, 'joiner', $3, $4, $5, $6, $7, $8, $6, $7, $9, $10)
       ON CONFLICT (employee_id, kind, generation) DO UPDATE SET
         status = EXCLUDED.status, hr_event_id = COALESCE(EXCLUDED.hr_event_id, cases.hr_event_id), effective_at = EXCLUDED.effective_at,
         deadline_at = EXCLUDED.deadline_at, late_by_hr_seconds = EXCLUDED.late_by_hr_seconds, closed_at = EXCLUDED.closed_at,
         breached_at = COALESCE(cases.breached_at, EXCLUDED.breached_at)
       WHERE cases.status NOT IN ('closed', 'cancelled')
       RETURNING id
     ), sys AS (
       INSERT INTO case_systems (case_id, system, status, account_id, deadline_at, provisioned_at, attempts, last_error, updated_at)
       SELECT up.id, s.system, s.status, s.account_id, s.deadline_at, s.provisioned_at, s.attempts, s.last_error, now()
         FROM up, unnest($11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[], $16::int[], $17::jsonb[], $18::boolean[])
           AS s (system, status, account_id, deadline_at, provisioned_at, attempts, last_error, changed)
        WHERE s.changed OR NOT EXISTS (SELECT 1 FROM case_systems cs WHERE cs.case_id = up.id AND cs.system = s.system)
       ON CONFLICT (case_id, system) DO UPDATE SET
         status = EXCLUDED.status, account_id = EXCLUDED.account_id, deadline_at = EXCLUDED.deadline_at,
         provisioned_at = EXCLUDED.provisioned_at, attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, updated_at = now()
     ), gone AS (
       DELETE FROM case_systems WHERE case_id IN (SELECT id FROM up) AND NOT (system = ANY($11::text[]))
     )
     SELECT id FROM up`,
    values: [
      c.id,
      c.employeeId,
      c.generation,
      c.status,
      c.hrEventId,
      c.deadlineAt,
      c.openedAt,
      c.lateBySeconds,
      c.closedAt,
      c.breachedAt,
      systems.map((s) => s.system),
      systems.map((s) => s.status),
      systems.map((s) => s.accountId),
      systems.map((s) => s.deadlineAt),
      systems.map((s) => s.provisionedAt),
      systems.map((s) => s.attempts),
      systems.map((s) => (s.lastError ? JSON.stringify(s.lastError) : null)),
      systems.map((s) => changed === undefined || changed.has(s.system)),
    ],
  })
  return rows[0]?.id
}

/** A rescinded termination: cancel the generation's leaver case while it is still scheduled or open. */
export async function cancelLeaverCase(db: Queryable, employeeId: string, generation: number): Promise<void> {
  await db.query(`UPDATE cases SET status = 'cancelled', closed_at = now() WHERE employee_id = $1 AND kind = 'leaver' AND generation = $2 AND status IN ('scheduled', 'open')`, [
    employeeId,
    generation,
  ])
}

export interface LeaverCaseWrite {
  id: string
  employeeId: string
  generation: number
  status: string
  hrEventId: string
  effectiveAt: string
  receivedAt: string
  lateBySeconds: number
  deadlineAt: string
  openedAt: string | null
  closedAt: string | null
}

export interface LeaverCaseSystemWrite {
  system: string
  status: string
  accountId: string | null
  deadlineAt: string
  cutoffAt: string | null
  verifiedAt: string | null
  cleanupAt: string | null
  attempts: number
  lastError: unknown
  residual: unknown
  waitingOn: string | null
}

/** What the leaver case said before this write, and its id. */
export interface LeaverCaseWritten {
  id: string
  /** The stored deadline before this write (undefined for a new case). */
  previousDeadline: Date | undefined
  /** When each system of the case was verified, as stored before this write. */
  verifiedBefore: Array<{ system: string; verified_at: string | null }>
}

/**
 * Insert or update the leaver case of a generation (a closed case reopened counts once more) and
 * its systems, in one statement, returning what was stored before: every part of a WITH reads the
 * snapshot from before the statement. Of `systems`, the rows written are those named in `changed`
 * (every one when it is undefined) and any the case has no row for yet (a new case, a system added,
 * a case whose rows an older build never wrote); the others are not touched, so no new tuple and no
 * trigger for them (src/lifecycle/projections.ts changedLeaverSystems decides what changed).
 * Row-level SLA-waiver triggers fire per written row (the case_systems refresh trigger runs at the
 * end of the statement, after both writes; the case row's own trigger recomputes its deadline from
 * the stored systems, which an untouched row does not move).
 */
export async function upsertLeaverCaseWithSystems(db: Queryable, c: LeaverCaseWrite, systems: LeaverCaseSystemWrite[], changed?: ReadonlySet<string>): Promise<LeaverCaseWritten> {
  const { rows } = await db.query<{ id: string; previous_deadline: Date | null; verified_before: Array<{ system: string; verified_at: string | null }> }>({
    // Named: prepared once per connection (parsed and planned on every transition otherwise).
    name: 'tenure-upsert-leaver-case',
    text: `WITH prev AS (
       SELECT id, deadline_at FROM cases WHERE employee_id = $2 AND kind = 'leaver' AND generation = $3
     ), known AS (
       SELECT cs.system, cs.verified_at FROM case_systems cs JOIN prev ON cs.case_id = prev.id
     ), up AS (
       INSERT INTO cases (id, employee_id, kind, generation, status, hr_event_id, effective_at, received_at, late_by_hr_seconds, deadline_at, opened_at, closed_at)
       VALUES ($1, $2, 'leaver', $3, $4, $5, $6, $7, $8, $9, COALESCE($10::timestamptz, now()), $11)
       ON CONFLICT (employee_id, kind, generation) DO UPDATE SET
         status = EXCLUDED.status, hr_event_id = EXCLUDED.hr_event_id, effective_at = EXCLUDED.effective_at,
         received_at = EXCLUDED.received_at, late_by_hr_seconds = EXCLUDED.late_by_hr_seconds,
         deadline_at = EXCLUDED.deadline_at, closed_at = EXCLUDED.closed_at,
         reopened_count = cases.reopened_count + CASE WHEN cases.status = 'closed' AND EXCLUDED.status = 'open' THEN 1 ELSE 0 END
       RETURNING id
     ), sys AS (
       INSERT INTO case_systems (case_id, system, status, account_id, deadline_at, cutoff_at, verified_at, cleanup_at, attempts, last_error, residual, waiting_on, updated_at)
       SELECT up.id, s.system, s.status, s.account_id, s.deadline_at, s.cutoff_at, s.verified_at, s.cleanup_at, s.attempts, s.last_error, s.residual, s.waiting_on, now()
         FROM up, unnest($12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::int[], $20::jsonb[], $21::jsonb[], $22::text[], $23::boolean[])
           AS s (system, status, account_id, deadline_at, cutoff_at, verified_at, cleanup_at, attempts, last_error, residual, waiting_on, changed)
        WHERE s.changed OR NOT EXISTS (SELECT 1 FROM known WHERE known.system = s.system)
       ON CONFLICT (case_id, system) DO UPDATE SET
         status = EXCLUDED.status, account_id = EXCLUDED.account_id, deadline_at = EXCLUDED.deadline_at,
         cutoff_at = EXCLUDED.cutoff_at, verified_at = EXCLUDED.verified_at, cleanup_at = EXCLUDED.cleanup_at,
         attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, residual = EXCLUDED.residual,
         waiting_on = EXCLUDED.waiting_on, updated_at = now()
     )
     SELECT up.id, (SELECT deadline_at FROM prev) AS previous_deadline,
            COALESCE((SELECT json_agg(json_build_object('system', known.system, 'verified_at', known.verified_at)) FROM known), '[]'::json) AS verified_before
       FROM up`,
    values: [
      c.id,
      c.employeeId,
      c.generation,
      c.status,
      c.hrEventId,
      c.effectiveAt,
      c.receivedAt,
      c.lateBySeconds,
      c.deadlineAt,
      c.openedAt,
      c.closedAt,
      systems.map((s) => s.system),
      systems.map((s) => s.status),
      systems.map((s) => s.accountId),
      systems.map((s) => s.deadlineAt),
      systems.map((s) => s.cutoffAt),
      systems.map((s) => s.verifiedAt),
      systems.map((s) => s.cleanupAt),
      systems.map((s) => s.attempts),
      systems.map((s) => (s.lastError ? JSON.stringify(s.lastError) : null)),
      systems.map((s) => JSON.stringify(s.residual)),
      systems.map((s) => s.waitingOn),
      systems.map((s) => changed === undefined || changed.has(s.system)),
    ],
  })
  const row = rows[0]!
  return { id: row.id, previousDeadline: row.previous_deadline ?? undefined, verifiedBefore: row.verified_before }
}

// ---------------------------------------------------------------------------------------------
// reads for the API and the metrics

/** A case with its employee's name and HR id. */
export interface CaseListRow {
  id: string
  kind: 'joiner' | 'leaver'
  employee_id: string
  display_name: string | null
  external_id: string
  status: 'scheduled' | 'open' | 'closed' | 'cancelled'
  effective_at: Date | null
  received_at: Date | null
  late_by_hr_seconds: number | null
  deadline_at: Date | null
  opened_at: Date
  closed_at: Date | null
  breached_at: Date | null
  reopened_count: number
}

const CASE_SELECT = `SELECT c.*, e.display_name, e.external_id FROM cases c JOIN employees e ON e.id = c.employee_id`

export const CASE_SORTS = ['deadline', '-deadline', 'opened', '-opened', 'closed', '-closed'] as const
export type CaseSort = (typeof CASE_SORTS)[number]
const SORT_SQL: Record<CaseSort, string> = {
  deadline: 'c.deadline_at ASC NULLS LAST, c.id',
  '-deadline': 'c.deadline_at DESC NULLS LAST, c.id',
  opened: 'c.opened_at ASC, c.id',
  '-opened': 'c.opened_at DESC, c.id',
  closed: 'c.closed_at ASC NULLS LAST, c.id',
  '-closed': 'c.closed_at DESC NULLS LAST, c.id',
}

export interface CaseFilter {
  kind: 'joiner' | 'leaver'
  /** A stored status. */
  status?: CaseListRow['status'] | undefined
  /** Part of the employee's name or HR id. */
  q?: string | undefined
}

/** The WHERE of a case list (kind, stored status, search), with its parameters. */
function caseFilter(query: CaseFilter): { where: string; params: unknown[] } {
  const params: unknown[] = [query.kind]
  const where = ['c.kind = $1']
  if (query.status) where.push(`c.status = $${params.push(query.status)}`)
  if (query.q) {
    const p = params.push(`%${query.q.replaceAll('\\', '\\\\').replaceAll('%', '\\%').replaceAll('_', '\\_')}%`)
    where.push(`(e.display_name ILIKE $${p} OR e.external_id ILIKE $${p})`)
  }
  return { where: where.join(' AND '), params }
}

/** Every case matching the filter, least time left first (no paging: the caller derives health from all of them). */
export async function allCases(db: Queryable, filter: CaseFilter): Promise<CaseListRow[]> {
  const { where, params } = caseFilter(filter)
  const { rows } = await db.query<CaseListRow>(`${CASE_SELECT} WHERE ${where} ORDER BY ${SORT_SQL.deadline}`, params)
  return rows
}

/** A page of cases and how many match the filter. */
export async function listCases(db: Queryable, filter: CaseFilter & { sort: CaseSort; limit: number; offset: number }): Promise<{ rows: CaseListRow[]; total: number }> {
  const { where, params } = caseFilter(filter)
  const [{ rows }, count] = await Promise.all([
    db.query<CaseListRow>(`${CASE_SELECT} WHERE ${where} ORDER BY ${SORT_SQL[filter.sort]} LIMIT $${params.length + 1} OFFSET $${params.length + 2}`, [
      ...params,
      filter.limit,
      filter.offset,
    ]),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM cases c JOIN employees e ON e.id = c.employee_id WHERE ${where}`, params),
  ])
  return { rows, total: count.rows[0]!.n }
}

export async function caseById(db: Queryable, id: string): Promise<CaseListRow | undefined> {
  const { rows } = await db.query<CaseListRow>(`${CASE_SELECT} WHERE c.id = $1`, [id])
  return rows[0]
}

/** The employee's current case: open first, then scheduled, then the newest closed or cancelled one. */
export async function currentCaseOf(db: Queryable, employeeId: string): Promise<CaseListRow | undefined> {
  const { rows } = await db.query<CaseListRow>(
    `${CASE_SELECT} WHERE c.employee_id = $1
      ORDER BY CASE c.status WHEN 'open' THEN 0 WHEN 'scheduled' THEN 1 ELSE 2 END, c.opened_at DESC LIMIT 1`,
    [employeeId],
  )
  return rows[0]
}

export async function scheduledCaseCount(db: Queryable, kind: 'joiner' | 'leaver'): Promise<number> {
  const scheduled = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM cases WHERE kind = $1 AND status = 'scheduled'`, [kind])
  return scheduled.rows[0]!.n
}

export interface CaseSystemRow {
  case_id: string
  system: string
  status: string
  account_id: string | null
  deadline_at: Date | null
  provisioned_at: Date | null
  cutoff_at: Date | null
  verified_at: Date | null
  cleanup_at: Date | null
  attempts: number
  last_error: unknown
  residual: unknown
  waiting_on: string | null
}

/** The systems of some cases, by system name. */
export async function caseSystemsOf(db: Queryable, caseIds: string[]): Promise<CaseSystemRow[]> {
  const systems = await db.query<CaseSystemRow>(
    `SELECT case_id, system, status, account_id, deadline_at, provisioned_at, cutoff_at, verified_at, cleanup_at, attempts, last_error, residual, waiting_on
       FROM case_systems WHERE case_id = ANY($1::uuid[]) ORDER BY system`,
    [caseIds],
  )
  return systems.rows
}

/** The escalations of some cases, soonest first. */
export async function caseEscalationsOf(db: Queryable, caseIds: string[]): Promise<Array<{ case_id: string; step: string; due_at: Date; sent_at: Date }>> {
  const escalations = await db.query<{ case_id: string; step: string; due_at: Date; sent_at: Date }>(
    `SELECT case_id, step, due_at, sent_at FROM case_escalations WHERE case_id = ANY($1::uuid[]) ORDER BY due_at`,
    [caseIds],
  )
  return escalations.rows
}

/** Leaver cases open, open past 75% of their budget, and ever breached (the metric). */
export async function leaverCaseCounts(db: Queryable): Promise<{ open: number; at_risk: number; breached: number }> {
  const { rows } = await db.query<{ open: number; at_risk: number; breached: number }>(
    `SELECT count(*) FILTER (WHERE status = 'open')::int AS open,
                  count(*) FILTER (WHERE status = 'open' AND now() > effective_at + (deadline_at - effective_at) * 0.75)::int AS at_risk,
                  count(*) FILTER (WHERE breached_at IS NOT NULL)::int AS breached
             FROM cases WHERE kind = 'leaver'`,
  )
  return rows[0]!
}
