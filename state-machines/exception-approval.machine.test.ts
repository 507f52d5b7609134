import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createActor, type AnyStateNode, type AnyTransitionDefinition, type InspectionEvent, type SnapshotFrom } from 'xstate'
import { createTestModel } from 'xstate/graph'
import {
  exceptionApprovalMachine,
  type ApprovalActor,
  type ApprovalEvent,
  type ApprovalTimer,
} from './exception-approval.machine.ts'
import type { ExceptionActivatedEvent, ExceptionEndedEvent } from './lifecycle-types.ts'

type Snapshot = SnapshotFrom<typeof exceptionApprovalMachine>

const T0 = '2025-05-05T09:00:00.000Z'
const REQUESTER: ApprovalActor = { id: 'rita', roles: ['it'] }
const APPROVER: ApprovalActor = { id: 'ann', roles: ['approver'] }
const APPROVER_ADMIN: ApprovalActor = { id: 'ann', roles: ['approver', 'admin'] }
const OTHER_APPROVER: ApprovalActor = { id: 'bob', roles: ['approver'] }
const ADMIN: ApprovalActor = { id: 'xin', roles: ['admin'] }
const OUTSIDER: ApprovalActor = { id: 'eve', roles: [] }
const REASON = 'handover of the on-call rotation'

const plusHours = (iso: string, h: number): string => new Date(Date.parse(iso) + h * 3_600_000).toISOString()

interface Effects {
  records: { kind: string; details: Record<string, unknown> }[]
  notifications: { kind: string; message: string }[]
  scheduled: ApprovalTimer[]
  cancelled: string[]
  forwarded: { employeeId: string; event: ExceptionActivatedEvent | ExceptionEndedEvent }[]
}

function effects(): Effects {
  return { records: [], notifications: [], scheduled: [], cancelled: [], forwarded: [] }
}

function provided(into: () => Effects) {
  return exceptionApprovalMachine.provide({
    actions: {
      record: (_, p) => void into().records.push(p),
      notify: (_, p) => void into().notifications.push(p),
      schedule: (_, p) => void into().scheduled.push(p),
      cancelTimer: (_, p) => void into().cancelled.push(p.timerId),
      forward: (_, p) => void into().forwarded.push(p),
    },
  })
}

const EXTENDED_END = plusHours(T0, 24 * 5)

function modelEvents(snapshot: Snapshot): ApprovalEvent[] {
  const ctx = snapshot.context
  const t = plusHours(ctx.now ?? T0, 1)
  const events: ApprovalEvent[] = [
    { type: 'exception.request', actor: REQUESTER, reason: REASON, kind: 'delay_revocation', employeeId: 'E-1', system: 'google', endsAt: plusHours(t, 72), now: t },
    { type: 'exception.request', actor: REQUESTER, reason: REASON, kind: 'sla_waiver', employeeId: 'E-1', startsAt: plusHours(t, 24), endsAt: plusHours(t, 48), now: t },
    { type: 'exception.request', actor: REQUESTER, reason: 'because', kind: 'legal_hold', employeeId: 'E-1', endsAt: plusHours(t, 72), now: t },
    { type: 'exception.request', actor: REQUESTER, reason: REASON, kind: 'delay_revocation', employeeId: 'E-1', endsAt: plusHours(t, 24 * 30), now: t },
    { type: 'exception.approve', actor: REQUESTER, now: t },
    { type: 'exception.approve', actor: APPROVER, reason: 'ok for a week', now: t },
    { type: 'exception.approve', actor: APPROVER_ADMIN, now: t },
    { type: 'exception.approve', actor: OTHER_APPROVER, now: t },
    { type: 'exception.approve', actor: ADMIN, now: t },
    { type: 'exception.reject', actor: APPROVER, reason: 'not justified by policy', now: t },
    { type: 'exception.reject', actor: REQUESTER, reason: 'changed my mind entirely', now: t },
    { type: 'exception.revoke', actor: REQUESTER, reason: 'handover finished early', now: t },
    { type: 'exception.revoke', actor: OUTSIDER, reason: 'I do not like this one', now: t },
    // One fixed later end: an extension reaches a distinct abstract state once; the requester's is refused (four-eyes).
    { type: 'exception.extend', actor: OTHER_APPROVER, reason: 'hand-over takes longer', endsAt: EXTENDED_END, now: t },
    { type: 'exception.extend', actor: REQUESTER, reason: 'giving myself more time', endsAt: EXTENDED_END, now: t },
    { type: 'timer.fired', timerId: 'stale', timer: 'end', now: t },
  ]
  for (const timer of Object.values(ctx.timers)) events.push({ type: 'timer.fired', timerId: timer.timerId, timer: timer.timer, now: Date.parse(timer.at) > Date.parse(t) ? timer.at : t })
  return events
}

