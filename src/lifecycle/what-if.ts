/**
 * The what-if plan: what every system would do if HR moved, terminated or rehired this person now,
 * without doing it.
 *
 * It is the real flow, run in memory. The employee's stored snapshot is restored with the same
 * collectors the engine uses (restore.ts), the proposed HR event is built by the engine's own
 * `buildHrEvent` (policy, moments, leaver settings) and sent; then the simulation plays the happy
 * path to its end: the timers the change set (the termination moment, the provisioning and day-one
 * moments of a rehire) fire at their time, every job the machine asks for succeeds, and what the
 * machine asks next is collected. So the grants, the cut-off and clean-up plans (with their
 * exceptions: legal hold, retain account, delays) are the ones state-machines/lifecycle/ would
 * build, not a second description of them; the steps are put in each provisioner's own order with
 * the same `orderSteps` its deprovision runs them in (provisioners/kit/revocation.ts).
 *
 * Nothing is written and no target is called: the snapshot is read, never saved; jobs and timers
 * are collected, never queued. What the simulation cannot know it says so: removals are what
 * Tenure granted (a lower bound: the target may hold more, read back at revocation), and every step
 * is assumed to succeed.
 */
import { randomUUID } from 'node:crypto'
import { canonicalEventSchema, type CanonicalEvent, type EmployeeProfileInput, type HrSource } from '../../state-machines/events.ts'
import type { LifecycleContext } from '../../state-machines/employee-lifecycle.machine.ts'
import type { ExceptionKind, JobRequest, LifecycleEvent, TimerKind } from '../../state-machines/lifecycle-types.ts'
import { orderSteps } from '../../provisioners/kit/revocation.ts'
import type { AccessGrant, AccessList, EmployeeProfile, RevocationStepKind, SystemId } from '../domain/access.ts'
import { diffAccess, evaluatePolicy } from '../policy/index.ts'
import type { ExceptionRecord } from '../exceptions/store.ts'
import { buildHrEvent, type EngineDeps } from './engine.ts'
import { leaverDeadlines, slaMinutesFor } from '../sla/deadline.ts'
import { currentSnapshot, noEffects, restore, type Effects } from './restore.ts'

export const WHAT_IF_CHANGES = ['move', 'termination', 'rehire'] as const
export type WhatIfChangeKind = (typeof WHAT_IF_CHANGES)[number]

export type ProfileChanges = Partial<Omit<EmployeeProfileInput, 'employeeId'>>

export type WhatIfChange =
  | { change: 'move'; profile: ProfileChanges }
  | { change: 'termination'; effectiveDate?: string; effectiveAt?: string; immediate?: boolean; timeZone?: string }
  | { change: 'rehire'; startDate: string; profile?: ProfileChanges }

/** The stored employee as the simulation needs it (a plain read, no lock). */
export interface WhatIfEmployee {
  id: string
  source: string
  external_id: string
  snapshot: unknown
  machine_version: number
}

/** How one system's provisioner runs revocation steps (from the registry; absent: the plan's order). */
export interface SystemTraits {
  kind?: string
  revocationOrder?: readonly RevocationStepKind[]
  unsupportedSteps?: Partial<Record<RevocationStepKind, string>>
}

export interface PlannedStep {
  step: RevocationStepKind
  /** The provisioner reports this step `not_supported`, and why. */
  unsupported?: string
}

export interface PlannedRevocation {
  /** When the job would be queued (simulated time). */
  at: string
  /** An approved delay_revocation holds the job until then. */
  startAfter?: string
  steps: PlannedStep[]
  /** The plan's options that change what the steps do (legal hold, transfer to, org unit …). */
  options: Record<string, unknown>
}

export interface PlannedJob {
  action: JobRequest['action']
  phase?: JobRequest['phase']
  at: string
  startAfter?: string
}

