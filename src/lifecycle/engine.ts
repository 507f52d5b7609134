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
import { createActor } from 'xstate'
import type pg from 'pg'
import type { Boss } from '../queue/boss.ts'
import { inTransaction } from '../queue/boss.ts'
import type { Pool, PoolClient } from '../db/pool.ts'
import type { Logger } from '../log.ts'
import { appendAudit, type AuditEntryInput } from '../audit/index.ts'
import { employeeLifecycleMachine, employeeKeyOf, applyHrProfile, type LifecycleContext } from '../../state-machines/employee-lifecycle.machine.ts'
import { caseView, joinerCaseView, type CaseView, type JoinerCaseView } from './case-view.ts'
import type {
  HrLifecycleEvent,
  JobRequest,
  LifecycleEvent,
  Moments,
  NotifyKind,
  TimerRequest,
} from '../../state-machines/lifecycle-types.ts'
import type { CanonicalEvent, HrSource } from '../../state-machines/events.ts'
import type { EmployeeProfile } from '../domain/access.ts'
import { evaluatePolicy, type Policy } from '../policy/index.ts'
import { enableMoment, leaveMoment, provisionMoment, slaDeadline, terminationMoment } from './schedule.ts'
import { jobPriority, queueFor, TIMER_QUEUE } from '../jobs/queues.ts'
import type { SystemJobData, TimerJobData } from '../jobs/payloads.ts'
import { uuidV5 } from '../util/ids.ts'
import { closeStaleTasks, ensureResidualTasks, type ResidualTaskInput } from '../db/manual-tasks.ts'
import { LIFECYCLE_VERSIONING, upgradeSnapshot, type MachineVersioning } from '../../state-machines/upgrades.ts'

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
  onRevocationVerified?: (event: { system: string; secondsFromEffective: number; secondsFromReceipt: number }) => void
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

interface EmployeeRow {
  id: string
  source: HrSource
  external_id: string
  account_key: string
  snapshot: unknown
  version: number
  machine_version: number
  state: string
}

type EmployeeKey = { id: string } | { source: HrSource; externalId: string }

interface Effects {
  jobs: JobRequest[]
  timers: TimerRequest[]
  cancels: string[]
  records: Array<{ kind: string; details: Record<string, unknown> }>
  notifies: Array<{ kind: NotifyKind; system?: string; message: string }>
}

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
export function slaMinutesFor(deps: Pick<EngineDeps, 'policy' | 'systems'>, profile: EmployeeProfile | undefined): Record<string, number> {
  const evaluation = evaluatePolicy(profile ?? { employeeId: '-', firstName: '-', lastName: '-' }, deps.policy, deps.systems())
  return evaluation.slaMinutes
}

export async function applyHrEvent(deps: EngineDeps, hr: CanonicalEvent, options: ApplyOptions): Promise<ApplyResult> {
  return applyToEmployee(deps, { source: hr.source, externalId: hr.employeeId }, (ctx, now) => buildHrEvent(deps, ctx, hr, now), options, true)
}

export async function applyEvent(deps: EngineDeps, employeeId: string, event: LifecycleEvent | ((ctx: LifecycleContext | undefined, now: Date) => LifecycleEvent | undefined), options: ApplyOptions): Promise<ApplyResult> {
  return applyToEmployee(deps, { id: employeeId }, typeof event === 'function' ? event : () => event, options, false)
}

async function lockEmployee(client: PoolClient, key: EmployeeKey, create: boolean): Promise<EmployeeRow> {
  if ('id' in key) {
    const { rows } = await client.query<EmployeeRow>('SELECT id, source, external_id, account_key, snapshot, version, machine_version, state FROM employees WHERE id = $1 FOR UPDATE', [key.id])
    if (!rows[0]) throw new EmployeeNotFoundError(key.id)
    return rows[0]
  }
  if (create) {
    await insertEmployee(client, key.source, key.externalId)
  }
  const { rows } = await client.query<EmployeeRow>(
    'SELECT id, source, external_id, account_key, snapshot, version, machine_version, state FROM employees WHERE source = $1 AND external_id = $2 FOR UPDATE',
    [key.source, key.externalId],
  )
  if (!rows[0]) throw new EmployeeNotFoundError(`${key.source}:${key.externalId}`)
  return rows[0]
}

