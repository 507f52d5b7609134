/**
 * Restoring an employee's machine from its stored snapshot, with the placeholder actions the
 * machine declares replaced by collectors: the machine stays pure, and what it asked for (jobs,
 * timers, audit records, notifications) is written by the engine in the same transaction.
 */
import { createActor } from 'xstate'
import type { Logger } from '../log.ts'
import { employeeLifecycleMachine } from '../../state-machines/employee-lifecycle.machine.ts'
import type { JobRequest, NotifyKind, TimerRequest } from '../../state-machines/lifecycle-types.ts'
import type { HrSource } from '../../state-machines/events.ts'
import { LIFECYCLE_VERSIONING, upgradeSnapshot, type MachineVersioning } from '../../state-machines/upgrades.ts'

/** What the machine asked for while handling one event. */
export interface Effects {
  jobs: JobRequest[]
  timers: TimerRequest[]
  cancels: string[]
  records: Array<{ kind: string; details: Record<string, unknown> }>
  notifies: Array<{ kind: NotifyKind; system?: string; message: string }>
}

export const noEffects = (): Effects => ({ jobs: [], timers: [], cancels: [], records: [], notifies: [] })

/**
 * The stored snapshot in this build's shape: upgraded when an older machine wrote it, refused
 * (MachineVersionError, before anything is written) when a newer one did: an old worker in a
 * rolling upgrade must not overwrite it, the job is retried until a newer worker takes it.
 */
export function currentSnapshot(deps: { log?: Logger; lifecycleVersioning?: MachineVersioning }, row: { id: string; snapshot: unknown; machine_version: number }): unknown {
  if (!row.snapshot) return undefined
  const up = upgradeSnapshot(deps.lifecycleVersioning ?? LIFECYCLE_VERSIONING, row.snapshot, row.machine_version)
  if (up.applied.length > 0) deps.log?.info({ employeeId: row.id, from: up.from, to: up.to, steps: up.applied }, 'lifecycle snapshot upgraded')
  return up.snapshot
}

/** An actor of the lifecycle machine from `snapshot` (or new), whose actions collect into `effects`. */
export function restore(row: { external_id: string; source: HrSource }, snapshot: unknown, effects: Effects) {
  const machine = employeeLifecycleMachine.provide({
    actions: {
      enqueue: (_, params: { jobs: JobRequest[] }) => {
        effects.jobs.push(...params.jobs)
      },
      schedule: (_, params: TimerRequest) => {
        effects.timers.push(params)
      },
      cancelTimer: (_, params: { timerId: string }) => {
        effects.cancels.push(params.timerId)
      },
      record: (_, params: { kind: string; details: Record<string, unknown> }) => {
        effects.records.push(params)
      },
      notify: (_, params: { kind: NotifyKind; system?: string; message: string }) => {
        effects.notifies.push(params)
      },
    },
  })
  const input = { employeeId: row.external_id, source: row.source }
  return snapshot
    ? createActor(machine, { snapshot: snapshot as Parameters<typeof createActor>[1] extends { snapshot?: infer S } ? S : never, input })
    : createActor(machine, { input })
}
