/**
 * One exception request (delay a revocation, keep an account, legal hold, extra access, SLA
 * waiver): requested → approved | rejected | expired; approved → active at its start → expired at
 * its end, or revoked. An sla_waiver needs a second, distinct approver with the admin role.
 *
 * Same pattern as the employee machine: pure, time arrives as `now` in events, side effects are
 * placeholder actions (record, notify, schedule, cancelTimer, forward) provided by the engine with
 * `.provide()` so they run once per transition and never again on snapshot restore. `forward`
 * hands the employee machine its `exception.activated` / `exception.ended` event.
 */
import { and, enqueueActions, setup } from 'xstate'
import type { AccessGrant, SystemId } from '../src/domain/access.ts'
import type { ExceptionActivatedEvent, ExceptionEndedEvent, ExceptionKind } from './lifecycle-types.ts'
import { EXCEPTION_KINDS } from './lifecycle-types.ts'

/**
 * The shape of this machine's persisted snapshot, stored beside it (exceptions.machine_version).
 * Bump it when a stored snapshot would no longer fit, with a step in state-machines/upgrades.ts.
 */
export const EXCEPTION_APPROVAL_VERSION = 1

export interface ApprovalActor {
  id: string
  roles: string[]
}

export interface ApprovalConfig {
  /** Longest allowed duration per kind, in days, counted from the start. */
  maxDays: Record<ExceptionKind, number>
  /** A request nobody answered within this many hours expires. */
  answerWithinHours: number
  /** Requests, rejections and revocations must say why in at least this many characters. */
  minReasonLength: number
}

export const DEFAULT_APPROVAL_CONFIG: ApprovalConfig = {
  maxDays: { delay_revocation: 14, retain_account: 90, legal_hold: 3650, extra_access: 30, sla_waiver: 7 },
  answerWithinHours: 72,
  minReasonLength: 10,
}

export interface ApprovalInput {
  exceptionId: string
  config?: Partial<Omit<ApprovalConfig, 'maxDays'>> & { maxDays?: Partial<Record<ExceptionKind, number>> }
}

export interface ExceptionRequest {
  kind: ExceptionKind
  employeeId: string
  system?: SystemId
  startsAt: string
  endsAt: string
  grant?: AccessGrant
  reason: string
  requester: ApprovalActor
  requestedAt: string
}

export type ApprovalTimerKind = 'answer_due' | 'start' | 'end'

export interface ApprovalTimer {
  timerId: string
  timer: ApprovalTimerKind
  at: string
}

export interface ApprovalContext {
  exceptionId: string
  config: ApprovalConfig
  request?: ExceptionRequest
  approvals: { actor: ApprovalActor; reason?: string; at: string }[]
  decision?: { outcome: 'rejected' | 'revoked' | 'unanswered' | 'ended'; actor?: ApprovalActor; reason?: string; at: string }
  /** Why the last refused event was refused (the API returns it). */
  refusal?: { event: string; actor?: string; message: string; at: string }
  timers: Record<string, ApprovalTimer>
  now?: string
}

export type ApprovalEvent =
  | {
      type: 'exception.request'
      actor: ApprovalActor
      reason: string
      kind: ExceptionKind
      employeeId: string
      system?: SystemId
      startsAt?: string
      endsAt: string
      grant?: AccessGrant
      now: string
    }
  | { type: 'exception.approve'; actor: ApprovalActor; reason?: string; now: string }
  | { type: 'exception.reject'; actor: ApprovalActor; reason: string; now: string }
  | { type: 'exception.revoke'; actor: ApprovalActor; reason: string; now: string }
  /** Move the end of an approved or active exception later (four-eyes: not by its requester). */
  | { type: 'exception.extend'; actor: ApprovalActor; reason: string; endsAt: string; now: string }
  | { type: 'timer.fired'; timerId: string; timer: ApprovalTimerKind; now: string }

export type ApprovalNotifyKind =
  | 'approval_requested'
  | 'second_approval_needed'
  | 'exception_approved'
  | 'exception_active'
  | 'exception_rejected'
  | 'exception_expired'
  | 'exception_revoked'
  | 'exception_extended'
  | 'request_refused'

type Effect =
  | { type: 'record'; params: { kind: string; details: Record<string, unknown> } }
  | { type: 'notify'; params: { kind: ApprovalNotifyKind; message: string; to?: 'approvers' | 'admins' | 'requester' } }
  | { type: 'schedule'; params: ApprovalTimer }
  | { type: 'cancelTimer'; params: { timerId: string } }
  | { type: 'forward'; params: { employeeId: string; event: ExceptionActivatedEvent | ExceptionEndedEvent } }

