/**
 * Residual-access tasks (the manual_tasks rows of kind `residual`). The manual provisioner owns the
 * other kinds; these are written by the lifecycle engine, inside the transaction that recorded the
 * residual access, so an item can never be recorded without its task.
 */
import { randomUUID } from 'node:crypto'
import type { Queryable } from './pool.ts'
import type { ResidualAccess } from '../domain/access.ts'

export interface ResidualTaskInput {
  employeeId: string
  externalId: string
  generation: number
  system: string
  item: ResidualAccess
  ownerGroup: string
  caseId: string | null
  deadlineAt: string | null
}

/** The key that makes one task per residual item, however often the employee is re-projected. */
export function residualTaskKey(t: Pick<ResidualTaskInput, 'employeeId' | 'system' | 'generation' | 'item'>): string {
  return `residual:${t.employeeId}:${t.system}:g${t.generation}:${t.item.kind}:${t.item.id}`
}

/** Insert the task for each item unless it exists; returns the tasks created now. */
export async function ensureResidualTasks(db: Queryable, tasks: ResidualTaskInput[]): Promise<Array<ResidualTaskInput & { id: string }>> {
  if (tasks.length === 0) return []
  const created: Array<ResidualTaskInput & { id: string }> = []
  for (const t of tasks) {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO manual_tasks (id, system, employee_external_id, employee_id, case_id, kind, idempotency_key, owner_group, title, instructions, details, deadline_at)
       VALUES ($1, $2, $3, $4, $5, 'residual', $6, $7, $8, $9, $10, $11)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id`,
      [
        randomUUID(),
        t.system,
        t.externalId,
        t.employeeId,
        t.caseId,
        residualTaskKey(t),
        t.ownerGroup,
        `Residual access in ${t.system}: ${t.item.kind} ${t.item.id}`,
        `Tenure could not remove this: ${t.item.reason}. Remove it by hand and complete the task with resolution "removed", ` +
          'or keep it under an approved exception (retain_account, legal_hold, extra_access) and complete it with resolution "accepted" and that exception\'s id.',
        JSON.stringify({ residual: t.item }),
        t.deadlineAt,
      ],
    )
    if (rows[0]) created.push({ ...t, id: rows[0].id })
  }
  return created
}

export interface ResidualDecision {
  taskId: string
  system: string
  kind: string
  id: string
  status: 'open' | 'completed' | 'cancelled'
  resolution: 'removed' | 'accepted' | null
  exceptionId: string | null
  completedBy: string | null
  completedAt: Date | null
}

/** The residual tasks of some cases, to show each residual item with the decision taken on it. */
export async function residualDecisions(db: Queryable, caseIds: string[]): Promise<Map<string, ResidualDecision[]>> {
  const out = new Map<string, ResidualDecision[]>()
  if (caseIds.length === 0) return out
  const { rows } = await db.query<{
    id: string
    case_id: string
    system: string
    details: { residual?: { kind?: string; id?: string } }
    status: ResidualDecision['status']
    resolution: ResidualDecision['resolution']
    exception_id: string | null
    completed_by: string | null
    completed_at: Date | null
  }>(
    `SELECT id, case_id, system, details, status, resolution, exception_id, completed_by, completed_at
       FROM manual_tasks WHERE kind = 'residual' AND case_id = ANY($1::uuid[]) ORDER BY created_at`,
    [caseIds],
  )
  for (const r of rows) {
    const list = out.get(r.case_id) ?? []
    list.push({
      taskId: r.id,
      system: r.system,
      kind: String(r.details.residual?.kind ?? ''),
      id: String(r.details.residual?.id ?? ''),
      status: r.status,
      resolution: r.resolution,
      exceptionId: r.exception_id,
      completedBy: r.completed_by,
      completedAt: r.completed_at,
    })
    out.set(r.case_id, list)
  }
  return out
}

export interface CancelledTask {
  id: string
  system: string
  kind: string
  reason: string
}

/**
 * Tasks nobody should do any more close themselves (status `cancelled`, the reason in
 * `attestation.cancelled`), in the transaction that made them stale:
 * - a leaver whose termination took effect: open provision, enable and change tasks of their
 *   systems without an API (the revocation task supersedes them);
 * - a rescinded termination (no termination any more): the open revocation tasks created while the
 *   cancelled leaver case was open, and the open residual-access tasks of that case.
 * Residual tasks read their deadline from the case (GET /api/v1/tasks), so a deadline moved by
 * an SLA waiver needs no copy here.
 */
export async function closeStaleTasks(
  db: Queryable,
  employee: { id: string; accountKey: string; generation: number },
  now: { terminated: boolean; effective: boolean },
  /** Which look-ups can find anything (the engine knows from the snapshot): manual tasks, residual tasks. */
  scope: { manual: boolean; residual: boolean } = { manual: true, residual: true },
): Promise<CancelledTask[]> {
  const out: CancelledTask[] = []
  const cancel = async (reason: string, where: string, params: unknown[]) => {
    const { rows } = await db.query<{ id: string; system: string; kind: string }>(
      `UPDATE manual_tasks t SET status = 'cancelled', attestation = jsonb_build_object('cancelled', $1::text, 'at', now())
        WHERE t.status = 'open' AND ${where}
        RETURNING t.id, t.system, t.kind`,
      [reason, ...params],
    )
    out.push(...rows.map((r) => ({ ...r, reason })))
  }
  if (now.terminated && now.effective && scope.manual) {
    await cancel('the person is leaving: the revocation supersedes it', `t.system LIKE 'manual:%' AND t.employee_external_id = $2 AND t.kind IN ('provision', 'enable', 'change')`, [
      employee.accountKey,
    ])
  }
  if (!now.terminated && scope.manual) {
    await cancel(
      'the termination was rescinded',
      `t.system LIKE 'manual:%' AND t.employee_external_id = $2 AND t.kind = 'revoke'
         AND EXISTS (SELECT 1 FROM cases c WHERE c.employee_id = $3 AND c.kind = 'leaver' AND c.generation = $4 AND c.status = 'cancelled' AND t.created_at >= c.opened_at)`,
      [employee.accountKey, employee.id, employee.generation],
    )
  }
  if (!now.terminated && scope.residual) {
    await cancel(
      'the termination was rescinded',
      `t.kind = 'residual' AND t.employee_id = $2 AND EXISTS (SELECT 1 FROM cases c WHERE c.id = t.case_id AND c.status = 'cancelled')`,
      [employee.id],
    )
  }
  return out
}

/**
 * The newest provision task of each manual system for this generation of the employee.
 * `accountKey`: the task's employee (its "account"); `employeeKey`: the prefix of its job keys.
 */
export async function latestManualProvisionTasks(
  db: Queryable,
  k: { accountKey: string; systems: string[]; generation: number; employeeKey: string },
): Promise<Array<{ system: string; status: string; completed_at: Date | null }>> {
  const { rows } = await db.query<{ system: string; status: string; completed_at: Date | null }>(
    `SELECT DISTINCT ON (system) system, status, completed_at FROM manual_tasks
      WHERE employee_external_id = $1 AND kind = 'provision' AND system = ANY($2::text[])
        AND starts_with(idempotency_key, $4 || ':' || system || ':provision:g' || $3::text || ':')
      ORDER BY system, created_at DESC`,
    [k.accountKey, k.systems, String(k.generation), k.employeeKey],
  )
  return rows
}

/** A manual_tasks row. */
export interface ManualTaskRow {
  id: string
  system: string
  employee_external_id: string
  employee_id: string | null
  case_id: string | null
  kind: 'provision' | 'revoke' | 'suspend' | 'enable' | 'change' | 'residual'
  idempotency_key: string
  owner_group: string
  title: string
  instructions: string | null
  details: { residual?: unknown } & Record<string, unknown>
  status: 'open' | 'completed' | 'cancelled'
  deadline_at: Date | null
  created_at: Date
  completed_at: Date | null
  completed_by: string | null
  attestation: unknown
  resolution: 'removed' | 'accepted' | null
  exception_id: string | null
}

/** A task as the API lists it: with its employee (found through the account for a manual system) and its case's deadline. */
export interface TaskListRow extends ManualTaskRow {
  display_name: string | null
  case_deadline_at: Date | null
}

// A manual system's account id is the employee's HR id (provisioners/manual); residual tasks name
// the employee themselves.
// A revocation or residual task's deadline is its case's, read now: an SLA waiver that moved the
// case's deadline moves the task's too (the copy stored at creation is only a fallback).
const TASK_SELECT = `
SELECT t.*, e.id AS employee_id, e.display_name,
       CASE WHEN t.kind = 'residual' AND t.case_id IS NOT NULL
            THEN (SELECT COALESCE(cs.deadline_at, c.deadline_at) FROM cases c LEFT JOIN case_systems cs ON cs.case_id = c.id AND cs.system = t.system WHERE c.id = t.case_id)
            ELSE (SELECT cs.deadline_at FROM cases c JOIN case_systems cs ON cs.case_id = c.id
                   WHERE c.employee_id = e.id AND c.kind = 'leaver' AND cs.system = t.system ORDER BY c.generation DESC LIMIT 1) END AS case_deadline_at
  FROM manual_tasks t
  LEFT JOIN employee_accounts ea ON t.employee_id IS NULL AND ea.system = t.system AND ea.account_id = t.employee_external_id
  LEFT JOIN employees e ON e.id = COALESCE(t.employee_id, ea.employee_id)`

export interface TaskFilter {
  status?: ManualTaskRow['status'] | undefined
  kind?: ManualTaskRow['kind'] | undefined
  ownerGroup?: string | undefined
  system?: string | undefined
  employeeId?: string | undefined
  sort: 'deadline' | 'created' | '-created'
  limit: number
  offset: number
}

/** A page of tasks and how many match the filters. */
export async function listTasks(db: Queryable, f: TaskFilter): Promise<{ rows: TaskListRow[]; total: number }> {
  const params: unknown[] = []
  const where: string[] = []
  if (f.status) where.push(`t.status = $${params.push(f.status)}`)
  if (f.kind) where.push(`t.kind = $${params.push(f.kind)}`)
  if (f.ownerGroup) where.push(`t.owner_group = $${params.push(f.ownerGroup)}`)
  if (f.system) where.push(`t.system = $${params.push(f.system)}`)
  if (f.employeeId) where.push(`e.id = $${params.push(f.employeeId)}`)
  const filter = where.length ? `WHERE ${where.join(' AND ')}` : ''
  const order =
    f.sort === 'created' ? 't.created_at ASC, t.id' : f.sort === '-created' ? 't.created_at DESC, t.id' : `(t.status = 'open') DESC, case_deadline_at ASC NULLS LAST, t.created_at, t.id`
  const [{ rows }, count] = await Promise.all([
    db.query<TaskListRow>(`${TASK_SELECT} ${filter} ORDER BY ${order} LIMIT $${params.length + 1} OFFSET $${params.length + 2}`, [...params, f.limit, f.offset]),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${TASK_SELECT} ${filter}) x`, params),
  ])
  return { rows, total: count.rows[0]!.n }
}

