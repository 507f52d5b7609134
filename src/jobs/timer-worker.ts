/**
 * `lifecycle.timer`: delayed pg-boss jobs (startAfter) that tell a machine its moment has come
 * (provision before the start date, enable on day one, terminate at the effective moment, a
 * leave, an exception's end). Timers survive restarts because they are rows in PostgreSQL; a
 * timer made stale by a changed date carries an id the machine no longer holds and is ignored.
 */
import { applyEvent, EmployeeNotFoundError, SYSTEM_ACTOR, type EngineDeps } from '../lifecycle/engine.ts'
import { TIMER_QUEUE } from './queues.ts'
import { MachineVersionError } from '../../state-machines/upgrades.ts'
import { uuidV5 } from '../util/ids.ts'
import type { WorkerDefinition } from './runtime.ts'
import { timerJobSchema } from './payloads.ts'

/** How long an old worker in a rolling upgrade defers a timer whose employee a newer machine wrote. */
export const NEWER_MACHINE_WAIT_MS = 30_000

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
        if (err instanceof MachineVersionError && err.problem === 'newer') {
          // A rolling upgrade: a newer worker wrote this employee's snapshot. A timer must not run
          // out of retries meanwhile (a lost `terminate` is a leaver never cut off), so it is sent
          // again for later, once per job (the id derives from this job's), and a newer worker takes it.
          await engine.boss.send(TIMER_QUEUE, data, { id: uuidV5(`timer:${data.timerId}:after:${job.jobId}`), startAfter: new Date(engine.now().getTime() + NEWER_MACHINE_WAIT_MS) })
          job.log.info({ employeeId: data.employeeId }, 'timer deferred: a newer machine version wrote this employee')
          return { deferred: 'newer_machine_version' }
        }
        if (err instanceof EmployeeNotFoundError) {
          job.log.warn({ employeeId: data.employeeId }, 'timer for an employee that no longer exists')
          return { skipped: 'employee_not_found' }
        }
        throw err
      }
    },
  }
}