interface Draft {
  ctx: ApprovalContext
  effects: Effect[]
}

const ms = (iso: string): number => Date.parse(iso)
const DAY_MS = 86_400_000

function nowOf(d: Draft): string {
  return d.ctx.now ?? new Date(0).toISOString()
}

function record(d: Draft, kind: string, details: Record<string, unknown>): void {
  d.effects.push({ type: 'record', params: { kind, details: { exceptionId: d.ctx.exceptionId, ...details } } })
}

function notify(d: Draft, kind: ApprovalNotifyKind, message: string, to?: 'approvers' | 'admins' | 'requester'): void {
  d.effects.push({ type: 'notify', params: to === undefined ? { kind, message } : { kind, message, to } })
}

function setTimer(d: Draft, timer: ApprovalTimerKind, at: string): void {
  const request: ApprovalTimer = { timerId: `${d.ctx.exceptionId}:${timer}:${at}`, timer, at }
  d.ctx.timers[timer] = request
  d.effects.push({ type: 'schedule', params: request })
}

function cancelTimer(d: Draft, timer: ApprovalTimerKind): void {
  const current = d.ctx.timers[timer]
  if (!current) return
  delete d.ctx.timers[timer]
  d.effects.push({ type: 'cancelTimer', params: { timerId: current.timerId } })
}

// ---------------------------------------------------------------------------------------------
// rules (each returns the reason it fails, or undefined)

const isIso = (v: string | undefined): v is string => v !== undefined && !Number.isNaN(ms(v))

export function requestProblem(ctx: ApprovalContext, ev: ApprovalEvent): string | undefined {
  if (ev.type !== 'exception.request') return 'not a request'
  if (!ev.actor.id.trim()) return 'the requester must be identified'
  if (ev.reason.trim().length < ctx.config.minReasonLength) return `a reason of at least ${ctx.config.minReasonLength} characters is required`
  if (!(EXCEPTION_KINDS as readonly string[]).includes(ev.kind)) return `unknown exception kind "${ev.kind}"`
  if (!ev.employeeId.trim()) return 'the employee must be named'
  if (!isIso(ev.endsAt)) return 'an end time is required'
  if (ev.startsAt !== undefined && !isIso(ev.startsAt)) return 'startsAt is not a date-time'
  const start = ev.startsAt !== undefined && ms(ev.startsAt) > ms(ev.now) ? ev.startsAt : ev.now
  if (ms(ev.endsAt) <= ms(start)) return 'the end time must be after the start'
  const maxDays = ctx.config.maxDays[ev.kind]
  if (ms(ev.endsAt) - ms(start) > maxDays * DAY_MS) return `${ev.kind} may last at most ${maxDays} days`
  if (ev.kind === 'extra_access' && (ev.system === undefined || ev.grant === undefined)) return 'extra_access needs a system and a grant'
  return undefined
}

function approveProblem(ctx: ApprovalContext, ev: ApprovalEvent, stage: 'first' | 'second'): string | undefined {
  if (ev.type !== 'exception.approve') return 'not an approval'
  const req = ctx.request
  if (!req) return 'nothing requested'
  if (ev.actor.id === req.requester.id) return 'self-approval is not allowed'
  if (ms(ev.now) >= ms(req.endsAt)) return 'the request is already past its end time'
  if (stage === 'first') return ev.actor.roles.includes('approver') ? undefined : 'the approver role is required'
  if (ctx.approvals.some((a) => a.actor.id === ev.actor.id)) return 'the second approval must come from a different person'
  return ev.actor.roles.includes('admin') ? undefined : 'the second approval of an sla_waiver needs the admin role'
}

function rejectProblem(ctx: ApprovalContext, ev: ApprovalEvent): string | undefined {
  if (ev.type !== 'exception.reject') return 'not a rejection'
  if (!ev.actor.roles.includes('approver') && !ev.actor.roles.includes('admin')) return 'the approver or admin role is required'
  if (ev.actor.id === ctx.request?.requester.id) return 'a requester withdraws with revoke, not reject'
  if (ev.reason.trim().length < ctx.config.minReasonLength) return `a reason of at least ${ctx.config.minReasonLength} characters is required`
  return undefined
}

