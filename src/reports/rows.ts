/**
 * The access-revocation report's row: one leaver, one system, every fact an auditor tests, and
 * the audit sequence numbers that back them. Database rows are read as unknown where they hold
 * JSON written by other modules (audit details, exceptions, attestations) and validated here, so
 * an unexpected shape degrades to "not recorded" instead of failing a whole export.
 */
import { z } from 'zod'

export const OUTCOMES = ['met', 'breached', 'waived', 'pending', 'no_account', 'rescinded', 'gap'] as const
export type Outcome = (typeof OUTCOMES)[number]

/** What each outcome means, for the documentation, the HTML summary and the API description. */
export const OUTCOME_MEANINGS: Record<Outcome, string> = {
  met: 'Revocation verified (read back from the system) by the SLA deadline.',
  breached: 'Verified after the deadline, or still not verified and the deadline has passed.',
  waived: 'Verified after the deadline (or not yet) within an approved SLA waiver or revocation delay.',
  pending: 'Not verified yet, and the deadline has not passed at the time of the report.',
  no_account: 'The person had no account in this system when access was cut off: nothing to revoke.',
  rescinded: 'HR rescinded the termination before access was revoked.',
  gap: 'Evidence is missing: a termination with no case, an account the case does not cover, or a case closed without a verified revocation.',
}

export interface ExceptionFact {
  id: string
  caseId: string | null
  kind: string
  status: string
  system: string | null
  reason: string
  requestedBy: string
  requestedAt: string
  startsAt: string
  endsAt: string
  approvers: string[]
  decidedAt: string | null
  rejectedBy: string | null
  revokedAt: string | null
  revokedBy: string | null
  expiredAt: string | null
  /** sla_waiver: the deadline it grants (details.newDeadlineAt). */
  newDeadlineAt: string | null
}

export interface StepFact {
  phase: 'cutoff' | 'cleanup'
  step: string
  status: string
  at: string
  detail: string | null
}

export interface ManualAttestation {
  taskId: string
  status: string
  completedBy: string | null
  /** When the attestation was recorded. */
  completedAt: string | null
  /** When the person says the work was done (may be earlier than completedAt). */
  doneAt: string | null
  note: string | null
  evidence: unknown
}

export interface EscalationFact {
  step: string
  sentAt: string
}

export interface AuditSeqs {
  /** hr.event_stored: the HR notice as received. */
  hrEventStored: number | null
  /** lifecycle.transitioned carrying the termination's hrEventId. */
  termination: number | null
  /** target.revoked, phase cutoff (disable, sessions). */
  revokedCutoff: number | null
  /** target.revoked, phase cleanup (groups, licences, delete). */
  revokedCleanup: number | null
  /** target.verified with revoked = true. */
  verified: number | null
  /** sla.breached of the case. */
  slaBreached: number | null
}

export interface ReportRow {
  caseId: string | null
  caseStatus: string | null
  employee: { id: string | null; hrId: string; source: string; name: string | null; email: string | null }
  hrEvent: {
    id: string | null
    sourceEventId: string | null
    foundBy: string | null
    /** hr_events.occurred_at: when HR says the termination was entered. */
    notifiedAt: string | null
    /** When Tenure received it (webhook delivery, or the reconciliation poll that found it). */
    receivedAt: string | null
    /** Other termination notices of this person accounted for by this case (repeats, superseded dates). */
    otherSourceEventIds: string[]
  }
  terminationEffectiveAt: string
  /** Minutes between the effective moment and Tenure hearing of it (0 when HR told us in advance). */
  hrLateByMinutes: number | null
  system: string | null
  accountId: string | null
  steps: {
    disabledAt: string | null
    sessionsRevokedAt: string | null
    groupsRemovedAt: string | null
    deletedAt: string | null
    all: StepFact[]
  }
  /** When the cut-off phase completed (the machine's revokedAt). */
  revokedAt: string | null
  verifiedAt: string | null
  slaDeadline: string | null
  outcome: Outcome
  outcomeReason: string
  /** The extended deadline an approved waiver or delay granted, when one applies. */
  waivedUntil: string | null
  minutesToRevoke: number | null
  lastError: { action: string | null; kind: string | null; message: string; at: string | null } | null
  escalations: EscalationFact[]
  breachedAt: string | null
  exceptions: ExceptionFact[]
  manualAttestation: ManualAttestation | null
  /** What could not be removed, each with the human decision on it (pending until a person decides). */
  residualAccess: ResidualFact[]
  auditSeqs: AuditSeqs
}

