/**
 * The four-hour clock of every leaver case. When a case opens (or its deadline changes), one
 * delayed job per ladder step is queued for the moment it is due: effective moment + fraction of
 * the budget. A case HR reported late gets its overdue steps at once. Each step is sent at most
 * once per case (case_escalations), and only while some system is still at risk: systems that
 * are verified, or waiting on an approved exception, do not escalate. A breach is recorded on
 * the case and in the audit trail; the work goes on until every system is verified.
 */
import { z } from 'zod'
import type { Boss } from '../jobs/boss.ts'
import { inTransaction } from '../jobs/boss.ts'
import { withTransaction, type Pool, type PoolClient } from '../db/pool.ts'
import { escalationSystemsOf, insertEscalation, lockCaseForEscalation, markCaseBreached, type EscalationCaseRow } from './store.ts'
import type { Logger } from '../log.ts'
import { appendAudit } from '../audit/index.ts'
import { SYSTEM_ACTOR } from '../lifecycle/engine.ts'
import { notifyJobs, resolveRecipients, type EscalationStep, type NotifyConfig } from '../notify/index.ts'
import { escalationMoments, escalationNotification } from './ladder.ts'
import { leaverSystemAtRisk } from './health.ts'
import { uuidV5 } from '../util/ids.ts'
import { SLA_ESCALATION_QUEUE } from '../jobs/queues.ts'
import type { WorkerDefinition } from '../jobs/runtime.ts'

export const escalationJobSchema = z.object({
  caseId: z.uuid(),
  step: z.string(),
  deadlineAt: z.string(),
  correlationId: z.string(),
})
export type EscalationJob = z.infer<typeof escalationJobSchema>

/** Queue the ladder for a case; ids derive from case, step and deadline, so re-queuing is a no-op. */
export async function scheduleEscalations(
  client: PoolClient,
  boss: Boss,
  steps: readonly EscalationStep[],
  kase: { id: string; effectiveAt: string; deadlineAt: string; correlationId: string },
): Promise<void> {
  if (Date.parse(kase.deadlineAt) <= Date.parse(kase.effectiveAt)) return
  // Every step in one multi-row insert (ids derived from their meaning: a re-insert is skipped).
  const jobs = escalationMoments({ effectiveAt: kase.effectiveAt, deadlineAt: kase.deadlineAt, steps }).map((m) => ({
    id: uuidV5(`escalation:${kase.id}:${m.step.name}:${kase.deadlineAt}`),
    data: { caseId: kase.id, step: m.step.name, deadlineAt: kase.deadlineAt, correlationId: kase.correlationId } satisfies EscalationJob,
    startAfter: new Date(m.dueAt),
  }))
  if (jobs.length > 0) await boss.insert(SLA_ESCALATION_QUEUE, jobs, { db: inTransaction(client) })
}

export interface EscalationDeps {
  pool: Pool
  boss: Boss
  log: Logger
  notify: () => NotifyConfig
  now: () => Date
}

export function escalationWorker(deps: EscalationDeps): WorkerDefinition<typeof escalationJobSchema> {
  return {
    queue: SLA_ESCALATION_QUEUE,
    schema: escalationJobSchema,
    handler: async (data, job) => {
      const outcome = await withTransaction(deps.pool, async (client) => escalate(deps, client, await lockCaseForEscalation(client, data.caseId), data))
      if (outcome !== 'sent') job.log.debug({ caseId: data.caseId, step: data.step, outcome }, 'escalation not sent')
      return { outcome }
    },
  }
}

async function escalate(deps: EscalationDeps, client: PoolClient, kase: EscalationCaseRow | undefined, data: EscalationJob): Promise<string> {
  if (!kase) return 'case_not_found'
  if (kase.status !== 'open' && kase.status !== 'scheduled') return `case_${kase.status}`
  if (kase.deadline_at.toISOString() !== new Date(data.deadlineAt).toISOString()) return 'deadline_changed'
  const steps = deps.notify().escalation.steps
  const step = steps.find((s) => s.name === data.step)
  if (!step) return 'step_not_configured'
  const systems = await escalationSystemsOf(client, kase.id)
  const atRisk = systems.filter(leaverSystemAtRisk)
  if (systems.length > 0 && atRisk.length === 0) return 'nothing_at_risk'
  const moment = escalationMoments({ effectiveAt: kase.effective_at, deadlineAt: kase.deadline_at, steps }).find((m) => m.step.name === step.name)!
  const inserted = await insertEscalation(client, { caseId: kase.id, step: step.name, dueAt: moment.dueAt, deadlineAt: kase.deadline_at, openSystems: atRisk.map((s) => s.system) })
  if (!inserted) return 'already_sent'
  const notification = escalationNotification(
    {
      caseId: kase.id,
      employeeId: kase.employee_id,
      ...(kase.display_name ? { employeeName: kase.display_name } : {}),
      effectiveAt: kase.effective_at,
      deadlineAt: kase.deadline_at,
      now: deps.now(),
      systems: systems.map((s) => ({
        system: s.system,
        status: s.status,
        verified: Boolean(s.verified_at) || s.status === 'absent',
        ...(s.last_error?.message ? { lastError: { kind: s.last_error.kind, message: s.last_error.message, at: s.last_error.at } } : {}),
      })),
    },
    step,
  )
  const config = deps.notify()
  // Email recipients per step: the leaver's manager (HR profile), the owners of the systems still
  // at risk, the approver group, fixed addresses; what could not be resolved travels with the job.
  const email = config.email
    ? resolveRecipients(step.recipients, { managerEmail: kase.manager_email ?? undefined, systems: atRisk.map((s) => s.system) }, config.email)
    : undefined
  for (const j of notifyJobs(notification, step.channels, { config, correlationId: data.correlationId, ...(email ? { email: { to: email.to, routing: email.notes } } : {}) })) {
    await deps.boss.send(j.name, j.data as object, { ...j.options, db: inTransaction(client) })
  }
  const breach = step.atFraction >= 1
  if (breach) await markCaseBreached(client, kase.id, deps.now())
  await appendAudit(client, [
    {
      actor: SYSTEM_ACTOR,
      action: breach ? 'sla.breached' : 'sla.escalated',
      subject: { employeeId: kase.employee_id },
      correlationId: data.correlationId,
      details: { caseId: kase.id, step: step.name, dueAt: moment.dueAt, deadlineAt: kase.deadline_at.toISOString(), systemsAtRisk: atRisk.map((s) => s.system), channels: step.channels, ...(email && step.channels.includes('email') ? { emailRecipients: email.to.length, emailRouting: email.notes } : {}) },
    },
  ])
  deps.log.warn({ caseId: kase.id, employeeId: kase.employee_id, step: step.name, systems: atRisk.map((s) => s.system) }, breach ? 'leaver SLA breached' : 'leaver SLA escalated')
  return 'sent'
}