/**
 * A new employee row. Its account key is the HR id unless another source's employee already holds
 * it (then `<source>:<id>`); both inserts skip on any conflict, so a concurrent insert of the same
 * person, or of the same id from another source, settles on one row and distinct keys.
 */
async function insertEmployee(client: PoolClient, source: HrSource, externalId: string): Promise<void> {
  for (const accountKey of [externalId, `${source}:${externalId}`, `${source}:${externalId}:${randomUUID()}`]) {
    const { rowCount } = await client.query(
      'INSERT INTO employees (id, source, external_id, account_key) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [randomUUID(), source, externalId, accountKey],
    )
    if (rowCount === 1) return
    const mine = await client.query('SELECT 1 FROM employees WHERE source = $1 AND external_id = $2', [source, externalId])
    if (mine.rows.length > 0) return
  }
}

/**
 * The stored snapshot in this build's shape: upgraded when an older machine wrote it, refused
 * (MachineVersionError, before anything is written) when a newer one did: an old worker in a
 * rolling upgrade must not overwrite it, the job is retried until a newer worker takes it.
 */
function currentSnapshot(deps: { log?: Logger; lifecycleVersioning?: MachineVersioning }, row: Pick<EmployeeRow, 'id' | 'snapshot' | 'machine_version'>): unknown {
  if (!row.snapshot) return undefined
  const up = upgradeSnapshot(deps.lifecycleVersioning ?? LIFECYCLE_VERSIONING, row.snapshot, row.machine_version)
  if (up.applied.length > 0) deps.log?.info({ employeeId: row.id, from: up.from, to: up.to, steps: up.applied }, 'lifecycle snapshot upgraded')
  return up.snapshot
}

function restore(row: EmployeeRow, snapshot: unknown, effects: Effects) {
  const machine = employeeLifecycleMachine.provide({
    actions: {
      enqueue: (_, params: { jobs: JobRequest[] }) => {
        effects.jobs.push(...params.jobs)
      },
      schedule: (_, params: TimerRequest) => {
        effects.timers.push(params)
      },
      cancelTimer: (_, params: { timerId: string }) => {
        effects.cancels.push(params.timerId)
      },
      record: (_, params: { kind: string; details: Record<string, unknown> }) => {
        effects.records.push(params)
      },
      notify: (_, params: { kind: NotifyKind; system?: string; message: string }) => {
        effects.notifies.push(params)
      },
    },
  })
  const input = { employeeId: row.external_id, source: row.source }
  return snapshot
    ? createActor(machine, { snapshot: snapshot as Parameters<typeof createActor>[1] extends { snapshot?: infer S } ? S : never, input })
    : createActor(machine, { input })
}

