/**
 * Model-based tests: xstate/graph walks the machine with a finite, state-dependent set of events
 * (HR events, the timers the machine actually scheduled, job outcomes for the jobs it actually
 * asked for, exceptions, reconciliation findings), then every shortest path is replayed against a
 * live actor with fake engine actions while invariants are checked at every step. A coverage check
 * asserts every state was reached and every transition of the machine was taken.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createActor, type AnyTransitionDefinition, type InspectionEvent } from 'xstate'
import { createTestModel } from 'xstate/graph'
import {
  LIFECYCLE_STATES,
  MAX_CUTOFF_RERUNS,
  employeeLifecycleMachine,
  type LifecycleContext,
  type LifecycleEvent,
  type Plan,
} from './employee-lifecycle.machine.ts'
import { EMPLOYEE_ID, PROFILE, emptyCaptured, eventId, grant, hr, plusDays, plusMinutes, providedMachine, type Captured, type LifecycleSnapshot } from './test-support.ts'

const T0 = '2025-01-06T09:00:00.000Z'
const PLAN_A: Plan = { google: grant({ groups: ['eng'] }) }
const PLAN_B: Plan = { google: grant({ groups: ['eng', 'ops'] }) }

/**
 * A finite event menu that depends on the snapshot, so timers and job outcomes are the real ones.
 * Each state gets the events that matter there (plus a few it must ignore), which keeps the graph
 * small enough to walk in seconds; the coverage test proves nothing reachable was left out.
 */