function revokeProblem(ctx: ApprovalContext, ev: ApprovalEvent): string | undefined {
  if (ev.type !== 'exception.revoke') return 'not a revocation'
  const privileged = ev.actor.roles.includes('approver') || ev.actor.roles.includes('admin')
  if (!privileged && ev.actor.id !== ctx.request?.requester.id) return 'only the requester, an approver or an admin may revoke'
  if (ev.reason.trim().length < ctx.config.minReasonLength) return `a reason of at least ${ctx.config.minReasonLength} characters is required`
  return undefined
}

/**
 * An extension is a decision like an approval: by an approver or admin who did not ask for the
 * exception (the requester cannot give themselves more time), later than the current end and
 * within the kind's longest duration counted from the start.
 */
function extendProblem(ctx: ApprovalContext, ev: ApprovalEvent): string | undefined {
  if (ev.type !== 'exception.extend') return 'not an extension'
  const req = ctx.request
  if (!req) return 'nothing requested'
  if (!ev.actor.roles.includes('approver') && !ev.actor.roles.includes('admin')) return 'the approver or admin role is required'
  if (ev.actor.id === req.requester.id) return 'four-eyes: the requester cannot extend their own exception'
  if (ev.reason.trim().length < ctx.config.minReasonLength) return `a reason of at least ${ctx.config.minReasonLength} characters is required`
  if (!isIso(ev.endsAt) || ms(ev.endsAt) <= ms(req.endsAt)) return `the new end must be after the current end ${req.endsAt}`
  if (ms(ev.endsAt) <= ms(ev.now)) return 'the new end must be in the future'
  const maxDays = ctx.config.maxDays[req.kind]
  if (ms(ev.endsAt) - ms(req.startsAt) > maxDays * DAY_MS) return `${req.kind} may last at most ${maxDays} days from its start`
  return undefined
}

// ---------------------------------------------------------------------------------------------
// handlers

type Handler = (d: Draft, ev: ApprovalEvent) => void

function activatedEvent(d: Draft): ExceptionActivatedEvent | undefined {
  const req = d.ctx.request
  if (!req) return undefined
  const ev: ExceptionActivatedEvent = { type: 'exception.activated', exceptionId: d.ctx.exceptionId, kind: req.kind, until: req.endsAt, now: nowOf(d) }
  if (req.system !== undefined) ev.system = req.system
  if (req.grant !== undefined) ev.grant = req.grant
  return ev
}

