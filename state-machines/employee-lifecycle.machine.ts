/**
 * One employee's lifecycle: joiner → mover → leaver (→ rehire), with per-system progress so the
 * machine knows which systems are done, which failed and which wait on an exception.
 *
 * Pure: no I/O and no clock. Time arrives in every event as `now`; moments (start of day one,
 * termination) are computed by src/lifecycle/schedule.ts and sent in `moments`.
 *
 * Side effects are ACTIONS (enqueue, schedule, cancelTimer, record, notify) declared here as
 * placeholders and supplied by the engine with `.provide()`. The engine handles an event by locking
 * the employee row, restoring the persisted snapshot, sending the event and persisting the new
 * snapshot plus the jobs/timers/audit rows its actions produced, all in one transaction. Actions run
 * exactly once, during the transition that causes them, and are NOT re-run when a snapshot is
 * restored. Invoked actors would be restarted on restore (an in-flight promise is re-created), so
 * every restore would re-send work; that is why this machine has no actors at all. Results come back
 * later as events (`account.provisioned`, `account.revoked`, ...).
 *
 * Most of the work is done by small pure "handlers" that mutate a draft copy of the context and
 * collect effects; `act()` turns one into an `enqueueActions` that assigns the new context and
 * enqueues the effects in order. Transitions that need the outcome of that work (every system
 * settled, every system revoked) are eventless `always` transitions guarded on the context.
 */
import { enqueueActions, setup } from 'xstate'
import type { EmployeeProfile, ResidualAccess, RevocationPhase, RevocationPlan, SystemId } from '../src/domain/access.ts'
import { CUTOFF_STEPS } from '../src/domain/access.ts'
import type { RevocationStepKind, AccessChange, AccessGrant, AccessList } from '../src/domain/access.ts'
import { diffAccess, isEmptyChange, intersectGrants, mergeGrants, normaliseGrant, subtractGrants } from './access.ts'
import { employeeProfileSchema, type HrSource } from './events.ts'
import type {
  AccountChangedEvent,
  AccountFailedEvent,
  AccountProvisionedEvent,
  AccountRevokedEvent,
  AccountVerifiedEvent,
  ExceptionActivatedEvent,
  ExceptionKind,
  HrLifecycleEvent,
  JobAction,
  JobRequest,
  LeaverOptions,
  LeaverPlan,
  LifecycleEvent,
  NotifyKind,
  Plan,
  SystemStatus,
  TimerKind,
  TimerRequest,
} from './lifecycle-types.ts'

export type * from './lifecycle-types.ts'
export { EXCEPTION_KINDS, JOB_ACTIONS, NOTIFY_KINDS, SYSTEM_STATUSES, TIMER_KINDS } from './lifecycle-types.ts'

/** Cut-off re-runs after a failed verification before the system is marked `verify_failed`. */
export const MAX_CUTOFF_RERUNS = 3
/** HR event ids remembered for duplicate detection (the webhook layer de-duplicates deliveries too). */
export const SEEN_EVENT_IDS = 500
/**
 * The shape of this machine's persisted snapshot (states and context). Bump it with every change a
 * snapshot stored by the previous version would not fit (a context field added without a default,
 * renamed or re-typed; a state renamed or removed), and add the step that carries old snapshots over
 * in state-machines/upgrades.ts. Stored beside each snapshot (employees.machine_version): a worker
 * upgrades older snapshots on read and refuses newer ones (docs/operations.md, "Upgrades").
 */
export const EMPLOYEE_LIFECYCLE_VERSION = 1

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

type HireEvent = Extract<HrLifecycleEvent, { type: 'employee.hired' | 'employee.rehired' }>

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

type Effect =
  | { type: 'enqueue'; params: { jobs: JobRequest[] } }
  | { type: 'schedule'; params: TimerRequest }
  | { type: 'cancelTimer'; params: { timerId: string } }
  | { type: 'record'; params: RecordParams }
  | { type: 'notify'; params: NotifyParams }

interface Draft {
  ctx: LifecycleContext
  effects: Effect[]
  jobs: JobRequest[]
  /** The phase the machine was in before this transition. */
  from: LifecyclePhase
}

// ---------------------------------------------------------------------------------------------
// time and small helpers

const ms = (iso: string): number => Date.parse(iso)
const atOrBefore = (a: string, b: string): boolean => ms(a) <= ms(b)
const later = (a: string | undefined, b: string): string => (a === undefined || ms(b) > ms(a) ? b : a)

const EMPLOYMENT_TYPES = new Set<string>([
  'employee.hired',
  'employee.rehired',
  'employee.hire_cancelled',
  'employee.terminated',
  'employee.termination_rescinded',
])
const LEAVE_TYPES = new Set<string>(['employee.leave_started', 'employee.leave_ended'])
const PROFILE_KEYS = Object.keys(employeeProfileSchema.shape).filter((k) => k !== 'employeeId')
const EMPLOYED_PHASES = new Set<LifecyclePhase>(['provisioning', 'ready', 'active', 'onLeave', 'terminationScheduled'])
const CLOSED = new Set<SystemStatus>(['done', 'absent'])
const ATTEMPTED_TIMER_SLOTS = ['provision', 'enable', 'terminate', 'leave_start', 'leave_end'] as const

const DEFAULT_LEAVER: LeaverOptions = { delete: false, transferData: false }

function isHrEvent(event: LifecycleEvent): event is HrLifecycleEvent {
  return 'hr' in event
}

