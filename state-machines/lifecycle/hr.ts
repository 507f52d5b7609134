/**
 * Applying an HR event to the context: which events are duplicates or stale (HR's order, not the
 * delivery order, decides), the profile attribute by attribute, and the desired access per system
 * (the policy plan plus active extra_access exceptions).
 */
import type { AccessGrant, EmployeeProfile, SystemId } from '../../src/domain/access.ts'
import { mergeGrants, normaliseGrant } from '../access.ts'
import { employeeProfileSchema } from '../events.ts'
import type { HrLifecycleEvent } from '../lifecycle-types.ts'
import { EMPLOYED_PHASES, type LifecycleContext } from './context.ts'
import { later, ms, now, ensure, record, type Draft } from './draft.ts'

/** HR event ids remembered for duplicate detection (the webhook layer de-duplicates deliveries too). */
export const SEEN_EVENT_IDS = 500

export const EMPLOYMENT_TYPES = new Set<string>([
  'employee.hired',
  'employee.rehired',
  'employee.hire_cancelled',
  'employee.terminated',
  'employee.termination_rescinded',
])
export const LEAVE_TYPES = new Set<string>(['employee.leave_started', 'employee.leave_ended'])
export const PROFILE_KEYS = Object.keys(employeeProfileSchema.shape).filter((k) => k !== 'employeeId')

/**
 * The profile after an HR event, attribute by attribute: a value from an older HR moment never
 * overwrites a newer one. The engine calls this to evaluate the policy for the right profile.
 */
export function applyHrProfile(
  context: Pick<LifecycleContext, 'profile' | 'profileAsOf' | 'employeeId' | 'partialProfile'>,
  hr: HrLifecycleEvent['hr'],
): { profile: EmployeeProfile | undefined; partial: Partial<EmployeeProfile>; applied: string[]; stale: string[]; asOf: Record<string, string> } {
  const asOf = { ...context.profileAsOf }
  const profile: Record<string, unknown> = { ...(context.profile ?? context.partialProfile ?? {}) }
  const applied: string[] = []
  const stale: string[] = []
  const moment = hr.type === 'employee.updated' ? (hr.effectiveAt ?? hr.occurredAt) : hr.occurredAt
  const consider = (key: string, value: unknown): void => {
    const current = asOf[key]
    if (current !== undefined && ms(moment) < ms(current)) {
      stale.push(key)
      return
    }
    asOf[key] = moment
    if (value === undefined) delete profile[key]
    else profile[key] = value
    applied.push(key)
  }
  if (hr.profile) {
    const full = hr.profile as Record<string, unknown>
    for (const key of PROFILE_KEYS) consider(key, full[key])
  }
  if (hr.type === 'employee.updated') {
    for (const [key, value] of Object.entries(hr.changes)) if (key !== 'employeeId') consider(key, value)
  }
  const merged = profile as Partial<EmployeeProfile>
  const complete =
    typeof merged.firstName === 'string' && typeof merged.lastName === 'string'
      ? ({ ...merged, employeeId: context.employeeId } as EmployeeProfile)
      : context.profile
  return { profile: complete, partial: merged, applied, stale, asOf }
}

