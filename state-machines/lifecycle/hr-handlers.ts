/**
 * Handlers for HR events and the timers they schedule (hire, mover, leave, termination, rescind,
 * cancellation). Each is a pure function of a draft and the event: it mutates the draft's context
 * and pushes effects; it runs inside exactly one transition, as the named action of the same name.
 */
import { intersectGrants, subtractGrants } from '../access.ts'
import type { HireEvent } from './context.ts'
import { ATTEMPTED_TIMER_SLOTS, adopt, beginTermination, closeCase, newGeneration, startDeprovisioning, takeSnapshot } from './case.ts'
import { cancelSlot, consumeTimer, isHrEvent, later, ms, notify, now, record, setTimer, type Draft, type Handler } from './draft.ts'
import { EMPLOYMENT_TYPES, applyHr, hrIgnoreReason, markSeen } from './hr.ts'
import { reconcileAll } from './systems.ts'

function acceptHire(d: Draft, ev: HireEvent): void {
  const rehire = d.from === 'offboarded' || d.from === 'cancelled' || d.from === 'unknown' || d.from === 'deprovisioning'
  const remembered = d.from === 'unknown' ? d.ctx.leave : undefined
  const held = rehire ? (d.ctx.heldUpdates ?? []) : []
  delete d.ctx.heldUpdates
  if (rehire) newGeneration(d)
  if (remembered) d.ctx.leave = remembered
  applyHr(d, ev)
  // Changes HR made after this hire but delivered while the person was still leaving: their
  // attributes (and the plan evaluated with them) win over the hire's older ones.
  for (const update of held) if (ms(update.hr.occurredAt) > ms(ev.hr.occurredAt)) applyHr(d, update)
  d.ctx.startDate = ev.hr.startDate
  if (ev.moments.provisionAt !== undefined) d.ctx.provisionAt = ev.moments.provisionAt
  else delete d.ctx.provisionAt
  if (ev.moments.enableAt !== undefined) d.ctx.enableAt = ev.moments.enableAt
  else delete d.ctx.enableAt
  if (rehire) {
    d.ctx.hire = { hrEventId: ev.hr.eventId, acceptedAt: now(d) }
    record(d, d.ctx.generation > 1 ? 'rehire.accepted' : 'hire.accepted', { generation: d.ctx.generation, startDate: ev.hr.startDate })
  } else record(d, 'hire.updated', { startDate: ev.hr.startDate, provisionAt: d.ctx.provisionAt, enableAt: d.ctx.enableAt })
  if (d.ctx.phase === 'preHire') {
    if (d.ctx.provisionAt !== undefined) setTimer(d, 'provision', 'provision', d.ctx.provisionAt)
  } else cancelSlot(d, 'provision')
  if (d.ctx.phase === 'ready' && d.ctx.enableAt !== undefined) setTimer(d, 'enable', 'enable', d.ctx.enableAt)
  if (d.ctx.phase === 'active') cancelSlot(d, 'enable')
  reconcileAll(d)
}

export const onHire: Handler = (d, ev) => {
  if (ev.type === 'employee.hired' || ev.type === 'employee.rehired') acceptHire(d, ev)
}

export const onPendingRehire: Handler = (d, ev) => {
  if (ev.type !== 'employee.hired' && ev.type !== 'employee.rehired') return
  markSeen(d, ev)
  d.ctx.lastEmploymentAt = later(d.ctx.lastEmploymentAt, ev.hr.occurredAt)
  d.ctx.pendingRehire = ev
  record(d, 'rehire.deferred', { hrEventId: ev.hr.eventId, reason: 'offboarding still in progress' })
}

/** Always-transition handler: the rehire received during deprovisioning, now that the case closed. */
export const startPendingRehire: Handler = (d) => {
  const ev = d.ctx.pendingRehire
  if (!ev) return
  delete d.ctx.pendingRehire
  d.ctx.seenHrEventIds = d.ctx.seenHrEventIds.filter((id) => id !== ev.hr.eventId)
  acceptHire({ ...d, from: 'offboarded' }, ev)
}