export async function taskById(db: Queryable, id: string): Promise<TaskListRow | undefined> {
  const out = await db.query<TaskListRow>(`${TASK_SELECT} WHERE t.id = $1`, [id])
  return out.rows[0]
}

/** A task with its employee and the status of that employee's account in the task's system. */
export async function taskWithAccountStatus(db: Queryable, id: string): Promise<(ManualTaskRow & { system_status: string | null }) | undefined> {
  const { rows } = await db.query<ManualTaskRow & { system_status: string | null }>(`SELECT t.*, COALESCE(t.employee_id, ea.employee_id) AS employee_id, ea.status AS system_status FROM manual_tasks t
      LEFT JOIN employee_accounts ea ON ea.system = t.system AND (ea.employee_id = t.employee_id OR (t.employee_id IS NULL AND ea.account_id = t.employee_external_id))
      WHERE t.id = $1`, [id])
  return rows[0]
}

/** Complete an open task; false when it was not open any more. */
export async function completeOpenTask(
  db: Queryable,
  c: { id: string; by: string; attestation: unknown; resolution: string | null; exceptionId: string | null },
): Promise<boolean> {
  const updated = await db.query(
    `UPDATE manual_tasks SET status = 'completed', completed_at = now(), completed_by = $2, attestation = $3, resolution = $4, exception_id = $5
          WHERE id = $1 AND status = 'open'`,
    [c.id, c.by, JSON.stringify(c.attestation), c.resolution, c.exceptionId],
  )
  return updated.rowCount === 1
}

