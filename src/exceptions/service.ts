/**
 * Exceptions as use cases: request, approve, reject, revoke, and the timers (request expiry,
 * start, end). Each is one step of the approval machine persisted in one transaction:
 *
 *   read the row → check the rules → restore → send → (row lock, version check) persist the
 *   snapshot and columns → timers on `exceptions.timer` → SLA deadline (sla_waiver) →
 *   notifications → audit, last → COMMIT.
 *
 * When the step hands the employee machine an `exception.activated` / `exception.ended` event,
 * the whole step runs inside the engine's transaction (applyEvent's `within`): the employee row
 * is locked first, then the exception row, so the exception and its effect on the lifecycle
 * commit together or not at all. The step is computed before the locks are taken and checked
 * against the row version under them; a concurrent change makes it start over from the new row.
 */
import { randomUUID } from 'node:crypto'
import type { ApprovalEvent } from '../../state-machines/exception-approval.machine.ts'
import type { ExceptionKind } from '../../state-machines/lifecycle-types.ts'
import type { AccessGrant, EmployeeProfile } from '../domain/access.ts'
import { appendAudit, type AuditEntryInput } from '../audit/index.ts'
import type { Role } from '../auth/roles.ts'
import { withTransaction, type PoolClient } from '../db/pool.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { applyEvent, type Actor, type EngineDeps } from '../lifecycle/engine.ts'
import { slaDeadline, slaMinutesFor } from '../sla/deadline.ts'
import { enqueueNotification, type NotifyConfig } from '../notify/index.ts'
import { inTransaction } from '../jobs/boss.ts'
import { scheduleEscalations } from '../sla/escalation.ts'
import { uuidV5 } from '../util/ids.ts'
import { approvalActor, columnsOf, currentApprovalSnapshot, restoredContext, stepApproval, type ApprovalStep } from './approval.ts'
import { approvalConfig, maxDurationMs, type ExceptionsConfig } from './config.ts'
import { deadlineEffect, exceptionNotification, type ExceptionFacts } from './notifications.ts'
import { EXCEPTION_TIMER_QUEUE, type ExceptionTimerJob } from './queue.ts'
import { DEFAULT_SLA_MINUTES } from '../policy/index.ts'
import {
  findCase,
  findEmployee,
  findException,
  findOpenCase,
  insertException,
  PENDING_STATUSES,
  reproposeDeadline,
  setCaseDetails,
  setExceptionDetails,
  updateException,
  type ExceptionRecord,
  type ExceptionStatus,
  type NewException,
  type OpenCase,
} from './store.ts'

export interface ExceptionDeps {
  engine: EngineDeps
  config: ExceptionsConfig
  notify: () => NotifyConfig
}

/** Who asks: a person through the API (token or SSO), or Tenure itself for timers. */
export interface Caller {
  type: 'api_token' | 'oidc' | 'system'
  id: string
  name?: string | null
  /** The caller's e-mail (an SSO sign-in's email claim): where decisions on their request are mailed. */
  email?: string | null
  roles: readonly Role[]
}

export const SYSTEM_CALLER: Caller = { type: 'system', id: 'tenure', roles: [] }

export interface RequestInput {
  kind: ExceptionKind
  employeeId: string
  system?: string | null
  startsAt?: string
  endsAt: string
  reason: string
  grant?: AccessGrant
  /** Same key from the same caller → the same exception, not a second one. */
  idempotencyKey?: string
}

export type Decision = 'approve' | 'reject' | 'revoke'

export interface StepOptions {
  correlationId: string
}

const MAX_ATTEMPTS = 5

/** The row changed between computing a step and locking it: compute again from the new row. */
class StaleStep extends Error {
  constructor() {
    super('the exception changed concurrently')
    this.name = 'StaleStep'
  }
}

function issue(path: string, message: string): ApiError {
  return new ApiError(400, 'validation_failed', `${path}: ${message}`, { issues: [{ path, message, code: 'custom' }] })
}

// ---------------------------------------------------------------------------------------------
// request

