/**
 * The leaver case and the employment around it: the access snapshot taken when a termination is
 * accepted, opening the case (every system starts its revocation), closing it, adopting an
 * employee Tenure never saw hired, and the new generation a rehire starts.
 */
import type { SystemId } from '../../src/domain/access.ts'
import type { HrLifecycleEvent } from '../lifecycle-types.ts'
import { CLOSED, type AccessSnapshot, type LifecycleContext, type RevocationPurpose, type SystemProgress } from './context.ts'
import { atOrBefore, cancelSlot, ensure, ms, newSystem, now, record, withoutUndefined, type Draft } from './draft.ts'
import { startCutoff } from './revocation-progress.ts'

export const ATTEMPTED_TIMER_SLOTS = ['provision', 'enable', 'terminate', 'leave_start', 'leave_end'] as const

export function takeSnapshot(d: Draft, hrEventId: string): void {
  const systems: AccessSnapshot['systems'] = {}
  for (const [s, p] of Object.entries(d.ctx.systems)) {
    if (p.status === 'planned' && p.accountId === undefined && !p.pending) continue
    systems[s] = withoutUndefined({ status: p.status, accountId: p.accountId, login: p.login, grant: p.provisioned ?? p.pending?.grant })
  }
  d.ctx.snapshot = { takenAt: now(d), hrEventId, systems }
  record(d, 'access.snapshot_taken', { hrEventId, systems })
}

export function beginTermination(d: Draft, ev: Extract<HrLifecycleEvent, { type: 'employee.terminated' }>): void {
  const at = now(d)
  const effectiveAt = ev.hr.immediate ? (ev.moments.terminationAt && ms(ev.moments.terminationAt) < ms(at) ? ev.moments.terminationAt : at) : (ev.moments.terminationAt ?? at)
  d.ctx.termination = {
    effectiveAt,
    receivedAt: at,
    immediate: ev.hr.immediate,
    late: atOrBefore(effectiveAt, at),
    hrEventId: ev.hr.eventId,
  }
  if (!d.ctx.snapshot) takeSnapshot(d, ev.hr.eventId)
  record(d, 'termination.accepted', { ...d.ctx.termination })
}

export function startDeprovisioning(d: Draft, purpose: RevocationPurpose): void {
  for (const slot of ATTEMPTED_TIMER_SLOTS) cancelSlot(d, slot)
  delete d.ctx.leave
  delete d.ctx.resumeTo
  d.ctx.caseOpenedAt = now(d)
  delete d.ctx.caseClosedAt
  record(d, 'case.opened', { reason: d.ctx.closing, generation: d.ctx.generation, termination: d.ctx.termination })
  const systems = new Set([...Object.keys(d.ctx.systems), ...Object.keys(d.ctx.snapshot?.systems ?? {})])
  for (const s of [...systems].sort()) {
    const p = ensure(d, s)
    const snap = d.ctx.snapshot?.systems[s]
    if (p.accountId === undefined && snap?.accountId !== undefined) p.accountId = snap.accountId
    if (p.pending && (p.pending.action === 'verify' || p.pending.action === 'deprovision')) {
      p.purpose = purpose
      continue
    }
    if (p.purpose !== undefined && CLOSED.has(p.status)) continue
    if (p.status === 'planned' && p.accountId === undefined && !p.pending) {
      p.status = 'absent'
      p.purpose = purpose
      continue
    }
    startCutoff(d, s, purpose)
  }
}

export function caseClosed(ctx: LifecycleContext): boolean {
  return Object.values(ctx.systems).every((p) => p.pending === undefined && CLOSED.has(p.status))
}

export function closeCase(d: Draft): void {
  d.ctx.caseClosedAt = now(d)
  const summary = Object.fromEntries(
    Object.entries(d.ctx.systems).map(([s, p]) => [s, withoutUndefined({ status: p.status, verifiedAt: p.verifiedAt, residual: p.residual.length ? p.residual : undefined })]),
  )
  record(d, 'case.closed', { outcome: d.ctx.phase, generation: d.ctx.generation, systems: summary })
}

export function newGeneration(d: Draft): void {
  for (const [slot] of Object.entries(d.ctx.timers)) if (!slot.startsWith('exception_end:')) cancelSlot(d, slot)
  d.ctx.generation += 1
  const systems: Record<SystemId, SystemProgress> = {}
  for (const [s, p] of Object.entries(d.ctx.systems)) {
    if (p.accountId === undefined || p.deleted) continue
    // Kept so a rehire restores the account instead of creating a second one; marked as revoked
    // (which it is) so a system the new plan does not grant is left alone.
    systems[s] = withoutUndefined({ ...newSystem(), status: 'done' as const, purpose: 'leaver' as const, accountId: p.accountId, login: p.login })
  }
  d.ctx.systems = systems
  d.ctx.keySeq = {}
  for (const key of ['termination', 'closing', 'resumeTo', 'leave', 'snapshot', 'pendingRehire', 'hire', 'caseOpenedAt', 'caseClosedAt', 'startDate', 'provisionAt', 'enableAt'] as const)
    delete d.ctx[key]
}

/** A termination for someone Tenure never saw hired: assume the plan's accounts exist and manage them. */
export function adopt(d: Draft): void {
  if (d.ctx.generation === 0) d.ctx.generation = 1
  for (const [s, grant] of Object.entries(d.ctx.plan)) {
    if (!grant.account) continue
    const p = ensure(d, s)
    p.status = 'active'
    p.enabled = true
    p.provisioned = grant
  }
  record(d, 'employee.adopted', { systems: Object.keys(d.ctx.plan), reason: 'termination for an employee Tenure never provisioned' })
  if (d.ctx.termination && d.ctx.snapshot?.hrEventId === d.ctx.termination.hrEventId && Object.keys(d.ctx.snapshot.systems).length === 0)
    takeSnapshot(d, d.ctx.termination.hrEventId)
}