// ---------------------------------------------------------------------------------------------
// Reading JSON columns

const isoish = z.union([z.string(), z.date()]).transform((v) => toIso(v))

const stepSchema = z.object({
  step: z.string(),
  status: z.string(),
  at: isoish,
  detail: z.string().optional(),
})
const revokedDetailsSchema = z.object({ steps: z.array(z.unknown()).default([]) }).loose()

const residualSchema = z.array(z.object({ kind: z.string(), id: z.string(), reason: z.string() }).loose())
const residualDecisionSchema = z.array(
  z
    .object({
      kind: z.string().nullable(),
      id: z.string().nullable(),
      taskId: z.string(),
      status: z.string(),
      resolution: z.string().nullable(),
      exceptionId: z.string().nullable(),
      decidedBy: z.string().nullable(),
      decidedAt: isoish.nullable(),
    })
    .loose(),
)

export interface ResidualFact {
  kind: string
  id: string
  reason: string
  /** pending | removed | accepted (kept under exceptionId) | resolved (an operator's resolution note) */
  decision: string
  taskId: string | null
  exceptionId: string | null
  decidedBy: string | null
  decidedAt: string | null
}

function residualFacts(residual: unknown, decisions: unknown): ResidualFact[] {
  const items = residualSchema.safeParse(residual)
  if (!items.success) return []
  const tasks = residualDecisionSchema.safeParse(decisions ?? [])
  const list = tasks.success ? tasks.data : []
  return items.data.map((r) => {
    const t = list.find((d) => d.kind === r.kind && d.id === r.id)
    const decided = t?.status === 'completed'
    return {
      kind: r.kind,
      id: r.id,
      reason: r.reason,
      decision: r.kind === 'manual' ? 'resolved' : decided ? (t.resolution ?? 'removed') : 'pending',
      taskId: t?.taskId ?? null,
      exceptionId: decided ? t.exceptionId : null,
      decidedBy: decided ? t.decidedBy : null,
      decidedAt: decided ? t.decidedAt : null,
    }
  })
}
const lastErrorSchema = z
  .object({ action: z.string().optional(), kind: z.string().optional(), message: z.string(), at: z.string().optional() })
  .loose()
const escalationSchema = z.object({ step: z.string(), sentAt: isoish, openSystems: z.array(z.string()).catch([]) })
const approvalSchema = z.object({ actorId: z.string() }).loose()
const exceptionSchema = z
  .object({
    id: z.string(),
    caseId: z.string().nullable().catch(null),
    kind: z.string(),
    status: z.string(),
    system: z.string().nullable(),
    reason: z.string(),
    requestedBy: z.string(),
    requestedAt: isoish,
    startsAt: isoish,
    endsAt: isoish,
    approvals: z.array(z.unknown()).catch([]),
    decidedAt: isoish.nullable(),
    rejectedBy: z.string().nullable(),
    revokedAt: isoish.nullable(),
    revokedBy: z.string().nullable(),
    expiredAt: isoish.nullable(),
    details: z.record(z.string(), z.unknown()).catch({}),
  })
  .loose()
/** What POST /api/v1/tasks/:id/complete stores: { by, byType, at, doneAt, note, evidenceRef }. */
const attestationSchema = z
  .object({ note: z.string().optional(), doneAt: z.string().optional(), evidenceRef: z.string().nullable().optional(), evidence: z.unknown().optional() })
  .loose()

