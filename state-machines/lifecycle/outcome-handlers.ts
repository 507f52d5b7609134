/**
 * Handlers for what comes back from the world: job outcomes (account.provisioned, .revoked,
 * .verified, .failed …), reconciliation findings, operator decisions and exceptions. They update
 * one system's progress wherever the employee is; the chart's `always` transitions react to it.
 */
import type { SystemId } from '../../src/domain/access.ts'
import type { AccountChangedEvent, AccountFailedEvent, AccountProvisionedEvent, AccountRevokedEvent, AccountVerifiedEvent, ExceptionActivatedEvent } from '../lifecycle-types.ts'
import { CLOSED, EMPLOYED_PHASES, type SystemProgress } from './context.ts'
import { activeExceptions, addResidual, cancelSlot, consumeTimer, ensure, ms, notify, now, record, restingStatus, setTimer, withoutUndefined, type Draft, type Handler } from './draft.ts'
import { recomputeDesired } from './hr.ts'
import { decideRevocation, revokePurpose, shouldBeRevoked, startCleanup, startCutoff, startVerify, type RevocationDecision } from './revocation-progress.ts'
import { accountLiveUnexpectedly, advance, reconcileSystem } from './systems.ts'

/** The system's progress, or undefined (recorded) when an outcome names a system never asked for. */
function tracked(d: Draft, system: SystemId, eventType: string): SystemProgress | undefined {
  const p = d.ctx.systems[system]
  if (!p) record(d, 'event.ignored', { eventType, system, reason: 'no job was ever queued for this system' })
  return p
}

export const onProvisioned: Handler = (d, ev) => {
  if (ev.type !== 'account.provisioned') return
  const e: AccountProvisionedEvent = ev
  const p = ensure(d, e.system)
  p.accountId = e.accountId
  if (e.login !== undefined) p.login = e.login
  p.deleted = false
  const pending = p.pending
  if (pending && (pending.action === 'provision' || pending.action === 'restore')) {
    delete p.pending
    p.provisioned = pending.grant
    p.enabled = pending.enabled ?? true
    p.suspended = false
    p.attempts = 0
    delete p.tries
    delete p.lastError
    p.provisionedAt = e.now
    p.status = restingStatus(p)
    record(d, 'account.provisioned', { system: e.system, accountId: e.accountId, action: pending.action, enabled: p.enabled })
    advance(d, e.system)
    return
  }
  accountLiveUnexpectedly(d, e.system, 'account.provisioned')
}

export const onChanged: Handler = (d, ev) => {
  if (ev.type !== 'account.updated' && ev.type !== 'account.enabled' && ev.type !== 'account.suspended') return
  const e: AccountChangedEvent = ev
  const p = tracked(d, e.system, e.type)
  if (!p) return
  const expected = { 'account.updated': 'update', 'account.enabled': 'enable', 'account.suspended': 'suspend' }[e.type]
  const matches = p.pending?.action === expected
  if (e.type === 'account.updated') {
    if (!matches) {
      record(d, 'account.stale_outcome', { system: e.system, outcome: e.type, status: p.status })
      return
    }
    p.provisioned = p.pending?.grant
    delete p.pending
  } else if (e.type === 'account.enabled') {
    if (!matches) {
      accountLiveUnexpectedly(d, e.system, e.type)
      return
    }
    if (p.pending?.grant) p.provisioned = p.pending.grant
    delete p.pending
    p.enabled = true
    p.suspended = false
  } else {
    p.enabled = false
    p.suspended = true
    if (!matches) {
      record(d, 'account.stale_outcome', { system: e.system, outcome: e.type, status: p.status })
      if (!p.pending && !shouldBeRevoked(d, e.system)) reconcileSystem(d, e.system)
      return
    }
    delete p.pending
  }
  delete p.lastError
  delete p.tries
  p.status = restingStatus(p)
  record(d, e.type, { system: e.system })
  advance(d, e.system)
}

