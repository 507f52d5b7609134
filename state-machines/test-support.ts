/**
 * Test helpers for the lifecycle machine: HR event builders and a fake engine that provides the
 * placeholder actions and collects what they were asked to do. Used by the *.test.ts files here
 * and by engine tests that need a realistic machine without a database.
 */
import { createActor, type SnapshotFrom } from 'xstate'
import type { AccessGrant } from '../src/domain/access.ts'
import {
  employeeLifecycleMachine,
  type JobRequest,
  type LifecycleEvent,
  type Moments,
  type NotifyParams,
  type Plan,
  type RecordParams,
  type TimerRequest,
  type HrLifecycleEvent,
  type LeaverPlan,
} from './employee-lifecycle.machine.ts'
import type { CanonicalEvent, EmployeeProfileInput } from './events.ts'

export type LifecycleSnapshot = SnapshotFrom<typeof employeeLifecycleMachine>

export const EMPLOYEE_ID = 'E-100'

export const PROFILE: EmployeeProfileInput = {
  employeeId: EMPLOYEE_ID,
  firstName: 'Ada',
  lastName: 'Lovelace',
  department: 'Engineering',
  title: 'Engineer',
  timeZone: 'Europe/Berlin',
  managerEmail: 'grace@example.com',
}

export function grant(partial: Partial<AccessGrant> = {}): AccessGrant {
  return { account: true, groups: [], licences: [], channels: [], projects: [], roles: [], ...partial }
}

/** Deterministic UUID-shaped ids so runs are reproducible. */
export function eventId(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`
}

export function plusMinutes(iso: string, minutes: number): string {
  return new Date(Date.parse(iso) + minutes * 60_000).toISOString()
}

export function plusDays(iso: string, days: number): string {
  return plusMinutes(iso, days * 24 * 60)
}

type HrFields<T extends CanonicalEvent['type']> = Omit<
  Extract<CanonicalEvent, { type: T }>,
  'type' | 'eventId' | 'source' | 'sourceEventId' | 'employeeId' | 'occurredAt' | 'receivedAt' | 'foundBy'
> & { occurredAt?: string; eventId?: string }

let counter = 0

/** Build an HR lifecycle event as the engine would send it. */
export function hr<T extends CanonicalEvent['type']>(
  type: T,
  fields: HrFields<T>,
  opts: { now: string; plan?: Plan; moments?: Moments; leaver?: LeaverPlan; employeeId?: string },
): Extract<HrLifecycleEvent, { type: T }> {
  counter += 1
  const { occurredAt, eventId: id, ...rest } = fields
  const canonical = {
    type,
    eventId: id ?? eventId(counter),
    source: 'generic',
    sourceEventId: `src-${counter}`,
    employeeId: opts.employeeId ?? EMPLOYEE_ID,
    occurredAt: occurredAt ?? opts.now,
    receivedAt: opts.now,
    foundBy: 'webhook',
    ...rest,
  }
  const event = { type, hr: canonical, plan: opts.plan ?? {}, moments: opts.moments ?? {}, now: opts.now }
  return (opts.leaver ? { ...event, leaver: opts.leaver } : event) as unknown as Extract<HrLifecycleEvent, { type: T }>
}

export interface Captured {
  jobs: JobRequest[]
  scheduled: TimerRequest[]
  cancelled: string[]
  records: RecordParams[]
  notifications: NotifyParams[]
}

export function emptyCaptured(): Captured {
  return { jobs: [], scheduled: [], cancelled: [], records: [], notifications: [] }
}

/** The machine with every placeholder provided by a collector. */
export function providedMachine(into: Captured) {
  return employeeLifecycleMachine.provide({
    actions: {
      enqueue: (_, params) => {
        into.jobs.push(...params.jobs)
      },
      schedule: (_, params) => {
        into.scheduled.push(params)
      },
      cancelTimer: (_, params) => {
        into.cancelled.push(params.timerId)
      },
      record: (_, params) => {
        into.records.push(params)
      },
      notify: (_, params) => {
        into.notifications.push(params)
      },
    },
  })
}

/**
 * Drives one employee the way the engine does: for each event restore the persisted snapshot
 * (JSON round trip, as if from the database), send, persist. `captured` collects the effects.
 */
export class FakeEngine {
  captured: Captured = emptyCaptured()
  persisted: unknown
  readonly employeeId: string

  constructor(employeeId = EMPLOYEE_ID) {
    this.employeeId = employeeId
    const actor = createActor(providedMachine(this.captured), { input: { employeeId, source: 'generic' } })
    actor.start()
    this.persisted = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()))
    actor.stop()
  }

  send(event: LifecycleEvent): Captured {
    const step = emptyCaptured()
    const actor = createActor(providedMachine(step), {
      snapshot: this.persisted as LifecycleSnapshot,
      input: { employeeId: this.employeeId, source: 'generic' },
    })
    actor.start()
    actor.send(event)
    const snapshot = actor.getSnapshot()
    if (snapshot.status === 'error') throw snapshot.error
    this.persisted = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()))
    actor.stop()
    for (const key of Object.keys(step) as (keyof Captured)[]) (this.captured[key] as unknown[]).push(...step[key])
    return step
  }

  get snapshot(): LifecycleSnapshot {
    return employeeLifecycleMachine.resolveState(this.persisted as Parameters<typeof employeeLifecycleMachine.resolveState>[0])
  }

  get state(): string {
    return String(this.snapshot.value)
  }

  get context() {
    return this.snapshot.context
  }

  /** Jobs still unanswered, by key, in the order they were enqueued. */
  jobsFor(system: string, action?: string): JobRequest[] {
    return this.captured.jobs.filter((j) => j.system === system && (action === undefined || j.action === action))
  }

  timer(kind: TimerRequest['timer']): TimerRequest | undefined {
    return Object.values(this.context.timers).find((t) => t.timer === kind)
  }
}