function modelEvents(snapshot: LifecycleSnapshot): LifecycleEvent[] {
  const ctx = snapshot.context
  const state = String(snapshot.value)
  const t = plusMinutes(ctx.now ?? T0, 60)
  const n = ctx.seenHrEventIds.length + ctx.generation * 1000
  const id = (k: number): string => eventId(1_000_000 + n * 100 + k)
  const plan = ctx.plan
  const startDate = t.slice(0, 10)
  const hired = (k: number, due: boolean): LifecycleEvent =>
    hr('employee.hired', { profile: PROFILE, startDate, preHire: !due, eventId: id(k) }, {
      now: t,
      plan: PLAN_A,
      moments: due ? { provisionAt: plusDays(t, -1), enableAt: plusMinutes(t, -60) } : { provisionAt: plusDays(t, 2), enableAt: plusDays(t, 5) },
    })
  const rehired = hr('employee.rehired', { profile: PROFILE, startDate, eventId: id(3) }, { now: t, plan: PLAN_A, moments: { provisionAt: plusDays(t, 2), enableAt: plusDays(t, 5) } })
  const rehiredDue = hr('employee.rehired', { profile: PROFILE, startDate, eventId: id(16) }, { now: t, plan: PLAN_A, moments: { provisionAt: plusDays(t, -1), enableAt: plusMinutes(t, -60) } })
  const retitle = hr('employee.updated', { changes: { title: `T${n}` }, eventId: id(4) }, { now: t, plan: plan.google?.groups.includes('ops') ? PLAN_A : PLAN_B })
  const regrant = hr('employee.updated', { changes: { department: `D${n}` }, eventId: id(5) }, { now: t, plan: plan.google ? {} : PLAN_A })
  const terminated = (k: number, immediate: boolean, inDays: number): LifecycleEvent =>
    hr('employee.terminated', { immediate, voluntary: 'unknown', effectiveDate: '2030-01-01', eventId: id(k) }, { now: t, plan, moments: { terminationAt: immediate ? t : plusDays(t, inDays) } })
  const terminateLater = terminated(6, false, 10)
  const terminateNow = terminated(7, true, 0)
  const terminatePast = terminated(8, false, -1)
  const terminateBeforeStart = terminated(9, false, 1)
  const rescind = hr('employee.termination_rescinded', { eventId: id(10) }, { now: t, plan: PLAN_A })
  const cancel = hr('employee.hire_cancelled', { eventId: id(11) }, { now: t, plan })
  const leave = (k: number, inMinutes: number): LifecycleEvent =>
    hr('employee.leave_started', { effectiveDate: startDate, eventId: id(k) }, { now: t, plan, moments: { leaveAt: plusMinutes(t, inMinutes) } })
  const back = (k: number, inMinutes: number): LifecycleEvent =>
    hr('employee.leave_ended', { effectiveDate: startDate, eventId: id(k) }, { now: t, plan, moments: { returnAt: plusMinutes(t, inMinutes) } })
  const quiet =
    Object.values(ctx.systems).every((p) => p.pending === undefined && p.purpose === undefined) &&
    Object.keys(ctx.exceptions).length === 0 &&
    Object.values(ctx.timers).every((t) => t.timer === 'terminate')
  const events: LifecycleEvent[] = []
  switch (state) {
    case 'unknown':
      events.push(hired(1, false), hired(2, true), rehired, rehiredDue, terminateLater, terminateNow, retitle, leave(12, -1), back(14, -1), cancel, rescind)
      events.push({ type: 'timer.fired', timerId: 'stale-timer', timer: 'provision', now: t })
      break
    case 'preHire':
    case 'provisioning':
    case 'ready':
      events.push(hired(1, false), hired(2, true), rehired, rehiredDue, retitle, terminateLater, terminateNow, terminateBeforeStart, cancel, rescind, leave(12, -1), back(14, -1))
      if (quiet) events.push(regrant)
      break
    case 'active':
      events.push(hired(1, false), rehired, retitle, terminateLater, terminateNow, terminatePast, cancel, leave(12, -1), back(14, -1))
      // Side trips (a mover losing the system, a leave booked ahead) only from a quiet state.
      if (quiet) events.push(regrant, leave(13, 3 * 1440))
      break
    case 'onLeave':
      events.push(hired(1, false), rehired, retitle, terminateLater, terminateNow, cancel, back(14, -1))
      if (quiet) events.push(back(15, 3 * 1440))
      break
    case 'terminationScheduled':
      events.push(hired(1, false), rehired, terminateLater, terminateNow, rescind, cancel, leave(12, -1), back(14, -1))
      if (quiet) events.push(retitle, leave(13, 3 * 1440), back(15, 3 * 1440))
      break
    case 'deprovisioning':
      events.push(rescind, retitle, cancel, leave(12, -1), terminateNow)
      if (Object.keys(ctx.exceptions).length === 0 && Object.values(ctx.systems).every((p) => p.attempts === 0)) events.push(rehired, rehiredDue, hired(1, false))
      break
    default:
      events.push(hired(1, false), hired(2, true), rehired, rehiredDue, rescind, retitle, terminateNow, cancel)
  }
  // Re-deliveries and stale events: recorded as ignored wherever they arrive.
  const firstSeen = ctx.seenHrEventIds[0]
  if (firstSeen !== undefined && ctx.lastEmploymentAt !== undefined) {
    events.push(hr('employee.hired', { profile: PROFILE, startDate, preHire: true, eventId: firstSeen }, { now: t, plan: PLAN_A, moments: {} }))
    events.push(hr('employee.rehired', { profile: PROFILE, startDate, eventId: firstSeen }, { now: t, plan: PLAN_A, moments: {} }))
    events.push(hr('employee.updated', { changes: { title: 'Again' }, eventId: firstSeen }, { now: t, plan }))
    events.push(hr('employee.terminated', { immediate: true, voluntary: 'unknown', eventId: id(17), occurredAt: plusDays(ctx.lastEmploymentAt, -1) }, { now: t, plan, moments: { terminationAt: t } }))
  }
  for (const timer of Object.values(ctx.timers)) {
    const at = Date.parse(timer.at) > Date.parse(t) ? timer.at : t
    events.push({ type: 'timer.fired', timerId: timer.timerId, timer: timer.timer, now: at })
  }
  for (const [system, p] of Object.entries(ctx.systems)) {
    const pending = p.pending
    if (pending?.action === 'provision' || pending?.action === 'restore') {
      events.push({ type: 'account.provisioned', system, accountId: `${system}-acct`, login: 'ada@example.com', now: t })
      events.push({ type: 'account.failed', system, action: pending.action, error: { kind: 'Permanent', message: 'quota' }, final: true, now: t })
    }
    if (pending?.action === 'update') events.push({ type: 'account.updated', system, now: t })
    if (pending?.action === 'enable') events.push({ type: 'account.enabled', system, now: t })
    if (pending?.action === 'suspend') events.push({ type: 'account.suspended', system, now: t })
    if (pending?.action === 'deprovision' && pending.phase === 'cutoff') {
      events.push({ type: 'account.revoked', system, phase: 'cutoff', residual: [], now: t })
      events.push({ type: 'account.failed', system, action: 'deprovision', phase: 'cutoff', error: { kind: 'AuthFailed', message: 'token revoked' }, final: true, now: t })
    }
    if (pending?.action === 'verify') {
      events.push({ type: 'account.verified', system, revoked: true, checks: [{ name: 'suspended', ok: true }], now: t })
      events.push({ type: 'account.verified', system, revoked: false, checks: [{ name: 'sessions', ok: false }], now: t })
    }
    if (pending?.action === 'deprovision' && pending.phase === 'cleanup') {
      events.push({ type: 'account.revoked', system, phase: 'cleanup', residual: [{ kind: 'license', id: 'L1', reason: 'in use' }], now: t })
      events.push({ type: 'account.failed', system, action: 'deprovision', error: { kind: 'Permanent', message: 'transfer failed' }, final: true, now: t })
    }
    if (state === 'active' && pending === undefined && p.status === 'active') events.push({ type: 'account.suspended', system, now: t })
    if (['deprovisioning', 'offboarded', 'cancelled', 'active'].includes(state) && ['done', 'absent', 'cleaning', 'active'].includes(p.status))
      events.push({ type: 'reconciliation.account_active', system, accountId: `${system}-acct`, now: t })
    if (p.status === 'failed' || p.status === 'verify_failed') {
      events.push({ type: 'operator.retry', system, actor: 'it-admin', now: t })
      events.push({ type: 'operator.resolved', system, actor: 'it-admin', note: 'removed by hand in the admin console', now: t })
    }
  }
  const ex = Object.entries(ctx.exceptions)
  // Exceptions only matter once a revocation is due; offering them everywhere multiplies the graph.
  if (ex.length === 0 && state === 'deprovisioning' && !ctx.pendingRehire && ctx.systems['google']?.status === 'verifying')
    events.push({ type: 'exception.activated', exceptionId: 'X1', kind: 'delay_revocation', system: 'google', until: plusDays(t, 2), now: t })
  for (const [exceptionId] of ex) events.push({ type: 'exception.ended', exceptionId, now: t })
  return events
}