export interface WhatIfSystem {
  system: SystemId
  kind: string | null
  /** create / restore: an account is made or brought back; remove: revoked; keep: changed or not; none: no account before or after. */
  account: 'create' | 'restore' | 'keep' | 'remove' | 'none'
  /** What Tenure granted there now (last provisioned; else the plan in flight). */
  before: Record<string, unknown> | null
  /** What the policy (plus extra access) grants after the change; null: no account. */
  after: Record<string, unknown> | null
  add: Partial<Record<AccessList, string[]>>
  remove: Partial<Record<AccessList, string[]>>
  /**
   * Granted now and not removed by the revocation the plan builds: its clean-up has no step for
   * the list (a legal hold keeps licences) or the system does not do that step, and does not delete.
   */
  kept: Partial<Record<AccessList, string[]>>
  orgUnit?: string
  /** Policy rules that grant the account after the change. */
  rules: string[]
  /** Every job the change would queue for this system, in order. */
  jobs: PlannedJob[]
  cutoff: PlannedRevocation | null
  cleanup: PlannedRevocation | null
  /** Exceptions in force for this system while its jobs are planned. */
  exceptions: string[]
  /** The SLA deadline of this system's revocation (a leaver's), or null. */
  deadlineAt: string | null
}

export interface WhatIfException {
  id: string
  kind: ExceptionKind
  system: string | null
  status: string
  startsAt: string
  endsAt: string
  reason: string
  /** It changes this plan (a delayed cut-off, a kept account, extra access …). */
  applies: boolean
  effect: string
}

export interface WhatIfPlan {
  employeeId: string
  change: WhatIfChangeKind
  /** The lifecycle state now, right after the change, and once the simulated work is done. */
  state: { now: string; after: string; settled: string }
  /** The HR effective moment of a termination; the start of day one of a rehire. */
  effectiveAt: string | null
  deadline: { kind: 'leaver_sla' | 'joiner_day_one'; at: string } | null
  systems: WhatIfSystem[]
  exceptions: WhatIfException[]
  notes: string[]
}

/** The machine would not act on the change (the reason is the machine's own). */
export class WhatIfNotApplicable extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'WhatIfNotApplicable'
  }
}

/** The clean-up step that removes each list (the lists a revocation plan names). */
const LIST_STEP: Partial<Record<AccessList, RevocationStepKind>> = {
  groups: 'remove_groups',
  licences: 'remove_licences',
  roles: 'remove_roles',
  products: 'remove_products',
  channels: 'remove_channels',
}

/** Split what a revoked system loses into what its clean-up removes and what stays on the (disabled) account. */
function keptBy(cleanup: PlannedRevocation | null, remove: Partial<Record<AccessList, string[]>>) {
  const runs = (step: RevocationStepKind) => cleanup?.steps.some((s) => s.step === step && s.unsupported === undefined) === true
  if (!cleanup || runs('delete')) return { remove, kept: {} }
  const removed: Partial<Record<AccessList, string[]>> = {}
  const kept: Partial<Record<AccessList, string[]>> = {}
  for (const [list, items] of Object.entries(remove) as Array<[AccessList, string[]]>) {
    const step = LIST_STEP[list]
    if (step !== undefined && !runs(step)) kept[list] = items
    else removed[list] = items
  }
  return { remove: removed, kept }
}

const TIMERS_TO_PLAY: Record<WhatIfChangeKind, readonly TimerKind[]> = {
  move: [],
  termination: ['terminate'],
  rehire: ['provision', 'enable'],
}

/** More than any real path needs (a layoff of 7 systems takes ~30); a loop guard, reported when hit. */
const MAX_STEPS = 400

const ms = (iso: string) => Date.parse(iso)
const maxIso = (...values: Array<string | undefined>) => values.filter((v): v is string => v !== undefined).reduce((a, b) => (ms(b) > ms(a) ? b : a))

/**
 * A moment after everything HR already told us, so the proposed change is never dropped as stale
 * (an older HR moment than an applied one is ignored by the machine: hr.ts hrIgnoreReason).
 */