export async function requestException(deps: ExceptionDeps, caller: Caller, input: RequestInput, opts: StepOptions): Promise<{ record: ExceptionRecord; created: boolean }> {
  const { engine, config } = deps
  const id = input.idempotencyKey ? uuidV5(`exception:${caller.type}:${caller.id}:${input.idempotencyKey}`) : randomUUID()
  if (input.idempotencyKey) {
    const existing = await findException(engine.pool, id)
    if (existing) return { record: existing, created: false }
  }
  const now = engine.now()
  const reason = input.reason.trim()
  if (reason.length < config.minReasonLength) throw issue('body.reason', `give a reason of at least ${config.minReasonLength} characters`)
  const system = input.system ?? null
  if (system !== null && !engine.systems().includes(system)) {
    throw issue('body.system', `unknown system ${system}; configured and enabled: ${engine.systems().join(', ') || '(none)'}`)
  }
  if ((input.kind === 'delay_revocation' || input.kind === 'extra_access') && system === null) throw issue('body.system', `${input.kind} names the one system it applies to`)
  if (input.kind === 'extra_access' && !input.grant) throw issue('body.grant', 'extra_access carries the grant it adds (groups, licences, channels …)')
  if (input.kind !== 'extra_access' && input.grant) throw issue('body.grant', 'only extra_access carries a grant')
  const start = input.startsAt !== undefined && Date.parse(input.startsAt) > now.getTime() ? new Date(input.startsAt) : now
  const end = new Date(input.endsAt)
  if (end.getTime() <= start.getTime()) throw issue('body.endsAt', `must be after the start (${start.toISOString()})`)
  const max = maxDurationMs(config, input.kind)
  if (end.getTime() - start.getTime() > max) {
    throw issue('body.endsAt', `${input.kind} may last at most ${config.maxDuration[input.kind]} (exceptions.maxDuration.${input.kind}): end no later than ${new Date(start.getTime() + max).toISOString()}`)
  }
  const employee = await findEmployee(engine.pool, input.employeeId)
  if (!employee) throw issue('body.employeeId', `no employee ${input.employeeId}`)
  const kase = await findOpenCase(engine.pool, employee.id)
  if (input.kind === 'sla_waiver') {
    if (!kase) throw new ApiError(409, 'no_open_case', `employee ${employee.id} has no open or scheduled leaver case: an sla_waiver extends a case's revocation deadline`)
    if (system !== null && !kase.systems.some((s) => s.system === system)) {
      throw issue('body.system', `the leaver case of employee ${employee.id} has no system ${system} (it has ${kase.systems.map((s) => s.system).join(', ') || 'none'})`)
    }
  }

  const event: ApprovalEvent = {
    type: 'exception.request',
    actor: approvalActor(caller.id, caller.roles),
    reason,
    kind: input.kind,
    employeeId: employee.id,
    endsAt: end.toISOString(),
    now: now.toISOString(),
    ...(system !== null ? { system } : {}),
    ...(input.startsAt !== undefined ? { startsAt: new Date(input.startsAt).toISOString() } : {}),
    ...(input.grant ? { grant: input.grant } : {}),
  }
  const step = stepApproval({ exceptionId: id, config: approvalConfig(config) }, undefined, event)
  if (step.refused) throw new ApiError(400, 'validation_failed', step.context.refusal?.message ?? 'the request was refused')
  const request = step.context.request!
  const row: NewException = {
    id,
    kind: input.kind,
    employeeId: employee.id,
    system,
    reason,
    requestedBy: caller.id,
    requestedByType: caller.type,
    requestedAt: now.toISOString(),
    startsAt: request.startsAt,
    endsAt: request.endsAt,
    caseId: kase?.id ?? null,
    ...withoutEnd(columnsOf(step, undefined, now.toISOString())),
    details: {
      ...(input.grant ? { grant: input.grant } : {}),
      ...(caller.name ? { requesterName: caller.name } : {}),
      ...(caller.email ? { requesterEmail: caller.email } : {}),
      // What approving would do to the deadline, read now: the console and the API show it on the
      // pending request ("from … to …"); applyWaiverDeadline replaces both with what was applied.
      ...(input.kind === 'sla_waiver' ? waiverPreview(kase, system, end.toISOString()) : {}),
    },
  }
  try {
    const record = await commit(deps, { kind: 'insert', row }, step, caller, now, opts)
    return { record, created: true }
  } catch (err) {
    // The same Idempotency-Key raced another request: the other one won, answer with it.
    if (err instanceof StaleStep && input.idempotencyKey) {
      const existing = await findException(engine.pool, id)
      if (existing) return { record: existing, created: false }
    }
    throw err
  }
}

function withoutEnd<T extends { endsAt: unknown }>(c: T): Omit<T, 'endsAt'> {
  const { endsAt: _, ...rest } = c
  return rest
}

