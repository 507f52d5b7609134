/**
 * Model-based tests of the approval machine (state-machines/exception-approval.machine.ts):
 * xstate/graph walks it with a finite, state-dependent menu of events (requests of each shape,
 * approvals and rejections by the requester, an approver, a second approver and admins,
 * revocations, the timers the machine actually scheduled, a stale timer); every shortest path is
 * replayed step by step the way the service runs it (restore the JSON snapshot → send → persist)
 * while the four-eyes rules and the effect invariants are checked. A coverage check asserts that
 * every state is reached and every transition of the machine is taken.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createActor, type AnyTransitionDefinition, type InspectionEvent } from 'xstate'
import { createTestModel } from 'xstate/graph'
import { exceptionApprovalMachine, type ApprovalActor, type ApprovalEvent } from '../../state-machines/exception-approval.machine.ts'
import { emptyEffects, providedApprovalMachine, statusOf, stepApproval, type ApprovalEffects, type ApprovalSnapshot } from './approval.ts'

const T0 = '2025-03-03T09:00:00.000Z'
const INPUT = { exceptionId: 'x-1', config: { answerWithinHours: 24 } }

const REQUESTER: ApprovalActor = { id: 'op-1', roles: ['operator'] }
const APPROVER_A: ApprovalActor = { id: 'apr-a', roles: ['approver'] }
const APPROVER_B: ApprovalActor = { id: 'apr-b', roles: ['approver'] }
const ADMIN_C: ApprovalActor = { id: 'adm-c', roles: ['admin', 'approver'] }
const ADMIN_D: ApprovalActor = { id: 'adm-d', roles: ['admin', 'approver'] }
const STRANGER: ApprovalActor = { id: 'op-2', roles: ['operator'] }

const plus = (iso: string, minutes: number): string => new Date(Date.parse(iso) + minutes * 60_000).toISOString()

const EXTENDED_END = plus(T0, 5 * 1440)

function menu(snapshot: ApprovalSnapshot): ApprovalEvent[] {
  const ctx = snapshot.context
  const now = plus(ctx.now ?? T0, 1)
  const base = { actor: REQUESTER, employeeId: 'emp-1', now }
  const events: ApprovalEvent[] = []
  if (snapshot.value === 'draft') {
    events.push(
      { ...base, type: 'exception.request', kind: 'delay_revocation', system: 'entra', endsAt: plus(now, 2 * 1440), reason: 'mailbox hand-over to the manager' },
      { ...base, type: 'exception.request', kind: 'delay_revocation', system: 'entra', startsAt: plus(now, 1440), endsAt: plus(now, 3 * 1440), reason: 'hand-over starts tomorrow' },
      { ...base, type: 'exception.request', kind: 'sla_waiver', system: 'entra', endsAt: plus(now, 1440), reason: 'Graph outage, cannot revoke in time' },
      { ...base, type: 'exception.request', kind: 'legal_hold', endsAt: plus(now, 400 * 1440), reason: 'litigation hold from legal' },
      { ...base, type: 'exception.request', kind: 'delay_revocation', system: 'entra', endsAt: plus(now, 60), reason: 'short' },
      { ...base, type: 'exception.request', kind: 'extra_access', system: 'google', endsAt: plus(now, 1440), reason: 'needs finance reports' },
    )
  } else {
    events.push({ ...base, type: 'exception.request', kind: 'legal_hold', endsAt: plus(now, 60), reason: 'a second request on the same id' })
  }
  for (const actor of [REQUESTER, APPROVER_A, APPROVER_B, ADMIN_C, ADMIN_D, STRANGER]) events.push({ type: 'exception.approve', actor, reason: `ok by ${actor.id}`, now })
  events.push({ type: 'exception.reject', actor: APPROVER_B, reason: 'not justified by policy', now })
  events.push({ type: 'exception.reject', actor: REQUESTER, reason: 'changed my mind about it', now })
  events.push({ type: 'exception.revoke', actor: REQUESTER, reason: 'no longer needed after all', now })
  events.push({ type: 'exception.revoke', actor: STRANGER, reason: 'trying to revoke someone else', now })
  // One fixed later end, so an extension reaches a distinct abstract state once and a second is refused.
  events.push({ type: 'exception.extend', actor: APPROVER_B, reason: 'more time for the hand-over', endsAt: EXTENDED_END, now })
  events.push({ type: 'exception.extend', actor: REQUESTER, reason: 'giving myself more time', endsAt: EXTENDED_END, now })
  for (const t of Object.values(ctx.timers)) events.push({ type: 'timer.fired', timerId: t.timerId, timer: t.timer, now: Date.parse(t.at) > Date.parse(now) ? t.at : now })
  events.push({ type: 'timer.fired', timerId: 'stale', timer: 'end', now })
  return events
}

/** What matters for behaviour, so the graph stays finite (no times, no reasons). */
function abstract(snapshot: ApprovalSnapshot): string {
  const c = snapshot.context
  return JSON.stringify([
    snapshot.value,
    c.request?.kind ?? '-',
    c.request ? Date.parse(c.request.startsAt) > Date.parse(c.request.requestedAt) : '-',
    c.approvals.map((a) => a.actor.id),
    Object.keys(c.timers).sort(),
    c.decision?.outcome ?? '-',
    c.request?.endsAt === EXTENDED_END,
  ])
}

