/**
 * Runtime SQL of the SLA escalation ladder (escalation.ts): lock a case, read its systems, record
 * a step once, mark the breach. Moved here from src/db/cases.ts so the SLA folder owns its rows.
 */
import type { Queryable } from '../db/pool.ts'

/** A leaver case as the escalation step reads it, locked with its employee's name and manager. */
export interface EscalationCaseRow {
  id: string
  employee_id: string
  status: string
  effective_at: Date
  deadline_at: Date
  display_name: string | null
  manager_email: string | null
}

/** Lock the case (FOR UPDATE OF the case row, in the caller's transaction). */
export async function lockCaseForEscalation(db: Queryable, caseId: string): Promise<EscalationCaseRow | undefined> {
  const { rows } = await db.query<EscalationCaseRow>(
    `SELECT c.id, c.employee_id, c.status, c.effective_at, c.deadline_at, e.display_name, e.profile->>'managerEmail' AS manager_email
             FROM cases c JOIN employees e ON e.id = c.employee_id WHERE c.id = $1 FOR UPDATE OF c`,
    [caseId],
  )
  return rows[0]
}

export interface EscalationSystemRow {
  system: string
  status: string
  verified_at: Date | null
  waiting_on: string | null
  last_error: { kind?: string; message?: string; at?: string } | null
}

export async function escalationSystemsOf(db: Queryable, caseId: string): Promise<EscalationSystemRow[]> {
  const { rows: systems } = await db.query<EscalationSystemRow>('SELECT system, status, verified_at, waiting_on, last_error FROM case_systems WHERE case_id = $1 ORDER BY system', [caseId])
  return systems
}

/** Record that a step was sent; false when it was recorded before (a retried job). */
export async function insertEscalation(db: Queryable, e: { caseId: string; step: string; dueAt: string; deadlineAt: Date; openSystems: string[] }): Promise<boolean> {
  const inserted = await db.query(`INSERT INTO case_escalations (case_id, step, due_at, deadline_at, open_systems) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [
    e.caseId,
    e.step,
    e.dueAt,
    e.deadlineAt,
    JSON.stringify(e.openSystems),
  ])
  return inserted.rowCount !== 0
}

/** The first breach moment is kept. */
export async function markCaseBreached(db: Queryable, caseId: string, at: Date): Promise<void> {
  await db.query('UPDATE cases SET breached_at = COALESCE(breached_at, $2) WHERE id = $1', [caseId, at])
}
