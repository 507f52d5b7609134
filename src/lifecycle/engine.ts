/**
 * The lifecycle engine: the only code that moves an employee's state machine.
 *
 * Handling one event is one transaction:
 *   lock the employee row → restore the XState snapshot → send the event → persist the new
 *   snapshot → project accounts and cases for the API → enqueue the jobs and timers the machine
 *   asked for (pg-boss inserts through this same transaction) → append the audit rows → COMMIT.
 * Killing the process anywhere before COMMIT loses nothing (the event's job is retried) and
 * after COMMIT duplicates nothing (the next attempt finds the event already seen, and job ids
 * are derived from their meaning, so a re-insert is a no-op).
 *
 * The machine is pure. Its side effects are placeholder actions that this engine provides: they
 * only collect what to enqueue; the engine writes it in the transaction.
 */
import { randomUUID } from 'node:crypto'
import type { Boss } from '../jobs/boss.ts'
import { withTransaction, withTransactionStartingWith, type Pool, type PoolClient } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { appendAudit, type AuditEntryInput } from '../audit/index.ts'
import { applyHrProfile, type LifecycleContext } from '../../state-machines/employee-lifecycle.machine.ts'
import { caseView, type CaseView } from './case-view.ts'
import type { HrLifecycleEvent, LifecycleEvent, Moments, NotifyKind } from '../../state-machines/lifecycle-types.ts'
import type { CanonicalEvent, HrSource } from '../../state-machines/events.ts'
import { DEFAULT_SLA_MINUTES, evaluatePolicy, type Policy } from '../policy/index.ts'
import { enableMoment, leaveMoment, provisionMoment, terminationMoment } from './schedule.ts'
import { slaMinutesFor } from '../sla/deadline.ts'
import { closeStaleTasks, ensureResidualTasks } from '../db/manual-tasks.ts'
import { employeeExists, insertEmployeeIfAbsent, lockEmployeeById, lockEmployeeByIdText, lockEmployeeBySource, saveEmployeeState, type EmployeeLockRow } from '../db/employees.ts'
import { LIFECYCLE_VERSIONING, type MachineVersioning } from '../../state-machines/upgrades.ts'
import { currentSnapshot, noEffects, restore } from './restore.ts'
import { changedAccountProjections, projectJoinerCase, projectLeaverCase, residualTaskInputs, type OnRevocationVerified } from './projections.ts'
import { writeEffects } from './effects.ts'
import { emergencyHrGate } from '../offboarding/hr-gate.ts'

export interface Actor {
  type: 'hr_source' | 'api_token' | 'oidc' | 'system'
  id: string
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: 'tenure' }

export interface ScheduleSettings {
  /** What a date-only termination means. */
  dateOnlyMeans: 'end_of_day' | 'start_of_day'
  defaultTimeZone: string
  /** Accounts are created this many days before the start date. */
  provisionLeadDays: number
  /** Local time on day one from which access works. */
  dayStartsAt: string
}

export interface EngineDeps {
  pool: Pool
  boss: Boss
  log: Logger
  policy: Policy
  /** The systems that are configured and enabled. */
  systems: () => string[]
  schedule: ScheduleSettings
  now: () => Date
  /** Hook for notifications the machine raises (the composition root enqueues them). */
  onNotify?: (client: PoolClient, notification: MachineNotification) => Promise<void>
  /** Hook when a leaver case opens or its deadline moves (the SLA ladder is queued here). */
  onCaseDeadline?: (client: PoolClient, kase: { id: string; effectiveAt: string; deadlineAt: string; correlationId: string }) => Promise<void>
  /** Who gets a task for residual access in a system with an API (default `it-operations`). */
  residualOwnerGroup?: string
  /** Observed when a leaver's system is first verified revoked (metrics: time to revoke). */
  onRevocationVerified?: OnRevocationVerified
  /** The machine version this process writes and its upgrade steps (tests stand in a later version). */
  lifecycleVersioning?: MachineVersioning
}

export interface MachineNotification {
  kind: NotifyKind
  system?: string
  message: string
  employeeId: string
  externalId: string
  displayName?: string
  correlationId: string
}

/** Job payloads are defined once, as schemas, in src/jobs/payloads.ts. */
export type { SystemJobData, TimerJobData } from '../jobs/payloads.ts'

export interface ApplyOptions {
  actor: Actor
  correlationId: string
  /** Audit rows that belong with this change (target API calls, verification results …). */
  audit?: AuditEntryInput[]
  /** Runs inside the transaction after the machine moved (e.g. mark an HR event applied). */
  within?: (client: PoolClient, result: ApplyResult) => Promise<void>
}