const model = createTestModel(exceptionApprovalMachine, {
  events: (s) => menu(s as ApprovalSnapshot),
  serializeState: (s) => abstract(s as ApprovalSnapshot),
  filterEvents: (_, e) => 'now' in e,
  input: INPUT,
})

function checkStep(before: ApprovalSnapshot, after: ApprovalSnapshot, event: ApprovalEvent, step: ApprovalEffects, scheduled: Set<string>): void {
  const ctx = after.context
  statusOf(String(after.value), ctx)
  for (const t of step.schedules) scheduled.add(t.timerId)
  for (const id of step.cancels) assert.ok(scheduled.has(id), `cancelled timer ${id} was scheduled`)
  for (const t of Object.values(ctx.timers)) assert.ok(scheduled.has(t.timerId), 'every current timer was scheduled')

  const req = ctx.request
  if (event.type === 'exception.approve' && req && event.actor.id === req.requester.id) {
    assert.equal(after.value, before.value, 'four-eyes: a self-approval changes no state')
    assert.equal(ctx.approvals.length, before.context.approvals.length, 'a self-approval is not counted')
  }
  const ids = ctx.approvals.map((a) => a.actor.id)
  assert.equal(new Set(ids).size, ids.length, 'an approver counts once')
  if (req) assert.ok(!ids.includes(req.requester.id), 'the requester never approves')
  if (after.value === 'approved' || after.value === 'active' || (after.value === 'expired' && ctx.decision?.outcome === 'ended')) {
    if (req?.kind === 'sla_waiver') {
      assert.equal(ctx.approvals.length, 2, 'an sla_waiver is in force only with two approvals')
      assert.ok(ctx.approvals[1]!.actor.roles.includes('admin'), 'the second sla_waiver approval is an admin')
    } else {
      assert.equal(ctx.approvals.length, 1)
    }
  }
  if (after.value === 'awaitingSecondApproval') assert.equal(req?.kind, 'sla_waiver')

  const activated = step.forwards.filter((f) => f.event.type === 'exception.activated')
  const ended = step.forwards.filter((f) => f.event.type === 'exception.ended')
  const enteredActive = after.value === 'active' && before.value !== 'active'
  const extendedActive = event.type === 'exception.extend' && before.value === 'active' && after.value === 'active' && req?.endsAt !== before.context.request?.endsAt
  assert.equal(activated.length, enteredActive || extendedActive ? 1 : 0, 'the employee machine hears exception.activated exactly when it becomes active, or its end moves')
  if (event.type === 'exception.extend' && req && event.actor.id === req.requester.id) assert.equal(req.endsAt, before.context.request?.endsAt, 'four-eyes: the requester never extends')
  const leftActive = before.value === 'active' && after.value !== 'active'
  assert.equal(ended.length, leftActive ? 1 : 0, 'the employee machine hears exception.ended exactly when an active exception ends')
  if (activated[0]?.event.type === 'exception.activated') assert.equal(activated[0].event.until, req?.endsAt)

  if (after.status === 'done') assert.deepEqual(ctx.timers, {}, 'a final state leaves no timer behind')
  if (after.value === 'requested' || after.value === 'awaitingSecondApproval') assert.ok(ctx.timers['answer_due'], 'a pending request can lapse')
  if (after.value === 'active') assert.ok(ctx.timers['end'], 'an active exception has its end')
}

/** Every transition of `machine` (a provided machine has its own transition objects). */
function allTransitions(machine: typeof exceptionApprovalMachine): Map<AnyTransitionDefinition, string> {
  const out = new Map<AnyTransitionDefinition, string>()
  const visit = (node: typeof exceptionApprovalMachine.root): void => {
    for (const [eventType, list] of node.transitions) list.forEach((t, i) => out.set(t, `${node.id} on ${eventType} #${i}`))
    node.always?.forEach((t, i) => out.set(t, `${node.id} always #${i}`))
    for (const child of Object.values(node.states)) visit(child)
  }
  visit(machine.root)
  return out
}