const abstract = (s: Snapshot): string =>
  JSON.stringify([s.value, s.context.request?.kind, s.context.approvals.map((a) => a.actor.id), Object.keys(s.context.timers).sort(), s.context.decision?.outcome, s.context.request?.endsAt === EXTENDED_END])

const model = createTestModel(exceptionApprovalMachine, {
  events: modelEvents,
  serializeState: (s) => abstract(s as Snapshot),
  filterEvents: (_, e) => 'now' in e,
  input: { exceptionId: 'EX-1' },
})

function checkInvariants(s: Snapshot, all: Effects): void {
  const ctx = s.context
  const requester = ctx.request?.requester.id
  assert.ok(ctx.approvals.every((a) => a.actor.id !== requester), 'nobody approves their own request')
  assert.ok(ctx.approvals.length === 0 || ctx.approvals[0]?.actor.roles.includes('approver'), 'the first approval comes from an approver')
  if (s.value === 'awaitingSecondApproval') {
    assert.equal(ctx.request?.kind, 'sla_waiver')
    assert.equal(ctx.approvals.length, 1)
  }
  const activatedOrLater = all.forwarded.some((f) => f.event.type === 'exception.activated')
  if (ctx.request?.kind === 'sla_waiver' && activatedOrLater) {
    const [first, second] = ctx.approvals
    assert.ok(first && second && first.actor.id !== second.actor.id && second.actor.roles.includes('admin'), 'an active sla_waiver has two distinct approvers, the second an admin')
  }
  // An extension in force tells the employee machine the new end (a second exception.activated, with the new until).
  const activations = (n: number) => Array.from({ length: n }, () => 'exception.activated')
  const extendedInForce = all.forwarded.filter((f) => f.event.type === 'exception.activated').length
  if (s.value === 'active') assert.deepEqual(all.forwarded.map((f) => f.event.type), activations(Math.max(1, extendedInForce)))
  const last = all.forwarded.at(-1)?.event
  if (s.value === 'active') assert.equal(last?.type === 'exception.activated' ? last.until : undefined, ctx.request?.endsAt, 'the employee machine holds the current end')
  if (s.value === 'expired' && ctx.decision?.outcome === 'ended') assert.deepEqual(all.forwarded.map((f) => f.event.type), [...activations(Math.max(1, extendedInForce)), 'exception.ended'])
  if (ctx.request?.endsAt === EXTENDED_END) assert.notEqual(all.records.find((r) => r.kind === 'exception.extended')?.details.by, REQUESTER.id, 'the requester never extends')
  if (s.value === 'expired' && ctx.decision?.outcome === 'unanswered') assert.equal(all.forwarded.length, 0)
  if (s.value === 'rejected') assert.equal(all.forwarded.length, 0)
  for (const id of all.cancelled) assert.ok(all.scheduled.some((t) => t.timerId === id))
}

describe('exception approval model', () => {
  const paths = model.getSimplePaths()

  let current = effects()
  const machine = provided(() => current)
  const taken = new Set<AnyTransitionDefinition>()
  const inspect = (e: InspectionEvent): void => {
    if (e.type === '@xstate.microstep') for (const t of (e as { _transitions: AnyTransitionDefinition[] })._transitions) taken.add(t)
  }

  test('when every simple path is replayed, then the approval rules hold at every step, every state is reached and every transition taken', async () => {
    assert.ok(paths.length >= 20, `${paths.length} paths`)
    const reached = new Set<string>()
    for (const path of paths) {
      const all = effects()
      current = all
      const actor = createActor(machine, { input: { exceptionId: 'EX-1' }, inspect })
      actor.start()
      const exec = (step: { event: ApprovalEvent }): void => void actor.send(step.event)
      await path.test({
        events: Object.fromEntries(['exception.request', 'exception.approve', 'exception.reject', 'exception.revoke', 'exception.extend', 'timer.fired'].map((t) => [t, exec])),
        states: {
          '*': (expected) => {
            const live = actor.getSnapshot()
            assert.equal(abstract(live), abstract(expected as Snapshot))
            reached.add(String(live.value))
            checkInvariants(live, all)
          },
        },
      })
      actor.stop()
    }
    assert.deepEqual(
      Object.keys(exceptionApprovalMachine.root.states).filter((s) => !reached.has(s)),
      [],
      'unreached states',
    )
    // Refusals leave the state unchanged, so simple paths never contain them: run every menu event
    // from every state the paths went through.
    const states = new Map<string, Snapshot>()
    for (const path of paths) for (const step of path.steps) states.set(abstract(step.state as Snapshot), step.state as Snapshot)
    for (const state of states.values())
      for (const event of modelEvents(state)) {
        current = effects()
        const actor = createActor(machine, { snapshot: machine.resolveState({ value: state.value, context: state.context }), input: { exceptionId: 'EX-1' }, inspect })
        actor.start()
        actor.send(event)
        actor.stop()
      }
    const expected: string[] = []
    const missing: string[] = []
    const visit = (node: typeof machine.root): void => {
      for (const [eventType, list] of node.transitions)
        list.forEach((t, i) => {
          expected.push(`${node.id} on ${eventType} #${i}`)
          if (!taken.has(t)) missing.push(`${node.id} on ${eventType} #${i}`)
        })
      node.always?.forEach((t, i) => {
        if (!taken.has(t)) missing.push(`${node.id} always #${i}`)
      })
      for (const child of Object.values(node.states)) visit(child)
    }
    visit(machine.root)
    assert.deepEqual(missing, [], 'transitions never taken')
  })
})