export interface ApplyResult {
  employeeId: string
  externalId: string
  applied: boolean
  from: string
  to: string
  jobsEnqueued: number
  ignoredReason?: string
  view: CaseView
}

type EmployeeKey = { id: string } | { source: HrSource; externalId: string }

const IGNORE_RECORD = 'event.ignored'

export class EmployeeNotFoundError extends Error {
  constructor(key: string) {
    super(`employee ${key} does not exist`)
    this.name = 'EmployeeNotFoundError'
  }
}

/** Compute the plan, moments and leaver settings for an HR event, as the machine expects them. */
export function buildHrEvent(deps: Pick<EngineDeps, 'policy' | 'systems' | 'schedule'>, context: LifecycleContext | undefined, hr: CanonicalEvent, now: Date): HrLifecycleEvent {
  const base = context ?? { profile: undefined, profileAsOf: {}, employeeId: hr.employeeId }
  const { profile } = applyHrProfile(base, hr as HrLifecycleEvent['hr'])
  const systems = deps.systems()
  const evaluation = profile ? evaluatePolicy(profile, deps.policy, systems) : undefined
  const tz = profile?.timeZone
  const s = deps.schedule
  const moments: Moments = {}
  switch (hr.type) {
    case 'employee.hired':
    case 'employee.rehired':
      moments.provisionAt = provisionMoment(hr.startDate, hr.profile.timeZone ?? tz, s.provisionLeadDays, s.defaultTimeZone)
      moments.enableAt = enableMoment(hr.startDate, hr.profile.timeZone ?? tz, s.dayStartsAt, s.defaultTimeZone)
      break
    case 'employee.terminated': {
      const t = terminationMoment(
        { effectiveDate: hr.effectiveDate, effectiveAt: hr.effectiveAt, immediate: hr.immediate, timeZone: hr.timeZone ?? tz },
        { dateOnlyMeans: s.dateOnlyMeans, defaultTimeZone: s.defaultTimeZone },
        now.toISOString(),
      )
      moments.terminationAt = t.effectiveAt
      break
    }
    case 'employee.leave_started':
      moments.leaveAt = leaveMoment(hr.effectiveDate, tz, s.defaultTimeZone)
      if (hr.expectedReturnDate) moments.returnAt = leaveMoment(hr.expectedReturnDate, tz, s.defaultTimeZone)
      break
    case 'employee.leave_ended':
      moments.returnAt = leaveMoment(hr.effectiveDate, tz, s.defaultTimeZone)
      break
    default:
      break
  }
  return {
    type: hr.type,
    hr,
    plan: evaluation?.plan ?? context?.plan ?? {},
    moments,
    now: now.toISOString(),
    ...(evaluation ? { leaver: evaluation.leaver } : {}),
  } as HrLifecycleEvent
}

/** The SLA budget of each system for this profile (policy may only lower the default). */
export async function applyHrEvent(deps: EngineDeps, hr: CanonicalEvent, options: ApplyOptions): Promise<ApplyResult> {
  return applyToEmployee(deps, { source: hr.source, externalId: hr.employeeId }, (ctx, now) => buildHrEvent(deps, ctx, hr, now), options, true)
}

export async function applyEvent(deps: EngineDeps, employeeId: string, event: LifecycleEvent | ((ctx: LifecycleContext | undefined, now: Date) => LifecycleEvent | undefined), options: ApplyOptions): Promise<ApplyResult> {
  return applyToEmployee(deps, { id: employeeId }, typeof event === 'function' ? event : () => event, options, false)
}

async function lockEmployee(client: PoolClient, key: EmployeeKey, create: boolean): Promise<EmployeeLockRow> {
  if ('id' in key) {
    const row = await lockEmployeeById(client, key.id)
    if (!row) throw new EmployeeNotFoundError(key.id)
    return row
  }
  // Most HR events are about someone Tenure knows: lock first (one statement), insert only when absent.
  const known = await lockEmployeeBySource(client, key.source, key.externalId)
  if (known || !create) {
    if (!known) throw new EmployeeNotFoundError(`${key.source}:${key.externalId}`)
    return known
  }
  await insertEmployee(client, key.source, key.externalId)
  const row = await lockEmployeeBySource(client, key.source, key.externalId)
  if (!row) throw new EmployeeNotFoundError(`${key.source}:${key.externalId}`)
  return row
}

/**
 * A new employee row. Its account key is the HR id unless another source's employee already holds
 * it (then `<source>:<id>`); both inserts skip on any conflict, so a concurrent insert of the same
 * person, or of the same id from another source, settles on one row and distinct keys.
 */