/** What matters for behaviour, without timestamps and ids, so the graph stays finite. */
function abstractState(snapshot: LifecycleSnapshot): string {
  const c = snapshot.context
  return JSON.stringify([
    snapshot.value,
    Object.entries(c.systems)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, p]) => [k, p.status, p.pending?.action, p.pending?.phase, p.purpose, snapshot.value === 'deprovisioning' ? p.attempts : Math.min(p.attempts, 1), p.accountId !== undefined, p.desired?.account === true]),
    c.closing ?? (c.termination ? 'term' : '-'),
    c.resumeTo ?? '-',
    Object.values(c.timers).map((t) => t.timer).sort(),
    Object.keys(c.exceptions).length,
    c.pendingRehire === undefined ? '-' : Date.parse(c.pendingRehire.moments.provisionAt ?? '') <= Date.parse(c.now ?? '') ? 'due' : 'later',
    // A leave remembered before the hire arrived (it decides whether the person goes on leave once active).
    c.leave !== undefined && c.timers['leave_start'] === undefined && !['onLeave', 'terminationScheduled'].includes(String(snapshot.value)) ? 'leave-before-hire' : '-',
  ])
}

const model = createTestModel(employeeLifecycleMachine, {
  events: modelEvents,
  serializeState: (s) => abstractState(s as LifecycleSnapshot),
  // The graph adds a bare `{ type }` for every event type the menu has nothing for: not real events.
  filterEvents: (_, e) => 'now' in e,
  input: { employeeId: EMPLOYEE_ID, source: 'generic' },
})

const KEY_FORMAT = /^generic:E-100:[a-z:]+:(provision|update|enable|suspend|deprovision|verify|restore)(:cutoff|:cleanup)?:g\d+(:n\d+)?$/
const LEAVER_ACTIONS = new Set(['provision', 'restore', 'enable'])

/** Invariants that hold after every step, whatever the path. */
function checkInvariants(snapshot: LifecycleSnapshot, step: Captured, all: Captured): void {
  const ctx: LifecycleContext = snapshot.context
  assert.equal(ctx.phase, snapshot.value, 'context.phase mirrors the state')
  for (const job of step.jobs) {
    assert.match(job.key, KEY_FORMAT)
    if (ctx.closing !== undefined)
      assert.ok(!LEAVER_ACTIONS.has(job.action), `no ${job.action} job may be queued while the employee is ${ctx.closing}`)
    if (job.action === 'deprovision') assert.ok(job.plan && job.plan.phase === job.phase, 'deprovision jobs carry a plan of their phase')
    if (job.action === 'deprovision' && job.phase === 'cleanup' && job.plan?.options.legalHold) assert.ok(!job.plan.steps.includes('delete'))
  }
  const keys = all.jobs.map((j) => j.key)
  assert.equal(new Set(keys).size, keys.length, 'job keys are never reused')
  const scheduled = new Set(all.scheduled.map((t) => t.timerId))
  for (const id of step.cancelled) assert.ok(scheduled.has(id), `cancelled timer ${id} had been scheduled`)
  for (const t of Object.values(ctx.timers)) assert.ok(scheduled.has(t.timerId), 'every current timer was scheduled')
  for (const [system, p] of Object.entries(ctx.systems)) {
    if (p.pending) assert.ok(all.jobs.some((j) => j.system === system), `${system} waits on a job that was queued`)
    assert.ok(p.attempts <= MAX_CUTOFF_RERUNS + 1)
    if (p.status === 'verify_failed') assert.equal(p.attempts, MAX_CUTOFF_RERUNS + 1)
  }
  if (snapshot.value === 'offboarded' || snapshot.value === 'cancelled')
    for (const p of Object.values(ctx.systems)) assert.ok(p.status === 'done' || p.status === 'absent', `closed case has ${p.status}`)
  if (snapshot.value === 'terminationScheduled') assert.ok(ctx.timers['terminate'], 'a scheduled termination has its timer')
  if (snapshot.value === 'preHire') assert.equal(step.jobs.length, 0, 'nothing is created before the provisioning moment')
}