describe('exception approval rules', () => {
  function start() {
    const all = effects()
    const actor = createActor(provided(() => all), { input: { exceptionId: 'EX-9', config: { maxDays: { delay_revocation: 7 }, answerWithinHours: 24 } } })
    actor.start()
    return { actor, all }
  }

  test('when the requester approves their own request, then it is refused with the reason and stays requested', () => {
    const { actor, all } = start()
    actor.send({ type: 'exception.request', actor: { id: 'ann', roles: ['approver'] }, reason: REASON, kind: 'retain_account', employeeId: 'E-1', endsAt: plusHours(T0, 100), now: T0 })
    actor.send({ type: 'exception.approve', actor: { id: 'ann', roles: ['approver'] }, now: plusHours(T0, 1) })
    assert.equal(actor.getSnapshot().value, 'requested')
    assert.equal(actor.getSnapshot().context.refusal?.message, 'self-approval is not allowed')
    assert.ok(all.records.some((r) => r.kind === 'exception.refused'))
  })

  test('when an sla_waiver has one approval, then it waits for a distinct admin and is not active', () => {
    const { actor, all } = start()
    actor.send({ type: 'exception.request', actor: REQUESTER, reason: REASON, kind: 'sla_waiver', employeeId: 'E-1', endsAt: plusHours(T0, 48), now: T0 })
    actor.send({ type: 'exception.approve', actor: APPROVER_ADMIN, now: plusHours(T0, 1) })
    assert.equal(actor.getSnapshot().value, 'awaitingSecondApproval')
    actor.send({ type: 'exception.approve', actor: APPROVER_ADMIN, now: plusHours(T0, 2) })
    assert.equal(actor.getSnapshot().value, 'awaitingSecondApproval')
    assert.equal(actor.getSnapshot().context.refusal?.message, 'the second approval must come from a different person')
    actor.send({ type: 'exception.approve', actor: OTHER_APPROVER, now: plusHours(T0, 2) })
    assert.equal(actor.getSnapshot().context.refusal?.message, 'the second approval of an sla_waiver needs the admin role')
    assert.equal(all.forwarded.length, 0)
    actor.send({ type: 'exception.approve', actor: ADMIN, now: plusHours(T0, 3) })
    assert.equal(actor.getSnapshot().value, 'active')
    assert.deepEqual(all.forwarded.map((f) => [f.employeeId, f.event.type]), [['E-1', 'exception.activated']])
  })

  test('when nobody answers in time, then the request expires and nothing is forwarded', () => {
    const { actor, all } = start()
    actor.send({ type: 'exception.request', actor: REQUESTER, reason: REASON, kind: 'delay_revocation', employeeId: 'E-1', system: 'slack', endsAt: plusHours(T0, 48), now: T0 })
    const due = all.scheduled.find((t) => t.timer === 'answer_due')
    assert.equal(due?.at, plusHours(T0, 24))
    actor.send({ type: 'timer.fired', timerId: due?.timerId as string, timer: 'answer_due', now: plusHours(T0, 24) })
    assert.equal(actor.getSnapshot().value, 'expired')
    assert.equal(actor.getSnapshot().context.decision?.outcome, 'unanswered')
    assert.equal(all.forwarded.length, 0)
  })

  test('when a request is longer than its kind allows or has no real reason, then it is refused with the rule named', () => {
    const { actor } = start()
    actor.send({ type: 'exception.request', actor: REQUESTER, reason: REASON, kind: 'delay_revocation', employeeId: 'E-1', endsAt: plusHours(T0, 24 * 8), now: T0 })
    assert.equal(actor.getSnapshot().value, 'draft')
    assert.equal(actor.getSnapshot().context.refusal?.message, 'delay_revocation may last at most 7 days')
    actor.send({ type: 'exception.request', actor: REQUESTER, reason: 'pls', kind: 'legal_hold', employeeId: 'E-1', endsAt: plusHours(T0, 24), now: T0 })
    assert.match(actor.getSnapshot().context.refusal?.message ?? '', /reason of at least 10 characters/)
    actor.send({ type: 'exception.request', actor: REQUESTER, reason: REASON, kind: 'extra_access', employeeId: 'E-1', endsAt: plusHours(T0, 24), now: T0 })
    assert.equal(actor.getSnapshot().context.refusal?.message, 'extra_access needs a system and a grant')
  })

  test('when an approved exception starts later, then it activates at its start, ends at its end and tells the employee machine both times', () => {
    const { actor, all } = start()
    actor.send({ type: 'exception.request', actor: REQUESTER, reason: REASON, kind: 'delay_revocation', employeeId: 'E-1', system: 'google', startsAt: plusHours(T0, 10), endsAt: plusHours(T0, 30), now: T0 })
    actor.send({ type: 'exception.approve', actor: APPROVER, now: plusHours(T0, 1) })
    assert.equal(actor.getSnapshot().value, 'approved')
    assert.ok(all.cancelled.length === 1, 'the answer timer is cancelled')
    const startTimer = actor.getSnapshot().context.timers['start']
    actor.send({ type: 'timer.fired', timerId: startTimer?.timerId as string, timer: 'start', now: plusHours(T0, 10) })
    assert.equal(actor.getSnapshot().value, 'active')
    assert.deepEqual(all.forwarded[0]?.event, { type: 'exception.activated', exceptionId: 'EX-9', kind: 'delay_revocation', system: 'google', until: plusHours(T0, 30), now: plusHours(T0, 10) })
    const endTimer = actor.getSnapshot().context.timers['end']
    actor.send({ type: 'timer.fired', timerId: endTimer?.timerId as string, timer: 'end', now: plusHours(T0, 30) })
    assert.equal(actor.getSnapshot().value, 'expired')
    assert.deepEqual(all.forwarded[1]?.event, { type: 'exception.ended', exceptionId: 'EX-9', now: plusHours(T0, 30) })
  })

  test('when an active exception is revoked, then its timers are cancelled and the employee machine is told it ended', () => {
    const { actor, all } = start()
    actor.send({ type: 'exception.request', actor: REQUESTER, reason: REASON, kind: 'legal_hold', employeeId: 'E-1', endsAt: plusHours(T0, 300), now: T0 })
    actor.send({ type: 'exception.approve', actor: APPROVER, now: plusHours(T0, 1) })
    assert.equal(actor.getSnapshot().value, 'active')
    actor.send({ type: 'exception.revoke', actor: OUTSIDER, reason: 'not my department at all', now: plusHours(T0, 2) })
    assert.equal(actor.getSnapshot().value, 'active')
    actor.send({ type: 'exception.revoke', actor: ADMIN, reason: 'litigation settled, hold released', now: plusHours(T0, 3) })
    assert.equal(actor.getSnapshot().value, 'revoked')
    assert.equal(all.forwarded.at(-1)?.event.type, 'exception.ended')
    assert.ok(all.cancelled.includes(all.scheduled.find((t) => t.timer === 'end')?.timerId as string))
  })
})