/**
 * An update or a leave that arrived before the hire it follows (reordered delivery), or a leave
 * that arrived while the joiner was still being provisioned. The profile
 * attributes keep their HR moment, so the older hire does not overwrite them; a leave is kept in
 * `leave` and takes effect once the person is active (`rememberedLeaveDue`).
 */
export const onChangeBeforeHire: Handler = (d, ev) => {
  if (!isHrEvent(ev)) return
  applyHr(d, ev)
  if (ev.type === 'employee.leave_started') d.ctx.leave = { startAt: ev.moments.leaveAt ?? now(d) }
  if (ev.type === 'employee.leave_ended') delete d.ctx.leave
  record(d, 'hr.remembered_before_hire', { hrEventId: ev.hr.eventId, type: ev.type })
}

/** The remembered leave takes effect now that the person is active: accounts are suspended. */
export const onRememberedLeave: Handler = (d) => {
  const at = d.ctx.leave?.startAt ?? now(d)
  record(d, 'leave.started', { startAt: at, remembered: true })
  reconcileAll(d)
}

/** A cancellation that overtook its hire: the older hire, when it arrives, is stale. */
export const onCancelBeforeHire: Handler = (d, ev) => {
  if (ev.type !== 'employee.hire_cancelled') return
  markSeen(d, ev)
  d.ctx.lastEmploymentAt = later(d.ctx.lastEmploymentAt, ev.hr.occurredAt)
  record(d, 'hire.cancelled', { startedAlready: false, beforeHireArrived: true })
}

/**
 * A cancellation or termination while the person is still leaving: nothing more to revoke, but it
 * is HR's newer word on the employment, so a rehire deferred behind the clean-up that it follows
 * is withdrawn (and any older one arriving later is stale).
 */
export const onEndWhileLeaving: Handler = (d, ev) => {
  if (ev.type !== 'employee.hire_cancelled' && ev.type !== 'employee.terminated') return
  markSeen(d, ev)
  d.ctx.lastEmploymentAt = later(d.ctx.lastEmploymentAt, ev.hr.occurredAt)
  const pending = d.ctx.pendingRehire
  if (pending && ms(pending.hr.occurredAt) <= ms(ev.hr.occurredAt)) {
    delete d.ctx.pendingRehire
    record(d, 'rehire.withdrawn', { hrEventId: pending.hr.eventId, by: ev.hr.eventId, type: ev.type })
  } else record(d, 'event.ignored', { eventType: ev.type, hrEventId: ev.hr.eventId, reason: `not_applicable: ${ev.type} while leaving` })
}

/** A profile update for someone who has left: kept for a rehire that may follow (and is older than it). */
export const onUpdateWhileGone: Handler = (d, ev) => {
  if (ev.type !== 'employee.updated') return
  markSeen(d, ev)
  d.ctx.heldUpdates = [...(d.ctx.heldUpdates ?? []), ev].slice(-20)
  record(d, 'hr.held_for_rehire', { hrEventId: ev.hr.eventId, type: ev.type })
}

export const onProfileChange: Handler = (d, ev) => {
  if (!isHrEvent(ev)) return
  applyHr(d, ev)
  reconcileAll(d)
}

export const onProvisionTimer: Handler = (d, ev) => {
  if (ev.type === 'timer.fired') consumeTimer(d, ev.timerId)
  reconcileAll(d)
}

export const onEnable: Handler = (d, ev) => {
  if (ev.type === 'timer.fired') consumeTimer(d, ev.timerId)
  cancelSlot(d, 'enable')
  record(d, 'employee.day_one', { enableAt: d.ctx.enableAt })
  reconcileAll(d)
}

export const enterReady: Handler = (d) => {
  if (d.ctx.enableAt !== undefined) setTimer(d, 'enable', 'enable', d.ctx.enableAt)
}

export const enterActiveFromProvisioning: Handler = (d) => {
  cancelSlot(d, 'enable')
  reconcileAll(d)
}

export const onTerminateNow: Handler = (d, ev) => {
  if (ev.type === 'employee.terminated') {
    applyHr(d, ev)
    beginTermination(d, ev)
  }
  if (ev.type === 'timer.fired') consumeTimer(d, ev.timerId)
  if (d.from === 'unknown') adopt(d)
  d.ctx.closing = 'offboarded'
  startDeprovisioning(d, 'leaver')
}

