/**
 * `exceptions.timer`: delayed pg-boss jobs (startAfter) that tell an exception's approval machine
 * its moment has come: the request expiry (answer_due), the start of an approved exception and its
 * end. They survive restarts because they are rows in PostgreSQL; a timer the machine no longer
 * holds (cancelled by a decision or a revocation) is recognised by its id and ignored.
 */
import { z } from 'zod'
import type { Boss } from '../jobs/boss.ts'
import type { Config } from '../config/index.ts'
import { ensureQueue } from '../jobs/queues.ts'

export const EXCEPTION_TIMER_QUEUE = 'exceptions.timer'

export const exceptionTimerJobSchema = z.object({
  correlationId: z.string().min(1),
  exceptionId: z.uuid(),
  timerId: z.string().min(1),
  timer: z.enum(['answer_due', 'start', 'end']),
})
export type ExceptionTimerJob = z.output<typeof exceptionTimerJobSchema>

type QueueOptions = NonNullable<Parameters<Boss['createQueue']>[1]>

/** Same retry policy as the lifecycle timers: a failed step (database hiccup) is tried again. */
export async function createExceptionQueues(boss: Boss, config: Config): Promise<void> {
  await ensureQueue(boss, config, EXCEPTION_TIMER_QUEUE, {
    retryLimit: config.queue.retryLimit,
    retryDelay: config.queue.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: config.queue.retryDelayMaxSeconds,
    expireInSeconds: config.queue.expireInSeconds,
    notify: true,
  } as QueueOptions)
}