export function toIso(value: Date | string): string {
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a moment: ${String(value)}`)
  return date.toISOString()
}

function isoOrNull(value: Date | string | null | undefined): string | null {
  return value === null || value === undefined ? null : toIso(value)
}

function steps(phase: 'cutoff' | 'cleanup', details: unknown): StepFact[] {
  const parsed = revokedDetailsSchema.safeParse(details)
  if (!parsed.success) return []
  const out: StepFact[] = []
  for (const raw of parsed.data.steps) {
    const step = stepSchema.safeParse(raw)
    if (step.success) out.push({ phase, step: step.data.step, status: step.data.status, at: step.data.at, detail: step.data.detail ?? null })
  }
  return out
}

/** The moment a step took effect: done now, or found already done. Skipped or failed steps have none. */
function stepAt(all: StepFact[], step: string): string | null {
  const hit = all.filter((s) => s.step === step && (s.status === 'done' || s.status === 'already_done')).at(-1)
  return hit?.at ?? null
}

function exceptions(value: unknown): ExceptionFact[] {
  if (!Array.isArray(value)) return []
  const out: ExceptionFact[] = []
  for (const raw of value) {
    const parsed = exceptionSchema.safeParse(raw)
    if (!parsed.success) continue
    const x = parsed.data
    const approvers = x.approvals.flatMap((a) => {
      const p = approvalSchema.safeParse(a)
      return p.success ? [p.data.actorId] : []
    })
    const newDeadline = x.details.newDeadlineAt
    out.push({
      id: x.id,
      caseId: x.caseId,
      kind: x.kind,
      status: x.status,
      system: x.system,
      reason: x.reason,
      requestedBy: x.requestedBy,
      requestedAt: x.requestedAt,
      startsAt: x.startsAt,
      endsAt: x.endsAt,
      approvers,
      decidedAt: x.decidedAt,
      rejectedBy: x.rejectedBy,
      revokedAt: x.revokedAt,
      revokedBy: x.revokedBy,
      expiredAt: x.expiredAt,
      newDeadlineAt: typeof newDeadline === 'string' && !Number.isNaN(Date.parse(newDeadline)) ? toIso(newDeadline) : null,
    })
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Outcome

const WAIVING_KINDS = new Set(['sla_waiver', 'delay_revocation'])
/** Statuses of an exception that was approved (and may since have run its course). */
const APPROVED_STATUSES = new Set(['approved', 'active', 'expired', 'revoked'])

/**
 * The deadline an approved exception grants this system, if any. Only an exception approved
 * before the original deadline counts (the rule of migration 0006: an approval after the deadline
 * passed never hides the breach). An sla_waiver grants its end; a delay_revocation grants the
 * system's SLA budget again from the end of the delay. A revoked exception counts until it was
 * revoked.
 */
export function waivedDeadline(exceptionsList: ExceptionFact[], system: string | null, effectiveAt: string, deadlineAt: string | null): { until: string; exception: ExceptionFact } | null {
  if (deadlineAt === null) return null
  let best: { until: string; exception: ExceptionFact } | null = null
  const deadline = Date.parse(deadlineAt)
  const budgetMs = deadline - Date.parse(effectiveAt)
  for (const x of exceptionsList) {
    if (!WAIVING_KINDS.has(x.kind) || !APPROVED_STATUSES.has(x.status)) continue
    if (x.system !== null && system !== null && x.system !== system) continue
    if (x.decidedAt === null || Date.parse(x.decidedAt) >= deadline) continue
    let until = x.kind === 'sla_waiver' ? Date.parse(x.endsAt) : Date.parse(x.endsAt) + budgetMs
    if (x.revokedAt !== null) until = Math.min(until, Date.parse(x.revokedAt))
    if (until <= deadline) continue
    if (best === null || until > Date.parse(best.until)) best = { until: new Date(until).toISOString(), exception: x }
  }
  return best
}

/**
 * The system's original SLA deadline. An approved sla_waiver moves case_systems.deadline_at
 * (migration 0006) and records the deadline it replaced in details.systems[].originalDeadlineAt;
 * the deadline the engine put on the revocation job (job.enqueued) is the original too. The
 * report measures against the original and shows the extension as waived_until.
 */
export function originalDeadline(projected: string | null, jobDeadline: string | null, system: string | null, rawExceptions: unknown): string | null {
  let earliest = projected === null ? null : Date.parse(projected)
  if (jobDeadline !== null && (earliest === null || Date.parse(jobDeadline) < earliest)) earliest = Date.parse(jobDeadline)
  if (Array.isArray(rawExceptions)) {
    for (const raw of rawExceptions) {
      const parsed = waiverSystemsSchema.safeParse(raw)
      if (!parsed.success) continue
      for (const s of parsed.data.details.systems) {
        if (system !== null && s.system !== system) continue
        const at = Date.parse(s.originalDeadlineAt)
        if (!Number.isNaN(at) && (earliest === null || at < earliest)) earliest = at
      }
    }
  }
  return earliest === null ? null : new Date(earliest).toISOString()
}

const waiverSystemsSchema = z.object({
  kind: z.literal('sla_waiver'),
  details: z.object({ systems: z.array(z.object({ system: z.string(), originalDeadlineAt: z.string() }).loose()) }).loose(),
})

export interface OutcomeInput {
  gap: string | null
  caseStatus: string | null
  system: string | null
  systemStatus: string | null
  effectiveAt: string
  deadlineAt: string | null
  verifiedAt: string | null
  asOf: string
  exceptions: ExceptionFact[]
  hrLateByMinutes: number | null
  waitingOn: string | null
  lastError: ReportRow['lastError']
}

function minutes(ms: number): number {
  return Math.round(ms / 6_000) / 10
}

function duration(ms: number): string {
  const m = Math.round(Math.abs(ms) / 60_000)
  if (m < 120) return `${m} min`
  const h = Math.floor(m / 60)
  const rest = m % 60
  return rest === 0 ? `${h} h` : `${h} h ${rest} min`
}

function describeWaiver(w: { until: string; exception: ExceptionFact }): string {
  const x = w.exception
  const by = x.approvers.length > 0 ? `approved by ${x.approvers.join(' and ')}` : 'approved'
  return `${x.kind} ${x.id} (${by}: "${x.reason}") moved the deadline to ${w.until}`
}

/**
 * The outcome of one leaver-system row and a sentence saying why, for a reader who has never
 * seen Tenure. Pure: the report time is an input, so the same data always gives the same answer.
 */
export function decideOutcome(input: OutcomeInput): { outcome: Outcome; reason: string; waivedUntil: string | null } {
  if (input.gap === 'no_case') {
    return { outcome: 'gap', reason: 'HR reported this termination but Tenure has no leaver case for it: nothing shows that access was revoked.', waivedUntil: null }
  }
  if (input.gap === 'account_not_in_case') {
    return {
      outcome: 'gap',
      reason: `Tenure knows an account in ${input.system} (status ${input.systemStatus ?? 'unknown'}) that the leaver case does not cover: nothing shows it was revoked.`,
      waivedUntil: null,
    }
  }
  if (input.gap === 'no_systems') {
    return { outcome: 'gap', reason: 'The leaver case lists no system: nothing shows which accounts this person held or that they were revoked.', waivedUntil: null }
  }
  const late = input.hrLateByMinutes !== null && input.hrLateByMinutes > 0 ? ` HR reported the termination ${duration(input.hrLateByMinutes * 60_000)} after it took effect.` : ''
  const deadline = input.deadlineAt
  const waiver = waivedDeadline(input.exceptions, input.system, input.effectiveAt, deadline)
  if (input.verifiedAt !== null) {
    const verified = Date.parse(input.verifiedAt)
    if (deadline === null || verified <= Date.parse(deadline)) {
      const margin = deadline === null ? '' : `, ${duration(Date.parse(deadline) - verified)} before the deadline`
      return { outcome: 'met', reason: `Revocation verified ${duration(verified - Date.parse(input.effectiveAt))} after the termination took effect${margin}.`, waivedUntil: waiver?.until ?? null }
    }
    if (waiver !== null && verified <= Date.parse(waiver.until)) {
      return {
        outcome: 'waived',
        reason: `Verified ${duration(verified - Date.parse(deadline))} after the SLA deadline, within an approved exception: ${describeWaiver(waiver)}.${late}`,
        waivedUntil: waiver.until,
      }
    }
    const beyond = waiver !== null ? ` The exception ${waiver.exception.id} only extended it to ${waiver.until}.` : ''
    return { outcome: 'breached', reason: `Verified ${duration(verified - Date.parse(deadline))} after the SLA deadline.${late}${beyond}`, waivedUntil: waiver?.until ?? null }
  }
  if (input.systemStatus === 'absent') {
    return { outcome: 'no_account', reason: 'No account existed in this system when access was cut off.', waivedUntil: null }
  }
  if (input.caseStatus === 'cancelled') {
    return { outcome: 'rescinded', reason: 'HR rescinded the termination before access was revoked.', waivedUntil: null }
  }
  if (input.caseStatus === 'closed') {
    return { outcome: 'gap', reason: `The case was closed without a verified revocation in this system (status ${input.systemStatus ?? 'unknown'}).`, waivedUntil: null }
  }
  const status = input.systemStatus ? ` Status: ${input.systemStatus}.` : ''
  const error = input.lastError ? ` Last error: ${input.lastError.kind ?? 'error'}: ${input.lastError.message}.` : ''
  const waiting = input.waitingOn ? ` Waiting on exception ${input.waitingOn}.` : ''
  if (deadline === null) {
    return { outcome: 'gap', reason: `No SLA deadline is recorded for this system.${status}`, waivedUntil: null }
  }
  const now = Date.parse(input.asOf)
  if (now < Date.parse(deadline)) {
    return { outcome: 'pending', reason: `Not revoked yet; the deadline is in ${duration(Date.parse(deadline) - now)}.${status}${waiting}`, waivedUntil: waiver?.until ?? null }
  }
  if (waiver !== null && now < Date.parse(waiver.until)) {
    return { outcome: 'waived', reason: `Not revoked yet, past the SLA deadline within an approved exception: ${describeWaiver(waiver)}.${status}${waiting}`, waivedUntil: waiver.until }
  }
  return {
    outcome: 'breached',
    reason: `Not verified ${duration(now - Date.parse(deadline))} after the SLA deadline.${late}${status}${error}${waiting}`,
    waivedUntil: waiver?.until ?? null,
  }
}

// ---------------------------------------------------------------------------------------------
// Database rows → report rows

export interface CaseDbRow {
  case_id: string
  case_status: string
  generation: number
  effective_at: Date
  case_deadline_at: Date | null
  opened_at: Date
  closed_at: Date | null
  breached_at: Date | null
  late_by_hr_seconds: number | null
  case_received_at: Date | null
  employee_id: string
  source: string
  external_id: string
  display_name: string | null
  email: string | null
  hr_event_id: string | null
  source_event_id: string | null
  hr_notified_at: Date | null
  received_at: Date | null
  found_by: string | null
  hr_stored_seq: number | null
  termination_seq: number | null
  breach_seq: number | null
  other_hr_event_ids: string[] | null
  escalations: unknown
  system: string | null
  system_status: string | null
  account_id: string | null
  deadline_at: Date | null
  cutoff_at: Date | null
  verified_at: Date | null
  cleanup_at: Date | null
  last_error: unknown
  residual: unknown
  residual_decisions?: unknown
  waiting_on: string | null
  gap: string | null
  cutoff_seq: number | null
  cutoff_details: unknown
  cleanup_seq: number | null
  cleanup_details: unknown
  verified_seq: number | null
  job_deadline_at: Date | null
  task_id: string | null
  task_status: string | null
  completed_by: string | null
  completed_at: Date | null
  attestation: unknown
  exceptions: unknown
}

export interface PopulationDbRow {
  event_id: string
  source: string
  source_event_id: string
  employee_external_id: string
  employee_id: string | null
  display_name: string | null
  email: string | null
  found_by: string
  occurred_at: Date
  received_at: Date
  outcome: string | null
  outcome_reason: string | null
  effective_at: Date
  hr_stored_seq: number | null
  /** Only in populationEvents(). */
  case_id?: string | null
  case_effective_at?: Date | null
  direct?: boolean
}

export function fromCaseRow(row: CaseDbRow, asOf: string): ReportRow {
  const effectiveAt = toIso(row.effective_at)
  const all = [...steps('cutoff', row.cutoff_details), ...steps('cleanup', row.cleanup_details)]
  const verifiedAt = isoOrNull(row.verified_at)
  const deadlineAt = originalDeadline(isoOrNull(row.deadline_at), isoOrNull(row.job_deadline_at), row.system, row.exceptions)
  const exceptionList = exceptions(row.exceptions)
  const lastErrorParsed = lastErrorSchema.safeParse(row.last_error)
  const lastError = lastErrorParsed.success
    ? { action: lastErrorParsed.data.action ?? null, kind: lastErrorParsed.data.kind ?? null, message: lastErrorParsed.data.message, at: lastErrorParsed.data.at ?? null }
    : null
  const hrLateByMinutes = row.late_by_hr_seconds === null ? null : Math.round(row.late_by_hr_seconds / 6) / 10
  const decided = decideOutcome({
    gap: row.gap,
    caseStatus: row.case_status,
    system: row.system,
    systemStatus: row.system_status,
    effectiveAt,
    deadlineAt,
    verifiedAt,
    asOf,
    exceptions: exceptionList,
    hrLateByMinutes,
    waitingOn: row.waiting_on,
    lastError,
  })
  const escalations = (Array.isArray(row.escalations) ? row.escalations : []).flatMap((raw) => {
    const e = escalationSchema.safeParse(raw)
    // An escalation is about this system when the system was still open when it was sent.
    return e.success && (row.system === null || e.data.openSystems.length === 0 || e.data.openSystems.includes(row.system)) ? [{ step: e.data.step, sentAt: e.data.sentAt }] : []
  })
  const attestation = attestationSchema.safeParse(row.attestation)
  return {
    caseId: row.case_id,
    caseStatus: row.case_status,
    employee: { id: row.employee_id, hrId: row.external_id, source: row.source, name: row.display_name, email: row.email },
    hrEvent: {
      id: row.hr_event_id,
      sourceEventId: row.source_event_id,
      foundBy: row.found_by,
      notifiedAt: isoOrNull(row.hr_notified_at),
      receivedAt: isoOrNull(row.received_at),
      otherSourceEventIds: row.other_hr_event_ids ?? [],
    },
    terminationEffectiveAt: effectiveAt,
    hrLateByMinutes,
    system: row.system,
    accountId: row.account_id,
    steps: {
      disabledAt: stepAt(all, 'disable'),
      sessionsRevokedAt: stepAt(all, 'revoke_sessions'),
      groupsRemovedAt: stepAt(all, 'remove_groups'),
      deletedAt: stepAt(all, 'delete'),
      all,
    },
    revokedAt: isoOrNull(row.cutoff_at),
    verifiedAt,
    slaDeadline: deadlineAt,
    outcome: decided.outcome,
    outcomeReason: decided.reason,
    waivedUntil: decided.waivedUntil,
    minutesToRevoke: verifiedAt === null ? null : minutes(Date.parse(verifiedAt) - Date.parse(effectiveAt)),
    lastError,
    escalations,
    breachedAt: isoOrNull(row.breached_at),
    exceptions: exceptionList,
    manualAttestation:
      row.task_id === null
        ? null
        : {
            taskId: row.task_id,
            status: row.task_status ?? 'unknown',
            completedBy: row.completed_by,
            completedAt: isoOrNull(row.completed_at),
            doneAt: attestation.success && attestation.data.doneAt && !Number.isNaN(Date.parse(attestation.data.doneAt)) ? toIso(attestation.data.doneAt) : null,
            note: attestation.success ? (attestation.data.note ?? null) : null,
            evidence: attestation.success ? (attestation.data.evidenceRef ?? attestation.data.evidence ?? null) : null,
          },
    residualAccess: residualFacts(row.residual, row.residual_decisions),
    auditSeqs: {
      hrEventStored: row.hr_stored_seq,
      termination: row.termination_seq,
      revokedCutoff: row.cutoff_seq,
      revokedCleanup: row.cleanup_seq,
      verified: row.verified_seq,
      slaBreached: row.breach_seq,
    },
  }
}

/** A termination in HR's population that no leaver case accounts for. */
export function fromUncoveredTermination(row: PopulationDbRow, asOf: string): ReportRow {
  const effectiveAt = toIso(row.effective_at)
  const decided = decideOutcome({
    gap: 'no_case',
    caseStatus: null,
    system: null,
    systemStatus: null,
    effectiveAt,
    deadlineAt: null,
    verifiedAt: null,
    asOf,
    exceptions: [],
    hrLateByMinutes: null,
    waitingOn: null,
    lastError: null,
  })
  const outcomeNote = row.outcome ? ` Tenure recorded the event as ${row.outcome}${row.outcome_reason ? ` (${row.outcome_reason})` : ''}.` : ' Tenure never applied the event.'
  return {
    caseId: null,
    caseStatus: null,
    employee: { id: row.employee_id, hrId: row.employee_external_id, source: row.source, name: row.display_name, email: row.email },
    hrEvent: {
      id: row.event_id,
      sourceEventId: row.source_event_id,
      foundBy: row.found_by,
      notifiedAt: toIso(row.occurred_at),
      receivedAt: toIso(row.received_at),
      otherSourceEventIds: [],
    },
    terminationEffectiveAt: effectiveAt,
    hrLateByMinutes: Math.max(0, minutes(Date.parse(toIso(row.received_at)) - Date.parse(effectiveAt))),
    system: null,
    accountId: null,
    steps: { disabledAt: null, sessionsRevokedAt: null, groupsRemovedAt: null, deletedAt: null, all: [] },
    revokedAt: null,
    verifiedAt: null,
    slaDeadline: null,
    outcome: decided.outcome,
    outcomeReason: decided.reason + outcomeNote,
    waivedUntil: null,
    minutesToRevoke: null,
    lastError: null,
    escalations: [],
    breachedAt: null,
    exceptions: [],
    manualAttestation: null,
    residualAccess: [],
    auditSeqs: { hrEventStored: row.hr_stored_seq, termination: null, revokedCutoff: null, revokedCleanup: null, verified: null, slaBreached: null },
  }
}

// ---------------------------------------------------------------------------------------------
// Population (completeness)

export const POPULATION_STATUSES = ['in_report', 'duplicate', 'superseded', 'gap'] as const
export type PopulationStatus = (typeof POPULATION_STATUSES)[number]

export interface PopulationEvent {
  hrEventId: string
  source: string
  sourceEventId: string
  hrEmployeeId: string
  employeeId: string | null
  foundBy: string
  notifiedAt: string
  receivedAt: string
  effectiveAt: string
  status: PopulationStatus
  /** The leaver case that accounts for it (its rows are in this report unless status is superseded). */
  caseId: string | null
  caseEffectiveAt: string | null
  auditSeqHrEventStored: number | null
}

export function fromPopulationRow(row: PopulationDbRow, period: { from: string; to: string }): PopulationEvent {
  const caseEffective = row.case_effective_at ? toIso(row.case_effective_at) : null
  let status: PopulationStatus
  if (!row.case_id) status = 'gap'
  else if (row.direct) status = 'in_report'
  else if (caseEffective !== null && caseEffective >= period.from && caseEffective < period.to) status = 'duplicate'
  else status = 'superseded'
  return {
    hrEventId: row.event_id,
    source: row.source,
    sourceEventId: row.source_event_id,
    hrEmployeeId: row.employee_external_id,
    employeeId: row.employee_id,
    foundBy: row.found_by,
    notifiedAt: toIso(row.occurred_at),
    receivedAt: toIso(row.received_at),
    effectiveAt: toIso(row.effective_at),
    status,
    caseId: row.case_id ?? null,
    caseEffectiveAt: caseEffective,
    auditSeqHrEventStored: row.hr_stored_seq,
  }
}
