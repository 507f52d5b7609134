/** The `exceptions.timer` worker: one approval-machine step per fired timer. */
import type { WorkerDefinition } from '../jobs/runtime.ts'
import { EXCEPTION_TIMER_QUEUE, exceptionTimerJobSchema } from './queue.ts'
import { fireExceptionTimer, type ExceptionDeps } from './service.ts'
import { MachineVersionError } from '../../state-machines/upgrades.ts'
import { NEWER_MACHINE_WAIT_MS } from '../jobs/timer-worker.ts'
import { uuidV5 } from '../util/ids.ts'

export function exceptionTimerWorker(deps: ExceptionDeps): WorkerDefinition<typeof exceptionTimerJobSchema> {
  return {
    queue: EXCEPTION_TIMER_QUEUE,
    schema: exceptionTimerJobSchema,
    handler: async (data, job) => {
      let outcome
      try {
        outcome = await fireExceptionTimer(deps, data)
      } catch (err) {
        if (!(err instanceof MachineVersionError && err.problem === 'newer')) throw err
        // A rolling upgrade: a newer worker wrote this exception (or its employee). An `end` timer
        // must not run out of retries meanwhile (the exception would never end), so it is sent again
        // for later, once per job (the id derives from this job's), and a newer worker takes it.
        await deps.engine.boss.send(EXCEPTION_TIMER_QUEUE, data, {
          id: uuidV5(`exception-timer:${data.timerId}:after:${job.jobId}`),
          startAfter: new Date(deps.engine.now().getTime() + NEWER_MACHINE_WAIT_MS),
        })
        job.log.info({ exceptionId: data.exceptionId, timer: data.timer }, 'exception timer deferred: a newer machine version wrote it')
        return { outcome: 'deferred_newer_machine_version' }
      }
      if (outcome !== 'applied') job.log.debug({ exceptionId: data.exceptionId, timer: data.timer, outcome }, 'exception timer changed nothing')
      return { outcome }
    },
  }
}