describe('the approval statechart', () => {
  function guardNames(guard: unknown): string[] {
    if (guard === undefined) return []
    if (typeof guard === 'string') return [guard]
    const g = guard as { type?: string; guards?: unknown[] }
    if (g.guards) return g.guards.flatMap(guardNames)
    return g.type === undefined ? ['<inline>'] : [g.type]
  }

  test('when the statechart is read, then every transition runs one named handler action and its guards are named ones', () => {
    const { actions: implemented, guards: implementedGuards } = exceptionApprovalMachine.implementations
    const used = new Set<string>()
    const visit = (node: AnyStateNode): void => {
      for (const t of [...[...node.transitions.values()].flat(), ...(node.always ?? [])]) {
        assert.equal(t.actions.length, 1, `${node.id}: one action per transition`)
        for (const a of t.actions) used.add(typeof a === 'string' ? a : (a as { type: string }).type)
        for (const g of guardNames(t.guard)) assert.ok(g in implementedGuards, `${node.id}: guard ${g} is a named one`)
      }
      for (const child of Object.values(node.states)) visit(child)
    }
    visit(exceptionApprovalMachine.root)
    assert.ok(!used.has('apply'), 'no generic apply action')
    for (const name of used) assert.ok(name in implemented, `action ${name} is implemented`)
    assert.ok(used.has('approveFirst') && used.has('refuse') && used.has('extend'), [...used].join(', '))
  })
})