/** The affected systems' earliest current deadline, and the waiver's end it would move to. */
function waiverPreview(kase: OpenCase | undefined, system: string | null, endsAt: string): { originalDeadlineAt?: string; newDeadlineAt?: string } {
  const deadlines = (kase?.systems ?? []).filter((s) => system === null || s.system === system).flatMap((s) => (s.deadlineAt ? [s.deadlineAt.getTime()] : []))
  const from = deadlines.length > 0 ? new Date(Math.min(...deadlines)) : (kase?.deadlineAt ?? null)
  if (!from) return {}
  return { originalDeadlineAt: from.toISOString(), newDeadlineAt: from.getTime() > Date.parse(endsAt) ? from.toISOString() : endsAt }
}

/** Who decided, by name, beside the ids the columns keep (details.approverNames, migration 0006). */
function withDeciderName(details: Record<string, unknown>, caller: Caller): Record<string, unknown> {
  if (!caller.name || caller.type === 'system') return details
  const names = typeof details.approverNames === 'object' && details.approverNames !== null ? (details.approverNames as Record<string, string>) : {}
  return { ...details, approverNames: { ...names, [caller.id]: caller.name } }
}

/** Each extension on the record (details.extensions): who, when, from, to, why. */
function withExtensions(details: Record<string, unknown>, step: ApprovalStep, caller: Caller, nowIso: string): Record<string, unknown> {
  const extended = step.effects.records.filter((r) => r.kind === 'exception.extended')
  if (extended.length === 0) return details
  const before = Array.isArray(details.extensions) ? (details.extensions as unknown[]) : []
  const added = extended.map((r) => ({ by: caller.id, at: nowIso, from: r.details.from, to: r.details.to, reason: r.details.reason ?? null }))
  return { ...details, extensions: [...before, ...added] }
}

// ---------------------------------------------------------------------------------------------
// approve / reject / revoke

interface Refusal {
  status: 403 | 409
  code: string
  message: string
}

/** The rules, checked before the machine sees the event, so each answer has its own status and code. */
export function decisionRefusal(row: ExceptionRecord, caller: Caller, decision: Decision, now: Date): Refusal | undefined {
  const isAdmin = caller.roles.includes('admin')
  const isApprover = isAdmin || caller.roles.includes('approver')
  const pending = PENDING_STATUSES.includes(row.status)
  const requester = caller.id === row.requestedBy
  if (decision === 'revoke') {
    if (!requester && !isAdmin) return { status: 403, code: 'not_requester', message: `only the requester (${row.requestedBy}) or an admin may revoke exception ${row.id}` }
    if (!(pending || row.status === 'approved' || row.status === 'active')) return { status: 409, code: 'not_revocable', message: `exception ${row.id} is ${row.status}; there is nothing to revoke` }
    return undefined
  }
  if (!isApprover) return { status: 403, code: 'forbidden', message: `deciding an exception needs the approver or admin role` }
  if (row.approvals.some((a) => a.actorId === caller.id)) {
    return { status: 409, code: 'already_approved', message: `you already approved exception ${row.id} (${row.approvals.find((a) => a.actorId === caller.id)!.at}); an approval counts once` }
  }
  if (!pending) return { status: 409, code: 'not_pending', message: `exception ${row.id} is ${row.status}; it no longer awaits a decision` }
  if (requester) {
    return {
      status: 403,
      code: 'four_eyes',
      message:
        decision === 'approve'
          ? `four-eyes rule: you requested exception ${row.id}, so someone else must approve it`
          : `four-eyes rule: you requested exception ${row.id}; withdraw it with revoke instead of rejecting it yourself`,
    }
  }
  if (now.getTime() >= row.endsAt.getTime()) return { status: 409, code: 'past_end', message: `exception ${row.id} ended at ${row.endsAt.toISOString()} before it was decided` }
  if (decision === 'approve' && row.status === 'awaiting_second_approval' && !isAdmin) {
    return { status: 403, code: 'second_approval_needs_admin', message: `an sla_waiver needs a second approval from an admin (other than ${[row.requestedBy, ...row.approvals.map((a) => a.actorId)].join(' and ')})` }
  }
  return undefined
}