/** Is another residual task of this employee, system and case still open? */
export async function otherOpenResidualTask(db: Queryable, t: { id: string; system: string; employeeId: string | null; caseId: string | null }): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM manual_tasks WHERE kind = 'residual' AND status = 'open' AND id <> $1 AND system = $2 AND employee_id = $3 AND case_id IS NOT DISTINCT FROM $4 LIMIT 1`,
    [t.id, t.system, t.employeeId, t.caseId],
  )
  return rows.length > 0
}

/** The open residual tasks of an employee in a system, oldest first. */
export async function openResidualTaskIds(db: Queryable, employeeId: string, system: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM manual_tasks WHERE kind = 'residual' AND status = 'open' AND employee_id = $1 AND system = $2 ORDER BY created_at`,
    [employeeId, system],
  )
  return rows.map((r) => r.id)
}

// ---------------------------------------------------------------------------------------------
// the manual provisioner's tasks (provisioners/manual)

/** Create the task for this job step unless it exists (same idempotency key); returns its id either way. */
export async function ensureManualTask(
  db: Queryable,
  t: { system: string; employeeExternalId: string; kind: string; idempotencyKey: string; ownerGroup: string; title: string; instructions: string | null; details: Record<string, unknown> },
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO manual_tasks (id, system, employee_external_id, kind, idempotency_key, owner_group, title, instructions, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
       RETURNING id`,
    [randomUUID(), t.system, t.employeeExternalId, t.kind, t.idempotencyKey, t.ownerGroup, t.title, t.instructions, JSON.stringify(t.details)],
  )
  return rows[0]!.id
}

/** The newest revocation task of an employee in a manual system. */
export async function latestRevokeTask(
  db: Queryable,
  system: string,
  employeeExternalId: string,
): Promise<{ id: string; kind: string; status: string; created_at: Date; completed_at: Date | null; employee_external_id: string } | undefined> {
  const { rows } = await db.query<{ id: string; kind: string; status: string; created_at: Date; completed_at: Date | null; employee_external_id: string }>(
    `SELECT id, kind, status, created_at, completed_at, employee_external_id FROM manual_tasks
          WHERE system = $1 AND employee_external_id = $2 AND kind = 'revoke' ORDER BY created_at DESC LIMIT 1`,
    [system, employeeExternalId],
  )
  return rows[0]
}