export const onTerminateLater: Handler = (d, ev) => {
  if (ev.type !== 'employee.terminated') return
  applyHr(d, ev)
  beginTermination(d, ev)
  if (d.from === 'unknown') adopt(d)
  if (d.ctx.phase === 'terminationScheduled' && d.from !== 'terminationScheduled')
    d.ctx.resumeTo = d.from === 'onLeave' ? 'onLeave' : 'active'
  const t = d.ctx.termination
  if (t) setTimer(d, 'terminate', 'terminate', t.effectiveAt)
  record(d, 'termination.scheduled', { effectiveAt: t?.effectiveAt, resumeTo: d.ctx.resumeTo })
  reconcileAll(d)
}

export const onPendingTerminationReached: Handler = (d) => {
  d.ctx.resumeTo = 'active'
  record(d, 'termination.scheduled', { effectiveAt: d.ctx.termination?.effectiveAt, resumeTo: 'active' })
}

export const onRescindScheduled: Handler = (d, ev) => {
  if (isHrEvent(ev)) applyHr(d, ev)
  cancelSlot(d, 'terminate')
  record(d, 'termination.rescinded', { effectiveAt: d.ctx.termination?.effectiveAt, tookEffect: false })
  delete d.ctx.termination
  delete d.ctx.snapshot
  delete d.ctx.resumeTo
  reconcileAll(d)
}

/**
 * Rescind after the termination took effect. Restored access = today's policy plan (plus active
 * extra_access): the snapshot tells which accounts to bring back rather than recreate, and what the
 * person had that the policy does not grant any more (manual grants, expired extra access) is NOT
 * restored but listed, because it was never birthright and needs a fresh request. Plan items that
 * are new since the snapshot are granted: the mover rule would grant them to anyone with this
 * profile today.
 */
export const onRescindAfterEffect: Handler = (d, ev) => {
  if (isHrEvent(ev)) applyHr(d, ev)
  const notRestored: Record<string, unknown> = {}
  for (const [s, snap] of Object.entries(d.ctx.snapshot?.systems ?? {})) {
    const desired = d.ctx.systems[s]?.desired
    if (!snap.grant) continue
    if (desired?.account !== true) {
      notRestored[s] = { account: true, ...subtractGrants(snap.grant, undefined) }
      continue
    }
    const kept = intersectGrants(snap.grant, desired)
    const dropped = subtractGrants(snap.grant, kept)
    if (Object.keys(dropped).length > 0) notRestored[s] = dropped
  }
  record(d, 'termination.rescinded', { effectiveAt: d.ctx.termination?.effectiveAt, tookEffect: true, notRestored })
  if (Object.keys(notRestored).length > 0)
    notify(d, 'access_not_restored', `Access held before the termination that today's policy does not grant was not restored: ${Object.keys(notRestored).join(', ')}`)
  if (d.ctx.pendingRehire) record(d, 'event.ignored', { eventType: d.ctx.pendingRehire.type, hrEventId: d.ctx.pendingRehire.hr.eventId, reason: 'termination rescinded: the employment continues' })
  delete d.ctx.pendingRehire
  delete d.ctx.closing
  delete d.ctx.termination
  delete d.ctx.snapshot
  delete d.ctx.caseClosedAt
  // Systems the policy still grants are restored; the others finish their revocation as a mover.
  for (const p of Object.values(d.ctx.systems)) if (p.purpose !== undefined && p.desired?.account !== true) p.purpose = 'mover'
  reconcileAll(d)
}