export async function decideException(deps: ExceptionDeps, caller: Caller, id: string, decision: Decision, reason: string, opts: StepOptions): Promise<ExceptionRecord> {
  const { engine, config } = deps
  const trimmed = reason.trim()
  if (trimmed.length < config.minReasonLength) throw issue('body.reason', `give a reason of at least ${config.minReasonLength} characters`)
  for (let attempt = 1; ; attempt++) {
    const row = await findException(engine.pool, id)
    if (!row) throw notFound(`exception ${id}`)
    const now = engine.now()
    const refusal = decisionRefusal(row, caller, decision, now)
    if (refusal) {
      await auditRefusal(deps, row, caller, decision, refusal, opts)
      throw new ApiError(refusal.status, refusal.code, refusal.message, { exceptionId: row.id, status: row.status })
    }
    const actor = approvalActor(caller.id, caller.roles)
    const nowIso = now.toISOString()
    const event: ApprovalEvent =
      decision === 'approve'
        ? { type: 'exception.approve', actor, reason: trimmed, now: nowIso }
        : decision === 'reject'
          ? { type: 'exception.reject', actor, reason: trimmed, now: nowIso }
          : { type: 'exception.revoke', actor, reason: trimmed, now: nowIso }
    const step = stepApproval({ exceptionId: id, config: approvalConfig(config) }, currentApprovalSnapshot(row), event)
    if (step.refused) {
      const message = step.context.refusal?.message ?? 'refused'
      const machineRefusal: Refusal = { status: 409, code: 'refused', message: `${decision} refused: ${message}` }
      await auditRefusal(deps, row, caller, decision, machineRefusal, opts)
      throw new ApiError(409, 'refused', machineRefusal.message, { exceptionId: row.id, status: row.status })
    }
    try {
      return await commit(deps, { kind: 'update', row }, step, caller, now, opts)
    } catch (err) {
      if (err instanceof StaleStep && attempt < MAX_ATTEMPTS) continue
      if (err instanceof StaleStep) throw new ApiError(409, 'conflict', `exception ${id} kept changing while it was being ${decision}d; try again`)
      throw err
    }
  }
}

// ---------------------------------------------------------------------------------------------
// extend

/**
 * The rules of an extension, before the machine sees it. Not for sla_waiver (its deadline moved
 * when it was decided; a longer waiver is a new request both approvers see) and not for a delay
 * in force (the cut-off already queued for its end would not move: revoke it and ask again).
 */
export function extensionRefusal(row: ExceptionRecord, caller: Caller): Refusal | undefined {
  if (!caller.roles.includes('admin') && !caller.roles.includes('approver')) return { status: 403, code: 'forbidden', message: 'extending an exception needs the approver or admin role' }
  if (caller.id === row.requestedBy) return { status: 403, code: 'four_eyes', message: `four-eyes rule: you requested exception ${row.id}, so someone else must extend it` }
  if (row.status !== 'approved' && row.status !== 'active') return { status: 409, code: 'not_extendable', message: `exception ${row.id} is ${row.status}; only an approved or active exception can be extended` }
  if (row.kind === 'sla_waiver') return { status: 409, code: 'not_extendable', message: 'an sla_waiver is not extended: request a new waiver (it needs both approvals again)' }
  if (row.kind === 'delay_revocation' && row.status === 'active') {
    return { status: 409, code: 'not_extendable', message: 'a delay in force is not extended (a cut-off may already be queued for its end): revoke it and request a new delay' }
  }
  return undefined
}

