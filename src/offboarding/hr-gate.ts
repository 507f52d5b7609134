/**
 * HR's word after an emergency termination. The engine asks this, under the employee's lock and
 * before the machine sees an HR event, for a person cut off by emergency off-boarding:
 *
 * - HR's own `employee.terminated` → the request is `confirmed` by HR (audited); an open
 *   discrepancy task has nothing left to decide and is cancelled.
 * - An event that would give access back (`employee.hired`, `employee.rehired`,
 *   `employee.termination_rescinded`) while HR has not confirmed the cut, or while a discrepancy
 *   task is open → NOT applied (never a silent re-enable): a discrepancy task for a person.
 *   A rescind is held even after HR confirmed: the cut was security's decision, not only HR's.
 *   Once a person has completed the task, HR's next word applies as usual.
 * - An event that says the person still works (`employee.updated`, a leave) while unconfirmed →
 *   applied as usual (the machine holds a leaver's updates for a rehire, it restores nothing) and
 *   a discrepancy task for a person.
 *
 * HR reconciliation finding the person active in the roster raises the same discrepancy
 * (rosterShowsEmployed, called from src/jobs/hr-reconcile.ts).
 */
import type { AuditEntryInput } from '../audit/index.ts'
import type { Queryable } from '../db/pool.ts'
import type { LifecycleEvent } from '../../state-machines/lifecycle-types.ts'
import { appliedEmergencyOf, closeDiscrepancyTask, employeeBySource, markConfirmed, raiseDiscrepancy, type EmergencyRow } from './store.ts'

/** The source event id prefix of an emergency termination: the gate tells the cut from HR's own word. */
export const EMERGENCY_EVENT_PREFIX = 'emergency:'

export interface GateResult {
  /** Set: do not send the event to the machine; the reason is the HR event's outcome. */
  block?: string
  audit: AuditEntryInput[]
}

const RESTORING = new Set(['employee.hired', 'employee.rehired', 'employee.termination_rescinded'])
const STILL_EMPLOYED = new Set(['employee.updated', 'employee.leave_started', 'employee.leave_ended'])

function discrepancyAudit(row: EmergencyRow, taskId: string, observed: string, correlationId: string, extra: Record<string, unknown>): AuditEntryInput {
  return {
    actor: { type: 'system', id: 'tenure' },
    action: 'offboarding.hr_discrepancy',
    subject: { employeeId: row.employee_id },
    correlationId,
    details: { emergencyTerminationId: row.id, taskId, observed, accessKeptCut: true, ...extra },
  }
}

export async function emergencyHrGate(db: Queryable, input: { employeeId: string; generation: number | undefined; event: LifecycleEvent; now: Date; correlationId: string }): Promise<GateResult | undefined> {
  const { event } = input
  if (!('hr' in event)) return undefined
  const hr = event.hr
  if (hr.sourceEventId.startsWith(EMERGENCY_EVENT_PREFIX)) return undefined
  const row = await appliedEmergencyOf(db, input.employeeId, input.generation)
  if (!row) return undefined
  const audit: AuditEntryInput[] = []
  const facts = { hrEventId: hr.eventId, hrEventType: hr.type, source: hr.source, foundBy: hr.foundBy, occurredAt: hr.occurredAt }

  if (hr.type === 'employee.terminated') {
    if (await markConfirmed(db, row.id, input.now, hr.eventId)) {
      const cancelled = await closeDiscrepancyTask(db, row, input.now)
      audit.push({
        actor: { type: 'hr_source', id: hr.source },
        action: 'offboarding.emergency_confirmed_by_hr',
        subject: { employeeId: row.employee_id },
        correlationId: input.correlationId,
        details: {
          emergencyTerminationId: row.id,
          previously: row.hr_status,
          effectiveDate: hr.effectiveDate ?? null,
          effectiveAt: hr.effectiveAt ?? null,
          discrepancyTaskCancelled: cancelled ?? null,
          ...facts,
        },
      })
    }
    return { audit }
  }

  const taskOpen = row.discrepancy_task_status === 'open'
  const personDecided = row.discrepancy_task_status === 'completed'
  if (RESTORING.has(hr.type)) {
    const holds = hr.type === 'employee.termination_rescinded' ? !personDecided : row.hr_status !== 'confirmed' && !personDecided
    if (!holds && !taskOpen) return undefined
    const observed = hr.type === 'employee.termination_rescinded' ? 'rescinded the termination' : `sent ${hr.type} (the person employed)`
    const taskId = await raiseDiscrepancy(db, row, input.now, { hrEventId: hr.eventId, observed, details: facts })
    audit.push(discrepancyAudit(row, taskId ?? row.discrepancy_task_id ?? '', observed, input.correlationId, { ...facts, held: true, taskRaised: taskId !== undefined }))
    return { block: `emergency_discrepancy: ${hr.type} not applied after emergency termination ${row.id}; access stays cut until a person completes the discrepancy task`, audit }
  }

  if (STILL_EMPLOYED.has(hr.type) && row.hr_status === 'unconfirmed') {
    const observed = `sent ${hr.type} without a termination (the person still employed)`
    const taskId = await raiseDiscrepancy(db, row, input.now, { hrEventId: hr.eventId, observed, details: facts })
    if (taskId) audit.push(discrepancyAudit(row, taskId, observed, input.correlationId, { ...facts, held: false }))
  }
  return { audit }
}

/**
 * HR reconciliation read the person's roster record and it does not say terminated: if security
 * cut them off and HR has not confirmed it, that is a discrepancy for a person (raised once).
 */
export async function rosterShowsEmployed(db: Queryable, input: { source: string; externalId: string; employmentStatus: string; now: Date; correlationId: string }): Promise<AuditEntryInput[]> {
  const employee = await employeeBySource(db, input.source, input.externalId)
  if (!employee) return []
  const row = await appliedEmergencyOf(db, employee.id, employee.generation)
  if (!row || row.hr_status !== 'unconfirmed') return []
  const observed = `reconciliation found the person ${input.employmentStatus} in the HR roster`
  const taskId = await raiseDiscrepancy(db, row, input.now, { hrEventId: null, observed, details: { source: input.source, foundBy: 'reconciliation', employmentStatus: input.employmentStatus } })
  return taskId ? [discrepancyAudit(row, taskId, observed, input.correlationId, { source: input.source, foundBy: 'reconciliation', employmentStatus: input.employmentStatus })] : []
}