/** Every transition of a machine, labelled (event transitions per node, and eventless ones). */
function allTransitions(machine: typeof employeeLifecycleMachine): Map<AnyTransitionDefinition, string> {
  const out = new Map<AnyTransitionDefinition, string>()
  const visit = (node: typeof machine.root): void => {
    for (const [eventType, list] of node.transitions) list.forEach((t, i) => out.set(t, `${node.id} on ${eventType} #${i}`))
    node.always?.forEach((t, i) => out.set(t, `${node.id} always #${i}`))
    for (const child of Object.values(node.states)) visit(child)
  }
  visit(machine.root)
  return out
}

describe('employee lifecycle model', () => {
  const paths = model.getShortestPaths()
  // One provided instance for everything: `.provide()` clones the state nodes, and coverage is
  // measured by identity of the transition definitions the inspector reports.
  let step = emptyCaptured()
  const machine = providedMachine(new Proxy(emptyCaptured(), { get: (_, key: keyof Captured) => step[key] }))
  const taken = new Set<AnyTransitionDefinition>()
  const inspect = (e: InspectionEvent): void => {
    if (e.type === '@xstate.microstep') for (const t of (e as { _transitions: AnyTransitionDefinition[] })._transitions) taken.add(t)
  }

  test('when every shortest path is replayed on a live actor, then the invariants hold at every step', async () => {
    assert.ok(paths.length > 100, `expected a rich model, got ${paths.length} paths`)
    for (const path of paths) {
      const all = emptyCaptured()
      step = emptyCaptured()
      const actor = createActor(machine, { input: { employeeId: EMPLOYEE_ID, source: 'generic' }, inspect })
      actor.start()
      const exec = (s: { event: LifecycleEvent }): void => {
        step = emptyCaptured()
        actor.send(s.event)
        for (const key of Object.keys(step) as (keyof Captured)[]) (all[key] as unknown[]).push(...step[key])
      }
      await path.test({
        events: Object.fromEntries([...new Set(path.steps.map((s) => s.event.type))].filter((t) => (t as string) !== 'xstate.init').map((t) => [t, exec])),
        states: {
          '*': (expected) => {
            const live = actor.getSnapshot()
            assert.equal(live.status, 'active')
            assert.deepEqual(live.value, expected.value)
            assert.equal(abstractState(live), abstractState(expected as LifecycleSnapshot))
            checkInvariants(live, step, all)
          },
        },
      })
      actor.stop()
    }
  })

  test('when the model is explored, then every state is reached and every transition is taken', () => {
    const reached = new Set<string>()
    for (const p of paths) for (const s of p.steps) reached.add(String(s.state.value))
    assert.deepEqual([...LIFECYCLE_STATES].filter((s) => !reached.has(s)), [], 'unreached states')

    // The replays above took most transitions; for the rest, run the graph edges that select them.
    const expected = allTransitions(machine)
    const missing = (): AnyTransitionDefinition[] => [...expected.keys()].filter((t) => !taken.has(t))
    const run = (state: LifecycleSnapshot, event: LifecycleEvent): void => {
      const actor = createActor(machine, {
        snapshot: machine.resolveState({ value: state.value, context: state.context }),
        input: { employeeId: EMPLOYEE_ID, source: 'generic' },
        inspect,
      })
      actor.start()
      actor.send(event)
      actor.stop()
    }
    const byKey = new Map<string, LifecycleSnapshot>()
    for (const p of paths) for (const s of p.steps) byKey.set(abstractState(s.state as LifecycleSnapshot), s.state as LifecycleSnapshot)
    const states = [...byKey.values()]
    for (const onlyNew of [true, false]) {
      for (const state of states) {
        if (missing().length === 0) break
        const resolved = machine.resolveState({ value: state.value, context: state.context })
        for (const event of modelEvents(state)) {
          const selected = machine.getTransitionData(resolved, event)
          if (!onlyNew || selected.some((t) => !taken.has(t))) run(state, event)
        }
      }
    }
    assert.deepEqual(missing().map((t) => expected.get(t)), [], 'transitions never taken')
  })
})
