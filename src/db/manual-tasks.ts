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
  if (now.terminated && now.effective) {
    await cancel('the person is leaving: the revocation supersedes it', `t.system LIKE 'manual:%' AND t.employee_external_id = $2 AND t.kind IN ('provision', 'enable', 'change')`, [
      employee.accountKey,
    ])
  }
  if (!now.terminated) {
    await cancel(
      'the termination was rescinded',
      `t.system LIKE 'manual:%' AND t.employee_external_id = $2 AND t.kind = 'revoke'
         AND EXISTS (SELECT 1 FROM cases c WHERE c.employee_id = $3 AND c.kind = 'leaver' AND c.generation = $4 AND c.status = 'cancelled' AND t.created_at >= c.opened_at)`,
      [employee.accountKey, employee.id, employee.generation],
    )
    await cancel(
      'the termination was rescinded',
      `t.kind = 'residual' AND t.employee_id = $2 AND EXISTS (SELECT 1 FROM cases c WHERE c.id = t.case_id AND c.status = 'cancelled')`,
      [employee.id],
    )
  }
  return out
}
