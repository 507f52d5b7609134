/**
 * The employee lifecycle machine's context: what one employee's persisted snapshot holds besides
 * the state value. Every field here is persisted; changing one changes the snapshot shape (bump
 * EMPLOYEE_LIFECYCLE_VERSION and add an upgrade step, state-machines/upgrades.ts).
 */
import type { AccessGrant, EmployeeProfile, ResidualAccess, RevocationPhase, SystemId } from '../../src/domain/access.ts'
import type { HrSource } from '../events.ts'
import type { ExceptionKind, HrLifecycleEvent, JobAction, LeaverPlan, NotifyKind, Plan, SystemStatus, TimerRequest } from '../lifecycle-types.ts'

export const LIFECYCLE_STATES = [
  'unknown',
  'preHire',
  'provisioning',
  'ready',
  'active',
  'onLeave',
  'terminationScheduled',
  'deprovisioning',
  'offboarded',
  'cancelled',
] as const
export type LifecyclePhase = (typeof LIFECYCLE_STATES)[number]

/** Why a system is being revoked: it changes the deadline, the delay rules and whether to delete. */
export type RevocationPurpose = 'leaver' | 'cancel' | 'mover' | 'reopen'

export interface PendingJob {
  action: JobAction
  phase?: RevocationPhase
  grant?: AccessGrant
  enabled?: boolean
  /** cleanup: the plan deletes the account. */
  deletes?: boolean
  startAfter?: string
}

export interface SystemProgress {
  status: SystemStatus
  accountId?: string
  login?: string
  /** Policy plan plus active extra_access for this system. */
  desired?: AccessGrant
  /** What the target holds as far as Tenure knows (last successful provision/restore/update). */
  provisioned?: AccessGrant
  /** Failed verifications of the current revocation. */
  attempts: number
  /** Job attempts at the target that failed for the step under way, kept across operator retries; cleared when the step succeeds. */
  tries?: number
  lastError?: { action: string; kind: string; message: string; at: string }
  /** When the account was last created or restored (a joiner case's "access ready" moment). */
  provisionedAt?: string
  revokedAt?: string
  /** When the cut-off that set revokedAt began (its first call to the target); the verification's reference time. */
  cutoffStartedAt?: string
  verifiedAt?: string
  cleanedAt?: string
  residual: ResidualAccess[]
  /** The exception id a delayed cut-off waits for. */
  waitingOn?: string
  enabled: boolean
  suspended: boolean
  /** The account was deleted by a clean-up; a rehire provisions a new one. */
  deleted: boolean
  /** The one job in flight for this system; outcomes that do not match it are stale. */
  pending?: PendingJob
  /** Set while the system is on the revocation path (cut-off → verify → clean-up). */
  purpose?: RevocationPurpose
}

export interface AccessSnapshot {
  takenAt: string
  hrEventId: string
  systems: Record<SystemId, { status: SystemStatus; accountId?: string; login?: string; grant?: AccessGrant }>
}

export interface ActiveException {
  kind: ExceptionKind
  system?: SystemId
  until: string
  grant?: AccessGrant
  activatedAt: string
}

export interface TerminationInfo {
  /** HR effective moment; the SLA clock starts here. */
  effectiveAt: string
  receivedAt: string
  immediate: boolean
  /** Already past when it arrived. */
  late: boolean
  hrEventId: string
}

export type HireEvent = Extract<HrLifecycleEvent, { type: 'employee.hired' | 'employee.rehired' }>

export interface LifecycleContext {
  /** Profile updates HR sent after the person left (before a rehire that may follow); replayed on rehire. */
  heldUpdates?: HrLifecycleEvent[]
  employeeId: string
  source: HrSource
  /** Mirrors the state value after every macrostep (handlers need it; tests assert it). */
  phase: LifecyclePhase
  generation: number
  profile?: EmployeeProfile
  /** Attributes HR changed before any event carried the whole profile (an update that overtook the hire). */
  partialProfile?: Partial<EmployeeProfile>
  /** Per attribute: the HR moment its current value is from (an older change never overwrites it). */
  profileAsOf: Record<string, string>
  startDate?: string
  provisionAt?: string
  enableAt?: string
  plan: Plan
  leaver: LeaverPlan
  systems: Record<SystemId, SystemProgress>
  termination?: TerminationInfo
  closing?: 'offboarded' | 'cancelled'
  resumeTo?: 'active' | 'onLeave'
  leave?: { startAt?: string; returnAt?: string }
  snapshot?: AccessSnapshot
  exceptions: Record<string, ActiveException>
  now?: string
  lastHrAt?: string
  lastEmploymentAt?: string
  lastLeaveAt?: string
  seenHrEventIds: string[]
  /** Current timers by slot (`provision`, `enable`, `terminate`, `leave_start`, `leave_end`, `exception_end:<id>`). */
  timers: Record<string, TimerRequest>
  keySeq: Record<string, number>
  pendingRehire?: HireEvent
  /** The hire (or rehire) of this generation: what the joiner case is anchored on. */
  hire?: { hrEventId: string; acceptedAt: string }
  caseOpenedAt?: string
  caseClosedAt?: string
}

export interface LifecycleInput {
  employeeId: string
  source: HrSource
}

export interface RecordParams {
  kind: string
  details: Record<string, unknown>
}
export interface NotifyParams {
  kind: NotifyKind
  system?: string
  message: string
}

/** Phases in which the person is employed: accounts are reconciled towards the plan. */
export const EMPLOYED_PHASES = new Set<LifecyclePhase>(['provisioning', 'ready', 'active', 'onLeave', 'terminationScheduled'])
/** Statuses a system on the revocation path ends in; the case closes when every system is in one. */
export const CLOSED = new Set<SystemStatus>(['done', 'absent'])
