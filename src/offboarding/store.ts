/**
 * Runtime SQL for emergency_terminations (migrations/0021_emergency_terminations.sql) and the
 * discrepancy task it may raise. Rows in, plain objects out; the rules live in service.ts.
 */
import { randomUUID } from 'node:crypto'
import type { Queryable } from '../db/pool.ts'

export const EMERGENCY_STATUSES = ['pending', 'applied', 'rejected', 'expired'] as const
export type EmergencyStatus = (typeof EMERGENCY_STATUSES)[number]
export const HR_STATUSES = ['unconfirmed', 'confirmed', 'discrepancy'] as const
export type HrStatus = (typeof HR_STATUSES)[number]

export interface EmergencyRow {
  id: string
  employee_id: string
  generation: number
  status: EmergencyStatus
  reason: string
  requested_by: string
  requested_by_type: string
  requested_by_name: string | null
  requested_at: Date
  expires_at: Date | null
  decided_by: string | null
  decided_by_name: string | null
  decided_at: Date | null
  decision_reason: string | null
  applied_at: Date | null
  case_id: string | null
  correlation_id: string
  discrepancy_owner_group: string
  hr_status: HrStatus
  hr_status_at: Date | null
  hr_event_id: string | null
  discrepancy_task_id: string | null
  /** Joined: the discrepancy task's status (open / completed / cancelled), null without one. */
  discrepancy_task_status: string | null
  /** Joined from employees. */
  display_name: string | null
  external_id: string
  source: string
}

const SELECT = `SELECT t.*, e.display_name, e.external_id, e.source,
  (SELECT mt.status FROM manual_tasks mt WHERE mt.id = t.discrepancy_task_id) AS discrepancy_task_status
  FROM emergency_terminations t JOIN employees e ON e.id = t.employee_id`

export interface EmergencyInsert {
  id: string
  employeeId: string
  generation: number
  status: 'pending' | 'applied'
  reason: string
  requestedBy: { type: string; id: string; name: string | null }
  requestedAt: Date
  expiresAt: Date | null
  correlationId: string
  discrepancyOwnerGroup: string
}

/** Insert a request; false when another pending request of the same person won the race. */
export async function insertEmergency(db: Queryable, r: EmergencyInsert): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO emergency_terminations (id, employee_id, generation, status, reason, requested_by, requested_by_type, requested_by_name, requested_at, expires_at, correlation_id, discrepancy_owner_group)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
    [r.id, r.employeeId, r.generation, r.status, r.reason, r.requestedBy.id, r.requestedBy.type, r.requestedBy.name, r.requestedAt, r.expiresAt, r.correlationId, r.discrepancyOwnerGroup],
  )
  return rowCount === 1
}

export async function emergencyById(db: Queryable, id: string, lock = false): Promise<EmergencyRow | undefined> {
  const { rows } = await db.query<EmergencyRow>(`${SELECT} WHERE t.id = $1${lock ? ' FOR UPDATE OF t' : ''}`, [id])
  return rows[0]
}

export async function pendingEmergencyOf(db: Queryable, employeeId: string): Promise<EmergencyRow | undefined> {
  const { rows } = await db.query<EmergencyRow>(`${SELECT} WHERE t.employee_id = $1 AND t.status = 'pending'`, [employeeId])
  return rows[0]
}

/** The applied emergency termination of this employment, if any (the latest). */
export async function appliedEmergencyOf(db: Queryable, employeeId: string, generation?: number): Promise<EmergencyRow | undefined> {
  const { rows } = await db.query<EmergencyRow>(
    `${SELECT} WHERE t.employee_id = $1 AND t.status = 'applied' AND ($2::int IS NULL OR t.generation = $2) ORDER BY t.applied_at DESC LIMIT 1`,
    [employeeId, generation ?? null],
  )
  return rows[0]
}

export async function markApplied(db: Queryable, id: string, at: Date, caseId: string | null, decidedBy?: { id: string; name: string | null; reason: string | null }): Promise<void> {
  await db.query(
    `UPDATE emergency_terminations SET status = 'applied', applied_at = $2, case_id = $3, expires_at = NULL,
            decided_by = COALESCE($4, decided_by), decided_by_name = COALESCE($5, decided_by_name), decision_reason = COALESCE($6, decision_reason),
            decided_at = CASE WHEN $4::text IS NULL THEN decided_at ELSE $2 END
      WHERE id = $1`,
    [id, at, caseId, decidedBy?.id ?? null, decidedBy?.name ?? null, decidedBy?.reason ?? null],
  )
}

export async function markRejected(db: Queryable, id: string, at: Date, by: { id: string; name: string | null }, reason: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE emergency_terminations SET status = 'rejected', decided_at = $2, decided_by = $3, decided_by_name = $4, decision_reason = $5, expires_at = NULL
      WHERE id = $1 AND status = 'pending'`,
    [id, at, by.id, by.name, reason],
  )
  return rowCount === 1
}

/** Pending requests past their expiry become `expired` (read paths call this first: no worker needed). */
export async function expireDue(db: Queryable, now: Date): Promise<EmergencyRow[]> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE emergency_terminations SET status = 'expired', decided_at = expires_at WHERE status = 'pending' AND expires_at <= $1 RETURNING id`,
    [now],
  )
  if (rows.length === 0) return []
  const { rows: full } = await db.query<EmergencyRow>(`${SELECT} WHERE t.id = ANY($1::uuid[])`, [rows.map((r) => r.id)])
  return full
}

