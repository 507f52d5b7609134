/** The `exceptions.timer` worker: one approval-machine step per fired timer. */
import type { WorkerDefinition } from '../jobs/runtime.ts'
import { EXCEPTION_TIMER_QUEUE, exceptionTimerJobSchema } from './queue.ts'
import { fireExceptionTimer, type ExceptionDeps } from './service.ts'

export function exceptionTimerWorker(deps: ExceptionDeps): WorkerDefinition<typeof exceptionTimerJobSchema> {
  return {
    queue: EXCEPTION_TIMER_QUEUE,
    schema: exceptionTimerJobSchema,
    handler: async (data, job) => {
      const outcome = await fireExceptionTimer(deps, data)
      if (outcome !== 'applied') job.log.debug({ exceptionId: data.exceptionId, timer: data.timer, outcome }, 'exception timer changed nothing')
      return { outcome }
    },
  }
}
