/**
 * Per-system steps while the person is employed: create or restore an account, enable or suspend
 * it, change its access, one job at a time, towards the desired access; and what to do when an
 * outcome leaves a system without a job (`advance`), or shows an account live where it must not be.
 */
import type { AccessChange, AccessGrant, AccessList, SystemId } from '../../src/domain/access.ts'
import { diffAccess, isEmptyChange } from '../access.ts'
import type { JobAction } from '../lifecycle-types.ts'
import { EMPLOYED_PHASES, type LifecycleContext, type SystemProgress } from './context.ts'
import { addJob, atOrBefore, ensure, notify, record, restingStatus, withoutUndefined, type Draft } from './draft.ts'
import { revokePurpose, shouldBeRevoked, startCutoff } from './revocation-progress.ts'

export function enabledTarget(d: Draft): boolean {
  switch (d.ctx.phase) {
    case 'active':
      return true
    case 'terminationScheduled':
      return d.ctx.resumeTo !== 'onLeave'
    case 'provisioning':
      return enableDue(d.ctx)
    default:
      return false
  }
}

export function enableDue(ctx: LifecycleContext): boolean {
  return ctx.enableAt === undefined || ctx.now === undefined || atOrBefore(ctx.enableAt, ctx.now)
}

export function clearRevocation(p: SystemProgress): void {
  delete p.purpose
  delete p.revokedAt
  delete p.cutoffStartedAt
  delete p.verifiedAt
  delete p.cleanedAt
  delete p.waitingOn
  p.residual = []
  p.attempts = 0
}

export function startProvision(d: Draft, s: SystemId): void {
  const p = ensure(d, s)
  const grant = p.desired
  if (grant === undefined) return
  const restore = p.accountId !== undefined && !p.deleted
  const action: JobAction = restore ? 'restore' : 'provision'
  const enabled = enabledTarget(d)
  clearRevocation(p)
  p.status = 'provisioning'
  p.pending = { action, grant, enabled }
  addJob(d, { system: s, action, grant, enabled, accountId: restore ? p.accountId : undefined })
}

/**
 * Enabling carries the whole desired grant: access is attached to an account that can use it
 * (Slack refuses channel and user-group additions for a deactivated member), so what a suspended
 * account could not be given (a move during a leave, a restore before day one) is given here.
 */
export function startToggle(d: Draft, s: SystemId, enabled: boolean): void {
  const p = ensure(d, s)
  const action: JobAction = enabled ? 'enable' : 'suspend'
  const grant = enabled ? p.desired : undefined
  p.pending = withoutUndefined({ action, grant })
  p.status = enabled ? restingStatus(p) : 'suspending'
  addJob(d, { system: s, action, accountId: p.accountId, grant })
}

export function startUpdate(d: Draft, s: SystemId, change: AccessChange, grant: AccessGrant | undefined): void {
  const p = ensure(d, s)
  p.pending = { action: 'update', grant }
  p.status = 'updating'
  addJob(d, { system: s, action: 'update', change, grant, accountId: p.accountId })
}

/** Bring one system towards its desired access while the person is employed. One job at a time. */
export function reconcileSystem(d: Draft, s: SystemId): void {
  const p = d.ctx.systems[s]
  if (!p || p.pending) return
  const want = p.desired?.account === true
  if (want) {
    // A job that failed for good waits for a person (operator.retry, a dead-letter redrive): a later
    // HR change or day one re-running it would only fail again and fill the dead-letter queue.
    if (p.status === 'failed') return
    if (p.purpose !== undefined || p.status === 'planned' || p.accountId === undefined || p.deleted) {
      startProvision(d, s)
      return
    }
    const enabled = enabledTarget(d)
    if (enabled !== p.enabled) {
      startToggle(d, s, enabled)
      return
    }
    const { change } = diffAccess(p.desired, p.provisioned)
    if (!enabled && p.provisioned) {
      // A suspended account (a leave, before day one) only loses access now: what it gains is
      // given when it is enabled again (startToggle carries the whole grant).
      const removal: AccessChange = { add: {}, remove: change.remove }
      if (isEmptyChange(removal)) p.status = restingStatus(p)
      else startUpdate(d, s, removal, { ...p.provisioned, ...Object.fromEntries(Object.entries(change.remove).map(([list, items]) => [list, (p.provisioned?.[list as AccessList] ?? []).filter((i) => !items.includes(i))])) })
      return
    }
    if (!isEmptyChange(change)) startUpdate(d, s, change, p.desired)
    else p.status = restingStatus(p)
    return
  }
  if (p.purpose !== undefined) return
  if (p.status === 'planned' && p.accountId === undefined) {
    delete d.ctx.systems[s]
    return
  }
  startCutoff(d, s, 'mover')
}

export function reconcileAll(d: Draft): void {
  if (!EMPLOYED_PHASES.has(d.ctx.phase)) return
  for (const s of Object.keys(d.ctx.systems).sort()) reconcileSystem(d, s)
}

/** After an outcome leaves a system without a job: continue revoking, or reconcile. */
export function advance(d: Draft, s: SystemId): void {
  const p = d.ctx.systems[s]
  if (!p || p.pending) return
  if (shouldBeRevoked(d, s)) {
    if (p.purpose !== undefined) return
    if (p.status === 'planned' && p.accountId === undefined) {
      if (d.ctx.closing !== undefined) {
        p.status = 'absent'
        p.purpose = revokePurpose(d)
      } else delete d.ctx.systems[s]
      return
    }
    startCutoff(d, s, revokePurpose(d))
    return
  }
  if (EMPLOYED_PHASES.has(d.ctx.phase)) reconcileSystem(d, s)
}

/** The account is (or may be) live where it must not be: start the revocation again. */
export function accountLiveUnexpectedly(d: Draft, s: SystemId, what: string): void {
  const p = ensure(d, s)
  p.enabled = true
  if (!shouldBeRevoked(d, s)) {
    record(d, 'account.stale_outcome', { system: s, outcome: what, status: p.status })
    if (!p.pending) reconcileSystem(d, s)
    return
  }
  if (p.pending?.action === 'deprovision' && p.pending.phase === 'cutoff') {
    record(d, 'account.stale_outcome', { system: s, outcome: what, status: p.status, note: 'cut-off already queued' })
    return
  }
  record(d, 'access.reenabled', { system: s, outcome: what, accountId: p.accountId })
  notify(d, 'access_reenabled', `${s}: ${what} arrived after revocation started; cutting off again`, s)
  startCutoff(d, s, p.purpose ?? revokePurpose(d))
}