function proposalMoment(ctx: LifecycleContext | undefined, now: Date): string {
  if (!ctx) return now.toISOString()
  const known = [ctx.lastHrAt, ctx.lastEmploymentAt, ctx.lastLeaveAt, ...Object.values(ctx.profileAsOf ?? {})].filter((v): v is string => typeof v === 'string')
  const latest = known.reduce((a, b) => Math.max(a, ms(b)), 0)
  return new Date(Math.max(now.getTime(), latest + 1)).toISOString()
}

/** The canonical HR event for the proposed change, checked by the same schema as a delivery. */
function proposedEvent(emp: WhatIfEmployee, ctx: LifecycleContext | undefined, change: WhatIfChange, now: Date): CanonicalEvent {
  const at = proposalMoment(ctx, now)
  const envelope = {
    eventId: randomUUID(),
    source: emp.source as HrSource,
    sourceEventId: `what-if:${randomUUID()}`,
    employeeId: emp.external_id,
    occurredAt: at,
    receivedAt: at,
    foundBy: 'manual' as const,
  }
  switch (change.change) {
    case 'move':
      return canonicalEventSchema.parse({ ...envelope, type: 'employee.updated', changes: change.profile })
    case 'termination': {
      const when = change.effectiveAt === undefined && change.effectiveDate === undefined && change.immediate !== true ? { effectiveAt: now.toISOString() } : {}
      return canonicalEventSchema.parse({ ...envelope, type: 'employee.terminated', ...when, ...withoutUndefined({ effectiveDate: change.effectiveDate, effectiveAt: change.effectiveAt, immediate: change.immediate, timeZone: change.timeZone }) })
    }
    case 'rehire': {
      const profile = { ...(ctx?.profile ?? {}), ...(change.profile ?? {}), employeeId: emp.external_id }
      if (!profile.firstName || !profile.lastName) throw new WhatIfNotApplicable('a rehire needs the person\'s name: this employee has no HR profile yet (give profile.firstName and profile.lastName)')
      return canonicalEventSchema.parse({ ...envelope, type: 'employee.rehired', profile, startDate: change.startDate })
    }
  }
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

/** What the machine recorded when it did not act on an HR event. */
function notActedOn(effects: Effects): string | undefined {
  for (const r of effects.records) {
    if (r.kind === 'event.ignored') return `the lifecycle would ignore it: ${String(r.details.reason ?? 'not applicable')}`
    if (r.kind === 'hr.held_for_rehire') return 'the person has left: the change would only be kept for a rehire that may follow'
    if (r.kind === 'rehire.deferred') return 'offboarding is still in progress: the rehire would wait until the case closes'
  }
  return undefined
}

/** The outcome a job that succeeds sends back (what src/jobs/system-worker.ts sends on success). */
function successOf(job: JobRequest, p: LifecycleContext['systems'][string] | undefined, now: string): LifecycleEvent {
  switch (job.action) {
    case 'provision':
    case 'restore':
      return { type: 'account.provisioned', system: job.system, accountId: p?.accountId ?? job.accountId ?? `what-if:${job.system}`, now }
    case 'update':
      return { type: 'account.updated', system: job.system, now }
    case 'enable':
      return { type: 'account.enabled', system: job.system, now }
    case 'suspend':
      return { type: 'account.suspended', system: job.system, now }
    case 'verify':
      return { type: 'account.verified', system: job.system, revoked: true, checks: [], now }
    case 'deprovision':
      return { type: 'account.revoked', system: job.system, phase: job.phase ?? 'cutoff', residual: [], deleted: job.plan?.steps.includes('delete') ?? false, now }
  }
}

interface Queued {
  at: string
  seq: number
  event: (ctx: LifecycleContext) => LifecycleEvent | undefined
  job?: JobRequest
}

export interface WhatIfInput {
  engine: Pick<EngineDeps, 'policy' | 'systems' | 'schedule' | 'now' | 'log' | 'lifecycleVersioning'>
  employee: WhatIfEmployee
  change: WhatIfChange
  /** Approved and active exceptions of this employee (src/exceptions/store.ts). */
  exceptions: ExceptionRecord[]
  /** The grant an approved, not yet started exception brings (the approval machine's request). */
  exceptionGrant?: (e: ExceptionRecord) => AccessGrant | undefined
  traits: (system: SystemId) => SystemTraits
}

export function planWhatIf(input: WhatIfInput): WhatIfPlan {
  const { engine, employee, change } = input
  const now = engine.now()
  const effects = noEffects()
  const actor = restore({ external_id: employee.external_id, source: employee.source as HrSource }, currentSnapshot(engine, employee), effects)
  actor.start()
  try {
    const before = actor.getSnapshot()
    const hadSnapshot = employee.snapshot !== null && employee.snapshot !== undefined
    const beforeCtx = structuredClone(before.context)
    const hr = proposedEvent(employee, hadSnapshot ? beforeCtx : undefined, change, now)
    const event = buildHrEvent(engine, hadSnapshot ? before.context : undefined, hr, now)
    actor.send(event)
    const afterEvent = actor.getSnapshot()
    if (afterEvent.status === 'error') throw new Error(`lifecycle machine failed on ${event.type}: ${String(afterEvent.error)}`)
    const refused = notActedOn(effects)
    if (refused) throw new WhatIfNotApplicable(refused)

    // Play the happy path: collected jobs succeed, the change's own timers fire, approved exceptions start.
    const jobs: Array<{ job: JobRequest; at: string; exceptions: string[] }> = []
    const queue: Queued[] = []
    let seq = 0
    let clock = event.now
    const timerIds = new Set<string>()
    const playTimers = TIMERS_TO_PLAY[change.change]
    const collect = () => {
      const ctx = actor.getSnapshot().context
      for (const job of effects.jobs.splice(0)) {
        const inForce = Object.entries(ctx.exceptions)
          .filter(([, e]) => (e.system === undefined || e.system === job.system) && ms(e.until) > ms(clock))
          .map(([id]) => id)
        jobs.push({ job, at: clock, exceptions: inForce })
        const at = job.startAfter ? maxIso(clock, job.startAfter) : clock
        queue.push({ at, seq: seq++, job, event: (c) => successOf(job, c.systems[job.system], at) })
      }
      for (const t of effects.timers.splice(0)) {
        if (!playTimers.includes(t.timer) || timerIds.has(t.timerId)) continue
        timerIds.add(t.timerId)
        queue.push({ at: maxIso(clock, t.at), seq: seq++, event: (c) => (Object.values(c.timers).some((x) => x.timerId === t.timerId) ? { type: 'timer.fired', timerId: t.timerId, timer: t.timer, now: maxIso(clock, t.at) } : undefined) })
      }
      effects.cancels.splice(0)
      effects.records.splice(0)
      effects.notifies.splice(0)
    }
    // Timers set before the change that the change relies on (a rehire's provision timer kept).
    for (const t of Object.values(afterEvent.context.timers)) effects.timers.push(t)
    for (const x of input.exceptions) {
      if (x.status !== 'approved' || x.id in afterEvent.context.exceptions) continue
      const grant = input.exceptionGrant?.(x)
      const startsAt = maxIso(clock, x.startsAt.toISOString())
      queue.push({
        at: startsAt,
        seq: seq++,
        event: () => withoutUndefined({ type: 'exception.activated' as const, exceptionId: x.id, kind: x.kind, system: x.system ?? undefined, until: x.endsAt.toISOString(), grant, now: startsAt }),
      })
    }
    collect()
    const notes: string[] = []
    let steps = 0
    while (queue.length > 0) {
      if (++steps > MAX_STEPS) {
        notes.push(`the simulation stopped after ${MAX_STEPS} steps; what follows is not shown`)
        break
      }
      queue.sort((a, b) => ms(a.at) - ms(b.at) || a.seq - b.seq)
      const next = queue.shift()!
      clock = maxIso(clock, next.at)
      const ev = next.event(actor.getSnapshot().context)
      if (!ev) continue
      actor.send(ev)
      if (actor.getSnapshot().status === 'error') throw new Error(`lifecycle machine failed on ${ev.type} in the what-if simulation`)
      collect()
    }
    const settled = actor.getSnapshot()
    return summarise(input, { beforeCtx, afterState: String(afterEvent.value), afterCtx: afterEvent.context, settledCtx: settled.context, settledState: String(settled.value), nowState: String(before.value), jobs, notes })
  } finally {
    actor.stop()
  }
}

interface Simulated {
  beforeCtx: LifecycleContext
  nowState: string
  afterState: string
  afterCtx: LifecycleContext
  settledCtx: LifecycleContext
  settledState: string
  jobs: Array<{ job: JobRequest; at: string; exceptions: string[] }>
  notes: string[]
}

function summarise(input: WhatIfInput, sim: Simulated): WhatIfPlan {
  const { change, engine } = input
  const { beforeCtx, settledCtx } = sim
  const profile = settledCtx.profile ?? sim.afterCtx.profile
  const evaluation = profile ? evaluatePolicy(profile, engine.policy, engine.systems()) : undefined
  const termination = change.change === 'termination' ? settledCtx.termination ?? sim.afterCtx.termination : undefined
  const names = new Set([...Object.keys(beforeCtx.systems), ...Object.keys(settledCtx.systems), ...sim.jobs.map((j) => j.job.system)])
  const leaving = settledCtx.closing !== undefined
  const deadlines = termination ? leaverDeadlines(termination.effectiveAt, Object.keys(settledCtx.systems).sort(), slaMinutesFor(engine, profile as EmployeeProfile | undefined)) : undefined

  const systems: WhatIfSystem[] = [...names].sort().map((system) => {
    const was = beforeCtx.systems[system]
    const wasLive = was !== undefined && was.accountId !== undefined && !was.deleted && was.purpose === undefined
    const beforeGrant = wasLive ? (was.provisioned ?? was.pending?.grant ?? was.desired) : undefined
    const desired = leaving ? undefined : settledCtx.systems[system]?.desired
    const afterGrant = desired?.account === true ? desired : undefined
    const diff = diffAccess(afterGrant, beforeGrant)
    const own = sim.jobs.filter((j) => j.job.system === system)
    const traits = input.traits(system)
    const revocation = (phase: 'cutoff' | 'cleanup'): PlannedRevocation | null => {
      const found = own.find((j) => j.job.action === 'deprovision' && j.job.phase === phase && j.job.plan)
      if (!found) return null
      const plan = found.job.plan!
      const { granted: _granted, ...options } = plan.options
      return withoutUndefined({
        at: found.at,
        startAfter: found.job.startAfter,
        steps: orderSteps(plan.steps, traits.revocationOrder).map((step) => withoutUndefined({ step, unsupported: traits.unsupportedSteps?.[step] })),
        options: options as Record<string, unknown>,
      })
    }
    const cleanup = revocation('cleanup')
    const { remove, kept } = keptBy(cleanup, diff.change.remove)
    const restores = own.some((j) => j.job.action === 'restore')
    const creates = own.some((j) => j.job.action === 'provision')
    const account: WhatIfSystem['account'] = restores ? 'restore' : creates || (diff.create && !wasLive) ? 'create' : afterGrant ? 'keep' : wasLive ? 'remove' : 'none'
    return withoutUndefined({
      system,
      kind: traits.kind ?? null,
      account,
      before: (beforeGrant ?? null) as Record<string, unknown> | null,
      after: (afterGrant ?? null) as Record<string, unknown> | null,
      add: diff.change.add,
      remove,
      kept,
      orgUnit: diff.change.orgUnit,
      rules: afterGrant ? (evaluation?.explain[system] ?? []) : [],
      jobs: own.map((j) => withoutUndefined({ action: j.job.action, phase: j.job.phase, at: j.at, startAfter: j.job.startAfter })),
      cutoff: revocation('cutoff'),
      cleanup,
      exceptions: [...new Set(own.flatMap((j) => j.exceptions))],
      deadlineAt: deadlines?.systems[system] ?? null,
    })
  })

  const inForce = new Set(Object.keys(settledCtx.exceptions))
  const exceptions = input.exceptions.map((x) => exceptionEffect(x, systems, { inForce, leaving, effectiveAt: termination?.effectiveAt }))
  const notes = [...sim.notes]
  if (systems.some((s) => Object.keys(s.remove).length > 0 || s.account === 'remove'))
    notes.push('Removals list what Tenure granted: a lower bound. The account may hold more (granted by hand); revocation reads it back and removes or reports it.')
  const unknownGrant = systems.filter((s) => s.account === 'remove' && s.before === null).map((s) => s.system)
  if (unknownGrant.length > 0)
    notes.push(`What Tenure granted in ${unknownGrant.join(', ')} is not recorded (unknown, not empty): revocation reads the account back to find what to remove.`)
  if (systems.some((s) => s.cutoff || s.cleanup)) notes.push('Every step is shown as planned; a step the target refuses becomes residual access on the case.')
  const deadline =
    termination && deadlines
      ? { kind: 'leaver_sla' as const, at: deadlines.caseDeadline }
      : change.change === 'rehire' && settledCtx.enableAt
        ? { kind: 'joiner_day_one' as const, at: settledCtx.enableAt }
        : null
  return {
    employeeId: input.employee.id,
    change: change.change,
    state: { now: sim.nowState, after: sim.afterState, settled: sim.settledState },
    effectiveAt: termination?.effectiveAt ?? (change.change === 'rehire' ? (settledCtx.enableAt ?? null) : null),
    deadline,
    systems,
    exceptions,
    notes,
  }
}

/** What one approved or active exception does to this plan, read from the plan itself. */
function exceptionEffect(x: ExceptionRecord, systems: WhatIfSystem[], at: { inForce: Set<string>; leaving: boolean; effectiveAt: string | undefined }): WhatIfException {
  const scope = systems.filter((s) => (x.system === null || s.system === x.system) && s.exceptions.includes(x.id))
  const where = x.system ?? 'every system'
  const until = x.endsAt.toISOString()
  let applies = scope.length > 0
  let effect: string
  switch (x.kind) {
    case 'delay_revocation': {
      const held = scope.filter((s) => s.cutoff?.startAfter !== undefined)
      applies = held.length > 0
      effect = applies ? `cut-off of ${held.map((s) => s.system).join(', ')} waits until ${until}` : `no cut-off on ${where} falls inside it`
      break
    }
    case 'legal_hold': {
      const held = scope.filter((s) => s.cutoff?.options.legalHold === true || s.cleanup?.options.legalHold === true)
      applies = held.length > 0
      effect = applies ? `on ${held.map((s) => s.system).join(', ')}: no delete, no data transfer, licences kept (the account is still disabled)` : `no revocation on ${where} while it is in force`
      break
    }
    case 'retain_account': {
      const held = scope.filter((s) => s.cutoff?.options.retainAccount === true || s.cleanup?.options.retainAccount === true)
      applies = held.length > 0
      effect = applies ? `on ${held.map((s) => s.system).join(', ')}: the account is disabled, not deleted` : `no revocation on ${where} while it is in force`
      break
    }
    case 'extra_access':
      applies = !at.leaving && at.inForce.has(x.id)
      effect = applies ? `extra access on ${where} stays until ${until}` : at.leaving ? 'ends with the employment: everything on the account is revoked' : `not in force once this change is done (ends ${until})`
      break
    case 'sla_waiver':
      applies = false
      effect = at.effectiveAt
        ? "an SLA waiver moves an existing leaver case's deadline; the deadline shown is the policy's for this termination"
        : 'an SLA waiver applies to a leaver case only'
      break
  }
  return { id: x.id, kind: x.kind, system: x.system, status: x.status, startsAt: x.startsAt.toISOString(), endsAt: until, reason: x.reason, applies, effect }
}