export async function extendException(deps: ExceptionDeps, caller: Caller, id: string, endsAt: string, reason: string, opts: StepOptions): Promise<ExceptionRecord> {
  const { engine, config } = deps
  const trimmed = reason.trim()
  if (trimmed.length < config.minReasonLength) throw issue('body.reason', `give a reason of at least ${config.minReasonLength} characters`)
  for (let attempt = 1; ; attempt++) {
    const row = await findException(engine.pool, id)
    if (!row) throw notFound(`exception ${id}`)
    const now = engine.now()
    const refusal = extensionRefusal(row, caller)
    if (refusal) {
      await auditRefusal(deps, row, caller, 'extend', refusal, opts)
      throw new ApiError(refusal.status, refusal.code, refusal.message, { exceptionId: row.id, status: row.status })
    }
    const end = new Date(endsAt)
    if (end.getTime() <= row.endsAt.getTime() || end.getTime() <= now.getTime()) throw issue('body.endsAt', `must be after the current end ${row.endsAt.toISOString()} and in the future`)
    const max = maxDurationMs(config, row.kind)
    if (end.getTime() - row.startsAt.getTime() > max) {
      throw issue('body.endsAt', `${row.kind} may last at most ${config.maxDuration[row.kind]} (exceptions.maxDuration.${row.kind}): end no later than ${new Date(row.startsAt.getTime() + max).toISOString()}`)
    }
    const event: ApprovalEvent = { type: 'exception.extend', actor: approvalActor(caller.id, caller.roles), reason: trimmed, endsAt: end.toISOString(), now: now.toISOString() }
    const step = stepApproval({ exceptionId: id, config: approvalConfig(config) }, currentApprovalSnapshot(row), event)
    if (step.refused) {
      const machineRefusal: Refusal = { status: 409, code: 'refused', message: `extend refused: ${step.context.refusal?.message ?? 'refused'}` }
      await auditRefusal(deps, row, caller, 'extend', machineRefusal, opts)
      throw new ApiError(409, 'refused', machineRefusal.message, { exceptionId: row.id, status: row.status })
    }
    try {
      return await commit(deps, { kind: 'update', row }, step, caller, now, opts)
    } catch (err) {
      if (err instanceof StaleStep && attempt < MAX_ATTEMPTS) continue
      if (err instanceof StaleStep) throw new ApiError(409, 'conflict', `exception ${id} kept changing while it was being extended; try again`)
      throw err
    }
  }
}

// ---------------------------------------------------------------------------------------------
// timers

export type TimerOutcome = 'applied' | 'stale' | 'not_found'

export async function fireExceptionTimer(deps: ExceptionDeps, job: ExceptionTimerJob): Promise<TimerOutcome> {
  const { engine, config } = deps
  for (let attempt = 1; ; attempt++) {
    const row = await findException(engine.pool, job.exceptionId)
    if (!row) return 'not_found'
    // A timer the machine no longer holds (cancelled, or replaced by a later one) changes nothing.
    const stored = currentApprovalSnapshot(row)
    if (restoredContext(stored).context.timers[job.timer]?.timerId !== job.timerId) return 'stale'
    const now = engine.now()
    const step = stepApproval({ exceptionId: row.id, config: approvalConfig(config) }, stored, {
      type: 'timer.fired',
      timerId: job.timerId,
      timer: job.timer,
      now: now.toISOString(),
    })
    if (step.refused) return 'stale'
    try {
      await commit(deps, { kind: 'update', row }, step, SYSTEM_CALLER, now, { correlationId: job.correlationId })
      return 'applied'
    } catch (err) {
      if (err instanceof StaleStep && attempt < MAX_ATTEMPTS) continue
      throw err
    }
  }
}

// ---------------------------------------------------------------------------------------------
// persisting one step

type Target = { kind: 'insert'; row: NewException } | { kind: 'update'; row: ExceptionRecord }

async function commit(deps: ExceptionDeps, target: Target, step: ApprovalStep, caller: Caller, now: Date, opts: StepOptions): Promise<ExceptionRecord> {
  const forwards = step.effects.forwards
  // The machine forwards at most one event per step (activation, or the end of an active one).
  if (forwards.length > 1) throw new Error(`exception approval step forwarded ${forwards.length} events; expected at most one`)
  const forward = forwards[0]
  const id = target.row.id
  const persist = async (client: PoolClient) => persistStep(deps, client, target, step, caller, now, opts)
  if (forward) {
    await applyEvent(deps.engine, forward.employeeId, forward.event, {
      actor: engineActor(caller),
      correlationId: opts.correlationId,
      within: (client) => persist(client),
    })
  } else {
    await withTransaction(deps.engine.pool, persist)
  }
  const record = await findException(deps.engine.pool, id)
  if (!record) throw new Error(`exception ${id} vanished after it was written`)
  deps.engine.log.info({ exceptionId: id, kind: record.kind, employeeId: record.employeeId, status: record.status, correlationId: opts.correlationId }, 'exception step applied')
  return record
}

function engineActor(caller: Caller): Actor {
  return { type: caller.type, id: caller.id }
}

