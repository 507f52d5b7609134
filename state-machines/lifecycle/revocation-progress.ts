/**
 * One system's way out: cut-off (disable, sign out, revoke tokens) → verify (read back: access no
 * longer works) → clean-up (transfer, licences, groups, delete), one job at a time.
 *
 * `decideRevocation` is the progression itself, as a table: the step in flight and what came back
 * → the next step, the system's status and what the case gains (residual access, a notification).
 * The outcome handlers (outcome-handlers.ts) ask it once per outcome that matches the job in flight
 * and carry the decision out; the rest of this module builds the plans and queues the jobs of each
 * step. A failure that is not final leaves the step as it is (the job layer retries, the attempts
 * are counted in `tries`): a leaver's cut-off never gives up on its own.
 */
import type { AccessGrant, RevocationPlan, RevocationStepKind, SystemId } from '../../src/domain/access.ts'
import { CUTOFF_STEPS } from '../../src/domain/access.ts'
import type { LeaverOptions, NotifyKind, SystemStatus } from '../lifecycle-types.ts'
import type { RevocationPurpose } from './context.ts'
import { activeExceptions, addJob, ensure, ms, record, withoutUndefined, type Draft } from './draft.ts'

/** Cut-off re-runs after a failed verification before the system is marked `verify_failed`. */
export const MAX_CUTOFF_RERUNS = 3

/** Leaver settings of a system the policy's `leaver:` section does not name. */
/** The step a system on the revocation path is at: the job in flight. */
export type RevocationStep = 'cutoff' | 'verify' | 'cleanup'

/**
 * What can come back for each step's job (outcomes for another job are stale and never reach the
 * table): `revoked` the phase ran (account.revoked), `verified` / `still_works` the read-back says
 * access is gone / still works (account.verified), `failed` the job failed for good (account.failed,
 * final).
 */
export interface RevocationOutcomes {
  cutoff: 'revoked' | 'failed'
  verify: 'verified' | 'still_works' | 'failed'
  cleanup: 'revoked' | 'failed'
}

export interface RevocationFacts {
  /** The system is still to be revoked (shouldBeRevoked): false once a rescind or a re-grant wants it back. */
  revoking: boolean
  /** Failed verifications of this revocation, counting the one being decided. */
  failedVerifications: number
}

export interface RevocationDecision {
  /**
   * verify / cleanup / cutoff: queue that step (cutoff: again, same revocation); finished: this
   * system's revocation is over (the case may close); reconcile: the system is no longer to be
   * revoked and is brought back towards its plan; person: stop until an operator retries or resolves.
   */
  next: 'verify' | 'cleanup' | 'cutoff' | 'finished' | 'reconcile' | 'person'
  /** The system's status now; absent: the next step sets it. */
  status?: SystemStatus
  /** Residual access the case gains: what the clean-up left, or the account itself (access may still work). */
  residual?: 'cleanup' | 'account'
  notify?: NotifyKind
}

/** The revoke → verify → clean-up progression of one system (state-machines/lifecycle/revocation-progress.test.ts is its table). */
export function decideRevocation<S extends RevocationStep>(step: S, outcome: RevocationOutcomes[S], facts: RevocationFacts): RevocationDecision {
  if (outcome === 'failed') {
    // A clean-up that fails leaves a cut-off, verified account: the case can close with the rest
    // listed as residual. A cut-off or verification that fails leaves access that may still work.
    if (step === 'cleanup') return { next: 'finished', status: 'done', residual: 'cleanup', notify: 'job_failed' }
    return { next: 'person', status: 'failed', residual: 'account', notify: 'job_failed' }
  }
  if (step === 'cutoff') return { next: facts.revoking ? 'verify' : 'reconcile', status: 'revoked' }
  if (step === 'cleanup') return { next: 'finished', status: 'done' }
  if (outcome === 'verified') return { next: facts.revoking ? 'cleanup' : 'reconcile', status: 'verified' }
  if (!facts.revoking) return { next: 'reconcile' }
  if (facts.failedVerifications <= MAX_CUTOFF_RERUNS) return { next: 'cutoff' }
  return { next: 'person', status: 'verify_failed', notify: 'verification_failed' }
}

export const DEFAULT_LEAVER: LeaverOptions = { delete: false, transferData: false }

/** The system is to be revoked: the case is closing, or the plan no longer grants it an account. */
export function shouldBeRevoked(d: Draft, system: SystemId): boolean {
  if (d.ctx.closing !== undefined) return true
  return d.ctx.systems[system]?.desired?.account !== true
}

/** Why a system that starts its revocation now is revoked. */
export function revokePurpose(d: Draft): RevocationPurpose {
  if (d.ctx.closing === 'cancelled') return 'cancel'
  if (d.ctx.closing === 'offboarded') return 'leaver'
  return 'mover'
}

/** What Tenure granted in this system, as far as it knows: a lower bound of what to remove and check. */
export function grantedIn(d: Draft, s: SystemId): AccessGrant | undefined {
  const p = d.ctx.systems[s]
  return p?.provisioned ?? p?.pending?.grant ?? d.ctx.snapshot?.systems[s]?.grant
}

