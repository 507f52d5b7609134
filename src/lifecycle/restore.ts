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

/**
 * Which collector an actor's actions write into. The machine is provided once per process (below),
 * not once per event: `.provide()` builds a new StateMachine, and XState memoises the state nodes'
 * transitions per machine instance, so a machine per event paid for building and formatting every
 * state node's transitions again on each event (about 0.7 ms of the engine's ~3 ms per transition).
 * An action finds its collector through `self`, the actor running it; a WeakMap so a finished
 * actor's collector goes with it. Keyed per actor, not a module variable: the engine awaits between
 * restoring and sending (the HR gate), so actors of several employees are alive at once.
 */
const collectors = new WeakMap<object, Effects>()

function collectorOf(self: object): Effects {
  const effects = collectors.get(self)
  // Never silently dropped: an action of an actor restore() did not create is a programming error.
  if (!effects) throw new Error('lifecycle action ran outside an actor made by restore()')
  return effects
}

const providedMachine = employeeLifecycleMachine.provide({
  actions: {
    enqueue: ({ self }, params: { jobs: JobRequest[] }) => {
      collectorOf(self).jobs.push(...params.jobs)
    },
    schedule: ({ self }, params: TimerRequest) => {
      collectorOf(self).timers.push(params)
    },
    cancelTimer: ({ self }, params: { timerId: string }) => {
      collectorOf(self).cancels.push(params.timerId)
    },
    record: ({ self }, params: { kind: string; details: Record<string, unknown> }) => {
      collectorOf(self).records.push(params)
    },
    notify: ({ self }, params: { kind: NotifyKind; system?: string; message: string }) => {
      collectorOf(self).notifies.push(params)
    },
  },
})

/**
 * XState's restoreSnapshot walks the whole context (every nested object, through a Set of those
 * seen) to swap persisted actor references for the restored children. The lifecycle machine spawns
 * and invokes nothing, so a stored snapshot has no children and its context no actor references:
 * the walk finds nothing, yet it was the largest single cost of a transition in Node (~8 % of the
 * engine scenario's profile, more than the machine's own transition). With no children the machine
 * restores the snapshot with an empty context and is handed the stored context after; a snapshot
 * with children (none is ever written) goes through XState's own path unchanged.
 */
type RestoreSnapshot = typeof providedMachine.restoreSnapshot
const xstateRestore: RestoreSnapshot = providedMachine.restoreSnapshot.bind(providedMachine)
providedMachine.restoreSnapshot = ((snapshot, scope) => {
  const stored = snapshot as { children?: Record<string, unknown>; context?: unknown }
  if (stored.children && Object.keys(stored.children).length > 0) return xstateRestore(snapshot, scope)
  const restored = xstateRestore({ ...stored, context: {} } as unknown as typeof snapshot, scope)
  ;(restored as { context: unknown }).context = stored.context
  return restored
}) as RestoreSnapshot

/** An actor of the lifecycle machine from `snapshot` (or new), whose actions collect into `effects`. */
export function restore(row: { external_id: string; source: HrSource }, snapshot: unknown, effects: Effects) {
  const input = { employeeId: row.external_id, source: row.source }
  // Actions run only once the actor is started (XState defers those of the initial state until
  // start()), so registering the collector right after creating it is in time.
  const actor = snapshot
    ? createActor(providedMachine, { snapshot: snapshot as Parameters<typeof createActor>[1] extends { snapshot?: infer S } ? S : never, input })
    : createActor(providedMachine, { input })
  collectors.set(actor, effects)
  return actor
}