export const onCancelHire: Handler = (d, ev) => {
  if (isHrEvent(ev)) {
    markSeen(d, ev)
    d.ctx.lastEmploymentAt = later(d.ctx.lastEmploymentAt, ev.hr.occurredAt)
    const at = now(d)
    d.ctx.termination = { effectiveAt: at, receivedAt: at, immediate: true, late: false, hrEventId: ev.hr.eventId }
    if (!d.ctx.snapshot) takeSnapshot(d, ev.hr.eventId)
  }
  d.ctx.closing = 'cancelled'
  record(d, 'hire.cancelled', { startedAlready: d.from === 'active' || d.from === 'onLeave' || d.from === 'terminationScheduled' })
  if (d.ctx.phase === 'cancelled') {
    for (const slot of ATTEMPTED_TIMER_SLOTS) cancelSlot(d, slot)
    for (const p of Object.values(d.ctx.systems)) {
      if (p.status !== 'planned') continue
      p.status = 'absent'
      p.purpose = 'cancel'
    }
    closeCase(d)
    return
  }
  startDeprovisioning(d, 'cancel')
}

export const onLeaveStartNow: Handler = (d, ev) => {
  if (isHrEvent(ev)) applyHr(d, ev)
  if (ev.type === 'timer.fired') consumeTimer(d, ev.timerId)
  cancelSlot(d, 'leave_start')
  const at = ev.type === 'employee.leave_started' ? (ev.moments.leaveAt ?? now(d)) : (d.ctx.leave?.startAt ?? now(d))
  d.ctx.leave = { startAt: at }
  if (d.ctx.phase === 'terminationScheduled') d.ctx.resumeTo = 'onLeave'
  record(d, 'leave.started', { startAt: at })
  reconcileAll(d)
}

export const onLeaveStartLater: Handler = (d, ev) => {
  if (ev.type !== 'employee.leave_started') return
  applyHr(d, ev)
  const at = ev.moments.leaveAt ?? now(d)
  d.ctx.leave = { startAt: at }
  setTimer(d, 'leave_start', 'leave_start', at)
  record(d, 'leave.scheduled', { startAt: at })
}

export const onLeaveEndNow: Handler = (d, ev) => {
  if (isHrEvent(ev)) applyHr(d, ev)
  if (ev.type === 'timer.fired') consumeTimer(d, ev.timerId)
  cancelSlot(d, 'leave_end')
  cancelSlot(d, 'leave_start')
  const hadStarted = d.from === 'onLeave' || d.ctx.resumeTo === 'onLeave'
  delete d.ctx.leave
  if (d.ctx.phase === 'terminationScheduled') d.ctx.resumeTo = 'active'
  record(d, hadStarted ? 'leave.ended' : 'leave.cancelled', {})
  reconcileAll(d)
}

export const onLeaveEndLater: Handler = (d, ev) => {
  if (ev.type !== 'employee.leave_ended') return
  applyHr(d, ev)
  const at = ev.moments.returnAt ?? now(d)
  d.ctx.leave = { ...d.ctx.leave, returnAt: at }
  setTimer(d, 'leave_end', 'leave_end', at)
  record(d, 'leave.return_scheduled', { returnAt: at })
}

export const onCaseClosed: Handler = (d) => closeCase(d)

export const onCaseReopened: Handler = (d) => {
  delete d.ctx.caseClosedAt
  d.ctx.caseOpenedAt = now(d)
}

export const ignoreEvent: Handler = (d, ev) => {
  if (isHrEvent(ev)) {
    const stale = hrIgnoreReason(d.ctx, ev)
    const reason = stale ?? `not_applicable: ${ev.type} in ${d.ctx.phase}`
    if (reason !== 'duplicate') markSeen(d, ev)
    // A newer word from HR on the employment that needs nothing done here (a termination of someone
    // whose hire was cancelled) still supersedes older ones: a hire sent before it and delivered
    // after it is then stale. A rescind is left out: it speaks of a termination, not of the hire.
    if (stale === undefined && EMPLOYMENT_TYPES.has(ev.type) && ev.type !== 'employee.termination_rescinded')
      d.ctx.lastEmploymentAt = later(d.ctx.lastEmploymentAt, ev.hr.occurredAt)
    record(d, 'event.ignored', { eventType: ev.type, hrEventId: ev.hr.eventId, reason })
    return
  }
  if (ev.type === 'timer.fired') {
    record(d, 'event.ignored', { eventType: ev.type, timerId: ev.timerId, reason: 'stale_timer' })
    return
  }
  record(d, 'event.ignored', { eventType: ev.type, reason: `not_applicable in ${d.ctx.phase}` })
}
