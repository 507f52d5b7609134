/**
 * Queue a notification outside the SLA ladder (lifecycle alerts, exceptions, mass-termination
 * holds) in the caller's transaction: routed by notify.routes, one notify job per target. The
 * job ids derive from the notification id, so queuing the same notification twice is a no-op.
 */
import type { Queryable } from '../db/pool.ts'
import { inTransaction, type Boss } from '../jobs/boss.ts'
import type { NotifyConfig } from './config.ts'
import type { Notification } from './model.ts'
import { routeNotification, type RoutingInput } from './routing.ts'
import { managerEmailOf } from './store.ts'
import { notifyJobs, type NotifyJob } from './worker.ts'

export interface EnqueueContext {
  /** Whose manager the `manager` recipient is: looked up in the employee's HR profile. */
  employeeId?: string
  requesterEmail?: string | null
  /** The systems at stake; default: the notification's own system. */
  systems?: readonly string[]
}

export async function enqueueNotification(
  client: Queryable,
  boss: Pick<Boss, 'send'>,
  notification: Notification,
  opts: { config: NotifyConfig; correlationId: string; context?: EnqueueContext },
): Promise<NotifyJob[]> {
  const { config, context = {} } = opts
  const input: Partial<RoutingInput> = {
    ...(context.systems ? { systems: context.systems } : {}),
    ...(context.requesterEmail ? { requesterEmail: context.requesterEmail } : {}),
  }
  // Only read the profile when email will be sent: the other channels carry ids, not addresses.
  if (config.email && context.employeeId) {
    const manager = await managerEmailOf(client, context.employeeId)
    if (manager) input.managerEmail = manager
  }
  const routed = routeNotification(notification, input, config)
  const jobs = notifyJobs(notification, routed.channels, { config, correlationId: opts.correlationId, ...(routed.email ? { email: routed.email } : {}) })
  for (const job of jobs) await boss.send(job.name, job.data as object, { ...job.options, db: inTransaction(client) })
  return jobs
}