async function insertEmployee(client: PoolClient, source: HrSource, externalId: string): Promise<void> {
  for (const accountKey of [externalId, `${source}:${externalId}`, `${source}:${externalId}:${randomUUID()}`]) {
    if (await insertEmployeeIfAbsent(client, { id: randomUUID(), source, externalId, accountKey })) return
    if (await employeeExists(client, source, externalId)) return
  }
}

async function applyToEmployee(
  deps: EngineDeps,
  key: EmployeeKey,
  build: (ctx: LifecycleContext | undefined, now: Date) => LifecycleEvent | undefined,
  options: ApplyOptions,
  create: boolean,
): Promise<ApplyResult> {
  // By id (every outcome and timer): the lock goes with the BEGIN, one round trip less.
  const lockText = 'id' in key ? lockEmployeeByIdText(key.id) : undefined
  if (lockText && 'id' in key) {
    return withTransactionStartingWith<EmployeeLockRow, ApplyResult>(deps.pool, lockText, (client, rows) => {
      if (!rows[0]) throw new EmployeeNotFoundError(key.id)
      return applyLocked(deps, client, key, build, options, create, rows[0])
    })
  }
  return withTransaction(deps.pool, (client) => applyLocked(deps, client, key, build, options, create))
}

async function applyLocked(
  deps: EngineDeps,
  client: PoolClient,
  key: EmployeeKey,
  build: (ctx: LifecycleContext | undefined, now: Date) => LifecycleEvent | undefined,
  options: ApplyOptions,
  create: boolean,
  locked?: EmployeeLockRow,
): Promise<ApplyResult> {
  // 1. Lock (unless the transaction's first statement did) and restore.
  const row = locked ?? (await lockEmployee(client, key, create))
  const effects = noEffects()
  const actor = restore(row, currentSnapshot(deps, row), effects)
  actor.start()
  const before = actor.getSnapshot()
  const from = String(before.value)
  const now = deps.now()
  const event = build(row.snapshot ? before.context : undefined, now)
  if (!event) {
    actor.stop()
    const view = caseView(before)
    return { employeeId: row.id, externalId: row.external_id, applied: false, from, to: from, jobsEnqueued: 0, ignoredReason: 'no event', view }
  }

  // An HR event after an emergency termination (src/offboarding/hr-gate.ts): HR's termination
  // confirms the cut; one that would give access back is held for a person, never applied.
  const gate = await emergencyHrGate(client, { employeeId: row.id, generation: row.snapshot ? before.context.generation : undefined, event, now, correlationId: options.correlationId })
  if (gate?.block) {
    actor.stop()
    const held: ApplyResult = { employeeId: row.id, externalId: row.external_id, applied: false, from, to: from, jobsEnqueued: 0, ignoredReason: gate.block, view: caseView(before) }
    if (options.within) await options.within(client, held)
    await appendAudit(client, [...gate.audit, ...(options.audit ?? [])])
    return held
  }

  // 2. Send.
  actor.send(event)
  const after = actor.getSnapshot()
  // Capture before stop(): a snapshot taken after stop() is persisted as "stopped" and a restored
  // stopped actor no longer takes eventless transitions.
  const persisted = actor.getPersistedSnapshot()
  actor.stop()
  if (after.status === 'error') throw new Error(`lifecycle machine failed on ${event.type}: ${String(after.error)}`)
  const to = String(after.value)
  const ctx = after.context
  const ignored = effects.records.find((r) => r.kind === IGNORE_RECORD)
  const slaMinutes = slaMinutesFor(deps, ctx.profile)
  const view = caseView(after, { slaMinutes: Math.min(...Object.values(slaMinutes), DEFAULT_SLA_MINUTES) })
  const correlationId = options.correlationId
  const subject = { employeeId: row.id }

  // 3. Persist the snapshot and the searchable columns, then project accounts, cases and tasks
  //    for the read API and the reports.
  const timers = Object.values(ctx.timers).sort((a, b) => a.at.localeCompare(b.at))
  const machineVersion = (deps.lifecycleVersioning ?? LIFECYCLE_VERSIONING).current
  // The snapshot before this event tells which rows cannot change (a settled joiner case, a leaver
  // case that never existed, an account row as it was), so those statements and rows are not sent.
  const prior = row.snapshot ? before.context : undefined
  // Rows (employee_accounts, case_systems) are compared with the context before only when this
  // build's machine wrote it: an upgraded snapshot's rows were projected by the older build and are
  // all written again.
  const rowsBefore = row.machine_version === machineVersion ? prior : undefined
  await saveEmployeeState(client, {
    id: row.id,
    snapshot: persisted,
    state: to,
    generation: ctx.generation,
    profile: ctx.profile ?? {},
    displayName: ctx.profile ? (ctx.profile.displayName ?? `${ctx.profile.firstName} ${ctx.profile.lastName}`) : null,
    email: ctx.profile?.workEmail ?? null,
    department: ctx.profile?.department ?? null,
    startDate: ctx.startDate ?? null,
    nextAction: timers[0]?.timer ?? null,
    nextActionAt: timers[0]?.at ?? null,
    machineVersion,
  }, changedAccountProjections(ctx, rowsBefore))
  await projectJoinerCase(client, row.id, row.account_key, ctx, now, prior, rowsBefore)
  const leaverCase = await projectLeaverCase(client, row.id, ctx, view, slaMinutes, now, async (kase) => deps.onCaseDeadline?.(client, { ...kase, correlationId }), deps.onRevocationVerified, prior, rowsBefore)
  const residualTasks = await ensureResidualTasks(client, residualTaskInputs(deps.residualOwnerGroup, row, ctx, leaverCase))
  const staleTasks = await closeStaleTasks(
    client,
    { id: row.id, accountKey: row.account_key, generation: ctx.generation },
    { terminated: ctx.termination !== undefined, effective: ctx.termination !== undefined && Date.parse(ctx.termination.effectiveAt) <= now.getTime() },
    staleTaskScope(prior, ctx),
  )

  // 4. Hand the effects to their writers: jobs and timers in this transaction, notifications.
  const written = await writeEffects(deps, client, effects, { row, ctx, slaMinutes, correlationId, actor: options.actor, now })
  const audit: AuditEntryInput[] = [...written.audit, ...(gate?.audit ?? [])]

  // 5. Audit, last: the chain lock is held only from here to COMMIT.
  if (from !== to || !ignored) {
    audit.unshift({
      actor: options.actor,
      action: 'lifecycle.transitioned',
      subject,
      correlationId,
      details: { event: event.type, from, to, version: row.version + 1, generation: ctx.generation, ...eventFacts(event) },
    })
  }
  for (const r of effects.records) {
    audit.push({ actor: options.actor, action: `lifecycle.${r.kind.replaceAll('.', '_')}`, subject, correlationId, details: r.details })
  }
  for (const task of residualTasks) {
    audit.push({ actor: options.actor, action: 'task.created', subject: { ...subject, system: task.system }, correlationId, details: { taskId: task.id, kind: 'residual', residual: task.item, caseId: task.caseId } })
  }
  for (const task of staleTasks) {
    audit.push({ actor: options.actor, action: 'task.cancelled', subject: { ...subject, system: task.system }, correlationId, details: { taskId: task.id, kind: task.kind, reason: task.reason } })
  }
  const result: ApplyResult = {
    employeeId: row.id,
    externalId: row.external_id,
    applied: !ignored,
    from,
    to,
    jobsEnqueued: written.jobsEnqueued,
    ...(ignored ? { ignoredReason: String(ignored.details.reason ?? 'ignored') } : {}),
    view,
  }
  if (options.within) await options.within(client, result)
  await appendAudit(client, [...audit, ...(options.audit ?? [])])
  deps.log.debug({ employeeId: row.id, correlationId, event: event.type, from, to, jobs: written.jobsEnqueued }, 'lifecycle event applied')
  return result
}

