/**
 * The SLA escalation ladder, pure: when each step of an open leaver case is due, which steps a
 * catch-up pass owes, and the notification for one step. No clock, no I/O: the caller passes
 * `now` and what it already sent, so the same inputs always give the same answer.
 *
 * A step is due at `effectiveAt + atFraction × (deadlineAt − effectiveAt)`. A case opened late
 * (HR reported the termination three hours after it took effect) owes every step whose moment
 * has passed, at once, each once; a step already sent is never owed again.
 */
import type { EscalationStep } from '../notify/config.ts'
import { NOTIFICATION_ID, type Notification, type Severity } from '../notify/model.ts'

type Instant = string | Date | number

export interface CaseWindow {
  /** When the termination took effect: the SLA clock starts here, not when Tenure heard of it. */
  effectiveAt: Instant
  deadlineAt: Instant
  steps: readonly EscalationStep[]
  /** Once the case is closed (every system verified), steps due after that moment are not owed. */
  closedAt?: Instant
}

export interface StepMoment {
  step: EscalationStep
  /** ISO-8601 UTC. */
  dueAt: string
}

function toMs(t: Instant, what: string): number {
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t)
  if (!Number.isFinite(ms)) throw new RangeError(`${what} is not a valid instant: ${String(t)}`)
  return ms
}

function budgetOf(w: Pick<CaseWindow, 'effectiveAt' | 'deadlineAt'>): { start: number; end: number; budget: number } {
  const start = toMs(w.effectiveAt, 'effectiveAt')
  const end = toMs(w.deadlineAt, 'deadlineAt')
  if (end <= start) throw new RangeError('deadlineAt must be after effectiveAt')
  return { start, end, budget: end - start }
}

/** Every step with the moment it is due, earliest first. */
export function escalationMoments(w: CaseWindow): StepMoment[] {
  const { start, budget } = budgetOf(w)
  return [...w.steps]
    .sort((a, b) => a.atFraction - b.atFraction)
    .map((step) => ({ step, dueAt: new Date(start + Math.round(step.atFraction * budget)).toISOString() }))
}

/**
 * Steps owed at `now`: due, not in `alreadySent` (step names), and not due after the case closed.
 * Each step at most once, earliest first.
 */
export function dueSteps(now: Instant, w: CaseWindow, alreadySent: Iterable<string>): StepMoment[] {
  const at = toMs(now, 'now')
  const sent = new Set(alreadySent)
  const closed = w.closedAt === undefined ? undefined : toMs(w.closedAt, 'closedAt')
  const owed: StepMoment[] = []
  for (const m of escalationMoments(w)) {
    const due = Date.parse(m.dueAt)
    if (due > at || sent.has(m.step.name)) continue
    if (closed !== undefined && due > closed) continue
    sent.add(m.step.name)
    owed.push(m)
  }
  return owed
}

/** When the next unsent step falls due (for the case's timer), or undefined when none is left. */
export function nextEscalationAt(w: CaseWindow, alreadySent: Iterable<string>): string | undefined {
  const sent = new Set(alreadySent)
  return escalationMoments(w).find((m) => !sent.has(m.step.name))?.dueAt
}

export interface CaseSystemStatus {
  system: string
  /** The lifecycle status (revoking, verify_failed, waiting_exception, ...). */
  status: string
  verified: boolean
  lastError?: { kind?: string; message: string; at?: string }
}

export interface CaseInfo {
  caseId: string
  employeeId: string
  /** Shown to people in Slack and webhooks; kept out of log lines. */
  employeeName?: string
  effectiveAt: Instant
  deadlineAt: Instant
  /** When the notification is built (for "time left"). */
  now: Instant
  systems: readonly CaseSystemStatus[]
  consoleUrl?: string
}

/** `caseId` escaped so the id never holds a `.` (it is signed as the webhook-id); `:` is kept as the step name cannot contain one. */
function escalationId(caseId: string, step: string): string {
  const safe = caseId.replace(/[^A-Za-z0-9_:-]/g, (c) => [...Buffer.from(c, 'utf8')].map((b) => `~${b.toString(16).padStart(2, '0')}`).join(''))
  const id = `${safe}:${step}`
  if (!NOTIFICATION_ID.test(id)) throw new RangeError(`case id too long for a notification id: ${caseId.slice(0, 40)}…`)
  return id
}

/** "4-hour", "90-minute", "36-hour": how people name an SLA budget. */
export function budgetLabel(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}-hour`
  if (ms % 60_000 === 0) return `${ms / 60_000}-minute`
  return formatDuration(ms)
}

/** "2h 05m", "45m", "under a minute". */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(Math.abs(ms) / 60_000)
  if (minutes === 0) return 'under a minute'
  const h = Math.floor(minutes / 60)
  const m = minutes % 60
  if (h === 0) return `${m}m`
  return `${h}h ${String(m).padStart(2, '0')}m`
}

function severityOf(step: EscalationStep): Severity {
  if (step.name === 'breach' || step.atFraction >= 0.75) return 'critical'
  return 'warning'
}

/** The notification for one step of one case. Deterministic id `${caseId}:${step}`. */
export function escalationNotification(info: CaseInfo, step: EscalationStep): Notification {
  const { start, end, budget } = budgetOf(info)
  const now = toMs(info.now, 'now')
  const dueAt = new Date(start + Math.round(step.atFraction * budget)).toISOString()
  const who = info.employeeName?.trim() || info.employeeId
  const label = budgetLabel(budget)
  const pct = Math.round(step.atFraction * 100)
  const title =
    step.atFraction >= 1 ? `Leaver revocation missed its ${label} deadline: ${who}` : `Leaver revocation at ${pct}% of its ${label} budget: ${who}`

  const open = info.systems.filter((s) => !s.verified)
  const lines = open.map((s) => {
    const err = s.lastError ? `; last error${s.lastError.kind ? ` (${s.lastError.kind})` : ''}: ${s.lastError.message}${s.lastError.at ? ` at ${s.lastError.at}` : ''}` : ''
    return `• ${s.system}: ${s.status}${err}`
  })
  const remaining = end - now
  const deadline = new Date(end).toISOString()
  const clock = remaining > 0 ? `${formatDuration(remaining)} left (deadline ${deadline}).` : `${formatDuration(remaining)} over the deadline (${deadline}).`
  const summary =
    open.length === 0
      ? `All ${info.systems.length} systems are verified; the case is closing.`
      : `${open.length} of ${info.systems.length} system${info.systems.length === 1 ? '' : 's'} not yet verified:`
  const text = [summary, ...lines, clock].join('\n')

  return {
    id: escalationId(info.caseId, step.name),
    kind: `sla.${step.name}`,
    severity: severityOf(step),
    title,
    text,
    subject: {
      employeeId: info.employeeId,
      ...(info.employeeName ? { employeeName: info.employeeName } : {}),
      caseId: info.caseId,
    },
    occurredAt: dueAt,
    ...(info.consoleUrl ? { links: { console: info.consoleUrl } } : {}),
    details: {
      step: step.name,
      atFraction: step.atFraction,
      effectiveAt: new Date(start).toISOString(),
      deadlineAt: deadline,
      budgetMs: budget,
      remainingMs: remaining,
      unverified: open.map((s) => ({ system: s.system, status: s.status, ...(s.lastError ? { lastError: s.lastError } : {}) })),
    },
  }
}
