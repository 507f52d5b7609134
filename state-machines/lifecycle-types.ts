/**
 * The contract between the employee lifecycle machine and the engine that drives it: the events
 * the engine sends, the jobs and timers the machine asks for, and the per-system progress it keeps.
 * Types only (plus the constant lists they are built from), so src/ can import them without
 * pulling in XState.
 */
import type {
  AccessChange,
  AccessGrant,
  ResidualAccess,
  RevocationPhase,
  RevocationPlan,
  SystemId,
} from '../src/domain/access.ts'
import type { CanonicalEvent, CanonicalEventType } from './events.ts'

/** The birthright policy evaluated for the profile as it stands after an HR event. */
export type Plan = Record<SystemId, AccessGrant>

/** Moments computed by src/lifecycle/schedule.ts for the HR event being sent (ISO, UTC). */
export interface Moments {
  /** When accounts are created (start date minus the lead time). */
  provisionAt?: string
  /** When accounts may be used (start of day one in the employee's zone). */
  enableAt?: string
  /** The HR effective moment of a termination; the SLA clock starts here even when it is past. */
  terminationAt?: string
  /** Start of a leave of absence. */
  leaveAt?: string
  /** End of a leave of absence (from employee.leave_ended). */
  returnAt?: string
}

/** Per-system leaver settings from the policy (`leaver:` section). */
export interface LeaverOptions {
  /** Delete the account in the clean-up phase (never under legal_hold or retain_account). */
  delete: boolean
  /** Transfer data (Drive, mailbox) to the manager where the system supports it. */
  transferData: boolean
  /** Google: org unit for suspended leavers. */
  leaversOrgUnit?: string
  /** Entra: keep the mailbox by converting it to a shared mailbox. */
  keepMailbox?: boolean
}
export type LeaverPlan = Record<SystemId, LeaverOptions>

export const JOB_ACTIONS = ['provision', 'update', 'enable', 'suspend', 'deprovision', 'verify', 'restore'] as const
export type JobAction = (typeof JOB_ACTIONS)[number]

/**
 * One job for the engine to enqueue. `key` is deterministic:
 * `${source}:${employeeId}:${system}:${action}[:${phase}]:g${generation}` for the first job of its kind in a
 * generation and `…:g${generation}:n${n}` (n ≥ 2) for later ones (a re-plan, a cut-off re-run after
 * a failed verification), so a re-run is never swallowed by singleton de-duplication while a
 * restored snapshot that re-sends nothing can never produce a second copy.
 */
export interface JobRequest {
  key: string
  system: SystemId
  action: JobAction
  phase?: RevocationPhase
  /** provision / restore / update: the access the account should end up with. verify: what Tenure granted (a lower bound of what to check). */
  grant?: AccessGrant
  /** update: the delta to apply. */
  change?: AccessChange
  /** deprovision: the steps of this phase and their options. */
  plan?: RevocationPlan
  /** Absent when Tenure never saw the account: the worker looks it up by employee. */
  accountId?: string
  /** Do not start before this moment (an approved delay_revocation). */
  startAfter?: string
  /**
   * Leaver jobs: the HR effective moment of the termination. The engine adds the SLA budget
   * (slaDeadline) and orders leaver work by it, so the oldest termination is cut off first.
   */
  deadline?: string
  /** provision / restore: leave the account enabled (false before day one and during a leave). */
  enabled?: boolean
  /** verify: when the cut-off ran; session checks compare against it. */
  revokedAt?: string
}

export const TIMER_KINDS = ['provision', 'enable', 'terminate', 'leave_start', 'leave_end', 'exception_end'] as const
export type TimerKind = (typeof TIMER_KINDS)[number]

/**
 * `timerId` is `${source}:${employeeId}:${timer}:g${generation}:${at}` (`…:${exceptionId}` for
 * exception_end): a changed date yields a new id, so a fired stale timer is recognised and ignored.
 */
export interface TimerRequest {
  timerId: string
  timer: TimerKind
  at: string
}

export const EXCEPTION_KINDS = ['delay_revocation', 'retain_account', 'legal_hold', 'extra_access', 'sla_waiver'] as const
export type ExceptionKind = (typeof EXCEPTION_KINDS)[number]

export const SYSTEM_STATUSES = [
  'planned',
  'provisioning',
  'provisioned',
  'active',
  'suspending',
  'suspended',
  'updating',
  'revoking',
  'revoked',
  'verifying',
  'verified',
  'cleaning',
  'done',
  'waiting_exception',
  'verify_failed',
  'failed',
  'absent',
] as const
export type SystemStatus = (typeof SYSTEM_STATUSES)[number]