async function persistStep(deps: ExceptionDeps, client: PoolClient, target: Target, step: ApprovalStep, caller: Caller, now: Date, opts: StepOptions): Promise<void> {
  const nowIso = now.toISOString()
  let before: ExceptionRecord | undefined
  let version: number
  if (target.kind === 'update') {
    const locked = await findException(client, target.row.id, { lock: true })
    if (!locked || locked.version !== target.row.version) throw new StaleStep()
    before = locked
    const previous = { status: locked.status, decidedAt: locked.decidedAt?.toISOString() ?? null, details: locked.details }
    await updateException(client, locked.id, locked.version, { ...columnsOf(step, previous, nowIso), details: withExtensions(withDeciderName(locked.details, caller), step, caller, nowIso) })
    version = locked.version + 1
  } else {
    if (!(await insertException(client, target.row))) throw new StaleStep()
    version = 1
  }
  const record = (await findException(client, target.row.id))!
  const audit: AuditEntryInput[] = []

  // sla_waiver: the deadline moves when the waiver is decided, and back when it is revoked.
  if (record.kind === 'sla_waiver' && record.caseId) {
    const decidedNow = before !== undefined && PENDING_STATUSES.includes(before.status) && record.decidedAt !== null && record.status !== 'rejected'
    const revokedAfterDecision = before !== undefined && before.status !== 'revoked' && record.status === 'revoked' && record.decidedAt !== null
    if (decidedNow || revokedAfterDecision) audit.push(...(await applyWaiverDeadline(deps, client, record, now, opts)))
  }

  // Timers: delayed jobs with ids derived from the timer id, so a replay inserts nothing new.
  const db = inTransaction(client)
  for (const timer of step.effects.schedules) {
    const data: ExceptionTimerJob = { correlationId: opts.correlationId, exceptionId: record.id, timerId: timer.timerId, timer: timer.timer }
    await deps.engine.boss.send(EXCEPTION_TIMER_QUEUE, data, { id: exceptionTimerJobId(timer.timerId), startAfter: new Date(timer.at), db })
  }
  for (const timerId of step.effects.cancels) {
    // A cancelled timer that still fires finds the machine no longer holding it and does nothing.
    await deps.engine.boss.cancel(EXCEPTION_TIMER_QUEUE, exceptionTimerJobId(timerId), { db }).catch(() => undefined)
  }

  await enqueueNotifications(deps, client, record, step, caller, version, nowIso, opts)

  audit.unshift(...auditEntries(record, step, caller, opts))
  await appendAudit(client, audit)
}

export function exceptionTimerJobId(timerId: string): string {
  return uuidV5(`exception-timer:${timerId}`)
}

// ---------------------------------------------------------------------------------------------
// audit

const RECORD_ACTIONS: Record<string, string> = {
  'exception.requested': 'exception.requested',
  'exception.approved': 'exception.decided',
  'exception.rejected': 'exception.decided',
  'exception.active': 'exception.activated',
  'exception.revoked': 'exception.revoked',
  'exception.refused': 'exception.refused',
  'exception.extended': 'exception.extended',
}

function auditEntries(record: ExceptionRecord, step: ApprovalStep, caller: Caller, opts: StepOptions): AuditEntryInput[] {
  const subject = { employeeId: record.employeeId, system: record.system }
  const base = { exceptionId: record.id, kind: record.kind, status: record.status }
  return step.effects.records.map((r): AuditEntryInput => {
    let action = RECORD_ACTIONS[r.kind] ?? r.kind
    let details: Record<string, unknown> = { ...r.details, ...base }
    switch (r.kind) {
      case 'exception.requested':
        details = { ...base, system: record.system, startsAt: record.startsAt.toISOString(), endsAt: record.endsAt.toISOString(), reason: record.reason, requestedBy: record.requestedBy, caseId: record.caseId, grant: record.details.grant ?? null }
        break
      case 'exception.approved':
        details = { ...base, outcome: 'approved', stage: r.details.stage, final: record.status === 'approved' || record.status === 'active', reason: r.details.reason ?? null, decidedAt: record.decidedAt?.toISOString() ?? null }
        break
      case 'exception.rejected':
        details = { ...base, outcome: 'rejected', reason: r.details.reason ?? null, decidedAt: record.decidedAt?.toISOString() ?? null }
        break
      case 'exception.expired':
        action = r.details.outcome === 'unanswered' ? 'exception.lapsed' : 'exception.expired'
        details = { ...base, expiredAt: record.expiredAt?.toISOString() ?? null, endsAt: record.endsAt.toISOString(), approvals: record.approvals.length }
        break
      case 'exception.active':
        details = { ...base, startsAt: record.startsAt.toISOString(), until: record.endsAt.toISOString() }
        break
      case 'exception.extended':
        details = { ...base, reason: r.details.reason ?? null, from: r.details.from, to: r.details.to }
        break
      case 'exception.revoked':
        details = { ...base, reason: r.details.reason ?? null, wasActive: r.details.wasActive ?? false, revokedAt: record.revokedAt?.toISOString() ?? null }
        break
      default:
        break
    }
    return { actor: { type: caller.type, id: caller.id }, action: action as AuditEntryInput['action'], subject, correlationId: opts.correlationId, details }
  })
}