/**
 * Which stale-task look-ups can find anything. Manual provision/revoke tasks exist only for
 * `manual:` systems; a residual task of a cancelled leaver case only once the generation had a
 * termination (its case is cancelled by the event that rescinds it, and no residual task names a
 * case after that). Without the snapshot before (a new employee) every look-up runs.
 */
function staleTaskScope(prior: LifecycleContext | undefined, ctx: LifecycleContext): { manual: boolean; residual: boolean } {
  if (!prior) return { manual: true, residual: true }
  const manual = [...Object.keys(prior.systems), ...Object.keys(ctx.systems)].some((s) => s.startsWith('manual:'))
  const residual = prior.generation !== ctx.generation || prior.termination !== undefined || ctx.termination !== undefined
  return { manual, residual }
}

/** Facts about the event worth keeping in the audit row (ids and times, no personal data). */
function eventFacts(event: LifecycleEvent): Record<string, unknown> {
  if ('hr' in event) {
    return { hrEventId: event.hr.eventId, source: event.hr.source, sourceEventId: event.hr.sourceEventId, foundBy: event.hr.foundBy, occurredAt: event.hr.occurredAt }
  }
  if ('system' in event) return { system: event.system }
  if (event.type === 'timer.fired') return { timer: event.timer, timerId: event.timerId }
  if ('exceptionId' in event) return { exceptionId: event.exceptionId }
  return {}
}