export const onRevoked: Handler = (d, ev) => {
  if (ev.type !== 'account.revoked') return
  const e: AccountRevokedEvent = ev
  const p = tracked(d, e.system, e.type)
  if (!p) return
  const matches = p.pending?.action === 'deprovision' && p.pending.phase === e.phase
  if (!matches) {
    record(d, 'account.stale_outcome', { system: e.system, outcome: `account.revoked:${e.phase}`, status: p.status })
    p.enabled = false
    if (e.phase === 'cleanup' && p.provisioned) p.provisioned = { ...p.provisioned, groups: [], licences: [], channels: [], projects: [], roles: [], products: [], userGroups: [] }
    if (!p.pending && !shouldBeRevoked(d, e.system)) reconcileSystem(d, e.system)
    return
  }
  const pending = p.pending
  delete p.pending
  addResidual(p, e.residual)
  p.enabled = false
  delete p.waitingOn
  const decision = decideRevocation(e.phase, 'revoked', { revoking: shouldBeRevoked(d, e.system), failedVerifications: p.attempts })
  if (decision.status) p.status = decision.status
  if (e.phase === 'cutoff') {
    p.revokedAt = e.now
    if (e.startedAt) p.cutoffStartedAt = e.startedAt
    else delete p.cutoffStartedAt
    record(d, 'system.cut_off', { system: e.system, accountId: p.accountId, purpose: p.purpose })
  } else {
    p.cleanedAt = e.now
    // Gone only if the evidence says so: a plan's delete step can be skipped (a system configured not
    // to delete, a hold), and a rehire must then restore the account that is still there.
    if (e.deleted ?? pending?.deletes) p.deleted = true
    delete p.provisioned
    record(d, 'system.cleaned', { system: e.system, deleted: p.deleted })
    if (e.residual.length > 0) {
      record(d, 'system.residual_access', { system: e.system, residual: e.residual })
      notify(d, 'residual_access', `${e.system}: ${e.residual.length} item(s) could not be removed`, e.system)
    }
  }
  follow(d, e.system, decision)
}

export const onVerified: Handler = (d, ev) => {
  if (ev.type !== 'account.verified') return
  const e: AccountVerifiedEvent = ev
  const p = tracked(d, e.system, e.type)
  if (!p) return
  if (p.pending?.action !== 'verify') {
    record(d, 'account.stale_outcome', { system: e.system, outcome: 'account.verified', revoked: e.revoked, status: p.status })
    if (!e.revoked && p.purpose !== undefined && CLOSED.has(p.status)) accountLiveUnexpectedly(d, e.system, 'account.verified(revoked=false)')
    return
  }
  delete p.pending
  if (e.revoked) {
    p.verifiedAt = e.now
    const decision = decideRevocation('verify', 'verified', { revoking: shouldBeRevoked(d, e.system), failedVerifications: p.attempts })
    if (decision.status) p.status = decision.status
    record(d, 'system.verified', { system: e.system, checks: e.checks })
    follow(d, e.system, decision)
    return
  }
  p.enabled = true
  p.attempts += 1
  const failed = e.checks.filter((c) => !c.ok).map((c) => c.name)
  record(d, 'verification.failed', { system: e.system, attempt: p.attempts, failed, checks: e.checks })
  const decision = decideRevocation('verify', 'still_works', { revoking: shouldBeRevoked(d, e.system), failedVerifications: p.attempts })
  if (decision.status) p.status = decision.status
  if (decision.notify) notify(d, decision.notify, `${e.system}: access still works after ${p.attempts} cut-off attempts (${failed.join(', ')})`, e.system)
  follow(d, e.system, decision)
}

