/**
 * Residual-access tasks (the manual_tasks rows of kind `residual`). The manual provisioner owns the
 * other kinds; these are written by the lifecycle engine, inside the transaction that recorded the
 * residual access, so an item can never be recorded without its task.
 */
import { randomUUID } from 'node:crypto'
import type { Queryable } from './pool.ts'
import type { ResidualAccess } from '../../provisioners/types.ts'

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
