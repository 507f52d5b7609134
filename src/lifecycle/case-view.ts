/**
 * Read models of one employee's lifecycle snapshot: the leaver (offboarding) case and the joiner
 * (onboarding) case as the API and the case tables show them. The machine never reads these; the
 * engine computes them after every event (ApplyResult.view, the `cases` / `case_systems`
 * projection), so they live beside the engine rather than in state-machines/.
 */
import type { ResidualAccess, SystemId } from '../domain/access.ts'
import type {
  ActiveException,
  LifecycleContext,
  LifecyclePhase,
  SystemProgress,
  SystemStatus,
  TerminationInfo,
  TimerRequest,
} from '../../state-machines/employee-lifecycle.machine.ts'

const ms = (iso: string): number => Date.parse(iso)

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

export interface CaseSystemView {
  system: SystemId
  status: SystemStatus
  accountId?: string
  login?: string
  /** A leaver system whose cut-off is not verified and not waiting on an approved exception. */
  atRisk: boolean
  waitingOn?: string
  attempts: number
  lastError?: SystemProgress['lastError']
  residual: ResidualAccess[]
  revokedAt?: string
  verifiedAt?: string
  cleanedAt?: string
}

export interface CaseView {
  employeeId: string
  state: LifecyclePhase
  generation: number
  /** Offboarding case: none (employed / never hired), open (revoking) or closed. */
  case: 'none' | 'open' | 'closed'
  reason?: 'offboarded' | 'cancelled'
  termination?: TerminationInfo
  /** termination.effectiveAt + slaMinutes, when slaMinutes was given. */
  slaDeadline?: string
  openedAt?: string
  closedAt?: string
  systems: CaseSystemView[]
  counts: Record<'total' | 'verified' | 'done' | 'failed' | 'waiting' | 'atRisk', number>
  timers: TimerRequest[]
  exceptions: Record<string, ActiveException>
}

/** The API's view of one employee: status per system and whether the offboarding case is open. */
export function caseView(
  snapshot: { value: unknown; context: LifecycleContext },
  opts: { slaMinutes?: number } = {},
): CaseView {
  const ctx = snapshot.context
  const state = (typeof snapshot.value === 'string' ? snapshot.value : ctx.phase) as LifecyclePhase
  const leaverCase = ctx.closing !== undefined
  const systems: CaseSystemView[] = Object.entries(ctx.systems)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([system, p]) => {
      const revoking = p.purpose !== undefined && p.purpose !== 'mover'
      const secured = p.verifiedAt !== undefined && p.status !== 'revoking' && p.status !== 'verifying' && p.status !== 'verify_failed'
      return withoutUndefined({
        system,
        status: p.status,
        accountId: p.accountId,
        login: p.login,
        atRisk: revoking && !secured && p.status !== 'absent' && p.status !== 'waiting_exception',
        waitingOn: p.waitingOn,
        attempts: p.attempts + (p.tries ?? 0),
        lastError: p.lastError,
        residual: p.residual,
        revokedAt: p.revokedAt,
        verifiedAt: p.verifiedAt,
        cleanedAt: p.cleanedAt,
      })
    })
  const count = (f: (s: CaseSystemView) => boolean): number => systems.filter(f).length
  const slaDeadline =
    ctx.termination && opts.slaMinutes !== undefined
      ? new Date(ms(ctx.termination.effectiveAt) + opts.slaMinutes * 60_000).toISOString()
      : undefined
  return withoutUndefined({
    employeeId: ctx.employeeId,
    state,
    generation: ctx.generation,
    case: !leaverCase ? 'none' : state === 'deprovisioning' ? 'open' : 'closed',
    reason: ctx.closing,
    termination: ctx.termination,
    slaDeadline,
    openedAt: ctx.caseOpenedAt,
    closedAt: ctx.caseClosedAt,
    systems,
    counts: {
      total: systems.length,
      verified: count((s) => s.verifiedAt !== undefined),
      done: count((s) => s.status === 'done' || s.status === 'absent'),
      failed: count((s) => s.status === 'failed' || s.status === 'verify_failed'),
      waiting: count((s) => s.status === 'waiting_exception'),
      atRisk: count((s) => s.atRisk),
    },
    timers: Object.values(ctx.timers),
    exceptions: ctx.exceptions,
  })
}

export interface JoinerSystemView {
  system: SystemId
  status: SystemStatus
  accountId?: string
  login?: string
  provisionedAt?: string
  attempts: number
  lastError?: SystemProgress['lastError']
  /** The account exists with the access it should have (enabled or, before day one / on leave, not). */
  ready: boolean
}

/**
 * The joiner (onboarding) case of the current generation: open from the hire until every account
 * the birthright policy grants exists and works, so a provisioning that failed for good stays
 * visible on an open case although the person is already `active`. Undefined when this generation
 * has no hire (an employee adopted by a termination).
 */
export interface JoinerCaseView {
  status: 'scheduled' | 'open' | 'closed' | 'cancelled'
  hrEventId?: string
  acceptedAt?: string
  provisionAt?: string
  /** Start of day one in the employee's zone: the joiner case's deadline. */
  startAt?: string
  systems: JoinerSystemView[]
  counts: { total: number; ready: number; failed: number }
}

const READY = new Set<SystemStatus>(['active', 'provisioned', 'suspended'])

export function joinerCaseView(ctx: LifecycleContext): JoinerCaseView | undefined {
  if (ctx.startDate === undefined) return undefined
  const systems: JoinerSystemView[] = Object.entries(ctx.systems)
    .filter(([, p]) => p.desired?.account === true)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([system, p]) =>
      withoutUndefined({
        system,
        status: p.status,
        accountId: p.accountId,
        login: p.login,
        provisionedAt: p.provisionedAt,
        attempts: p.attempts + (p.tries ?? 0),
        lastError: p.lastError,
        ready: p.accountId !== undefined && p.pending === undefined && READY.has(p.status),
      }),
    )
  const ready = systems.filter((s) => s.ready).length
  const failed = systems.filter((s) => s.status === 'failed').length
  const phase = ctx.phase
  const status: JoinerCaseView['status'] =
    phase === 'preHire'
      ? 'scheduled'
      : phase === 'provisioning' || phase === 'ready'
        ? 'open'
        : phase === 'active' || phase === 'onLeave' || phase === 'terminationScheduled'
          ? ready === systems.length
            ? 'closed'
            : 'open'
          : 'cancelled' // hire cancelled, or the leaver case took over before onboarding finished
  return withoutUndefined({
    status,
    hrEventId: ctx.hire?.hrEventId,
    acceptedAt: ctx.hire?.acceptedAt,
    provisionAt: ctx.provisionAt,
    startAt: ctx.enableAt,
    systems,
    counts: { total: systems.length, ready, failed },
  })
}