/** A refused decision changes nothing but is on the record: who tried what, and why it was refused. */
async function auditRefusal(deps: ExceptionDeps, row: ExceptionRecord, caller: Caller, decision: Decision | 'extend', refusal: Refusal, opts: StepOptions): Promise<void> {
  await withTransaction(deps.engine.pool, async (client) => {
    await appendAudit(client, [
      {
        actor: { type: caller.type, id: caller.id },
        action: 'exception.refused',
        subject: { employeeId: row.employeeId, system: row.system },
        correlationId: opts.correlationId,
        details: { exceptionId: row.id, kind: row.kind, status: row.status, attempted: decision, code: refusal.code, reason: refusal.message },
      },
    ])
  })
  deps.engine.log.info({ exceptionId: row.id, actor: caller.id, decision, code: refusal.code, correlationId: opts.correlationId }, 'exception decision refused')
}

// ---------------------------------------------------------------------------------------------
// sla_waiver deadlines

interface WaivedSystem {
  system: string
  originalDeadlineAt: string
  deadlineAt: string | null
  waived: boolean
}

/**
 * Re-propose each affected system's original deadline; the trigger of migration 0006 extends it
 * when the waiver was decided before that deadline. Queue the SLA ladder for every deadline the
 * case can now have (ladder job ids include the deadline, so the old steps find it changed and
 * stay silent). Records the outcome on the exception and the case.
 */
async function applyWaiverDeadline(deps: ExceptionDeps, client: PoolClient, record: ExceptionRecord, now: Date, opts: StepOptions): Promise<AuditEntryInput[]> {
  const kase = await findCase(client, record.caseId!, { lock: true })
  if (!kase) return []
  const employee = await findEmployee(client, record.employeeId)
  const minutes = slaMinutesFor(deps.engine, employee?.profile as EmployeeProfile | undefined)
  const affected = kase.systems.filter((s) => record.system === null || s.system === record.system)
  const originals = affected.map((s) => ({ system: s.system, original: slaDeadline(kase.effectiveAt.toISOString(), minutes[s.system] ?? DEFAULT_SLA_MINUTES) }))
  for (const o of originals) await reproposeDeadline(client, kase.id, o.system, o.original)
  const after = (await findCase(client, kase.id))!
  const decidedAt = record.decidedAt!.getTime()
  const systems: WaivedSystem[] = originals.map((o) => {
    const row = after.systems.find((s) => s.system === o.system)
    return { system: o.system, originalDeadlineAt: o.original, deadlineAt: row?.deadlineAt?.toISOString() ?? null, waived: decidedAt < Date.parse(o.original) }
  })
  const waived = systems.filter((s) => s.waived)
  const breachNotHidden = systems.length > 0 && waived.length < systems.length
  const originalDeadlineAt = systems.map((s) => s.originalDeadlineAt).sort()[0] ?? null
  const newDeadlineAt = waived.length > 0 ? waived.map((s) => s.deadlineAt ?? s.originalDeadlineAt).sort().at(-1)! : null

  if (after.status === 'open' || after.status === 'scheduled') {
    const candidates = new Set<string>()
    for (const s of after.systems) if (s.deadlineAt) candidates.add(s.deadlineAt.toISOString())
    if (after.deadlineAt) candidates.add(after.deadlineAt.toISOString())
    const steps = deps.notify().escalation.steps
    for (const deadlineAt of [...candidates].sort()) {
      await scheduleEscalations(client, deps.engine.boss, steps, { id: kase.id, effectiveAt: kase.effectiveAt.toISOString(), deadlineAt, correlationId: opts.correlationId })
    }
  }

  const outcome = { caseId: kase.id, originalDeadlineAt, newDeadlineAt, breachNotHidden, systems, caseDeadlineAt: after.deadlineAt?.toISOString() ?? null, appliedAt: now.toISOString() }
  await setExceptionDetails(client, record.id, { ...record.details, ...outcome })
  const others = Array.isArray(kase.details.slaWaivers) ? (kase.details.slaWaivers as { exceptionId?: unknown }[]).filter((w) => w.exceptionId !== record.id) : []
  await setCaseDetails(client, kase.id, {
    ...kase.details,
    slaWaivers: [...others, { exceptionId: record.id, status: record.status, decidedAt: record.decidedAt!.toISOString(), breachNotHidden, systems }],
  })

  const subject = { employeeId: record.employeeId, system: record.system }
  const actor = { type: 'system' as const, id: 'tenure' }
  const entries: AuditEntryInput[] = []
  if (waived.length > 0) {
    entries.push({
      actor,
      action: record.status === 'revoked' ? 'exception.deadline_restored' : 'exception.deadline_extended',
      subject,
      correlationId: opts.correlationId,
      details: { exceptionId: record.id, caseId: kase.id, systems: waived, caseDeadlineAt: outcome.caseDeadlineAt },
    })
  }
  if (breachNotHidden && record.status !== 'revoked') {
    entries.push({
      actor,
      action: 'exception.breach_not_hidden',
      subject,
      correlationId: opts.correlationId,
      details: {
        exceptionId: record.id,
        caseId: kase.id,
        decidedAt: record.decidedAt!.toISOString(),
        systems: systems.filter((s) => !s.waived).map((s) => ({ system: s.system, deadlineAt: s.originalDeadlineAt })),
        breachedAt: kase.breachedAt?.toISOString() ?? null,
      },
    })
  }
  return entries
}