const HANDLERS = {
  request: (d, ev) => {
    if (ev.type !== 'exception.request') return
    const startsAt = ev.startsAt !== undefined && ms(ev.startsAt) > ms(ev.now) ? ev.startsAt : ev.now
    const req: ExceptionRequest = { kind: ev.kind, employeeId: ev.employeeId, startsAt, endsAt: ev.endsAt, reason: ev.reason.trim(), requester: ev.actor, requestedAt: ev.now }
    if (ev.system !== undefined) req.system = ev.system
    if (ev.grant !== undefined) req.grant = ev.grant
    d.ctx.request = req
    delete d.ctx.refusal
    setTimer(d, 'answer_due', new Date(ms(ev.now) + d.ctx.config.answerWithinHours * 3_600_000).toISOString())
    record(d, 'exception.requested', { ...req })
    notify(d, 'approval_requested', `${req.requester.id} requests ${req.kind} for ${req.employeeId}${req.system ? ` on ${req.system}` : ''} until ${req.endsAt}: ${req.reason}`, 'approvers')
  },
  approveFirst: (d, ev) => {
    if (ev.type !== 'exception.approve') return
    d.ctx.approvals.push(ev.reason === undefined ? { actor: ev.actor, at: ev.now } : { actor: ev.actor, reason: ev.reason, at: ev.now })
    delete d.ctx.refusal
    record(d, 'exception.approved', { approver: ev.actor.id, stage: 1, reason: ev.reason })
    if (d.ctx.request?.kind === 'sla_waiver') {
      notify(d, 'second_approval_needed', `sla_waiver for ${d.ctx.request.employeeId} approved by ${ev.actor.id}; an admin must confirm`, 'admins')
      return
    }
    approved(d)
  },
  approveSecond: (d, ev) => {
    if (ev.type !== 'exception.approve') return
    d.ctx.approvals.push(ev.reason === undefined ? { actor: ev.actor, at: ev.now } : { actor: ev.actor, reason: ev.reason, at: ev.now })
    delete d.ctx.refusal
    record(d, 'exception.approved', { approver: ev.actor.id, stage: 2, reason: ev.reason })
    approved(d)
  },
  reject: (d, ev) => {
    if (ev.type !== 'exception.reject') return
    cancelTimer(d, 'answer_due')
    d.ctx.decision = { outcome: 'rejected', actor: ev.actor, reason: ev.reason, at: ev.now }
    record(d, 'exception.rejected', { by: ev.actor.id, reason: ev.reason })
    notify(d, 'exception_rejected', `${d.ctx.request?.kind} for ${d.ctx.request?.employeeId} rejected by ${ev.actor.id}: ${ev.reason}`, 'requester')
  },
  unanswered: (d, ev) => {
    if (ev.type === 'timer.fired') delete d.ctx.timers[ev.timer]
    d.ctx.decision = { outcome: 'unanswered', at: nowOf(d) }
    record(d, 'exception.expired', { outcome: 'unanswered', approvals: d.ctx.approvals.length })
    notify(d, 'exception_expired', `${d.ctx.request?.kind} for ${d.ctx.request?.employeeId} expired unanswered`, 'requester')
  },
  activate: (d, ev) => {
    if (ev.type === 'timer.fired') delete d.ctx.timers[ev.timer]
    const req = d.ctx.request
    const event = activatedEvent(d)
    if (!req || !event) return
    setTimer(d, 'end', req.endsAt)
    record(d, 'exception.active', { kind: req.kind, until: req.endsAt })
    notify(d, 'exception_active', `${req.kind} for ${req.employeeId} is active until ${req.endsAt}`, 'requester')
    d.effects.push({ type: 'forward', params: { employeeId: req.employeeId, event } })
  },
  end: (d, ev) => {
    if (ev.type === 'timer.fired') delete d.ctx.timers[ev.timer]
    const req = d.ctx.request
    d.ctx.decision = { outcome: 'ended', at: nowOf(d) }
    record(d, 'exception.expired', { outcome: 'ended' })
    notify(d, 'exception_expired', `${req?.kind} for ${req?.employeeId} ended`, 'requester')
    if (req) d.effects.push({ type: 'forward', params: { employeeId: req.employeeId, event: { type: 'exception.ended', exceptionId: d.ctx.exceptionId, now: nowOf(d) } } })
  },
  revoke: (d, ev) => {
    if (ev.type !== 'exception.revoke') return
    const wasActive = d.ctx.timers['end'] !== undefined
    for (const t of ['answer_due', 'start', 'end'] as const) cancelTimer(d, t)
    d.ctx.decision = { outcome: 'revoked', actor: ev.actor, reason: ev.reason, at: ev.now }
    record(d, 'exception.revoked', { by: ev.actor.id, reason: ev.reason, wasActive })
    notify(d, 'exception_revoked', `${d.ctx.request?.kind} for ${d.ctx.request?.employeeId} revoked by ${ev.actor.id}: ${ev.reason}`, 'approvers')
    const req = d.ctx.request
    if (wasActive && req) d.effects.push({ type: 'forward', params: { employeeId: req.employeeId, event: { type: 'exception.ended', exceptionId: d.ctx.exceptionId, now: ev.now } } })
  },
  extend: (d, ev) => {
    if (ev.type !== 'exception.extend' || !d.ctx.request) return
    const from = d.ctx.request.endsAt
    d.ctx.request.endsAt = ev.endsAt
    delete d.ctx.refusal
    record(d, 'exception.extended', { by: ev.actor.id, reason: ev.reason, from, to: ev.endsAt })
    notify(d, 'exception_extended', `${d.ctx.request.kind} for ${d.ctx.request.employeeId} extended by ${ev.actor.id} from ${from} to ${ev.endsAt}: ${ev.reason}`, 'requester')
    // In force: the end timer moves, and the employee machine is told the new end (it replaces its
    // own end timer for this exception, src/lifecycle: onExceptionActivated).
    if (d.ctx.timers['end'] !== undefined) {
      cancelTimer(d, 'end')
      setTimer(d, 'end', ev.endsAt)
      const event = activatedEvent(d)
      if (event) d.effects.push({ type: 'forward', params: { employeeId: d.ctx.request.employeeId, event } })
    }
  },
  refuse: (d, ev) => {
    const problem = problemFor(d.ctx, ev)
    d.ctx.refusal = { event: ev.type, message: problem, at: nowOf(d), ...('actor' in ev ? { actor: ev.actor.id } : {}) }
    record(d, 'exception.refused', { event: ev.type, actor: 'actor' in ev ? ev.actor.id : undefined, reason: problem })
    if (ev.type !== 'timer.fired') notify(d, 'request_refused', `${ev.type} refused: ${problem}`, 'requester')
  },
} satisfies Record<string, Handler>