/** Why an HR event must not be applied, or undefined when it applies. */
export function hrIgnoreReason(ctx: LifecycleContext, ev: HrLifecycleEvent): string | undefined {
  const hr = ev.hr
  if (hr.employeeId !== ctx.employeeId) return `employee_mismatch: event is for ${hr.employeeId}`
  if (ctx.seenHrEventIds.includes(hr.eventId)) return 'duplicate'
  // A termination the HR record itself shows (re-fetched or polled: `confirmed`) is never stale:
  // HR's current state outranks the order of vendor timestamps, and revoking is the safe way to
  // be wrong. Other confirmed changes keep the check: an old hire must not undo a newer leaver.
  const confirmedLeaver = hr.type === 'employee.terminated' && hr.confirmed === true
  if (EMPLOYMENT_TYPES.has(hr.type) && !confirmedLeaver && ctx.lastEmploymentAt !== undefined && ms(hr.occurredAt) < ms(ctx.lastEmploymentAt))
    return `stale: occurred ${hr.occurredAt}, before the employment change already applied (${ctx.lastEmploymentAt})`
  if (LEAVE_TYPES.has(hr.type) && ctx.lastLeaveAt !== undefined && ms(hr.occurredAt) < ms(ctx.lastLeaveAt))
    return `stale: occurred ${hr.occurredAt}, before the leave change already applied (${ctx.lastLeaveAt})`
  if (hr.type === 'employee.updated') {
    const { applied, stale } = applyHrProfile(ctx, hr)
    if (applied.length === 0 && stale.length > 0)
      return `stale: every changed attribute (${stale.join(', ')}) has a newer value`
  }
  return undefined
}

export function markSeen(d: Draft, ev: HrLifecycleEvent): void {
  d.ctx.seenHrEventIds.push(ev.hr.eventId)
  if (d.ctx.seenHrEventIds.length > SEEN_EVENT_IDS) d.ctx.seenHrEventIds.splice(0, d.ctx.seenHrEventIds.length - SEEN_EVENT_IDS)
}

/** Desired access per system: the policy plan plus active extra_access exceptions. */
export function recomputeDesired(d: Draft): void {
  const extras: Record<SystemId, AccessGrant | undefined> = {}
  for (const [, e] of Object.entries(d.ctx.exceptions)) {
    if (e.kind !== 'extra_access' || e.system === undefined || e.grant === undefined) continue
    if (ms(e.until) <= ms(now(d))) continue
    extras[e.system] = mergeGrants(extras[e.system], e.grant)
  }
  const systems = new Set([...Object.keys(d.ctx.plan), ...Object.keys(extras), ...Object.keys(d.ctx.systems)])
  for (const s of [...systems].sort()) {
    const desired = mergeGrants(d.ctx.plan[s], extras[s])
    const p = d.ctx.systems[s]
    if (desired === undefined) {
      if (p) delete p.desired
      continue
    }
    ensure(d, s).desired = desired
  }
}

export function applyHr(d: Draft, ev: HrLifecycleEvent): void {
  markSeen(d, ev)
  d.ctx.lastHrAt = later(d.ctx.lastHrAt, ev.hr.occurredAt)
  if (EMPLOYMENT_TYPES.has(ev.hr.type)) d.ctx.lastEmploymentAt = later(d.ctx.lastEmploymentAt, ev.hr.occurredAt)
  if (LEAVE_TYPES.has(ev.hr.type)) d.ctx.lastLeaveAt = later(d.ctx.lastLeaveAt, ev.hr.occurredAt)
  const { profile, partial, applied, stale, asOf } = applyHrProfile(d.ctx, ev.hr)
  if (profile) {
    d.ctx.profile = profile
    delete d.ctx.partialProfile
  } else d.ctx.partialProfile = partial
  d.ctx.profileAsOf = asOf
  if (stale.length > 0) record(d, 'profile.stale_attributes', { hrEventId: ev.hr.eventId, stale, applied })
  d.ctx.plan = Object.fromEntries(Object.entries(ev.plan).map(([s, g]) => [s, normaliseGrant(g)]))
  if (ev.leaver) d.ctx.leaver = ev.leaver
  recomputeDesired(d)
  if (!EMPLOYED_PHASES.has(d.ctx.phase)) {
    // Before provisioning starts nothing exists yet: forget systems the plan no longer grants.
    for (const [s, p] of Object.entries(d.ctx.systems))
      if (p.status === 'planned' && p.accountId === undefined && p.desired?.account !== true) delete d.ctx.systems[s]
  }
  record(d, 'hr.applied', { hrEventId: ev.hr.eventId, type: ev.hr.type, generation: d.ctx.generation })
}
