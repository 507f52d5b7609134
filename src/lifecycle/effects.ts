/**
 * The writers of what the machine asked for: jobs and timers go to pg-boss through the event's
 * transaction (job ids are derived from their meaning, so a re-insert after a retry is a no-op),
 * cancelled timers are withdrawn, and notifications go to the composition root's hook.
 */
import type { PoolClient } from '../db/pool.ts'
import { inTransaction } from '../jobs/boss.ts'
import type { AuditEntryInput } from '../audit/index.ts'
import type { LifecycleContext } from '../../state-machines/employee-lifecycle.machine.ts'
import { jobPriority, jobRetryOptions, queueFor, TIMER_QUEUE } from '../jobs/queues.ts'
import { uuidV5 } from '../util/ids.ts'
import { slaDeadline } from '../sla/deadline.ts'
import type { Effects } from './restore.ts'
import type { Actor, EngineDeps } from './engine.ts'
import type { SystemJobData, TimerJobData } from '../jobs/payloads.ts'
import type { EmployeeLockRow } from '../db/employees.ts'
import { DEFAULT_SLA_MINUTES } from '../policy/index.ts'

type Job = { id: string; data: object; priority?: number; startAfter?: Date }
const withoutData = ({ data: _data, ...options }: Job) => options

export interface EffectsContext {
  row: EmployeeLockRow
  ctx: LifecycleContext
  slaMinutes: Record<string, number>
  correlationId: string
  actor: Actor
  now: Date
}

/** Send the jobs and timers, cancel timers, raise notifications; returns the jobs enqueued now and their audit rows. */
export async function writeEffects(deps: EngineDeps, client: PoolClient, effects: Effects, e: EffectsContext): Promise<{ jobsEnqueued: number; audit: AuditEntryInput[] }> {
  const { row, ctx, slaMinutes, correlationId, now } = e
  const subject = { employeeId: row.id }
  const audit: AuditEntryInput[] = []
  const db = inTransaction(client)
  let jobsEnqueued = 0
  // Jobs and timers grouped by queue: a queue with several gets them in one multi-row insert.
  const byQueue = new Map<string, Array<{ job: Job; enqueued?: (id: string) => void }>>()
  const add = (queue: string, job: Job, enqueued?: (id: string) => void) => {
    const list = byQueue.get(queue) ?? []
    list.push(enqueued ? { job, enqueued } : { job })
    byQueue.set(queue, list)
  }
  for (const request of effects.jobs) {
    const deadlineAt = request.deadline ? slaDeadline(request.deadline, slaMinutes[request.system] ?? DEFAULT_SLA_MINUTES) : undefined
    const data: SystemJobData = {
      correlationId,
      employeeId: row.id,
      externalId: row.external_id,
      accountKey: row.account_key,
      source: row.source,
      generation: ctx.generation,
      request,
      ...(ctx.profile ? { profile: { ...ctx.profile, employeeId: row.account_key } } : {}),
      ...(deadlineAt ? { deadlineAt } : {}),
    }
    const job: Job = {
      id: uuidV5(`job:${request.key}`),
      data,
      priority: jobPriority(request, deadlineAt ? new Date(deadlineAt) : undefined, now),
      ...jobRetryOptions(request),
      ...(request.startAfter ? { startAfter: new Date(request.startAfter) } : {}),
    }
    add(queueFor(request), job, (id) => {
      jobsEnqueued += 1
      audit.push({
        actor: e.actor,
        action: 'job.enqueued',
        subject: { ...subject, system: request.system, accountId: request.accountId ?? null },
        correlationId,
        details: { jobId: id, key: request.key, action: request.action, phase: request.phase ?? null, startAfter: request.startAfter ?? null, deadlineAt: deadlineAt ?? null },
      })
    })
  }
  for (const timer of effects.timers) {
    const data: TimerJobData = { correlationId, employeeId: row.id, timerId: timer.timerId, timer: timer.timer }
    add(TIMER_QUEUE, { id: uuidV5(`timer:${timer.timerId}`), data, startAfter: new Date(timer.at) })
  }
  for (const [queue, jobs] of byQueue) {
    // Job ids are derived from their meaning: a re-insert after a retry is skipped, and only the
    // jobs actually inserted are counted and audited.
    const inserted =
      jobs.length === 1
        ? [await deps.boss.send(queue, jobs[0]!.job.data, { ...withoutData(jobs[0]!.job), db })]
        : ((await deps.boss.insert(queue, jobs.map((j) => j.job), { db, returnId: true })) ?? [])
    const ids = new Set(inserted.filter((id): id is string => Boolean(id)))
    for (const j of jobs) if (j.job.id && ids.has(j.job.id)) j.enqueued?.(j.job.id)
  }
  if (effects.cancels.length > 0) {
    // A cancelled timer that still fires is ignored by the machine (stale id); cancelling just
    // keeps the queue tidy. One statement for all of them.
    await deps.boss.cancel(TIMER_QUEUE, effects.cancels.map((timerId) => uuidV5(`timer:${timerId}`)), { db }).catch(() => undefined)
  }
  for (const n of effects.notifies) {
    await deps.onNotify?.(client, {
      ...n,
      employeeId: row.id,
      externalId: row.external_id,
      displayName: ctx.profile ? `${ctx.profile.firstName} ${ctx.profile.lastName}` : undefined,
      correlationId,
    })
  }
  return { jobsEnqueued, audit }
}