function approved(d: Draft): void {
  cancelTimer(d, 'answer_due')
  const req = d.ctx.request
  if (!req) return
  notify(d, 'exception_approved', `${req.kind} for ${req.employeeId} approved by ${d.ctx.approvals.map((a) => a.actor.id).join(' and ')}`, 'requester')
  if (ms(req.startsAt) > ms(nowOf(d))) setTimer(d, 'start', req.startsAt)
}

function problemFor(ctx: ApprovalContext, ev: ApprovalEvent): string {
  switch (ev.type) {
    case 'exception.request':
      return ctx.request ? 'already requested' : (requestProblem(ctx, ev) ?? 'refused')
    case 'exception.approve':
      return ctx.request ? (approveProblem(ctx, ev, ctx.approvals.length === 0 ? 'first' : 'second') ?? 'not awaiting approval') : 'nothing requested'
    case 'exception.reject':
      return rejectProblem(ctx, ev) ?? 'not awaiting a decision'
    case 'exception.revoke':
      return revokeProblem(ctx, ev) ?? 'nothing to revoke'
    case 'exception.extend':
      return extendProblem(ctx, ev) ?? 'only an approved or active exception can be extended'
    case 'timer.fired':
      return 'stale timer'
  }
}

const isTimer = (ctx: ApprovalContext, ev: ApprovalEvent, kind: ApprovalTimerKind): boolean =>
  ev.type === 'timer.fired' && ev.timer === kind && ctx.timers[kind]?.timerId === ev.timerId

const PREDICATES = {
  validRequest: (ctx: ApprovalContext, ev: ApprovalEvent) => requestProblem(ctx, ev) === undefined,
  canApprove: (ctx: ApprovalContext, ev: ApprovalEvent) => approveProblem(ctx, ev, 'first') === undefined,
  canApproveSecond: (ctx: ApprovalContext, ev: ApprovalEvent) => approveProblem(ctx, ev, 'second') === undefined,
  canReject: (ctx: ApprovalContext, ev: ApprovalEvent) => rejectProblem(ctx, ev) === undefined,
  canRevoke: (ctx: ApprovalContext, ev: ApprovalEvent) => revokeProblem(ctx, ev) === undefined,
  canExtend: (ctx: ApprovalContext, ev: ApprovalEvent) => extendProblem(ctx, ev) === undefined,
  needsSecond: (ctx: ApprovalContext) => ctx.request?.kind === 'sla_waiver',
  startDue: (ctx: ApprovalContext) => ctx.request !== undefined && ctx.now !== undefined && ms(ctx.request.startsAt) <= ms(ctx.now),
  'timer:answer_due': (ctx: ApprovalContext, ev: ApprovalEvent) => isTimer(ctx, ev, 'answer_due'),
  'timer:start': (ctx: ApprovalContext, ev: ApprovalEvent) => isTimer(ctx, ev, 'start'),
  'timer:end': (ctx: ApprovalContext, ev: ApprovalEvent) => isTimer(ctx, ev, 'end'),
} satisfies Record<string, (ctx: ApprovalContext, ev: ApprovalEvent) => boolean>
type GuardName = keyof typeof PREDICATES
type HandlerName = keyof typeof HANDLERS

/**
 * The named action for one handler: runs it on a draft of the context, assigns the result and
 * enqueues the effects it collected, in order. One XState action per handler, so the statechart,
 * an inspector and graph paths read `approveFirst`, not a generic `apply`.
 */
function act(name: HandlerName) {
  const handler = HANDLERS[name]
  return enqueueActions<ApprovalContext, ApprovalEvent, undefined, ApprovalEvent>(({ context, event, enqueue }) => {
    const ctx = structuredClone(context)
    if ('now' in event && (ctx.now === undefined || ms(event.now) > ms(ctx.now))) ctx.now = event.now
    const d: Draft = { ctx, effects: [] }
    handler(d, event)
    const next: Record<string, unknown> = { ...d.ctx }
    for (const key of Object.keys(context)) if (!(key in next)) next[key] = undefined
    enqueue.assign(() => next as unknown as ApprovalContext)
    for (const effect of d.effects) enqueue(effect)
  })
}

