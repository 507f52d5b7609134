/**
 * The working copy a handler mutates during one transition, and the small helpers every handler
 * shares: time arithmetic, audit records and notifications, per-system progress, deterministic job
 * keys and timers. A handler never returns effects directly: it pushes them onto the draft, and the
 * machine's named action (employee-lifecycle.machine.ts, `act`) assigns the new context and
 * enqueues the effects in order.
 */
import type { ResidualAccess, RevocationPhase, SystemId } from '../../src/domain/access.ts'
import type { ExceptionKind, HrLifecycleEvent, JobAction, JobRequest, LifecycleEvent, NotifyKind, SystemStatus, TimerKind, TimerRequest } from '../lifecycle-types.ts'
import type { ActiveException, LifecycleContext, LifecyclePhase, NotifyParams, RecordParams, SystemProgress } from './context.ts'

export type Effect =
  | { type: 'enqueue'; params: { jobs: JobRequest[] } }
  | { type: 'schedule'; params: TimerRequest }
  | { type: 'cancelTimer'; params: { timerId: string } }
  | { type: 'record'; params: RecordParams }
  | { type: 'notify'; params: NotifyParams }

export interface Draft {
  ctx: LifecycleContext
  effects: Effect[]
  jobs: JobRequest[]
  /** The phase the machine was in before this transition. */
  from: LifecyclePhase
}

/** One handler: runs inside one transition, mutates the draft, never touches the world. */
export type Handler<E extends LifecycleEvent = LifecycleEvent> = (d: Draft, ev: E) => void

export const ms = (iso: string): number => Date.parse(iso)
export const atOrBefore = (a: string, b: string): boolean => ms(a) <= ms(b)
export const later = (a: string | undefined, b: string): string => (a === undefined || ms(b) > ms(a) ? b : a)

export function isHrEvent(event: LifecycleEvent): event is HrLifecycleEvent {
  return 'hr' in event
}

export function newSystem(): SystemProgress {
  return { status: 'planned', attempts: 0, residual: [], enabled: false, suspended: false, deleted: false }
}

export function ensure(d: Draft, system: SystemId): SystemProgress {
  const existing = d.ctx.systems[system]
  if (existing) return existing
  const created = newSystem()
  d.ctx.systems[system] = created
  return created
}

export function now(d: Draft): string {
  return d.ctx.now ?? new Date(0).toISOString()
}

export function record(d: Draft, kind: string, details: Record<string, unknown>): void {
  d.effects.push({ type: 'record', params: { kind, details: { employeeId: d.ctx.employeeId, ...details } } })
}

export function notify(d: Draft, kind: NotifyKind, message: string, system?: SystemId): void {
  d.effects.push({ type: 'notify', params: system === undefined ? { kind, message } : { kind, system, message } })
}

export function restingStatus(p: SystemProgress): SystemStatus {
  if (p.accountId === undefined && p.provisioned === undefined) return 'planned'
  if (p.suspended) return 'suspended'
  return p.enabled ? 'active' : 'provisioned'
}

/**
 * Record what could not be removed, once per (kind, id): a cut-off re-run after a failed
 * verification reports the same items again, and each item needs one human decision, not four.
 */
export function addResidual(p: SystemProgress, items: ResidualAccess[]): void {
  for (const item of items) {
    const known = p.residual.find((r) => r.kind === item.kind && r.id === item.id)
    if (known) known.reason = item.reason
    else p.residual.push(item)
  }
}

export function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

// jobs and timers

/**
 * The employee's part of every job, timer and task key: the HR id qualified by its source, since
 * two HR sources may both have an employee 1002 (their keys must never meet: a job id derived from
 * one would swallow the other's job).
 */
export function employeeKeyOf(ctx: Pick<LifecycleContext, 'source' | 'employeeId'>): string {
  return `${ctx.source}:${ctx.employeeId}`
}

export function nextKey(d: Draft, system: SystemId, action: JobAction, phase?: RevocationPhase): string {
  const base = `${employeeKeyOf(d.ctx)}:${system}:${action}${phase ? `:${phase}` : ''}:g${d.ctx.generation}`
  const n = (d.ctx.keySeq[base] ?? 0) + 1
  d.ctx.keySeq[base] = n
  return n === 1 ? base : `${base}:n${n}`
}

export function addJob(d: Draft, job: Omit<JobRequest, 'key'>): void {
  d.jobs.push(withoutUndefined({ key: nextKey(d, job.system, job.action, job.phase), ...job }))
}

export function setTimer(d: Draft, slot: string, timer: TimerKind, at: string, suffix?: string): void {
  const timerId = `${employeeKeyOf(d.ctx)}:${timer}:g${d.ctx.generation}:${at}${suffix ? `:${suffix}` : ''}`
  const current = d.ctx.timers[slot]
  if (current?.timerId === timerId) return
  if (current) cancelSlot(d, slot)
  const request: TimerRequest = { timerId, timer, at }
  d.ctx.timers[slot] = request
  d.effects.push({ type: 'schedule', params: request })
}

export function cancelSlot(d: Draft, slot: string): void {
  const current = d.ctx.timers[slot]
  if (!current) return
  delete d.ctx.timers[slot]
  d.effects.push({ type: 'cancelTimer', params: { timerId: current.timerId } })
}

export function isCurrentTimer(ctx: LifecycleContext, timerId: string, kind: TimerKind): boolean {
  return Object.values(ctx.timers).some((t) => t.timerId === timerId && t.timer === kind)
}

export function consumeTimer(d: Draft, timerId: string): void {
  for (const [slot, t] of Object.entries(d.ctx.timers)) if (t.timerId === timerId) delete d.ctx.timers[slot]
}

export function activeExceptions(d: Draft, kind: ExceptionKind, system: SystemId): [string, ActiveException][] {
  return Object.entries(d.ctx.exceptions).filter(
    ([, e]) => e.kind === kind && (e.system === undefined || e.system === system) && ms(e.until) > ms(now(d)),
  )
}

/**
 * A deep copy of plain data (objects, arrays, primitives), which is all a context holds: it is
 * persisted as JSON. About 5× cheaper than structuredClone, which was ~3% of the engine's CPU per
 * transition; anything that is not plain data (a Date, a class instance) is still copied by
 * structuredClone, so no value is copied differently.
 */
export function cloneData<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map(cloneData) as T
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return structuredClone(value)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) out[key] = cloneData((value as Record<string, unknown>)[key])
  return out as T
}

export function draftOf(context: LifecycleContext, event: LifecycleEvent): Draft {
  const ctx = cloneData(context)
  if ('now' in event && typeof event.now === 'string') ctx.now = later(ctx.now, event.now)
  return { ctx, effects: [], jobs: [], from: context.phase }
}

/**
 * `assign` merges into the old context, so a key a handler deleted would survive: set it to
 * undefined explicitly (JSON persistence drops it).
 */
export function replacing<T extends object>(previous: T, next: T): T {
  const out: Record<string, unknown> = { ...(next as Record<string, unknown>) }
  for (const key of Object.keys(previous)) if (!(key in out)) out[key] = undefined
  return out as T
}

export function flush(d: Draft): Effect[] {
  return d.jobs.length > 0 ? [...d.effects, { type: 'enqueue', params: { jobs: d.jobs } }] : d.effects
}