export function cutoffPlan(d: Draft, s: SystemId): RevocationPlan {
  const legalHold = activeExceptions(d, 'legal_hold', s).length > 0
  const retainAccount = activeExceptions(d, 'retain_account', s).length > 0
  return {
    phase: 'cutoff',
    steps: [...CUTOFF_STEPS],
    options: withoutUndefined({ legalHold: legalHold || undefined, retainAccount: retainAccount || undefined, granted: grantedIn(d, s) }),
  }
}

/**
 * Clean-up steps, in an order that keeps data safe: transfer and mailbox conversion run while the
 * licences that hold the data are still assigned (Microsoft 365 and Google Workspace start deleting
 * a mailbox/Drive once the licence is gone), so licences are removed after them and never under a
 * legal hold; delete comes last and never under legal_hold or retain_account.
 */
export function cleanupPlan(d: Draft, s: SystemId, purpose: RevocationPurpose): RevocationPlan {
  const opts = d.ctx.leaver[s] ?? DEFAULT_LEAVER
  const legalHold = activeExceptions(d, 'legal_hold', s).length > 0
  const retainAccount = activeExceptions(d, 'retain_account', s).length > 0
  const manager = d.ctx.profile?.managerEmail
  const transfer = opts.transferData && !legalHold && manager !== undefined && purpose !== 'cancel'
  const keepMailbox = opts.keepMailbox === true || legalHold || retainAccount
  const wantsDelete = purpose === 'cancel' || opts.delete
  const steps: RevocationStepKind[] = []
  if (transfer) steps.push('transfer_data')
  if (keepMailbox) steps.push('convert_mailbox')
  steps.push('remove_groups', 'remove_roles', 'remove_channels', 'remove_products')
  if (!legalHold) steps.push('remove_licences')
  if (opts.leaversOrgUnit !== undefined) steps.push('move_org_unit')
  if (wantsDelete && !legalHold && !retainAccount) steps.push('delete')
  return {
    phase: 'cleanup',
    steps,
    options: withoutUndefined({
      transferTo: transfer && manager !== undefined ? withoutUndefined({ email: manager, employeeId: d.ctx.profile?.managerId }) : undefined,
      leaversOrgUnit: opts.leaversOrgUnit,
      legalHold: legalHold || undefined,
      retainAccount: retainAccount || undefined,
      keepMailbox: keepMailbox || undefined,
      granted: grantedIn(d, s),
    }),
  }
}

export function deadlineFor(d: Draft, purpose: RevocationPurpose | undefined): string | undefined {
  return purpose === 'mover' || purpose === undefined ? undefined : d.ctx.termination?.effectiveAt
}

/** `rerun`: another cut-off of the same revocation (after a failed verification); keeps the count. */
export function startCutoff(d: Draft, s: SystemId, purpose: RevocationPurpose, rerun = false): void {
  const p = ensure(d, s)
  if (!rerun) p.attempts = 0
  p.purpose = purpose
  const delay =
    purpose === 'leaver' || purpose === 'cancel'
      ? activeExceptions(d, 'delay_revocation', s).sort(([, a], [, b]) => ms(b.until) - ms(a.until))[0]
      : undefined
  const startAfter = delay?.[1].until
  p.pending = withoutUndefined({ action: 'deprovision' as const, phase: 'cutoff' as const, startAfter })
  if (delay) {
    p.status = 'waiting_exception'
    p.waitingOn = delay[0]
    record(d, 'revocation.delayed', { system: s, exceptionId: delay[0], until: delay[1].until })
  } else {
    p.status = 'revoking'
    delete p.waitingOn
  }
  addJob(d, {
    system: s,
    action: 'deprovision',
    phase: 'cutoff',
    plan: cutoffPlan(d, s),
    accountId: p.accountId,
    deadline: deadlineFor(d, purpose),
    startAfter,
  })
}

export function startVerify(d: Draft, s: SystemId): void {
  const p = ensure(d, s)
  p.pending = { action: 'verify' }
  p.status = 'verifying'
  // The target's revocation happened after the cut-off began, not necessarily after its answer came
  // back (on a slow network or a busy worker, seconds later): the read-back is compared with the start.
  addJob(d, { system: s, action: 'verify', accountId: p.accountId, revokedAt: p.cutoffStartedAt ?? p.revokedAt, deadline: deadlineFor(d, p.purpose), grant: grantedIn(d, s) })
}

export function startCleanup(d: Draft, s: SystemId): void {
  const p = ensure(d, s)
  const plan = cleanupPlan(d, s, p.purpose ?? 'mover')
  p.pending = { action: 'deprovision', phase: 'cleanup', deletes: plan.steps.includes('delete') }
  p.status = 'cleaning'
  addJob(d, { system: s, action: 'deprovision', phase: 'cleanup', plan, accountId: p.accountId, deadline: deadlineFor(d, p.purpose) })
}