export const NOTIFY_KINDS = [
  'verification_failed',
  'job_failed',
  'case_reopened',
  'residual_access',
  'access_reenabled',
  'access_not_restored',
  'exception_not_applied',
] as const
export type NotifyKind = (typeof NOTIFY_KINDS)[number]

/** An HR event as the engine sends it: the canonical event plus what the engine computed for it. */
export type HrLifecycleEvent = {
  [K in CanonicalEventType]: {
    type: K
    hr: Extract<CanonicalEvent, { type: K }>
    plan: Plan
    moments: Moments
    now: string
    /** Per-system leaver settings from the policy; kept from the previous event when absent. */
    leaver?: LeaverPlan
  }
}[CanonicalEventType]

export interface TimerFiredEvent {
  type: 'timer.fired'
  timerId: string
  timer: TimerKind
  now: string
}

export interface AccountProvisionedEvent {
  type: 'account.provisioned'
  system: SystemId
  accountId: string
  login?: string
  now: string
}
export interface AccountChangedEvent {
  type: 'account.updated' | 'account.enabled' | 'account.suspended'
  system: SystemId
  now: string
}
export interface AccountRevokedEvent {
  type: 'account.revoked'
  system: SystemId
  phase: RevocationPhase
  residual: ResidualAccess[]
  /**
   * Clean-up: whether the account is gone now, read from the evidence (the delete step ran, or the
   * account did not exist). Absent from workers older than this field: the plan decides then.
   */
  deleted?: boolean
  /**
   * When the worker began the revocation, before its first call to the target. A read-back
   * compares the target's own revocation time with this (Entra's signInSessionsValidFromDateTime
   * is set while the call runs, before `now`, which is taken after the answers). Absent from
   * workers older than this field: `now` is used.
   */
  startedAt?: string
  now: string
}
export interface AccountVerifiedEvent {
  type: 'account.verified'
  system: SystemId
  revoked: boolean
  checks: { name: string; ok: boolean }[]
  now: string
}
export interface AccountFailedEvent {
  type: 'account.failed'
  system: SystemId
  action: JobAction
  /** Optional: the machine infers it from the system's progress when absent. */
  phase?: RevocationPhase
  error: { kind: string; message: string }
  /** True when the job layer gave up (permanent error or retries exhausted). */
  final: boolean
  /** Attempts the job layer made at the target for this step (retries and pushed-back re-runs included); absent counts 1. */
  attempts?: number
  now: string
}
export interface ExceptionActivatedEvent {
  type: 'exception.activated'
  exceptionId: string
  kind: ExceptionKind
  system?: SystemId
  until: string
  grant?: AccessGrant
  now: string
}
export interface ExceptionEndedEvent {
  type: 'exception.ended'
  exceptionId: string
  now: string
}
/** Reconciliation found an account active that Tenure had revoked (or must not exist). */
export interface ReconciliationAccountActiveEvent {
  type: 'reconciliation.account_active'
  system: SystemId
  accountId: string
  now: string
}
/** An operator asks to re-run a failed system (resets the attempt counter). */
export interface OperatorRetryEvent {
  type: 'operator.retry'
  system: SystemId
  actor: string
  now: string
}
/** An operator confirms a failed system was handled by hand; its open items become residual. */
export interface OperatorResolvedEvent {
  type: 'operator.resolved'
  system: SystemId
  actor: string
  note: string
  now: string
  /**
   * accepted: the failure stands and the access may still be there (a leaver's becomes residual
   * access with a task for a person to decide on); absent or resolved_by_hand: handled by hand.
   */
  outcome?: 'accepted' | 'resolved_by_hand'
}

export type AccountOutcomeEvent =
  | AccountProvisionedEvent
  | AccountChangedEvent
  | AccountRevokedEvent
  | AccountVerifiedEvent
  | AccountFailedEvent

export type LifecycleEvent =
  | HrLifecycleEvent
  | TimerFiredEvent
  | AccountOutcomeEvent
  | ExceptionActivatedEvent
  | ExceptionEndedEvent
  | ReconciliationAccountActiveEvent
  | OperatorRetryEvent
  | OperatorResolvedEvent

export type { AccessChange, AccessGrant, ResidualAccess, RevocationPlan, SystemId }