describe('exception approval model', () => {
  const paths = model.getShortestPaths()

  test('when every shortest path is replayed through persisted snapshots, then four-eyes and the effect invariants hold at every step', async () => {
    assert.ok(paths.length > 20, `expected a rich model, got ${paths.length} paths`)
    for (const path of paths) {
      let persisted: unknown
      const scheduled = new Set<string>()
      let previous: ApprovalSnapshot = createActor(exceptionApprovalMachine, { input: INPUT }).getSnapshot()
      await path.test({
        events: Object.fromEntries(
          ['xstate.init', ...new Set(path.steps.map((s) => s.event.type))].map((type) => [
            type,
            (s: { event: ApprovalEvent }) => {
              if (s.event.type === ('xstate.init' as string)) return
              const step = stepApproval(INPUT, persisted, s.event)
              const after = exceptionApprovalMachine.resolveState(step.persisted as Parameters<typeof exceptionApprovalMachine.resolveState>[0])
              checkStep(previous, after, s.event, step.effects, scheduled)
              persisted = step.persisted
              previous = after
            },
          ]),
        ),
        states: {
          '*': (expected) => {
            const live = persisted === undefined ? previous : exceptionApprovalMachine.resolveState(persisted as Parameters<typeof exceptionApprovalMachine.resolveState>[0])
            assert.equal(abstract(live), abstract(expected as ApprovalSnapshot))
          },
        },
      })
    }
  })

  test('when the model is explored, then every state is reached and every transition is taken', () => {
    const reached = new Set<string>()
    for (const p of paths) {
      reached.add(String(p.state.value))
      for (const s of p.steps) reached.add(String(s.state.value))
    }
    assert.deepEqual(Object.keys(exceptionApprovalMachine.root.states).filter((s) => !reached.has(s)), [], 'unreached states')

    const machine = providedApprovalMachine(emptyEffects())
    const expected = allTransitions(machine)
    const taken = new Set<AnyTransitionDefinition>()
    const inspect = (e: InspectionEvent): void => {
      if (e.type === '@xstate.microstep') for (const t of (e as { _transitions: AnyTransitionDefinition[] })._transitions) taken.add(t)
    }
    for (const { state, transitions } of Object.values(model.getAdjacencyMap())) {
      for (const { event } of Object.values(transitions) as { event: ApprovalEvent }[]) {
        const actor = createActor(machine, {
          snapshot: exceptionApprovalMachine.resolveState({ value: state.value, context: state.context }),
          input: INPUT,
          inspect,
        })
        actor.start()
        actor.send(event)
        actor.stop()
      }
    }
    const missing = [...expected].filter(([t]) => !taken.has(t)).map(([, label]) => label)
    assert.deepEqual(missing, [], 'transitions never taken')
  })

  test('when an sla_waiver is approved once, then it waits for a second, distinct admin; the first approver or a plain approver cannot finish it', () => {
    let persisted: unknown
    const send = (e: ApprovalEvent) => {
      const step = stepApproval(INPUT, persisted, e)
      persisted = step.persisted
      return step
    }
    send({ type: 'exception.request', actor: REQUESTER, employeeId: 'emp-1', kind: 'sla_waiver', system: 'entra', endsAt: plus(T0, 600), reason: 'Graph outage, cannot revoke', now: T0 })
    assert.equal(send({ type: 'exception.approve', actor: ADMIN_C, reason: 'seen the outage', now: plus(T0, 1) }).status, 'awaiting_second_approval')
    assert.equal(send({ type: 'exception.approve', actor: ADMIN_C, reason: 'again', now: plus(T0, 2) }).refused, true)
    assert.equal(send({ type: 'exception.approve', actor: APPROVER_B, reason: 'me too', now: plus(T0, 3) }).refused, true)
    const final = send({ type: 'exception.approve', actor: ADMIN_D, reason: 'confirmed', now: plus(T0, 4) })
    assert.equal(final.status, 'active')
    assert.equal(final.effects.forwards[0]?.event.type, 'exception.activated')
    assert.deepEqual(final.context.approvals.map((a) => a.actor.id), ['adm-c', 'adm-d'])
  })

  test('when nobody answers before the expiry, then the request lapses and nothing reaches the employee machine', () => {
    let step = stepApproval(INPUT, undefined, { type: 'exception.request', actor: REQUESTER, employeeId: 'emp-1', kind: 'retain_account', endsAt: plus(T0, 9000), reason: 'keep for the audit period', now: T0 })
    const due = step.context.timers['answer_due']!
    assert.equal(due.at, plus(T0, 24 * 60))
    step = stepApproval(INPUT, step.persisted, { type: 'timer.fired', timerId: due.timerId, timer: 'answer_due', now: due.at })
    assert.equal(step.status, 'lapsed')
    assert.deepEqual(step.effects.forwards, [])
    assert.ok(step.effects.records.some((r) => r.kind === 'exception.expired' && r.details.outcome === 'unanswered'))
  })
})