const handlerActions = Object.fromEntries((Object.keys(HANDLERS) as HandlerName[]).map((name) => [name, act(name)])) as unknown as Record<
  HandlerName,
  () => void
>

/** One named XState guard per predicate; transitions combine them with and(). */
const guards = Object.fromEntries(
  Object.entries(PREDICATES).map(([name, predicate]) => [name, ({ context, event }: { context: ApprovalContext; event: ApprovalEvent }) => predicate(context, event)]),
) as Record<GuardName, (args: { context: ApprovalContext; event: ApprovalEvent }) => boolean>

const notProvided = (name: string) => (): never => {
  throw new Error(`exception approval action "${name}" was not provided: the engine supplies it with .provide()`)
}

const approvalSetup = setup({
  types: {
    context: {} as ApprovalContext,
    events: {} as ApprovalEvent,
    input: {} as ApprovalInput,
  },
  actions: {
    record: notProvided('record') as (_: unknown, params: { kind: string; details: Record<string, unknown> }) => void,
    notify: notProvided('notify') as (_: unknown, params: { kind: ApprovalNotifyKind; message: string; to?: 'approvers' | 'admins' | 'requester' }) => void,
    schedule: notProvided('schedule') as (_: unknown, params: ApprovalTimer) => void,
    cancelTimer: notProvided('cancelTimer') as (_: unknown, params: { timerId: string }) => void,
    forward: notProvided('forward') as (_: unknown, params: { employeeId: string; event: ExceptionActivatedEvent | ExceptionEndedEvent }) => void,
    ...handlerActions,
  },
  guards,
})

/** A transition that runs the named handler when every named guard holds (and() of several). */
function on<const H extends HandlerName>(handler: H, ...all: GuardName[]) {
  if (all.length === 0) return { actions: handler }
  return { guard: all.length === 1 ? all[0]! : and(all), actions: handler }
}

function to<const T extends string, const H extends HandlerName>(target: T, handler: H, ...all: GuardName[]) {
  return { target, ...on(handler, ...all) }
}

const refuse = on('refuse')

export const exceptionApprovalMachine = approvalSetup.createMachine({
  id: 'exceptionApproval',
  initial: 'draft',
  context: ({ input }) => ({
    exceptionId: input.exceptionId,
    config: {
      ...DEFAULT_APPROVAL_CONFIG,
      ...input.config,
      maxDays: { ...DEFAULT_APPROVAL_CONFIG.maxDays, ...input.config?.maxDays },
    },
    approvals: [],
    timers: {},
  }),
  // Anything a state does not accept is refused and recorded with the reason.
  on: {
    'exception.request': refuse,
    'exception.approve': refuse,
    'exception.reject': refuse,
    'exception.revoke': refuse,
    'exception.extend': refuse,
    'timer.fired': refuse,
  },
  states: {
    draft: {
      on: { 'exception.request': to('requested', 'request', 'validRequest') },
    },
    requested: {
      on: {
        'exception.approve': [
          to('awaitingSecondApproval', 'approveFirst', 'canApprove', 'needsSecond'),
          to('approved', 'approveFirst', 'canApprove'),
        ],
        'exception.reject': to('rejected', 'reject', 'canReject'),
        'exception.revoke': to('revoked', 'revoke', 'canRevoke'),
        'timer.fired': to('expired', 'unanswered', 'timer:answer_due'),
      },
    },
    awaitingSecondApproval: {
      on: {
        'exception.approve': to('approved', 'approveSecond', 'canApproveSecond'),
        'exception.reject': to('rejected', 'reject', 'canReject'),
        'exception.revoke': to('revoked', 'revoke', 'canRevoke'),
        'timer.fired': to('expired', 'unanswered', 'timer:answer_due'),
      },
    },
    approved: {
      always: to('active', 'activate', 'startDue'),
      on: {
        'timer.fired': to('active', 'activate', 'timer:start'),
        'exception.revoke': to('revoked', 'revoke', 'canRevoke'),
        'exception.extend': on('extend', 'canExtend'),
      },
    },
    active: {
      on: {
        'timer.fired': to('expired', 'end', 'timer:end'),
        'exception.revoke': to('revoked', 'revoke', 'canRevoke'),
        'exception.extend': on('extend', 'canExtend'),
      },
    },
    rejected: { type: 'final' },
    expired: { type: 'final' },
    revoked: { type: 'final' },
  },
})

export type ExceptionApprovalMachine = typeof exceptionApprovalMachine
