/**
 * `offboarding.expire`: the sweep that expires emergency off-boarding requests nobody approved in
 * time, on a pg-boss cron schedule (every minute, one schedule key, so every process may call
 * scheduleEmergencyExpiry() at start and pg-boss runs each due job once).
 *
 * Without it a request was only marked expired when someone read it, so its requester was never
 * told and the audit trail showed the expiry at whatever moment a person next looked. The sweep
 * does what a read does (service.ts expire: mark, audit once, tell the requester) without one;
 * reads still expire first, so nobody sees a stale `pending` between two sweeps. A minute is the
 * granularity: offboarding.emergency.requestExpiry is set in minutes, and until the sweep runs
 * nobody can approve the request anyway (decisions expire first).
 */
import { z } from 'zod'
import type { Boss } from '../jobs/boss.ts'
import type { Config } from '../config/index.ts'
import { ensureQueue } from '../jobs/queues.ts'
import type { WorkerDefinition } from '../jobs/runtime.ts'
import { expireEmergencyRequests, type OffboardingDeps } from './service.ts'

export const EMERGENCY_EXPIRY_QUEUE = 'offboarding.expire'
/** Every minute (pg-boss cron, UTC). */
export const EMERGENCY_EXPIRY_CRON = '* * * * *'
const SCHEDULE_KEY = 'emergency'

type QueueOptions = NonNullable<Parameters<Boss['createQueue']>[1]>

export async function createOffboardingQueues(boss: Boss, config: Config): Promise<void> {
  await ensureQueue(boss, config, EMERGENCY_EXPIRY_QUEUE, {
    // A failed sweep (database hiccup) is simply the next minute's; a couple of quick retries are enough.
    retryLimit: 2,
    retryDelay: config.queue.retryDelaySeconds,
    expireInSeconds: config.queue.expireInSeconds,
    notify: true,
  } as QueueOptions)
}

export async function scheduleEmergencyExpiry(boss: Boss): Promise<void> {
  await boss.schedule(EMERGENCY_EXPIRY_QUEUE, EMERGENCY_EXPIRY_CRON, {}, { key: SCHEDULE_KEY })
}

const sweepJob = z.object({}).loose()

export function emergencyExpiryWorker(deps: OffboardingDeps): WorkerDefinition<typeof sweepJob> {
  return {
    queue: EMERGENCY_EXPIRY_QUEUE,
    schema: sweepJob,
    handler: async (_data, job) => {
      const expired = await expireEmergencyRequests(deps)
      if (expired > 0) job.log.info({ expired }, 'emergency off-boarding requests expired unapproved')
      return { expired }
    },
  }
}