export const onFailed: Handler = (d, ev) => {
  if (ev.type !== 'account.failed') return
  const e: AccountFailedEvent = ev
  const p = tracked(d, e.system, e.type)
  if (!p) return
  const pending = p.pending
  const phase = e.phase ?? pending?.phase
  p.lastError = { action: e.action, kind: e.error.kind, message: e.error.message, at: e.now }
  record(d, 'job.failed', { system: e.system, action: e.action, phase, error: e.error, final: e.final })
  if (!e.final) {
    // A leaver's cut-off never gives up; the attempts it made so far still count.
    if (e.attempts !== undefined && pending?.action === e.action) p.tries = (p.tries ?? 0) + e.attempts
    return
  }
  const matches = pending !== undefined && pending.action === e.action && (e.action !== 'deprovision' || pending.phase === phase)
  if (!matches) return
  delete p.pending
  // Counted apart from `attempts` (which bounds verification re-runs); the case shows both, so
  // case_systems.attempts no longer stays 0 through hundreds of rejected calls.
  p.tries = (p.tries ?? 0) + (e.attempts ?? 1)
  const label = `${e.action}${phase ? ` (${phase})` : ''}`
  if (e.action === 'deprovision' || e.action === 'verify') {
    const step = e.action === 'verify' ? 'verify' : phase === 'cleanup' ? 'cleanup' : 'cutoff'
    const decision = decideRevocation(step, 'failed', { revoking: shouldBeRevoked(d, e.system), failedVerifications: p.attempts })
    if (decision.status) p.status = decision.status
    if (decision.residual === 'cleanup') {
      p.cleanedAt = e.now
      const residual = { kind: 'cleanup', id: p.accountId ?? e.system, reason: e.error.message }
      addResidual(p, [residual])
      record(d, 'system.residual_access', { system: e.system, residual: [residual] })
      notify(d, 'job_failed', `${e.system}: clean-up failed, the account is cut off but residual access remains: ${e.error.message}`, e.system)
    } else {
      addResidual(p, [{ kind: 'account', id: p.accountId ?? e.system, reason: `${label} failed: ${e.error.message}` }])
      notify(d, 'job_failed', `${e.system}: ${label} failed for good; access may still work: ${e.error.message}`, e.system)
    }
    follow(d, e.system, decision)
    return
  }
  p.status = 'failed'
  notify(d, 'job_failed', `${e.system}: ${label} failed for good: ${e.error.message}`, e.system)
  if ((e.action === 'provision' || e.action === 'restore') && shouldBeRevoked(d, e.system)) startCutoff(d, e.system, p.purpose ?? revokePurpose(d))
}

/** Carry out a revocation decision: queue the next step, or hand the system back to `advance`. */
function follow(d: Draft, s: SystemId, decision: RevocationDecision): void {
  switch (decision.next) {
    case 'verify':
      return startVerify(d, s)
    case 'cleanup':
      return startCleanup(d, s)
    case 'cutoff':
      return startCutoff(d, s, d.ctx.systems[s]?.purpose ?? revokePurpose(d), true)
    case 'finished':
    case 'reconcile':
      return advance(d, s)
    case 'person':
      return
  }
}

export const onReconciliationActive: Handler = (d, ev) => {
  if (ev.type !== 'reconciliation.account_active') return
  const p = ensure(d, ev.system)
  if (p.accountId === undefined) p.accountId = ev.accountId
  if (!shouldBeRevoked(d, ev.system)) {
    record(d, 'reconciliation.expected', { system: ev.system, accountId: ev.accountId })
    return
  }
  if (p.pending?.action === 'deprovision' && p.pending.phase === 'cutoff') {
    record(d, 'reconciliation.in_progress', { system: ev.system, accountId: ev.accountId, status: p.status })
    return
  }
  p.enabled = true
  record(d, 'case.reopened', { system: ev.system, accountId: ev.accountId, previousStatus: p.status })
  notify(d, 'case_reopened', `${ev.system}: account ${ev.accountId} found active after revocation; cutting off again`, ev.system)
  startCutoff(d, ev.system, 'reopen')
}

export const onOperatorRetry: Handler = (d, ev) => {
  if (ev.type !== 'operator.retry') return
  const p = d.ctx.systems[ev.system]
  if (!p || (p.status !== 'failed' && p.status !== 'verify_failed') || p.pending) {
    record(d, 'event.ignored', { eventType: ev.type, system: ev.system, reason: `nothing to retry (status ${p?.status ?? 'unknown'})` })
    return
  }
  record(d, 'operator.retry', { system: ev.system, actor: ev.actor, status: p.status })
  if (shouldBeRevoked(d, ev.system)) startCutoff(d, ev.system, p.purpose ?? revokePurpose(d))
  else if (EMPLOYED_PHASES.has(d.ctx.phase)) {
    p.status = restingStatus(p)
    reconcileSystem(d, ev.system)
  }
}

export const onOperatorResolved: Handler = (d, ev) => {
  if (ev.type !== 'operator.resolved') return
  const p = d.ctx.systems[ev.system]
  if (!p || (p.status !== 'failed' && p.status !== 'verify_failed') || p.pending) {
    record(d, 'event.ignored', { eventType: ev.type, system: ev.system, reason: `nothing to resolve (status ${p?.status ?? 'unknown'})` })
    return
  }
  record(d, 'operator.resolved', { system: ev.system, actor: ev.actor, note: ev.note, status: p.status, ...(ev.outcome ? { outcome: ev.outcome } : {}) })
  delete p.lastError
  if (shouldBeRevoked(d, ev.system)) {
    // Accepted: nobody removed it, so the access may still be there: residual access, with a task
    // on which a person decides (removed by hand, or kept under an exception).
    // What the failure already reported (with its tasks) stands; otherwise the account itself.
    if (ev.outcome === 'accepted') {
      if (p.residual.length === 0) addResidual(p, [{ kind: 'account', id: p.accountId ?? ev.system, reason: `failure accepted by ${ev.actor}: ${ev.note}` }])
    }
    else p.residual.push({ kind: 'manual', id: p.accountId ?? ev.system, reason: `resolved by ${ev.actor}: ${ev.note}` })
    p.status = 'done'
    p.purpose = p.purpose ?? revokePurpose(d)
  } else p.status = restingStatus(p)
}

