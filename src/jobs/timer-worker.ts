/**
 * `lifecycle.timer`: delayed pg-boss jobs (startAfter) that tell a machine its moment has come
 * (provision before the start date, enable on day one, terminate at the effective moment, a
 * leave, an exception's end). Timers survive restarts because they are rows in PostgreSQL; a
 * timer made stale by a changed date carries an id the machine no longer holds and is ignored.
 */
import { z } from 'zod'
import { TIMER_KINDS } from '../../state-machines/lifecycle-types.ts'
import { applyEvent, EmployeeNotFoundError, SYSTEM_ACTOR, type EngineDeps } from '../lifecycle/engine.ts'
import { TIMER_QUEUE } from './queues.ts'
import type { WorkerDefinition } from './runtime.ts'

export const timerJobSchema = z.object({
  correlationId: z.string(),
  employeeId: z.uuid(),
  timerId: z.string(),
  timer: z.enum(TIMER_KINDS),
})

export function timerWorker(engine: EngineDeps): WorkerDefinition<typeof timerJobSchema> {
  return {
    queue: TIMER_QUEUE,
    schema: timerJobSchema,
    handler: async (data, job) => {
      try {
        const result = await applyEvent(
          engine,
          data.employeeId,
          { type: 'timer.fired', timerId: data.timerId, timer: data.timer, now: engine.now().toISOString() },
          { actor: SYSTEM_ACTOR, correlationId: data.correlationId },
        )
        return { from: result.from, to: result.to, jobs: result.jobsEnqueued }
      } catch (err) {
        if (err instanceof EmployeeNotFoundError) {
          job.log.warn({ employeeId: data.employeeId }, 'timer for an employee that no longer exists')
          return { skipped: 'employee_not_found' }
        }
        throw err
      }
    },
  }
}