/**
 * Pending requests `viewerId` could approve now (the navigation's count): not their own
 * (four-eyes) and not past their expiry (read as of `now`, so the count needs no write).
 */
export async function countApprovableBy(db: Queryable, viewerId: string, now: Date): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM emergency_terminations WHERE status = 'pending' AND requested_by <> $1 AND (expires_at IS NULL OR expires_at > $2)`,
    [viewerId, now],
  )
  return rows[0]!.n
}

export interface EmergencyFilter {
  status?: EmergencyStatus | undefined
  hrStatus?: HrStatus | undefined
  employeeId?: string | undefined
  limit: number
  offset: number
}

export async function listEmergencies(db: Queryable, f: EmergencyFilter): Promise<{ rows: EmergencyRow[]; total: number }> {
  const params: unknown[] = []
  const where: string[] = []
  if (f.status) where.push(`t.status = $${params.push(f.status)}`)
  if (f.hrStatus) where.push(`t.hr_status = $${params.push(f.hrStatus)}`)
  if (f.employeeId) where.push(`t.employee_id = $${params.push(f.employeeId)}`)
  const w = where.length ? `WHERE ${where.join(' AND ')}` : ''
  const [{ rows }, count] = await Promise.all([
    db.query<EmergencyRow>(`${SELECT} ${w} ORDER BY t.requested_at DESC, t.id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`, [...params, f.limit, f.offset]),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM emergency_terminations t ${w}`, params),
  ])
  return { rows, total: count.rows[0]!.n }
}

/** HR's own termination arrived: unconfirmed or discrepancy → confirmed. False when it already was. */
export async function markConfirmed(db: Queryable, id: string, at: Date, hrEventId: string | null): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE emergency_terminations SET hr_status = 'confirmed', hr_status_at = $2, hr_event_id = $3 WHERE id = $1 AND hr_status <> 'confirmed'`,
    [id, at, hrEventId],
  )
  return rowCount === 1
}

/**
 * HR still shows the person employed: one open task for a person per emergency termination
 * (idempotent on the request id) and hr_status = discrepancy. Returns the task id when this call
 * raised it (undefined when it was raised before: the audit row is written once).
 */
export async function raiseDiscrepancy(
  db: Queryable,
  row: EmergencyRow,
  at: Date,
  what: { hrEventId: string | null; observed: string; details: Record<string, unknown> },
): Promise<string | undefined> {
  const taskId = randomUUID()
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO manual_tasks (id, system, employee_external_id, employee_id, case_id, kind, idempotency_key, owner_group, title, instructions, details)
     VALUES ($1, $2, $3, $4, $5, 'hr_discrepancy', $6, $7, $8, $9, $10)
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
    [
      taskId,
      `hr:${row.source}`,
      row.external_id,
      row.employee_id,
      row.case_id,
      `hr_discrepancy:${row.id}`,
      row.discrepancy_owner_group,
      `HR still shows ${row.display_name ?? row.external_id} employed after an emergency termination`,
      `Access was cut on ${row.applied_at?.toISOString() ?? '?'} (emergency termination ${row.id}: "${row.reason}"), but HR ${what.observed}. ` +
        'Access stays cut. Ask HR to record the termination, or, if the person should work again, have HR rehire them. Complete this task with what was decided.',
      JSON.stringify({ emergencyTerminationId: row.id, hrEventId: what.hrEventId, observed: what.observed, ...what.details }),
    ],
  )
  await db.query(
    `UPDATE emergency_terminations SET hr_status = 'discrepancy', hr_status_at = $2, discrepancy_task_id = COALESCE(discrepancy_task_id, $3) WHERE id = $1 AND hr_status = 'unconfirmed'`,
    [row.id, at, rows[0]?.id ?? null],
  )
  return rows[0]?.id
}

/** HR confirmed after all: the discrepancy task has nothing left to decide. */
export async function closeDiscrepancyTask(db: Queryable, row: EmergencyRow, at: Date): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE manual_tasks SET status = 'cancelled', attestation = jsonb_build_object('cancelled', 'HR confirmed the termination', 'at', $2::timestamptz)
      WHERE idempotency_key = $1 AND status = 'open' RETURNING id`,
    [`hr_discrepancy:${row.id}`, at],
  )
  return rows[0]?.id
}

/** The leaver case of this employment. */
export async function leaverCaseOf(db: Queryable, employeeId: string, generation: number): Promise<{ id: string; status: string; effective_at: Date | null; deadline_at: Date | null } | undefined> {
  const { rows } = await db.query<{ id: string; status: string; effective_at: Date | null; deadline_at: Date | null }>(
    `SELECT id, status, effective_at, deadline_at FROM cases WHERE employee_id = $1 AND kind = 'leaver' AND generation = $2`,
    [employeeId, generation],
  )
  return rows[0]
}

/** The employee of an HR record and its current employment (reconciliation's check). */
export async function employeeBySource(db: Queryable, source: string, externalId: string): Promise<{ id: string; generation: number } | undefined> {
  const { rows } = await db.query<{ id: string; generation: number }>('SELECT id, generation FROM employees WHERE source = $1 AND external_id = $2', [source, externalId])
  return rows[0]
}