// exceptions

export const onExceptionActivated: Handler = (d, ev) => {
  if (ev.type !== 'exception.activated') return
  const e: ExceptionActivatedEvent = ev
  if (ms(e.until) <= ms(now(d))) {
    record(d, 'event.ignored', { eventType: e.type, exceptionId: e.exceptionId, reason: 'already expired' })
    return
  }
  d.ctx.exceptions[e.exceptionId] = withoutUndefined({ kind: e.kind, system: e.system, until: e.until, grant: e.grant, activatedAt: e.now })
  setTimer(d, `exception_end:${e.exceptionId}`, 'exception_end', e.until, e.exceptionId)
  record(d, 'exception.activated', { exceptionId: e.exceptionId, kind: e.kind, system: e.system, until: e.until })
  const inScope = Object.entries(d.ctx.systems).filter(([s]) => e.system === undefined || e.system === s)
  const notApplied = (s: SystemId, reason: string): void => {
    record(d, 'exception.not_applied', { exceptionId: e.exceptionId, kind: e.kind, system: s, reason })
    notify(d, 'exception_not_applied', `${s}: ${e.kind} ${e.exceptionId} came too late: ${reason}`, s)
  }
  if (e.kind === 'extra_access') {
    recomputeDesired(d)
    if (e.system !== undefined) advance(d, e.system)
  } else if (e.kind === 'delay_revocation') {
    for (const [s, p] of inScope)
      if (p.pending?.action === 'deprovision' && p.pending.phase === 'cutoff' && p.pending.startAfter === undefined)
        notApplied(s, 'the cut-off was already queued')
  } else if (e.kind === 'legal_hold' || e.kind === 'retain_account') {
    for (const [s, p] of inScope)
      if (p.pending?.action === 'deprovision' && p.pending.phase === 'cleanup' && (p.pending.deletes || e.kind === 'legal_hold'))
        notApplied(s, 'the clean-up was already queued')
  }
}

function endException(d: Draft, exceptionId: string, via: 'event' | 'timer'): void {
  const ex = d.ctx.exceptions[exceptionId]
  if (!ex) {
    record(d, 'event.ignored', { eventType: 'exception.ended', exceptionId, reason: 'unknown or already ended' })
    return
  }
  delete d.ctx.exceptions[exceptionId]
  if (via === 'event') cancelSlot(d, `exception_end:${exceptionId}`)
  record(d, 'exception.ended', { exceptionId, kind: ex.kind, system: ex.system, via })
  const early = ms(now(d)) < ms(ex.until)
  for (const [s, p] of Object.entries(d.ctx.systems)) {
    if (p.waitingOn !== exceptionId) continue
    delete p.waitingOn
    // The delayed job is still queued with startAfter=until: when the exception ends early a new,
    // immediate cut-off is queued (the delayed one later finds the account already disabled).
    if (early || activeExceptions(d, 'delay_revocation', s).length > 0) startCutoff(d, s, p.purpose ?? revokePurpose(d), true)
    else p.status = 'revoking'
  }
  if (ex.kind === 'extra_access') {
    recomputeDesired(d)
    if (ex.system !== undefined) advance(d, ex.system)
  }
}

export const onExceptionEnded: Handler = (d, ev) => {
  if (ev.type === 'exception.ended') endException(d, ev.exceptionId, 'event')
}

export const onExceptionTimer: Handler = (d, ev) => {
  if (ev.type !== 'timer.fired') return
  const slot = Object.entries(d.ctx.timers).find(([, t]) => t.timerId === ev.timerId)?.[0]
  consumeTimer(d, ev.timerId)
  if (slot?.startsWith('exception_end:')) endException(d, slot.slice('exception_end:'.length), 'timer')
}