function newSystem(): SystemProgress {
  return { status: 'planned', attempts: 0, residual: [], enabled: false, suspended: false, deleted: false }
}

function ensure(d: Draft, system: SystemId): SystemProgress {
  const existing = d.ctx.systems[system]
  if (existing) return existing
  const created = newSystem()
  d.ctx.systems[system] = created
  return created
}

function now(d: Draft): string {
  return d.ctx.now ?? new Date(0).toISOString()
}

function record(d: Draft, kind: string, details: Record<string, unknown>): void {
  d.effects.push({ type: 'record', params: { kind, details: { employeeId: d.ctx.employeeId, ...details } } })
}

function notify(d: Draft, kind: NotifyKind, message: string, system?: SystemId): void {
  d.effects.push({ type: 'notify', params: system === undefined ? { kind, message } : { kind, system, message } })
}

function restingStatus(p: SystemProgress): SystemStatus {
  if (p.accountId === undefined && p.provisioned === undefined) return 'planned'
  if (p.suspended) return 'suspended'
  return p.enabled ? 'active' : 'provisioned'
}

/**
 * Record what could not be removed, once per (kind, id): a cut-off re-run after a failed
 * verification reports the same items again, and each item needs one human decision, not four.
 */
function addResidual(p: SystemProgress, items: ResidualAccess[]): void {
  for (const item of items) {
    const known = p.residual.find((r) => r.kind === item.kind && r.id === item.id)
    if (known) known.reason = item.reason
    else p.residual.push(item)
  }
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

// ---------------------------------------------------------------------------------------------
// jobs and timers

/**
 * The employee's part of every job, timer and task key: the HR id qualified by its source, since
 * two HR sources may both have an employee 1002 (their keys must never meet: a job id derived from
 * one would swallow the other's job).
 */
export function employeeKeyOf(ctx: Pick<LifecycleContext, 'source' | 'employeeId'>): string {
  return `${ctx.source}:${ctx.employeeId}`
}

function nextKey(d: Draft, system: SystemId, action: JobAction, phase?: RevocationPhase): string {
  const base = `${employeeKeyOf(d.ctx)}:${system}:${action}${phase ? `:${phase}` : ''}:g${d.ctx.generation}`
  const n = (d.ctx.keySeq[base] ?? 0) + 1
  d.ctx.keySeq[base] = n
  return n === 1 ? base : `${base}:n${n}`
}

function addJob(d: Draft, job: Omit<JobRequest, 'key'>): void {
  d.jobs.push(withoutUndefined({ key: nextKey(d, job.system, job.action, job.phase), ...job }))
}

function setTimer(d: Draft, slot: string, timer: TimerKind, at: string, suffix?: string): void {
  const timerId = `${employeeKeyOf(d.ctx)}:${timer}:g${d.ctx.generation}:${at}${suffix ? `:${suffix}` : ''}`
  const current = d.ctx.timers[slot]
  if (current?.timerId === timerId) return
  if (current) cancelSlot(d, slot)
  const request: TimerRequest = { timerId, timer, at }
  d.ctx.timers[slot] = request
  d.effects.push({ type: 'schedule', params: request })
}

function cancelSlot(d: Draft, slot: string): void {
  const current = d.ctx.timers[slot]
  if (!current) return
  delete d.ctx.timers[slot]
  d.effects.push({ type: 'cancelTimer', params: { timerId: current.timerId } })
}

function isCurrentTimer(ctx: LifecycleContext, timerId: string, kind: TimerKind): boolean {
  return Object.values(ctx.timers).some((t) => t.timerId === timerId && t.timer === kind)
}

function consumeTimer(d: Draft, timerId: string): void {
  for (const [slot, t] of Object.entries(d.ctx.timers)) if (t.timerId === timerId) delete d.ctx.timers[slot]
}

// ---------------------------------------------------------------------------------------------
// profile, plan and ordering

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

function markSeen(d: Draft, ev: HrLifecycleEvent): void {
  d.ctx.seenHrEventIds.push(ev.hr.eventId)
  if (d.ctx.seenHrEventIds.length > SEEN_EVENT_IDS) d.ctx.seenHrEventIds.splice(0, d.ctx.seenHrEventIds.length - SEEN_EVENT_IDS)
}

function activeExceptions(d: Draft, kind: ExceptionKind, system: SystemId): [string, ActiveException][] {
  return Object.entries(d.ctx.exceptions).filter(
    ([, e]) => e.kind === kind && (e.system === undefined || e.system === system) && ms(e.until) > ms(now(d)),
  )
}

/** Desired access per system: the policy plan plus active extra_access exceptions. */
function recomputeDesired(d: Draft): void {
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

function applyHr(d: Draft, ev: HrLifecycleEvent): void {
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

// ---------------------------------------------------------------------------------------------
// per-system steps

function enabledTarget(d: Draft): boolean {
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

function enableDue(ctx: LifecycleContext): boolean {
  return ctx.enableAt === undefined || ctx.now === undefined || atOrBefore(ctx.enableAt, ctx.now)
}

function shouldBeRevoked(d: Draft, system: SystemId): boolean {
  if (d.ctx.closing !== undefined) return true
  return d.ctx.systems[system]?.desired?.account !== true
}

function revokePurpose(d: Draft): RevocationPurpose {
  if (d.ctx.closing === 'cancelled') return 'cancel'
  if (d.ctx.closing === 'offboarded') return 'leaver'
  return 'mover'
}

function clearRevocation(p: SystemProgress): void {
  delete p.purpose
  delete p.revokedAt
  delete p.verifiedAt
  delete p.cleanedAt
  delete p.waitingOn
  p.residual = []
  p.attempts = 0
}

function startProvision(d: Draft, s: SystemId): void {
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
function startToggle(d: Draft, s: SystemId, enabled: boolean): void {
  const p = ensure(d, s)
  const action: JobAction = enabled ? 'enable' : 'suspend'
  const grant = enabled ? p.desired : undefined
  p.pending = withoutUndefined({ action, grant })
  p.status = enabled ? restingStatus(p) : 'suspending'
  addJob(d, { system: s, action, accountId: p.accountId, grant })
}

function startUpdate(d: Draft, s: SystemId, change: AccessChange, grant: AccessGrant | undefined): void {
  const p = ensure(d, s)
  p.pending = { action: 'update', grant }
  p.status = 'updating'
  addJob(d, { system: s, action: 'update', change, grant, accountId: p.accountId })
}

/** What Tenure granted in this system, as far as it knows: a lower bound of what to remove and check. */
function grantedIn(d: Draft, s: SystemId): AccessGrant | undefined {
  const p = d.ctx.systems[s]
  return p?.provisioned ?? p?.pending?.grant ?? d.ctx.snapshot?.systems[s]?.grant
}

function cutoffPlan(d: Draft, s: SystemId): RevocationPlan {
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
function cleanupPlan(d: Draft, s: SystemId, purpose: RevocationPurpose): RevocationPlan {
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

function deadlineFor(d: Draft, purpose: RevocationPurpose | undefined): string | undefined {
  return purpose === 'mover' || purpose === undefined ? undefined : d.ctx.termination?.effectiveAt
}

/** `rerun`: another cut-off of the same revocation (after a failed verification); keeps the count. */
function startCutoff(d: Draft, s: SystemId, purpose: RevocationPurpose, rerun = false): void {
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

function startVerify(d: Draft, s: SystemId): void {
  const p = ensure(d, s)
  p.pending = { action: 'verify' }
  p.status = 'verifying'
  addJob(d, { system: s, action: 'verify', accountId: p.accountId, revokedAt: p.revokedAt, deadline: deadlineFor(d, p.purpose), grant: grantedIn(d, s) })
}

function startCleanup(d: Draft, s: SystemId): void {
  const p = ensure(d, s)
  const plan = cleanupPlan(d, s, p.purpose ?? 'mover')
  p.pending = { action: 'deprovision', phase: 'cleanup', deletes: plan.steps.includes('delete') }
  p.status = 'cleaning'
  addJob(d, { system: s, action: 'deprovision', phase: 'cleanup', plan, accountId: p.accountId, deadline: deadlineFor(d, p.purpose) })
}

/** Bring one system towards its desired access while the person is employed. One job at a time. */
function reconcileSystem(d: Draft, s: SystemId): void {
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

function reconcileAll(d: Draft): void {
  if (!EMPLOYED_PHASES.has(d.ctx.phase)) return
  for (const s of Object.keys(d.ctx.systems).sort()) reconcileSystem(d, s)
}

/** After an outcome leaves a system without a job: continue revoking, or reconcile. */
function advance(d: Draft, s: SystemId): void {
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
function accountLiveUnexpectedly(d: Draft, s: SystemId, what: string): void {
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

// ---------------------------------------------------------------------------------------------
// snapshot, termination, case

function takeSnapshot(d: Draft, hrEventId: string): void {
  const systems: AccessSnapshot['systems'] = {}
  for (const [s, p] of Object.entries(d.ctx.systems)) {
    if (p.status === 'planned' && p.accountId === undefined && !p.pending) continue
    systems[s] = withoutUndefined({ status: p.status, accountId: p.accountId, login: p.login, grant: p.provisioned ?? p.pending?.grant })
  }
  d.ctx.snapshot = { takenAt: now(d), hrEventId, systems }
  record(d, 'access.snapshot_taken', { hrEventId, systems })
}

function beginTermination(d: Draft, ev: Extract<HrLifecycleEvent, { type: 'employee.terminated' }>): void {
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

function startDeprovisioning(d: Draft, purpose: RevocationPurpose): void {
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

function caseClosed(ctx: LifecycleContext): boolean {
  return Object.values(ctx.systems).every((p) => p.pending === undefined && CLOSED.has(p.status))
}

function closeCase(d: Draft): void {
  d.ctx.caseClosedAt = now(d)
  const summary = Object.fromEntries(
    Object.entries(d.ctx.systems).map(([s, p]) => [s, withoutUndefined({ status: p.status, verifiedAt: p.verifiedAt, residual: p.residual.length ? p.residual : undefined })]),
  )
  record(d, 'case.closed', { outcome: d.ctx.phase, generation: d.ctx.generation, systems: summary })
}

function newGeneration(d: Draft): void {
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

// ---------------------------------------------------------------------------------------------
// handlers (each runs inside one transition)

type Handler<E extends LifecycleEvent = LifecycleEvent> = (d: Draft, ev: E) => void

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

const onHire: Handler = (d, ev) => {
  if (ev.type === 'employee.hired' || ev.type === 'employee.rehired') acceptHire(d, ev)
}

const onPendingRehire: Handler = (d, ev) => {
  if (ev.type !== 'employee.hired' && ev.type !== 'employee.rehired') return
  markSeen(d, ev)
  d.ctx.lastEmploymentAt = later(d.ctx.lastEmploymentAt, ev.hr.occurredAt)
  d.ctx.pendingRehire = ev
  record(d, 'rehire.deferred', { hrEventId: ev.hr.eventId, reason: 'offboarding still in progress' })
}

/** Always-transition handler: the rehire received during deprovisioning, now that the case closed. */
const startPendingRehire: Handler = (d) => {
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
const onChangeBeforeHire: Handler = (d, ev) => {
  if (!isHrEvent(ev)) return
  applyHr(d, ev)
  if (ev.type === 'employee.leave_started') d.ctx.leave = { startAt: ev.moments.leaveAt ?? now(d) }
  if (ev.type === 'employee.leave_ended') delete d.ctx.leave
  record(d, 'hr.remembered_before_hire', { hrEventId: ev.hr.eventId, type: ev.type })
}

/** The remembered leave takes effect now that the person is active: accounts are suspended. */
const onRememberedLeave: Handler = (d) => {
  const at = d.ctx.leave?.startAt ?? now(d)
  record(d, 'leave.started', { startAt: at, remembered: true })
  reconcileAll(d)
}

/** A cancellation that overtook its hire: the older hire, when it arrives, is stale. */
const onCancelBeforeHire: Handler = (d, ev) => {
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
const onEndWhileLeaving: Handler = (d, ev) => {
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
const onUpdateWhileGone: Handler = (d, ev) => {
  if (ev.type !== 'employee.updated') return
  markSeen(d, ev)
  d.ctx.heldUpdates = [...(d.ctx.heldUpdates ?? []), ev].slice(-20)
  record(d, 'hr.held_for_rehire', { hrEventId: ev.hr.eventId, type: ev.type })
}

const onProfileChange: Handler = (d, ev) => {
  if (!isHrEvent(ev)) return
  applyHr(d, ev)
  reconcileAll(d)
}

const onProvisionTimer: Handler = (d, ev) => {
  if (ev.type === 'timer.fired') consumeTimer(d, ev.timerId)
  reconcileAll(d)
}

const onEnable: Handler = (d, ev) => {
  if (ev.type === 'timer.fired') consumeTimer(d, ev.timerId)
  cancelSlot(d, 'enable')
  record(d, 'employee.day_one', { enableAt: d.ctx.enableAt })
  reconcileAll(d)
}

const enterReady: Handler = (d) => {
  if (d.ctx.enableAt !== undefined) setTimer(d, 'enable', 'enable', d.ctx.enableAt)
}

const enterActiveFromProvisioning: Handler = (d) => {
  cancelSlot(d, 'enable')
  reconcileAll(d)
}

const onTerminateNow: Handler = (d, ev) => {
  if (ev.type === 'employee.terminated') {
    applyHr(d, ev)
    beginTermination(d, ev)
  }
  if (ev.type === 'timer.fired') consumeTimer(d, ev.timerId)
  if (d.from === 'unknown') adopt(d)
  d.ctx.closing = 'offboarded'
  startDeprovisioning(d, 'leaver')
}

/** A termination for someone Tenure never saw hired: assume the plan's accounts exist and manage them. */
function adopt(d: Draft): void {
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

const onTerminateLater: Handler = (d, ev) => {
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

const onPendingTerminationReached: Handler = (d) => {
  d.ctx.resumeTo = 'active'
  record(d, 'termination.scheduled', { effectiveAt: d.ctx.termination?.effectiveAt, resumeTo: 'active' })
}

const onRescindScheduled: Handler = (d, ev) => {
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
const onRescindAfterEffect: Handler = (d, ev) => {
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

const onCancelHire: Handler = (d, ev) => {
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

const onLeaveStartNow: Handler = (d, ev) => {
  if (isHrEvent(ev)) applyHr(d, ev)
  if (ev.type === 'timer.fired') consumeTimer(d, ev.timerId)
  cancelSlot(d, 'leave_start')
  const at = ev.type === 'employee.leave_started' ? (ev.moments.leaveAt ?? now(d)) : (d.ctx.leave?.startAt ?? now(d))
  d.ctx.leave = { startAt: at }
  if (d.ctx.phase === 'terminationScheduled') d.ctx.resumeTo = 'onLeave'
  record(d, 'leave.started', { startAt: at })
  reconcileAll(d)
}

const onLeaveStartLater: Handler = (d, ev) => {
  if (ev.type !== 'employee.leave_started') return
  applyHr(d, ev)
  const at = ev.moments.leaveAt ?? now(d)
  d.ctx.leave = { startAt: at }
  setTimer(d, 'leave_start', 'leave_start', at)
  record(d, 'leave.scheduled', { startAt: at })
}

const onLeaveEndNow: Handler = (d, ev) => {
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

const onLeaveEndLater: Handler = (d, ev) => {
  if (ev.type !== 'employee.leave_ended') return
  applyHr(d, ev)
  const at = ev.moments.returnAt ?? now(d)
  d.ctx.leave = { ...d.ctx.leave, returnAt: at }
  setTimer(d, 'leave_end', 'leave_end', at)
  record(d, 'leave.return_scheduled', { returnAt: at })
}

const onCaseClosed: Handler = (d) => closeCase(d)

const onCaseReopened: Handler = (d) => {
  delete d.ctx.caseClosedAt
  d.ctx.caseOpenedAt = now(d)
}

const ignoreEvent: Handler = (d, ev) => {
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

// --- job outcomes ---------------------------------------------------------------------------

/** The system's progress, or undefined (recorded) when an outcome names a system never asked for. */
function tracked(d: Draft, system: SystemId, eventType: string): SystemProgress | undefined {
  const p = d.ctx.systems[system]
  if (!p) record(d, 'event.ignored', { eventType, system, reason: 'no job was ever queued for this system' })
  return p
}

const onProvisioned: Handler = (d, ev) => {
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

const onChanged: Handler = (d, ev) => {
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

const onRevoked: Handler = (d, ev) => {
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
  if (e.phase === 'cutoff') {
    p.revokedAt = e.now
    p.status = 'revoked'
    record(d, 'system.cut_off', { system: e.system, accountId: p.accountId, purpose: p.purpose })
    if (!shouldBeRevoked(d, e.system)) {
      advance(d, e.system)
      return
    }
    startVerify(d, e.system)
    return
  }
  p.cleanedAt = e.now
  p.status = 'done'
  // Gone only if the evidence says so: a plan's delete step can be skipped (a system configured not
  // to delete, a hold), and a rehire must then restore the account that is still there.
  if (e.deleted ?? pending?.deletes) p.deleted = true
  delete p.provisioned
  record(d, 'system.cleaned', { system: e.system, deleted: p.deleted })
  if (e.residual.length > 0) {
    record(d, 'system.residual_access', { system: e.system, residual: e.residual })
    notify(d, 'residual_access', `${e.system}: ${e.residual.length} item(s) could not be removed`, e.system)
  }
  advance(d, e.system)
}

const onVerified: Handler = (d, ev) => {
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
    p.status = 'verified'
    record(d, 'system.verified', { system: e.system, checks: e.checks })
    if (shouldBeRevoked(d, e.system)) startCleanup(d, e.system)
    else advance(d, e.system)
    return
  }
  p.enabled = true
  p.attempts += 1
  const failed = e.checks.filter((c) => !c.ok).map((c) => c.name)
  record(d, 'verification.failed', { system: e.system, attempt: p.attempts, failed, checks: e.checks })
  if (!shouldBeRevoked(d, e.system)) {
    advance(d, e.system)
    return
  }
  if (p.attempts <= MAX_CUTOFF_RERUNS) {
    startCutoff(d, e.system, p.purpose ?? revokePurpose(d), true)
    return
  }
  p.status = 'verify_failed'
  notify(d, 'verification_failed', `${e.system}: access still works after ${p.attempts} cut-off attempts (${failed.join(', ')})`, e.system)
}

const onFailed: Handler = (d, ev) => {
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
  if (e.action === 'deprovision' && phase === 'cleanup') {
    p.cleanedAt = e.now
    p.status = 'done'
    const residual = { kind: 'cleanup', id: p.accountId ?? e.system, reason: e.error.message }
    addResidual(p, [residual])
    record(d, 'system.residual_access', { system: e.system, residual: [residual] })
    notify(d, 'job_failed', `${e.system}: clean-up failed, the account is cut off but residual access remains: ${e.error.message}`, e.system)
    advance(d, e.system)
    return
  }
  p.status = 'failed'
  if (e.action === 'deprovision' || e.action === 'verify') {
    addResidual(p, [{ kind: 'account', id: p.accountId ?? e.system, reason: `${label} failed: ${e.error.message}` }])
    notify(d, 'job_failed', `${e.system}: ${label} failed for good; access may still work: ${e.error.message}`, e.system)
    return
  }
  notify(d, 'job_failed', `${e.system}: ${label} failed for good: ${e.error.message}`, e.system)
  if ((e.action === 'provision' || e.action === 'restore') && shouldBeRevoked(d, e.system)) startCutoff(d, e.system, p.purpose ?? revokePurpose(d))
}

const onReconciliationActive: Handler = (d, ev) => {
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

const onOperatorRetry: Handler = (d, ev) => {
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

const onOperatorResolved: Handler = (d, ev) => {
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

// --- exceptions -----------------------------------------------------------------------------

const onExceptionActivated: Handler = (d, ev) => {
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

const onExceptionEnded: Handler = (d, ev) => {
  if (ev.type === 'exception.ended') endException(d, ev.exceptionId, 'event')
}

const onExceptionTimer: Handler = (d, ev) => {
  if (ev.type !== 'timer.fired') return
  const slot = Object.entries(d.ctx.timers).find(([, t]) => t.timerId === ev.timerId)?.[0]
  consumeTimer(d, ev.timerId)
  if (slot?.startsWith('exception_end:')) endException(d, slot.slice('exception_end:'.length), 'timer')
}

// ---------------------------------------------------------------------------------------------
// machine

function draftOf(context: LifecycleContext, event: LifecycleEvent): Draft {
  const ctx = structuredClone(context)
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

function flush(d: Draft): Effect[] {
  return d.jobs.length > 0 ? [...d.effects, { type: 'enqueue', params: { jobs: d.jobs } }] : d.effects
}

const HANDLERS = {
  onHire,
  onPendingRehire,
  startPendingRehire,
  onProfileChange,
  onChangeBeforeHire,
  onCancelBeforeHire,
  onUpdateWhileGone,
  onEndWhileLeaving,
  onRememberedLeave,
  onProvisionTimer,
  onEnable,
  enterReady,
  enterActiveFromProvisioning,
  onTerminateNow,
  onTerminateLater,
  onPendingTerminationReached,
  onRescindScheduled,
  onRescindAfterEffect,
  onCancelHire,
  onLeaveStartNow,
  onLeaveStartLater,
  onLeaveEndNow,
  onLeaveEndLater,
  onCaseClosed,
  onCaseReopened,
  ignoreEvent,
  onProvisioned,
  onChanged,
  onRevoked,
  onVerified,
  onFailed,
  onReconciliationActive,
  onOperatorRetry,
  onOperatorResolved,
  onExceptionActivated,
  onExceptionEnded,
  onExceptionTimer,
} satisfies Record<string, Handler>
export type HandlerName = keyof typeof HANDLERS

const timerIs = (kind: TimerKind) => (ctx: LifecycleContext, ev: LifecycleEvent): boolean =>
  ev.type === 'timer.fired' && ev.timer === kind && isCurrentTimer(ctx, ev.timerId, kind)

const PREDICATES = {
  /** The HR event applies: not a duplicate, not older than what the state reflects. */
  fresh: (ctx: LifecycleContext, ev: LifecycleEvent) => isHrEvent(ev) && hrIgnoreReason(ctx, ev) === undefined,
  provisionDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    isHrEvent(ev) && (ev.moments.provisionAt === undefined || atOrBefore(ev.moments.provisionAt, ev.now)),
  enableDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    isHrEvent(ev) && (ev.moments.enableAt === undefined || atOrBefore(ev.moments.enableAt, ev.now)),
  terminationDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    ev.type === 'employee.terminated' &&
    (ev.hr.immediate || ev.moments.terminationAt === undefined || atOrBefore(ev.moments.terminationAt, ev.now)),
  /** Terminated before the first day: there is no working period to wait for. */
  terminationBeforeStartEv: (ctx: LifecycleContext, ev: LifecycleEvent) =>
    ev.type === 'employee.terminated' &&
    ctx.enableAt !== undefined &&
    ev.moments.terminationAt !== undefined &&
    atOrBefore(ev.moments.terminationAt, ctx.enableAt),
  leaveDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    ev.type === 'employee.leave_started' && (ev.moments.leaveAt === undefined || atOrBefore(ev.moments.leaveAt, ev.now)),
  returnDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    ev.type === 'employee.leave_ended' && (ev.moments.returnAt === undefined || atOrBefore(ev.moments.returnAt, ev.now)),
  'timer:provision': timerIs('provision'),
  'timer:enable': timerIs('enable'),
  'timer:terminate': timerIs('terminate'),
  'timer:leave_start': timerIs('leave_start'),
  'timer:leave_end': timerIs('leave_end'),
  'timer:exception_end': timerIs('exception_end'),
  hasTermination: (ctx: LifecycleContext) => ctx.termination !== undefined,
  hasScheduledLeave: (ctx: LifecycleContext) => ctx.timers['leave_start'] !== undefined,
  /** A leave HR reported before the hire arrived, now in effect (no timer: it was never scheduled). */
  rememberedLeaveDue: (ctx: LifecycleContext) =>
    ctx.leave?.startAt !== undefined && ctx.timers['leave_start'] === undefined && (ctx.now === undefined || atOrBefore(ctx.leave.startAt, ctx.now)),
  resumeOnLeave: (ctx: LifecycleContext) => ctx.resumeTo === 'onLeave',
  terminationTookEffect: (ctx: LifecycleContext) => ctx.closing === 'offboarded',
  notTerminationTookEffect: (ctx: LifecycleContext) => ctx.closing !== 'offboarded',
  /** Every system the plan grants has an account (or failed for good) and no job in flight. */
  allSettled: (ctx: LifecycleContext) =>
    Object.values(ctx.systems).every(
      (p) => p.desired?.account !== true || (p.pending === undefined && p.purpose === undefined && p.status !== 'planned'),
    ),
  enableDue: (ctx: LifecycleContext) => enableDue(ctx),
  caseClosed: (ctx: LifecycleContext) => caseClosed(ctx),
  caseOpen: (ctx: LifecycleContext) => !caseClosed(ctx),
  closingCancelled: (ctx: LifecycleContext) => ctx.closing === 'cancelled',
  hasPendingRehire: (ctx: LifecycleContext) => ctx.pendingRehire !== undefined,
  pendingRehireProvisionDue: (ctx: LifecycleContext) => {
    const ev = ctx.pendingRehire
    return ev !== undefined && (ev.moments.provisionAt === undefined || ctx.now === undefined || atOrBefore(ev.moments.provisionAt, ctx.now))
  },
} satisfies Record<string, (ctx: LifecycleContext, ev: LifecycleEvent) => boolean>
export type GuardName = keyof typeof PREDICATES

const notProvided = (name: string) => (): never => {
  throw new Error(`employee lifecycle action "${name}" was not provided: the engine supplies it with .provide()`)
}

/**
 * `apply` runs one named handler on a draft of the context (phase already set to the target),
 * assigns the result and enqueues the effects it collected, in order. It is an implementation
 * detail: the engine provides only the five placeholders.
 */
const apply = enqueueActions<LifecycleContext, LifecycleEvent, { handler: HandlerName; target?: LifecyclePhase }, LifecycleEvent>(
  ({ context, event, enqueue }, params) => {
    const d = draftOf(context, event)
    if (params.target !== undefined) d.ctx.phase = params.target
    HANDLERS[params.handler](d, event)
    const next = replacing(context, d.ctx)
    enqueue.assign(() => next)
    for (const effect of flush(d)) enqueue(effect)
  },
)

const lifecycleSetup = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as LifecycleInput,
  },
  actions: {
    enqueue: notProvided('enqueue') as (_: unknown, params: { jobs: JobRequest[] }) => void,
    schedule: notProvided('schedule') as (_: unknown, params: TimerRequest) => void,
    cancelTimer: notProvided('cancelTimer') as (_: unknown, params: { timerId: string }) => void,
    record: notProvided('record') as (_: unknown, params: RecordParams) => void,
    notify: notProvided('notify') as (_: unknown, params: NotifyParams) => void,
    apply: apply as unknown as (_: unknown, params: { handler: HandlerName; target?: LifecyclePhase }) => void,
  },
  guards: {
    check: ({ context, event }, params: { all: GuardName[] }) => params.all.every((g) => PREDICATES[g](context, event)),
  },
})

function go<T extends LifecyclePhase, H extends HandlerName>(target: T, handler: H, ...all: GuardName[]) {
  const actions = { type: 'apply', params: { handler, target } } as const
  return all.length === 0 ? { target, actions } : { target, guard: { type: 'check', params: { all } } as const, actions }
}

function stay<H extends HandlerName>(handler: H, ...all: GuardName[]) {
  const actions = { type: 'apply', params: { handler } } as const
  return all.length === 0 ? { actions } : { guard: { type: 'check', params: { all } } as const, actions }
}

const terminatedBeforeStart = [
  go('deprovisioning', 'onTerminateNow', 'fresh', 'terminationDueEv'),
  go('deprovisioning', 'onTerminateNow', 'fresh', 'terminationBeforeStartEv'),
  stay('onTerminateLater', 'fresh'),
]

const rehire = [go('provisioning', 'onHire', 'fresh', 'provisionDueEv'), go('preHire', 'onHire', 'fresh')]

/** A leave HR reports before the person is active (still being provisioned): kept, applied on activation. */
const leaveBeforeActive = {
  'employee.leave_started': stay('onChangeBeforeHire', 'fresh'),
  'employee.leave_ended': stay('onChangeBeforeHire', 'fresh'),
}

export const employeeLifecycleMachine = lifecycleSetup.createMachine({
  id: 'employeeLifecycle',
  initial: 'unknown',
  context: ({ input }) => ({
    employeeId: input.employeeId,
    source: input.source,
    phase: 'unknown',
    generation: 0,
    profileAsOf: {},
    plan: {},
    leaver: {},
    systems: {},
    exceptions: {},
    seenHrEventIds: [],
    timers: {},
    keySeq: {},
  }),
  // Fallbacks for every state: job outcomes, exceptions and reconciliation findings update the
  // per-system progress wherever the employee is (the `always` transitions below react to it); HR
  // events and timers no state accepted are recorded as ignored, with the reason.
  on: {
    'account.provisioned': stay('onProvisioned'),
    'account.updated': stay('onChanged'),
    'account.enabled': stay('onChanged'),
    'account.suspended': stay('onChanged'),
    'account.revoked': stay('onRevoked'),
    'account.verified': stay('onVerified'),
    'account.failed': stay('onFailed'),
    'exception.activated': stay('onExceptionActivated'),
    'exception.ended': stay('onExceptionEnded'),
    'reconciliation.account_active': stay('onReconciliationActive'),
    'operator.retry': stay('onOperatorRetry'),
    'operator.resolved': stay('onOperatorResolved'),
    'timer.fired': [stay('onExceptionTimer', 'timer:exception_end'), stay('ignoreEvent')],
    'employee.hired': stay('ignoreEvent'),
    'employee.rehired': stay('ignoreEvent'),
    'employee.updated': stay('ignoreEvent'),
    'employee.terminated': stay('ignoreEvent'),
    'employee.hire_cancelled': stay('ignoreEvent'),
    'employee.termination_rescinded': stay('ignoreEvent'),
    'employee.leave_started': stay('ignoreEvent'),
    'employee.leave_ended': stay('ignoreEvent'),
  },
  states: {
    unknown: {
      on: {
        'employee.hired': rehire,
        'employee.rehired': rehire,
        'employee.terminated': [
          go('deprovisioning', 'onTerminateNow', 'fresh', 'terminationDueEv'),
          go('terminationScheduled', 'onTerminateLater', 'fresh'),
        ],
        // Deliveries overtaken by later ones (HR retries, reordering): what HR said after the hire
        // is remembered so the hire, when it arrives, does not undo it.
        'employee.updated': stay('onChangeBeforeHire', 'fresh'),
        'employee.leave_started': stay('onChangeBeforeHire', 'fresh'),
        'employee.leave_ended': stay('onChangeBeforeHire', 'fresh'),
        'employee.hire_cancelled': stay('onCancelBeforeHire', 'fresh'),
      },
    },
    preHire: {
      on: {
        'timer.fired': [go('provisioning', 'onProvisionTimer', 'timer:provision'), go('deprovisioning', 'onTerminateNow', 'timer:terminate')],
        'employee.hired': [go('provisioning', 'onHire', 'fresh', 'provisionDueEv'), stay('onHire', 'fresh')],
        'employee.rehired': [go('provisioning', 'onHire', 'fresh', 'provisionDueEv'), stay('onHire', 'fresh')],
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.hire_cancelled': go('cancelled', 'onCancelHire', 'fresh'),
        'employee.terminated': terminatedBeforeStart,
        'employee.termination_rescinded': stay('onRescindScheduled', 'fresh', 'hasTermination'),
        ...leaveBeforeActive,
      },
    },
    provisioning: {
      always: [go('active', 'enterActiveFromProvisioning', 'allSettled', 'enableDue'), go('ready', 'enterReady', 'allSettled')],
      on: {
        'timer.fired': go('deprovisioning', 'onTerminateNow', 'timer:terminate'),
        'employee.hired': stay('onHire', 'fresh'),
        'employee.rehired': stay('onHire', 'fresh'),
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
        'employee.terminated': terminatedBeforeStart,
        'employee.termination_rescinded': stay('onRescindScheduled', 'fresh', 'hasTermination', 'notTerminationTookEffect'),
        ...leaveBeforeActive,
      },
    },
    ready: {
      on: {
        'timer.fired': [go('active', 'onEnable', 'timer:enable'), go('deprovisioning', 'onTerminateNow', 'timer:terminate')],
        'employee.hired': [go('active', 'onHire', 'fresh', 'enableDueEv'), stay('onHire', 'fresh')],
        'employee.rehired': [go('active', 'onHire', 'fresh', 'enableDueEv'), stay('onHire', 'fresh')],
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
        'employee.terminated': terminatedBeforeStart,
        'employee.termination_rescinded': stay('onRescindScheduled', 'fresh', 'hasTermination'),
        ...leaveBeforeActive,
      },
    },
    active: {
      always: [go('terminationScheduled', 'onPendingTerminationReached', 'hasTermination'), go('onLeave', 'onRememberedLeave', 'rememberedLeaveDue')],
      on: {
        'timer.fired': go('onLeave', 'onLeaveStartNow', 'timer:leave_start'),
        'employee.hired': stay('onHire', 'fresh'),
        // A rehire for someone Tenure still has employed (the cancellation or termination it follows
        // has not arrived yet): a hire like any other, so that the late one is then stale.
        'employee.rehired': stay('onHire', 'fresh'),
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.leave_started': [go('onLeave', 'onLeaveStartNow', 'fresh', 'leaveDueEv'), stay('onLeaveStartLater', 'fresh')],
        'employee.leave_ended': stay('onLeaveEndNow', 'fresh', 'hasScheduledLeave'),
        'employee.terminated': [
          go('deprovisioning', 'onTerminateNow', 'fresh', 'terminationDueEv'),
          go('terminationScheduled', 'onTerminateLater', 'fresh'),
        ],
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
      },
    },
    onLeave: {
      on: {
        'timer.fired': go('active', 'onLeaveEndNow', 'timer:leave_end'),
        'employee.hired': stay('onHire', 'fresh'),
        'employee.rehired': stay('onHire', 'fresh'),
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.leave_ended': [go('active', 'onLeaveEndNow', 'fresh', 'returnDueEv'), stay('onLeaveEndLater', 'fresh')],
        'employee.terminated': [
          go('deprovisioning', 'onTerminateNow', 'fresh', 'terminationDueEv'),
          go('terminationScheduled', 'onTerminateLater', 'fresh'),
        ],
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
      },
    },
    terminationScheduled: {
      on: {
        'timer.fired': [
          go('deprovisioning', 'onTerminateNow', 'timer:terminate'),
          stay('onLeaveStartNow', 'timer:leave_start'),
          stay('onLeaveEndNow', 'timer:leave_end'),
        ],
        'employee.hired': stay('onHire', 'fresh'),
        'employee.rehired': stay('onHire', 'fresh'),
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.terminated': [go('deprovisioning', 'onTerminateNow', 'fresh', 'terminationDueEv'), stay('onTerminateLater', 'fresh')],
        'employee.termination_rescinded': [
          go('onLeave', 'onRescindScheduled', 'fresh', 'resumeOnLeave'),
          go('active', 'onRescindScheduled', 'fresh'),
        ],
        'employee.leave_started': [stay('onLeaveStartNow', 'fresh', 'leaveDueEv'), stay('onLeaveStartLater', 'fresh')],
        'employee.leave_ended': [stay('onLeaveEndNow', 'fresh', 'returnDueEv'), stay('onLeaveEndLater', 'fresh')],
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
      },
    },
    deprovisioning: {
      always: [go('cancelled', 'onCaseClosed', 'caseClosed', 'closingCancelled'), go('offboarded', 'onCaseClosed', 'caseClosed')],
      on: {
        'employee.termination_rescinded': go('provisioning', 'onRescindAfterEffect', 'fresh', 'terminationTookEffect'),
        'employee.hired': stay('onPendingRehire', 'fresh'),
        'employee.rehired': stay('onPendingRehire', 'fresh'),
        'employee.updated': stay('onUpdateWhileGone', 'fresh'),
        'employee.hire_cancelled': stay('onEndWhileLeaving', 'fresh'),
        'employee.terminated': stay('onEndWhileLeaving', 'fresh'),
      },
    },
    offboarded: {
      always: [
        go('deprovisioning', 'onCaseReopened', 'caseOpen'),
        go('provisioning', 'startPendingRehire', 'hasPendingRehire', 'pendingRehireProvisionDue'),
        go('preHire', 'startPendingRehire', 'hasPendingRehire'),
      ],
      on: {
        'employee.hired': rehire,
        'employee.rehired': rehire,
        'employee.termination_rescinded': go('provisioning', 'onRescindAfterEffect', 'fresh', 'terminationTookEffect'),
        'employee.updated': stay('onUpdateWhileGone', 'fresh'),
      },
    },
    cancelled: {
      always: [
        go('deprovisioning', 'onCaseReopened', 'caseOpen'),
        go('provisioning', 'startPendingRehire', 'hasPendingRehire', 'pendingRehireProvisionDue'),
        go('preHire', 'startPendingRehire', 'hasPendingRehire'),
      ],
      on: {
        'employee.hired': rehire,
        'employee.rehired': rehire,
        'employee.updated': stay('onUpdateWhileGone', 'fresh'),
      },
    },
  },
})

export type EmployeeLifecycleMachine = typeof employeeLifecycleMachine