// ---------------------------------------------------------------------------------------------
// notifications

function factsOf(record: ExceptionRecord, employeeName: string | null): ExceptionFacts {
  return {
    id: record.id,
    kind: record.kind,
    employeeId: record.employeeId,
    employeeName,
    system: record.system,
    reason: record.reason,
    requestedBy: record.requestedBy,
    requesterName: typeof record.details.requesterName === 'string' ? record.details.requesterName : null,
    startsAt: record.startsAt.toISOString(),
    endsAt: record.endsAt.toISOString(),
    ...(record.details.grant ? { grant: record.details.grant as AccessGrant } : {}),
    approvals: record.approvals.map((a) => ({ actorId: a.actorId, role: a.role, reason: a.reason })),
  }
}

async function enqueueNotifications(deps: ExceptionDeps, client: PoolClient, record: ExceptionRecord, step: ApprovalStep, caller: Caller, version: number, nowIso: string, opts: StepOptions): Promise<void> {
  if (step.effects.notifies.length === 0) return
  const employee = await findEmployee(client, record.employeeId)
  const facts = factsOf(record, employee?.displayName ?? null)
  let kase: OpenCase | undefined
  if (step.effects.notifies.some((n) => n.kind === 'approval_requested' || n.kind === 'second_approval_needed')) {
    kase = record.caseId ? await findCase(client, record.caseId) : await findOpenCase(client, record.employeeId)
  }
  const config = deps.notify()
  // Approved and in force in the same step: the decision says both, one message instead of two.
  const approvedNow = step.effects.notifies.some((n) => n.kind === 'exception_approved')
  for (const n of step.effects.notifies) {
    if (n.kind === 'exception_active' && approvedNow) continue
    const asking = n.kind === 'approval_requested' || n.kind === 'second_approval_needed'
    const notification = exceptionNotification({
      kind: n.kind,
      lapsed: record.status === 'lapsed',
      inForce: record.status === 'active',
      facts,
      ...(caller.type !== 'system' ? { decision: { actorId: caller.id, actorName: caller.name ?? null, reason: decisionReason(record) } } : {}),
      ...(asking ? { deadline: deadlineEffect(facts, kase, new Date(nowIso)) } : {}),
      version,
      occurredAt: nowIso,
    })
    if (!notification) continue
    // Routed by notify.routes: requests to the approver group, decisions back to the requester.
    await enqueueNotification(client, deps.engine.boss, notification, {
      config,
      correlationId: opts.correlationId,
      context: {
        employeeId: record.employeeId,
        requesterEmail: typeof record.details.requesterEmail === 'string' ? record.details.requesterEmail : null,
        ...(record.system ? { systems: [record.system] } : {}),
      },
    })
  }
}

function decisionReason(record: ExceptionRecord): string | null {
  if (record.status === 'rejected') return record.rejectionReason
  if (record.status === 'revoked') return record.revokeReason
  const extensions = Array.isArray(record.details.extensions) ? (record.details.extensions as { reason?: string | null }[]) : []
  return extensions.at(-1)?.reason ?? null
}

export type { ExceptionRecord, ExceptionStatus }