async function applyToEmployee(
  deps: EngineDeps,
  key: EmployeeKey,
  build: (ctx: LifecycleContext | undefined, now: Date) => LifecycleEvent | undefined,
  options: ApplyOptions,
  create: boolean,
): Promise<ApplyResult> {
  const client = await deps.pool.connect()
  try {
    await client.query('BEGIN')
    const result = await applyLocked(deps, client, key, build, options, create)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

async function applyLocked(
  deps: EngineDeps,
  client: PoolClient,
  key: EmployeeKey,
  build: (ctx: LifecycleContext | undefined, now: Date) => LifecycleEvent | undefined,
  options: ApplyOptions,
  create: boolean,
): Promise<ApplyResult> {
  const row = await lockEmployee(client, key, create)
  const effects: Effects = { jobs: [], timers: [], cancels: [], records: [], notifies: [] }
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
  const view = caseView(after, { slaMinutes: Math.min(...Object.values(slaMinutes), 240) })
  const correlationId = options.correlationId
  const subject = { employeeId: row.id }
  const audit: AuditEntryInput[] = []

  // 1. Persist the snapshot and the searchable columns.
  const timers = Object.values(ctx.timers).sort((a, b) => a.at.localeCompare(b.at))
  await client.query(
    `UPDATE employees SET snapshot = $2, state = $3, version = version + 1, generation = $4, profile = $5,
            display_name = $6, email = $7, department = $8, start_date = $9, next_action = $10, next_action_at = $11, machine_version = $12, updated_at = now()
      WHERE id = $1`,
    [
      row.id,
      JSON.stringify(persisted),
      to,
      ctx.generation,
      JSON.stringify(ctx.profile ?? {}),
      ctx.profile ? (ctx.profile.displayName ?? `${ctx.profile.firstName} ${ctx.profile.lastName}`) : null,
      ctx.profile?.workEmail ?? null,
      ctx.profile?.department ?? null,
      ctx.startDate ?? null,
      timers[0]?.timer ?? null,
      timers[0]?.at ?? null,
      (deps.lifecycleVersioning ?? LIFECYCLE_VERSIONING).current,
    ],
  )

  // 2. Project accounts and cases for the read API and the reports.
  await projectAccounts(client, row.id, ctx)
  await projectJoinerCase(client, row.id, row.account_key, ctx, now)
  const leaverCase = await projectCases(client, row.id, ctx, view, slaMinutes, now, async (kase) => deps.onCaseDeadline?.(client, { ...kase, correlationId: options.correlationId }), deps.onRevocationVerified)
  const residualTasks = await ensureResidualTasks(client, residualTaskInputs(deps, row, ctx, leaverCase))
  const staleTasks = await closeStaleTasks(
    client,
    { id: row.id, accountKey: row.account_key, generation: ctx.generation },
    { terminated: ctx.termination !== undefined, effective: ctx.termination !== undefined && Date.parse(ctx.termination.effectiveAt) <= now.getTime() },
  )

  // 3. Jobs and timers, in this transaction.
  const db = inTransaction(client)
  let jobsEnqueued = 0
  for (const request of effects.jobs) {
    const deadlineAt = request.deadline ? slaDeadline(request.deadline, slaMinutes[request.system] ?? 240) : undefined
    const data: SystemJobData = {
      correlationId,
      employeeId: row.id,
      externalId: row.external_id,
      accountKey: row.account_key,
      source: row.source,
      generation: ctx.generation,
      request,
      ...(ctx.profile ? { profile: { ...ctx.profile, employeeId: row.account_key } } : {}),
      ...(deadlineAt ? { deadlineAt } : {}),
    }
    const id = await deps.boss.send(queueFor(request), data, {
      id: uuidV5(`job:${request.key}`),
      priority: jobPriority(request, deadlineAt ? new Date(deadlineAt) : undefined, now),
      ...(request.startAfter ? { startAfter: new Date(request.startAfter) } : {}),
      db,
    })
    if (id) {
      jobsEnqueued += 1
      audit.push({
        actor: options.actor,
        action: 'job.enqueued',
        subject: { ...subject, system: request.system, accountId: request.accountId ?? null },
        correlationId,
        details: { jobId: id, key: request.key, action: request.action, phase: request.phase ?? null, startAfter: request.startAfter ?? null, deadlineAt: deadlineAt ?? null },
      })
    }
  }
  for (const timer of effects.timers) {
    const data: TimerJobData = { correlationId, employeeId: row.id, timerId: timer.timerId, timer: timer.timer }
    await deps.boss.send(TIMER_QUEUE, data, { id: uuidV5(`timer:${timer.timerId}`), startAfter: new Date(timer.at), db })
  }
  for (const timerId of effects.cancels) {
    // A cancelled timer that still fires is ignored by the machine (stale id); cancelling just
    // keeps the queue tidy.
    await deps.boss.cancel(TIMER_QUEUE, uuidV5(`timer:${timerId}`), { db }).catch(() => undefined)
  }
  for (const n of effects.notifies) {
    await deps.onNotify?.(client, {
      ...n,
      employeeId: row.id,
      externalId: row.external_id,
      displayName: ctx.profile ? `${ctx.profile.firstName} ${ctx.profile.lastName}` : undefined,
      correlationId,
    })
  }

  // 4. Audit, last: the chain lock is held only from here to COMMIT.
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
    jobsEnqueued,
    ...(ignored ? { ignoredReason: String(ignored.details.reason ?? 'ignored') } : {}),
    view,
  }
  if (options.within) await options.within(client, result)
  await appendAudit(client, [...audit, ...(options.audit ?? [])])
  deps.log.debug({ employeeId: row.id, correlationId, event: event.type, from, to, jobs: jobsEnqueued }, 'lifecycle event applied')
  return result
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

/** One statement for every system of the employee (a layoff applies thousands of these). */
async function projectAccounts(client: pg.PoolClient, employeeId: string, ctx: LifecycleContext): Promise<void> {
  const systems = Object.entries(ctx.systems)
  if (systems.length === 0) return
  const col = <T>(f: (p: LifecycleContext['systems'][string]) => T): T[] => systems.map(([, p]) => f(p))
  await client.query(
    `INSERT INTO employee_accounts (employee_id, system, account_id, login, status, desired, provisioned, attempts, last_error, residual,
                                    waiting_on, revoked_at, verified_at, cleaned_at, updated_at)
     SELECT $1::uuid, s.system, s.account_id, s.login, s.status, s.desired, s.provisioned, s.attempts, s.last_error, s.residual,
            s.waiting_on, s.revoked_at, s.verified_at, s.cleaned_at, now()
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::int[], $9::jsonb[], $10::jsonb[],
                   $11::text[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[])
         AS s (system, account_id, login, status, desired, provisioned, attempts, last_error, residual, waiting_on, revoked_at, verified_at, cleaned_at)
     ON CONFLICT (employee_id, system) DO UPDATE SET
       account_id = EXCLUDED.account_id, login = EXCLUDED.login, status = EXCLUDED.status, desired = EXCLUDED.desired,
       provisioned = EXCLUDED.provisioned, attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
       residual = EXCLUDED.residual, waiting_on = EXCLUDED.waiting_on, revoked_at = EXCLUDED.revoked_at,
       verified_at = EXCLUDED.verified_at, cleaned_at = EXCLUDED.cleaned_at, updated_at = now()`,
    [
      employeeId,
      systems.map(([system]) => system),
      col((p) => p.accountId ?? null),
      col((p) => p.login ?? null),
      col((p) => p.status),
      col((p) => (p.desired ? JSON.stringify(p.desired) : null)),
      col((p) => (p.provisioned ? JSON.stringify(p.provisioned) : null)),
      col((p) => p.attempts + (p.tries ?? 0)),
      col((p) => (p.lastError ? JSON.stringify(p.lastError) : null)),
      col((p) => JSON.stringify(p.residual)),
      col((p) => p.waitingOn ?? null),
      col((p) => p.revokedAt ?? null),
      col((p) => p.verifiedAt ?? null),
      col((p) => p.cleanedAt ?? null),
    ],
  )
}

/**
 * The joiner case of this generation: one row per hire, open until every account the policy grants
 * is ready. Its deadline is the start of day one (the promise "right access on day one"); a hire
 * entered after that moment is late by HR, recorded like a late termination. Once closed or
 * cancelled the row is final: a later mover or leaver of the same generation does not reopen
 * onboarding (the conditional upsert skips it, so settled cases cost one statement).
 */
export async function projectJoinerCase(client: pg.PoolClient, employeeId: string, accountKey: string, ctx: LifecycleContext, now: Date): Promise<void> {
  const joiner = await withManualTasks(client, accountKey, employeeKeyOf(ctx), ctx.generation, joinerCaseView(ctx))
  if (!joiner) return
  const nowIso = now.toISOString()
  const deadline = joiner.startAt ?? null
  const openedAt = joiner.acceptedAt ?? nowIso
  const lateBy = deadline ? Math.max(0, Math.round((Date.parse(openedAt) - Date.parse(deadline)) / 1000)) : null
  const settled = joiner.status === 'closed' || joiner.status === 'cancelled'
  // The promise is that accounts exist by day one; enabling them is itself scheduled at day one, so
  // a few seconds of enable lag is not a breach. Kept once set.
  const late =
    deadline !== null &&
    (joiner.status === 'open' || joiner.status === 'closed') &&
    now.getTime() > Date.parse(deadline) &&
    joiner.systems.some((s) => s.provisionedAt === undefined || Date.parse(s.provisionedAt) > Date.parse(deadline))
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO cases (id, employee_id, kind, generation, status, hr_event_id, effective_at, received_at, late_by_hr_seconds, deadline_at, opened_at, closed_at, breached_at)
     VALUES ($1, $2, 'joiner', $3, $4, $5, $6, $7, $8, $6, $7, $9, $10)
     ON CONFLICT (employee_id, kind, generation) DO UPDATE SET
       status = EXCLUDED.status, hr_event_id = COALESCE(EXCLUDED.hr_event_id, cases.hr_event_id), effective_at = EXCLUDED.effective_at,
       deadline_at = EXCLUDED.deadline_at, late_by_hr_seconds = EXCLUDED.late_by_hr_seconds, closed_at = EXCLUDED.closed_at,
       breached_at = COALESCE(cases.breached_at, EXCLUDED.breached_at)
     WHERE cases.status NOT IN ('closed', 'cancelled')
     RETURNING id`,
    [randomUUID(), employeeId, ctx.generation, joiner.status, joiner.hrEventId ?? null, deadline, openedAt, lateBy, settled ? nowIso : null, late ? nowIso : null],
  )
  const caseId = rows[0]?.id
  if (!caseId) return
  for (const s of joiner.systems) {
    await client.query(
      `INSERT INTO case_systems (case_id, system, status, account_id, deadline_at, provisioned_at, attempts, last_error, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
       ON CONFLICT (case_id, system) DO UPDATE SET
         status = EXCLUDED.status, account_id = EXCLUDED.account_id, deadline_at = EXCLUDED.deadline_at,
         provisioned_at = EXCLUDED.provisioned_at, attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, updated_at = now()`,
      [caseId, s.system, s.status, s.accountId ?? null, deadline, s.provisionedAt ?? null, s.attempts, s.lastError ? JSON.stringify(s.lastError) : null],
    )
  }
  // A system the policy no longer grants (a mover before day one) leaves the onboarding case.
  await client.query(`DELETE FROM case_systems WHERE case_id = $1 AND NOT (system = ANY($2::text[]))`, [caseId, joiner.systems.map((s) => s.system)])
}

/**
 * Every residual item of this generation (what a provisioner could not remove) gets a task, so a
 * person decides on it: removed by hand, or kept under an approved exception. `manual` items are
 * themselves the record of such a decision (operator.resolved) and need none.
 */
function residualTaskInputs(
  deps: EngineDeps,
  row: { id: string; external_id: string },
  ctx: LifecycleContext,
  leaverCase: { id: string; deadlineAt: string } | undefined,
): ResidualTaskInput[] {
  const out: ResidualTaskInput[] = []
  for (const [system, p] of Object.entries(ctx.systems)) {
    for (const item of p.residual) {
      if (item.kind === 'manual') continue
      out.push({
        employeeId: row.id,
        externalId: row.external_id,
        generation: ctx.generation,
        system,
        item,
        ownerGroup: deps.residualOwnerGroup ?? 'it-operations',
        caseId: leaverCase?.id ?? null,
        deadlineAt: leaverCase?.deadlineAt ?? null,
      })
    }
  }
  return out
}

/**
 * A manual system's "account" exists once its provision task is created, but the badge or laptop
 * is only there when a person attests the task: until then the joiner's access is not ready.
 */
/** `accountKey`: the manual task's employee (its "account"); `employeeKey`: the prefix of its job keys. */
async function withManualTasks(client: pg.PoolClient, accountKey: string, employeeKey: string, generation: number, joiner: JoinerCaseView | undefined): Promise<JoinerCaseView | undefined> {
  const manual = joiner?.systems.filter((s) => s.system.startsWith('manual:') && s.ready) ?? []
  if (!joiner || manual.length === 0) return joiner
  const { rows } = await client.query<{ system: string; status: string; completed_at: Date | null }>(
    `SELECT DISTINCT ON (system) system, status, completed_at FROM manual_tasks
      WHERE employee_external_id = $1 AND kind = 'provision' AND system = ANY($2::text[])
        AND starts_with(idempotency_key, $4 || ':' || system || ':provision:g' || $3::text || ':')
      ORDER BY system, created_at DESC`,
    [accountKey, manual.map((s) => s.system), String(generation), employeeKey],
  )
  const systems = joiner.systems.map((s) => {
    const task = rows.find((r) => r.system === s.system)
    if (!task || task.status === 'completed') return task?.completed_at ? { ...s, provisionedAt: task.completed_at.toISOString() } : s
    return { ...s, ready: false, provisionedAt: undefined, status: 'provisioning' as const }
  })
  const ready = systems.filter((s) => s.ready).length
  const employed = joiner.status === 'open' || joiner.status === 'closed'
  return { ...joiner, systems, counts: { ...joiner.counts, ready }, status: employed && joiner.status === 'closed' && ready < systems.length ? 'open' : joiner.status }
}

/** Re-project the joiner case outside a lifecycle event (a manual provision task was attested). */
export async function refreshJoinerCase(client: pg.PoolClient, employeeId: string, now: Date, deps: { log?: Logger; lifecycleVersioning?: MachineVersioning } = {}): Promise<void> {
  const { rows } = await client.query<{ id: string; account_key: string; snapshot: unknown; machine_version: number }>(
    'SELECT id, account_key, snapshot, machine_version FROM employees WHERE id = $1 FOR UPDATE',
    [employeeId],
  )
  const ctx = rows[0] ? (currentSnapshot(deps, rows[0]) as { context?: LifecycleContext } | undefined)?.context : undefined
  if (rows[0] && ctx) await projectJoinerCase(client, employeeId, rows[0].account_key, ctx, now)
}

async function projectCases(
  client: pg.PoolClient,
  employeeId: string,
  ctx: LifecycleContext,
  view: CaseView,
  slaMinutes: Record<string, number>,
  now: Date,
  onDeadline: (kase: { id: string; effectiveAt: string; deadlineAt: string }) => Promise<void>,
  onVerified?: EngineDeps['onRevocationVerified'],
): Promise<{ id: string; deadlineAt: string } | undefined> {
  const t = ctx.termination
  if (!t) {
    // A rescinded termination removes the machine's termination: cancel a case still scheduled/open.
    await client.query(
      `UPDATE cases SET status = 'cancelled', closed_at = now() WHERE employee_id = $1 AND kind = 'leaver' AND generation = $2 AND status IN ('scheduled', 'open')`,
      [employeeId, ctx.generation],
    )
    return undefined
  }
  const systems = view.systems
  const deadlines = systems.map((s) => slaDeadline(t.effectiveAt, slaMinutes[s.system] ?? 240))
  const caseDeadline = deadlines.length > 0 ? deadlines.sort()[0]! : slaDeadline(t.effectiveAt, 240)
  const status = view.case === 'open' ? 'open' : view.case === 'closed' ? 'closed' : new Date(t.effectiveAt) > now ? 'scheduled' : 'open'
  const lateBy = Math.max(0, Math.round((new Date(t.receivedAt).getTime() - new Date(t.effectiveAt).getTime()) / 1000))
  const previous = await client.query<{ deadline_at: Date }>(`SELECT deadline_at FROM cases WHERE employee_id = $1 AND kind = 'leaver' AND generation = $2`, [
    employeeId,
    ctx.generation,
  ])
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO cases (id, employee_id, kind, generation, status, hr_event_id, effective_at, received_at, late_by_hr_seconds, deadline_at, opened_at, closed_at)
     VALUES ($1, $2, 'leaver', $3, $4, $5, $6, $7, $8, $9, COALESCE($10::timestamptz, now()), $11)
     ON CONFLICT (employee_id, kind, generation) DO UPDATE SET
       status = EXCLUDED.status, hr_event_id = EXCLUDED.hr_event_id, effective_at = EXCLUDED.effective_at,
       received_at = EXCLUDED.received_at, late_by_hr_seconds = EXCLUDED.late_by_hr_seconds,
       deadline_at = EXCLUDED.deadline_at, closed_at = EXCLUDED.closed_at,
       reopened_count = cases.reopened_count + CASE WHEN cases.status = 'closed' AND EXCLUDED.status = 'open' THEN 1 ELSE 0 END
     RETURNING id`,
    [
      randomUUID(),
      employeeId,
      ctx.generation,
      status,
      t.hrEventId,
      t.effectiveAt,
      t.receivedAt,
      lateBy,
      caseDeadline,
      view.openedAt ?? null,
      view.case === 'closed' ? (view.closedAt ?? now.toISOString()) : null,
    ],
  )
  const caseId = rows[0]!.id
  const before = previous.rows[0]?.deadline_at?.toISOString()
  if ((status === 'open' || status === 'scheduled') && before !== new Date(caseDeadline).toISOString()) {
    await onDeadline({ id: caseId, effectiveAt: t.effectiveAt, deadlineAt: new Date(caseDeadline).toISOString() })
  }
  const known = await client.query<{ system: string; verified_at: Date | null }>('SELECT system, verified_at FROM case_systems WHERE case_id = $1', [caseId])
  for (const s of systems) {
    const wasVerified = known.rows.find((k) => k.system === s.system)?.verified_at
    if (s.verifiedAt && !wasVerified && onVerified) {
      const verified = Date.parse(s.verifiedAt)
      onVerified({
        system: s.system,
        secondsFromEffective: Math.max(0, (verified - Date.parse(t.effectiveAt)) / 1000),
        secondsFromReceipt: Math.max(0, (verified - Date.parse(t.receivedAt)) / 1000),
      })
    }
  }
  if (systems.length === 0) return { id: caseId, deadlineAt: new Date(caseDeadline).toISOString() }
  // One statement for every system (row-level SLA-waiver triggers still fire per row).
  await client.query(
    `INSERT INTO case_systems (case_id, system, status, account_id, deadline_at, cutoff_at, verified_at, cleanup_at, attempts, last_error, residual, waiting_on, updated_at)
     SELECT $1::uuid, s.system, s.status, s.account_id, s.deadline_at, s.cutoff_at, s.verified_at, s.cleanup_at, s.attempts, s.last_error, s.residual, s.waiting_on, now()
       FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::int[], $10::jsonb[], $11::jsonb[], $12::text[])
         AS s (system, status, account_id, deadline_at, cutoff_at, verified_at, cleanup_at, attempts, last_error, residual, waiting_on)
     ON CONFLICT (case_id, system) DO UPDATE SET
       status = EXCLUDED.status, account_id = EXCLUDED.account_id, deadline_at = EXCLUDED.deadline_at,
       cutoff_at = EXCLUDED.cutoff_at, verified_at = EXCLUDED.verified_at, cleanup_at = EXCLUDED.cleanup_at,
       attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, residual = EXCLUDED.residual,
       waiting_on = EXCLUDED.waiting_on, updated_at = now()`,
    [
      caseId,
      systems.map((s) => s.system),
      systems.map((s) => s.status),
      systems.map((s) => s.accountId ?? null),
      systems.map((s) => slaDeadline(t.effectiveAt, slaMinutes[s.system] ?? 240)),
      systems.map((s) => s.revokedAt ?? null),
      systems.map((s) => s.verifiedAt ?? null),
      systems.map((s) => s.cleanedAt ?? null),
      systems.map((s) => s.attempts),
      systems.map((s) => (s.lastError ? JSON.stringify(s.lastError) : null)),
      systems.map((s) => JSON.stringify(s.residual)),
      systems.map((s) => s.waitingOn ?? null),
    ],
  )
  return { id: caseId, deadlineAt: new Date(caseDeadline).toISOString() }
}
