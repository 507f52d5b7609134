import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createActor, type AnyStateNode } from 'xstate'
import { caseView, joinerCaseView } from '../src/lifecycle/case-view.ts'
import {
  MAX_CUTOFF_RERUNS,
  employeeLifecycleMachine,
  type JobRequest,
  type LifecycleEvent,
  type Plan,
} from './employee-lifecycle.machine.ts'
import { GUARDS } from './lifecycle/guards.ts'
import { HANDLERS } from './lifecycle/handlers.ts'
import { FakeEngine, PROFILE, emptyCaptured, grant, hr, plusDays, plusMinutes, providedMachine, type Captured } from './test-support.ts'

const T0 = '2025-03-03T08:00:00.000Z'
const PLAN: Plan = {
  google: grant({ groups: ['all@example.com', 'eng@example.com'], licences: ['workspace'] }),
  slack: grant({ channels: ['general', 'eng'] }),
  jira: grant({ projects: ['ENG'] }),
}
const LEAVER = { google: { delete: false, transferData: true }, slack: { delete: true, transferData: false }, jira: { delete: false, transferData: false } }

function hire(engine: FakeEngine, opts: { now?: string; plan?: Plan } = {}): { provisionAt: string; enableAt: string } {
  const now = opts.now ?? T0
  const provisionAt = plusDays(now, 4)
  const enableAt = plusDays(now, 7)
  engine.send(hr('employee.hired', { profile: PROFILE, startDate: enableAt.slice(0, 10), preHire: true }, { now, plan: opts.plan ?? PLAN, moments: { provisionAt, enableAt }, leaver: LEAVER }))
  return { provisionAt, enableAt }
}

function fire(engine: FakeEngine, kind: 'provision' | 'enable' | 'terminate' | 'leave_start' | 'leave_end'): Captured {
  const timer = engine.timer(kind)
  assert.ok(timer, `a ${kind} timer is scheduled`)
  return engine.send({ type: 'timer.fired', timerId: timer.timerId, timer: kind, now: timer.at })
}

/** Answer every job the engine was asked for with success (like workers would). */
function complete(engine: FakeEngine, jobs: JobRequest[], now: string, opts: { verifyFails?: (job: JobRequest) => boolean } = {}): JobRequest[] {
  const next: JobRequest[] = []
  for (const job of jobs) {
    let event: LifecycleEvent
    switch (job.action) {
      case 'provision':
      case 'restore':
        event = { type: 'account.provisioned', system: job.system, accountId: job.accountId ?? `${job.system}-1`, now }
        break
      case 'update':
        event = { type: 'account.updated', system: job.system, now }
        break
      case 'enable':
        event = { type: 'account.enabled', system: job.system, now }
        break
      case 'suspend':
        event = { type: 'account.suspended', system: job.system, now }
        break
      case 'deprovision':
        event = { type: 'account.revoked', system: job.system, phase: job.phase ?? 'cutoff', residual: [], now }
        break
      case 'verify': {
        const ok = !(opts.verifyFails?.(job) ?? false)
        event = { type: 'account.verified', system: job.system, revoked: ok, checks: [{ name: 'suspended', ok }], now }
        break
      }
    }
    next.push(...engine.send(event).jobs)
  }
  return next
}

function drain(engine: FakeEngine, jobs: JobRequest[], now: string): void {
  let pending = jobs
  for (let i = 0; i < 10 && pending.length > 0; i++) pending = complete(engine, pending, now)
  assert.equal(pending.length, 0, 'jobs settle')
}

function toActive(engine: FakeEngine): { enableAt: string } {
  const { enableAt } = hire(engine)
  drain(engine, fire(engine, 'provision').jobs, plusDays(T0, 4))
  assert.equal(engine.state, 'ready')
  drain(engine, fire(engine, 'enable').jobs, enableAt)
  assert.equal(engine.state, 'active')
  return { enableAt }
}

describe('joiner → mover → leaver → rehire', () => {
  test('when a person joins, moves, leaves and is rehired, then the jobs, timers and states follow the lifecycle', () => {
    const e = new FakeEngine()
    const { provisionAt, enableAt } = hire(e)
    assert.equal(e.state, 'preHire')
    assert.deepEqual(e.captured.scheduled.map((t) => t.timer), ['provision'])
    assert.equal(e.captured.jobs.length, 0)

    // Joiner: accounts created disabled ahead of day one, enabled on day one.
    const created = fire(e, 'provision').jobs
    assert.equal(e.state, 'provisioning')
    assert.deepEqual(created.map((j) => [j.key, j.action, j.enabled]), [
      ['generic:E-100:google:provision:g1', 'provision', false],
      ['generic:E-100:jira:provision:g1', 'provision', false],
      ['generic:E-100:slack:provision:g1', 'provision', false],
    ])
    assert.deepEqual(created[0]?.grant?.groups, ['all@example.com', 'eng@example.com'])
    complete(e, created, plusDays(provisionAt, 0.1))
    assert.equal(e.state, 'ready')
    const enable = e.timer('enable')
    assert.equal(enable?.at, enableAt)
    const enabled = fire(e, 'enable').jobs
    assert.deepEqual(enabled.map((j) => j.action), ['enable', 'enable', 'enable'])
    assert.equal(e.state, 'active')
    complete(e, enabled, enableAt)
    assert.deepEqual(Object.values(e.context.systems).map((s) => s.status), ['active', 'active', 'active'])

    // Mover: loses Jira, gains a Google group and Entra.
    const moverPlan: Plan = {
      google: grant({ groups: ['all@example.com', 'sales@example.com'], licences: ['workspace'] }),
      slack: PLAN.slack as NonNullable<Plan['slack']>,
      entra: grant({ licences: ['E3'] }),
    }
    const t1 = plusDays(enableAt, 30)
    const moved = e.send(hr('employee.updated', { changes: { department: 'Sales' } }, { now: t1, plan: moverPlan, leaver: LEAVER })).jobs
    assert.equal(e.state, 'active')
    const byAction = Object.fromEntries(moved.map((j) => [`${j.system}:${j.action}`, j]))
    assert.deepEqual(byAction['google:update']?.change, { add: { groups: ['sales@example.com'] }, remove: { groups: ['eng@example.com'] } })
    assert.equal(byAction['entra:provision']?.enabled, true)
    assert.equal(byAction['jira:deprovision']?.phase, 'cutoff')
    assert.equal(byAction['jira:deprovision']?.deadline, undefined, 'a mover removal is not under the leaver SLA')
    assert.equal(byAction['slack:update'], undefined)
    drain(e, moved, t1)
    assert.equal(e.context.systems['jira']?.status, 'done')
    assert.equal(e.context.systems['entra']?.status, 'active')

    // Leaver: date-only termination in two weeks.
    const t2 = plusDays(t1, 10)
    const terminationAt = plusDays(t2, 14)
    const term = e.send(hr('employee.terminated', { effectiveDate: terminationAt.slice(0, 10), immediate: false, voluntary: 'voluntary' }, { now: t2, plan: moverPlan, moments: { terminationAt }, leaver: LEAVER }))
    assert.equal(e.state, 'terminationScheduled')
    assert.equal(term.jobs.length, 0, 'nothing is revoked before the date')
    assert.equal(e.context.snapshot?.takenAt, t2, 'the access snapshot is taken when the leaver event arrives')
    assert.deepEqual(Object.keys(e.context.snapshot?.systems ?? {}).sort(), ['entra', 'google', 'jira', 'slack'])
    const cutoffs = fire(e, 'terminate').jobs
    assert.equal(e.state, 'deprovisioning')
    assert.deepEqual(cutoffs.map((j) => `${j.system}:${j.phase}`).sort(), ['entra:cutoff', 'google:cutoff', 'slack:cutoff'])
    for (const j of cutoffs) {
      assert.equal(j.deadline, terminationAt)
      assert.deepEqual(j.plan?.steps, ['disable', 'revoke_sessions', 'revoke_tokens'])
    }
    const verifies = complete(e, cutoffs, terminationAt)
    assert.deepEqual(verifies.map((j) => j.action), ['verify', 'verify', 'verify'])
    assert.ok(verifies.every((j) => j.revokedAt === terminationAt))
    const cleanups = complete(e, verifies, terminationAt)
    const google = cleanups.find((j) => j.system === 'google')
    assert.deepEqual(google?.plan?.steps, ['transfer_data', 'remove_groups', 'remove_roles', 'remove_channels', 'remove_products', 'remove_licences'])
    assert.deepEqual(google?.plan?.options.transferTo, { email: 'grace@example.com' })
    assert.ok(cleanups.find((j) => j.system === 'slack')?.plan?.steps.includes('delete'))
    complete(e, cleanups, terminationAt)
    assert.equal(e.state, 'offboarded')
    const view = caseView(e.snapshot, { slaMinutes: 240 })
    assert.equal(view.case, 'closed')
    assert.equal(view.slaDeadline, plusMinutes(terminationAt, 240))
    assert.equal(view.counts.atRisk, 0)
    assert.ok(e.captured.records.some((r) => r.kind === 'case.closed'))

    // Rehire: new generation; surviving accounts restored, deleted ones (Slack) created anew.
    const t3 = plusDays(terminationAt, 60)
    e.send(hr('employee.rehired', { profile: PROFILE, startDate: plusDays(t3, 5).slice(0, 10) }, { now: t3, plan: PLAN, moments: { provisionAt: plusDays(t3, 2), enableAt: plusDays(t3, 5) }, leaver: LEAVER }))
    assert.equal(e.state, 'preHire')
    assert.equal(e.context.generation, 2)
    const again = fire(e, 'provision').jobs
    assert.deepEqual(again.map((j) => [j.key, j.action, j.accountId, j.enabled]), [
      ['generic:E-100:google:restore:g2', 'restore', 'google-1', false],
      ['generic:E-100:jira:restore:g2', 'restore', 'jira-1', false],
      ['generic:E-100:slack:provision:g2', 'provision', undefined, false],
    ])
    const keys = e.captured.jobs.map((j) => j.key)
    assert.equal(new Set(keys).size, keys.length, 'no job key is ever reused')
  })
})

describe('persist and restore', () => {
  test('when a snapshot taken mid-deprovisioning is restored, then no action re-runs and it continues exactly like the original', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const cutoffs = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs
    const verifies = complete(e, cutoffs.filter((j) => j.system !== 'jira'), t)
    complete(e, verifies.filter((j) => j.system === 'google'), t)
    assert.equal(e.state, 'deprovisioning')
    assert.equal(e.context.systems['google']?.status, 'cleaning')
    assert.equal(e.context.systems['slack']?.status, 'verifying')
    assert.equal(e.context.systems['jira']?.status, 'revoking')

    const persisted = JSON.parse(JSON.stringify(e.persisted)) as typeof e.persisted
    const rest: LifecycleEvent[] = [
      { type: 'account.revoked', system: 'jira', phase: 'cutoff', residual: [], now: t },
      { type: 'account.verified', system: 'slack', revoked: true, checks: [], now: t },
      { type: 'account.revoked', system: 'google', phase: 'cleanup', residual: [], now: t },
      { type: 'account.verified', system: 'jira', revoked: true, checks: [], now: t },
      { type: 'account.revoked', system: 'jira', phase: 'cleanup', residual: [], now: t },
      { type: 'account.revoked', system: 'slack', phase: 'cleanup', residual: [], now: t },
    ]

    const restored = emptyCaptured()
    const actor = createActor(providedMachine(restored), { snapshot: persisted as never, input: { employeeId: 'E-100', source: 'generic' } })
    actor.start()
    assert.deepEqual(restored, emptyCaptured(), 'restoring runs no action')
    for (const ev of rest) actor.send(ev)
    for (const ev of rest) e.send(ev)
    assert.equal(actor.getSnapshot().value, 'offboarded')
    assert.equal(e.state, 'offboarded')
    assert.deepEqual(JSON.parse(JSON.stringify(actor.getSnapshot().context)), JSON.parse(JSON.stringify(e.context)))
    const afterRestore = e.captured.jobs.slice(-restored.jobs.length)
    assert.deepEqual(restored.jobs, afterRestore)
    assert.deepEqual(restored.jobs.map((j) => j.key), ['generic:E-100:jira:verify:g1', 'generic:E-100:slack:deprovision:cleanup:g1', 'generic:E-100:jira:deprovision:cleanup:g1'])
    actor.stop()
  })

  test('when an action was not provided, then the engine hears about it instead of losing the side effect', () => {
    const actor = createActor(employeeLifecycleMachine, { input: { employeeId: 'E-100', source: 'generic' } })
    const errors: unknown[] = []
    actor.subscribe({ error: (err) => errors.push(err) })
    actor.start()
    actor.send(hr('employee.hired', { profile: PROFILE, startDate: '2025-03-10', preHire: true }, { now: T0, plan: PLAN, moments: { provisionAt: plusDays(T0, 1), enableAt: plusDays(T0, 2) } }))
    assert.match(String(errors[0]), /action "(record|schedule)" was not provided/)
  })
})

describe('exceptions', () => {
  test('when a delay_revocation is active, then that system waits with startAfter and is not at risk; ending it early queues the cut-off at once', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const until = plusDays(t, 3)
    e.send(hr('employee.terminated', { effectiveDate: plusDays(t, 1).slice(0, 10), immediate: false, voluntary: 'voluntary' }, { now: t, plan: PLAN, moments: { terminationAt: plusDays(t, 1) }, leaver: LEAVER }))
    e.send({ type: 'exception.activated', exceptionId: 'X-1', kind: 'delay_revocation', system: 'google', until, now: plusMinutes(t, 5) })
    assert.ok(e.timer('exception_end'))
    const cutoffs = fire(e, 'terminate').jobs
    const google = cutoffs.find((j) => j.system === 'google')
    assert.equal(google?.startAfter, until)
    assert.equal(cutoffs.find((j) => j.system === 'slack')?.startAfter, undefined)
    assert.equal(e.context.systems['google']?.status, 'waiting_exception')
    assert.equal(e.context.systems['google']?.waitingOn, 'X-1')
    const view = caseView(e.snapshot)
    assert.equal(view.systems.find((s) => s.system === 'google')?.atRisk, false)
    assert.equal(view.systems.find((s) => s.system === 'slack')?.atRisk, true)
    assert.equal(view.counts.waiting, 1)

    const ended = e.send({ type: 'exception.ended', exceptionId: 'X-1', now: plusDays(t, 2) })
    assert.deepEqual(ended.jobs.map((j) => [j.key, j.startAfter]), [['generic:E-100:google:deprovision:cutoff:g1:n2', undefined]])
    assert.equal(ended.cancelled.length, 1, 'the exception_end timer is cancelled')
    assert.equal(e.context.systems['google']?.status, 'revoking')
  })

  test('when the delay runs to its end, then the delayed job is simply due and nothing is queued twice', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const until = plusDays(t, 1)
    e.send({ type: 'exception.activated', exceptionId: 'X-2', kind: 'delay_revocation', until, now: t })
    e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: plusMinutes(t, 1), plan: PLAN, moments: { terminationAt: plusMinutes(t, 1) }, leaver: LEAVER }))
    assert.ok(Object.values(e.context.systems).every((s) => s.status === 'waiting_exception'))
    const expiry = fire2(e, 'exception_end')
    assert.equal(expiry.jobs.length, 0)
    assert.ok(Object.values(e.context.systems).every((s) => s.status === 'revoking'))
  })

  test('when a legal hold is active, then disabling happens on time but nothing is deleted, transferred or unlicensed', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    e.send({ type: 'exception.activated', exceptionId: 'LH-1', kind: 'legal_hold', until: plusDays(t, 365), now: t })
    const cutoffs = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs
    assert.equal(cutoffs.length, 3)
    assert.ok(cutoffs.every((j) => j.startAfter === undefined && j.plan?.options.legalHold === true))
    const cleanups = complete(e, complete(e, cutoffs, t), t)
    for (const job of cleanups) {
      assert.equal(job.plan?.options.legalHold, true)
      assert.ok(!job.plan?.steps.includes('delete'), `${job.system} is not deleted`)
      assert.ok(!job.plan?.steps.includes('transfer_data'), `${job.system} data is not transferred`)
      assert.ok(!job.plan?.steps.includes('remove_licences'), `${job.system} keeps the licence that holds its data`)
      assert.ok(job.plan?.steps.includes('convert_mailbox'))
    }
  })

  test('when a cut-off is answered seconds after its calls began, then the verification compares the target with when the cut-off began, and the case keeps the answer time as revoked', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const cutoffs = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs
    const google = cutoffs.find((j) => j.system === 'google')!
    // Google's worker began at t+1 s and got its last answer at t+4 s (a slow network, a busy worker).
    const verify = e.send({ type: 'account.revoked', system: 'google', phase: 'cutoff', residual: [], startedAt: plusSeconds(t, 1), now: plusSeconds(t, 4) }).jobs
    assert.deepEqual(verify.map((j) => [j.system, j.action, j.revokedAt]), [['google', 'verify', plusSeconds(t, 1)]])
    assert.equal(e.context.systems['google']?.revokedAt, plusSeconds(t, 4), 'revoked when the answer came')
    // A worker older than startedAt: the answer time, as before.
    const slack = e.send({ type: 'account.revoked', system: 'slack', phase: 'cutoff', residual: [], now: plusSeconds(t, 5) }).jobs
    assert.deepEqual(slack.map((j) => [j.system, j.action, j.revokedAt]), [['slack', 'verify', plusSeconds(t, 5)]])
    assert.equal(google.action, 'deprovision')
  })

  test('when extra access is granted and later ends, then it is added with an update and removed with another', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const added = e.send({ type: 'exception.activated', exceptionId: 'EA-1', kind: 'extra_access', system: 'jira', grant: grant({ projects: ['FIN'] }), until: plusDays(t, 7), now: t }).jobs
    assert.deepEqual(added.map((j) => [j.action, j.change]), [['update', { add: { projects: ['FIN'] }, remove: {} }]])
    complete(e, added, t)
    const removed = fire2(e, 'exception_end').jobs
    assert.deepEqual(removed.map((j) => [j.key, j.change]), [['generic:E-100:jira:update:g1:n2', { add: {}, remove: { projects: ['FIN'] } }]])
  })
})

const plusSeconds = (iso: string, seconds: number) => new Date(Date.parse(iso) + seconds * 1000).toISOString()

function fire2(engine: FakeEngine, kind: 'exception_end'): Captured {
  const timer = engine.timer(kind)
  assert.ok(timer)
  return engine.send({ type: 'timer.fired', timerId: timer.timerId, timer: kind, now: timer.at })
}

describe('ordering and duplicates', () => {
  test('when an update that happened before the termination arrives after it took effect, then nothing is re-provisioned: it is only kept for a rehire', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER }))
    const late = e.send(
      hr('employee.updated', { changes: { department: 'Finance' }, occurredAt: plusMinutes(t, -30) }, { now: plusMinutes(t, 10), plan: { ...PLAN, netsuite: grant() }, leaver: LEAVER }),
    )
    assert.equal(late.jobs.length, 0)
    assert.equal(e.state, 'deprovisioning')
    assert.ok(late.records.some((r) => r.kind === 'hr.held_for_rehire'))
    assert.equal(e.context.systems['netsuite'], undefined)
  })

  test('when a termination older than a rehire arrives late, then it does not undo the rehire', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const rehireTime = plusDays(t, 1)
    const stale = e.send(hr('employee.terminated', { immediate: true, voluntary: 'unknown', occurredAt: plusDays(T0, -5) }, { now: rehireTime, plan: PLAN, moments: { terminationAt: rehireTime } }))
    assert.equal(e.state, 'active')
    assert.equal(stale.jobs.length, 0)
    assert.match(String(stale.records[0]?.details['reason']), /^stale: occurred/)
  })

  test('when a leave and a move overtake the hire they follow, then the hire does not undo them: the person is provisioned in the new department and goes on leave', () => {
    const e = new FakeEngine()
    const hiredAt = T0
    const movedAt = plusMinutes(T0, 10)
    const leaveAt = plusMinutes(T0, 20)
    const arrive = plusMinutes(T0, 30)
    e.send(hr('employee.updated', { changes: { department: 'Finance' }, occurredAt: movedAt }, { now: arrive, plan: {} }))
    e.send(hr('employee.leave_started', { effectiveDate: '2025-03-03', occurredAt: leaveAt }, { now: arrive, plan: {}, moments: { leaveAt } }))
    assert.equal(e.state, 'unknown')
    const hired = e.send(
      hr('employee.hired', { profile: PROFILE, startDate: '2025-03-03', preHire: false, occurredAt: hiredAt }, { now: arrive, plan: PLAN, moments: { provisionAt: hiredAt, enableAt: hiredAt }, leaver: LEAVER }),
    )
    assert.equal(e.state, 'provisioning')
    assert.equal(e.context.profile?.department, 'Finance', 'the newer department survives the older hire')
    const suspends = complete(e, hired.jobs, arrive)
    assert.equal(e.state, 'onLeave', 'the remembered leave takes effect once provisioned')
    assert.deepEqual(suspends.map((j) => j.action), ['suspend', 'suspend', 'suspend'])
  })

  test('when a leave starts while the joiner is still being provisioned, then the person goes on leave once provisioned', () => {
    const e = new FakeEngine()
    const created = e.send(hr('employee.hired', { profile: PROFILE, startDate: '2025-03-03', preHire: false }, { now: T0, plan: PLAN, moments: { provisionAt: T0, enableAt: T0 }, leaver: LEAVER })).jobs
    assert.equal(e.state, 'provisioning')
    const t = plusMinutes(T0, 5)
    e.send(hr('employee.leave_started', { effectiveDate: '2025-03-03' }, { now: t, plan: PLAN, moments: { leaveAt: t } }))
    assert.equal(e.state, 'provisioning')
    const suspends = complete(e, created, plusMinutes(T0, 6))
    assert.equal(e.state, 'onLeave')
    assert.deepEqual(suspends.map((j) => j.action), ['suspend', 'suspend', 'suspend'])
  })

  test('when a rehire arrives before the cancellation it follows, then the late cancellation is stale and the person stays employed', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 30)
    // HR: cancelled at t, rehired at t+10 min; Tenure hears the rehire first.
    e.send(hr('employee.rehired', { profile: PROFILE, startDate: '2025-04-02', occurredAt: plusMinutes(t, 10) }, { now: plusMinutes(t, 20), plan: PLAN, moments: { provisionAt: t, enableAt: t }, leaver: LEAVER }))
    assert.equal(e.state, 'active')
    const late = e.send(hr('employee.hire_cancelled', { occurredAt: t }, { now: plusMinutes(t, 21), plan: PLAN, leaver: LEAVER }))
    assert.equal(e.state, 'active')
    assert.equal(late.jobs.length, 0)
    assert.match(String(late.records.find((r) => r.kind === 'event.ignored')?.details['reason']), /^stale/)
  })

  test('when a termination of someone whose hire was cancelled overtakes their rehire, then the late rehire is stale', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 30)
    drain(e, e.send(hr('employee.hire_cancelled', { occurredAt: t }, { now: t, plan: PLAN, leaver: LEAVER })).jobs, t)
    assert.equal(e.state, 'cancelled')
    // HR: rehired at t+10, terminated at t+20; the termination arrives first (nothing to do), the rehire last.
    e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary', occurredAt: plusMinutes(t, 20) }, { now: plusMinutes(t, 30), plan: PLAN, moments: { terminationAt: plusMinutes(t, 20) } }))
    assert.equal(e.state, 'cancelled')
    const late = e.send(
      hr('employee.rehired', { profile: PROFILE, startDate: '2025-04-02', occurredAt: plusMinutes(t, 10) }, { now: plusMinutes(t, 31), plan: PLAN, moments: { provisionAt: t, enableAt: t }, leaver: LEAVER }),
    )
    assert.equal(late.jobs.length, 0, 'nothing is provisioned for a rehire HR has since ended')
    assert.equal(e.state, 'cancelled')
    assert.match(String(late.records.find((r) => r.kind === 'event.ignored')?.details['reason']), /^stale/)
  })

  test('when a hire is cancelled again while the rehire that followed the first cancellation waits for the clean-up, then that rehire is withdrawn', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 30)
    const cut = e.send(hr('employee.hire_cancelled', { occurredAt: t }, { now: t, plan: PLAN, leaver: LEAVER })).jobs
    e.send(hr('employee.rehired', { profile: PROFILE, startDate: '2025-04-02', occurredAt: plusMinutes(t, 10) }, { now: plusMinutes(t, 11), plan: PLAN, moments: { provisionAt: t, enableAt: t }, leaver: LEAVER }))
    assert.ok(e.context.pendingRehire)
    const again = e.send(hr('employee.hire_cancelled', { occurredAt: plusMinutes(t, 20) }, { now: plusMinutes(t, 21), plan: PLAN, leaver: LEAVER }))
    assert.ok(again.records.some((r) => r.kind === 'rehire.withdrawn'))
    drain(e, cut, plusMinutes(t, 22))
    assert.equal(e.state, 'cancelled', 'the clean-up ends the case and nothing is provisioned again')
  })

  test('when a move HR made after a rehire arrives while the person is still leaving, then the rehire provisions the new department', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 30)
    const cut = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary', occurredAt: t }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs
    // Rehired (t+10) into the old plan, then moved (t+20) to one with an extra system, both while the cut-off runs.
    e.send(hr('employee.rehired', { profile: PROFILE, startDate: '2025-04-02', occurredAt: plusMinutes(t, 10) }, { now: plusMinutes(t, 11), plan: PLAN, moments: { provisionAt: t, enableAt: t }, leaver: LEAVER }))
    e.send(hr('employee.updated', { changes: { department: 'Finance' }, occurredAt: plusMinutes(t, 20) }, { now: plusMinutes(t, 21), plan: { ...PLAN, netsuite: grant() }, leaver: LEAVER }))
    drain(e, cut, plusMinutes(t, 22))
    assert.equal(e.context.profile?.department, 'Finance')
    assert.ok(e.context.systems['netsuite'], 'the plan of the newer department applies')
  })

  test('when a hire cancellation overtakes the hire, then the older hire is ignored and nothing is provisioned', () => {
    const e = new FakeEngine()
    const arrive = plusMinutes(T0, 30)
    e.send(hr('employee.hire_cancelled', { occurredAt: plusMinutes(T0, 10) }, { now: arrive, plan: {} }))
    const hired = e.send(
      hr('employee.hired', { profile: PROFILE, startDate: '2025-03-03', preHire: false, occurredAt: T0 }, { now: arrive, plan: PLAN, moments: { provisionAt: T0, enableAt: T0 }, leaver: LEAVER }),
    )
    assert.equal(hired.jobs.length, 0)
    assert.equal(e.state, 'unknown')
    assert.match(String(hired.records.find((r) => r.kind === 'event.ignored')?.details['reason']), /^stale/)
  })

  test('when the same HR event is delivered twice, then the second is ignored as a duplicate', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const ev = hr('employee.updated', { changes: { title: 'Staff Engineer' } }, { now: t, plan: { ...PLAN, jira: grant({ projects: ['ENG', 'OPS'] }) } })
    assert.equal(e.send(ev).jobs.length, 1)
    const again = e.send({ ...ev, now: plusMinutes(t, 1) })
    assert.equal(again.jobs.length, 0)
    assert.deepEqual(again.records.map((r) => [r.kind, r.details['reason']]), [['event.ignored', 'duplicate']])
  })

  test('when an older update changes an attribute a newer one already set, then only the untouched attributes apply', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    e.send(hr('employee.updated', { changes: { title: 'Director' }, occurredAt: t }, { now: t, plan: PLAN }))
    e.send(hr('employee.updated', { changes: { title: 'Engineer II', location: 'Berlin' }, occurredAt: plusMinutes(t, -60) }, { now: plusMinutes(t, 5), plan: PLAN }))
    assert.equal(e.context.profile?.title, 'Director')
    assert.equal(e.context.profile?.location, 'Berlin')
  })

  test('when 200 events are applied with a restore before each, then the final context and effects equal one long-lived actor', () => {
    const events = scriptedEvents(200)
    const engine = new FakeEngine()
    const live = emptyCaptured()
    const actor = createActor(providedMachine(live), { input: { employeeId: 'E-100', source: 'generic' } })
    actor.start()
    for (const ev of events) {
      engine.send(ev)
      actor.send(ev)
    }
    assert.deepEqual(JSON.parse(JSON.stringify(actor.getSnapshot().context)), JSON.parse(JSON.stringify(engine.context)))
    assert.equal(actor.getSnapshot().value, engine.state)
    assert.deepEqual(live, engine.captured)
    assert.ok(live.jobs.length > 20, `a busy history (${live.jobs.length} jobs)`)
    actor.stop()
  })
})

/**
 * A deterministic, busy history: hires, moves, leaves, terminations, rescinds and rehires, with
 * every queued job answered in order (some verifications failing), like a year of one employee.
 */
function scriptedEvents(count: number): LifecycleEvent[] {
  const out: LifecycleEvent[] = []
  const probe = new FakeEngine()
  let now = T0
  let seed = 7
  const rnd = (n: number): number => {
    seed = (seed * 48271) % 2147483647
    return seed % n
  }
  const outstanding: JobRequest[] = []
  const push = (ev: LifecycleEvent): void => {
    out.push(ev)
    outstanding.push(...probe.send(ev).jobs)
  }
  while (out.length < count) {
    now = plusMinutes(now, 30 + rnd(600))
    const state = probe.state
    const timers = Object.values(probe.context.timers)
    const choice = rnd(10)
    if (outstanding.length > 0 && choice < 6) {
      const job = outstanding.shift() as JobRequest
      const p = probe.context.systems[job.system]
      if (!p?.pending) continue
      const ok = rnd(5) !== 0
      const ev: LifecycleEvent =
        job.action === 'verify'
          ? { type: 'account.verified', system: job.system, revoked: ok, checks: [{ name: 'disabled', ok }], now }
          : job.action === 'deprovision'
            ? { type: 'account.revoked', system: job.system, phase: job.phase ?? 'cutoff', residual: [], now }
            : job.action === 'provision' || job.action === 'restore'
              ? { type: 'account.provisioned', system: job.system, accountId: `${job.system}-${out.length}`, now }
              : { type: `account.${job.action === 'update' ? 'updated' : job.action === 'enable' ? 'enabled' : 'suspended'}`, system: job.system, now }
      push(ev)
      continue
    }
    if (timers.length > 0 && choice < 8) {
      const timer = timers[rnd(timers.length)] as (typeof timers)[number]
      now = Date.parse(timer.at) > Date.parse(now) ? timer.at : now
      push({ type: 'timer.fired', timerId: timer.timerId, timer: timer.timer, now })
      continue
    }
    const plans: Plan[] = [PLAN, { google: PLAN.google as NonNullable<Plan['google']> }, { ...PLAN, entra: grant({ licences: ['E5'] }) }]
    const plan = plans[rnd(plans.length)] as Plan
    const soon = { provisionAt: plusDays(now, 1), enableAt: plusDays(now, 2) }
    const hrEvents: LifecycleEvent[] =
      state === 'unknown' || state === 'offboarded' || state === 'cancelled'
        ? [hr('employee.rehired', { profile: PROFILE, startDate: soon.enableAt.slice(0, 10) }, { now, plan, moments: soon, leaver: LEAVER })]
        : [
            hr('employee.updated', { changes: { title: `T${out.length}` } }, { now, plan, leaver: LEAVER }),
            hr('employee.leave_started', { effectiveDate: now.slice(0, 10) }, { now, plan, moments: { leaveAt: now } }),
            hr('employee.leave_ended', { effectiveDate: now.slice(0, 10) }, { now, plan, moments: { returnAt: now } }),
            hr('employee.terminated', { immediate: false, voluntary: 'unknown', effectiveDate: '2026-01-01' }, { now, plan, moments: { terminationAt: plusDays(now, 1 + rnd(3)) }, leaver: LEAVER }),
            hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now, plan, moments: { terminationAt: now }, leaver: LEAVER }),
            hr('employee.termination_rescinded', {}, { now, plan }),
            { type: 'exception.activated', exceptionId: `X-${out.length}`, kind: 'delay_revocation', system: 'google', until: plusDays(now, 1), now },
          ]
    push(hrEvents[rnd(hrEvents.length)] as LifecycleEvent)
  }
  return out
}

describe('failures and re-opened cases', () => {
  test('when verification keeps failing, then the cut-off is re-run three times and the system ends verify_failed with a notification, case still open', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    let jobs = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs
    for (let i = 0; i < 12 && jobs.length > 0; i++) jobs = complete(e, jobs, t, { verifyFails: (j) => j.system === 'slack' })
    const slack = e.context.systems['slack']
    assert.equal(slack?.status, 'verify_failed')
    assert.equal(slack?.attempts, MAX_CUTOFF_RERUNS + 1)
    assert.equal(e.captured.jobs.filter((j) => j.system === 'slack' && j.phase === 'cutoff').length, MAX_CUTOFF_RERUNS + 1)
    assert.ok(e.captured.notifications.some((n) => n.kind === 'verification_failed' && n.system === 'slack'))
    assert.equal(e.state, 'deprovisioning')
    assert.equal(caseView(e.snapshot).case, 'open')
    assert.equal(caseView(e.snapshot).systems.find((s) => s.system === 'slack')?.atRisk, true)

    // An operator retries; this time it works and the case closes.
    let retry = e.send({ type: 'operator.retry', system: 'slack', actor: 'it-1', now: plusMinutes(t, 30) }).jobs
    for (let i = 0; i < 4 && retry.length > 0; i++) retry = complete(e, retry, plusMinutes(t, 31))
    assert.equal(e.state, 'offboarded')
  })

  test('when a cut-off fails for good, then the system is failed with residual access listed and the case stays open', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const jobs = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs
    e.send({ type: 'account.failed', system: 'jira', action: 'deprovision', error: { kind: 'Transient', message: '503' }, final: false, now: t })
    assert.equal(e.context.systems['jira']?.status, 'revoking', 'a retryable failure changes nothing')
    const failed = e.send({ type: 'account.failed', system: 'jira', action: 'deprovision', error: { kind: 'AuthFailed', message: 'API token revoked' }, final: true, now: t })
    assert.equal(e.context.systems['jira']?.status, 'failed')
    assert.deepEqual(e.context.systems['jira']?.residual, [{ kind: 'account', id: 'jira-1', reason: 'deprovision (cutoff) failed: API token revoked' }])
    assert.equal(failed.notifications[0]?.kind, 'job_failed')
    drain(e, jobs.filter((j) => j.system !== 'jira'), t)
    assert.equal(e.state, 'deprovisioning')
    e.send({ type: 'operator.resolved', system: 'jira', actor: 'it-1', note: 'deactivated by hand in Jira admin', now: plusMinutes(t, 60) })
    assert.equal(e.state, 'offboarded')
  })

  test('when an operator accepts a failed cut-off, then the account stays as residual access (one item, for a person to decide on) and the case closes', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const jobs = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs
    e.send({ type: 'account.failed', system: 'jira', action: 'deprovision', error: { kind: 'AuthFailed', message: 'API token revoked' }, final: true, now: t })
    drain(e, jobs.filter((j) => j.system !== 'jira'), t)
    e.send({ type: 'operator.resolved', system: 'jira', actor: 'it-1', note: 'Jira admin unreachable; accepted until the contract ends', outcome: 'accepted', now: plusMinutes(t, 60) })
    assert.equal(e.context.systems['jira']?.status, 'done')
    assert.deepEqual(
      e.context.systems['jira']?.residual.map((r) => [r.kind, r.id]),
      [['account', 'jira-1']],
      'the access the failure left is the residual item, not a "resolved by hand" one',
    )
    assert.equal(e.state, 'offboarded')
  })

  test('when reconciliation finds a revoked account active again, then the case re-opens for that system and closes after a new cut-off', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    drain(e, e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs, t)
    assert.equal(e.state, 'offboarded')
    const reopened = e.send({ type: 'reconciliation.account_active', system: 'google', accountId: 'google-1', now: plusDays(t, 2) })
    assert.equal(e.state, 'deprovisioning')
    assert.deepEqual(reopened.jobs.map((j) => j.key), ['generic:E-100:google:deprovision:cutoff:g1:n2'])
    assert.deepEqual(reopened.notifications.map((n) => n.kind), ['case_reopened'])
    drain(e, reopened.jobs, plusDays(t, 2))
    assert.equal(e.state, 'offboarded')
  })

  test('when an enable job finishes after the cut-off was verified, then the account is cut off again', () => {
    const e = new FakeEngine()
    hire(e)
    complete(e, fire(e, 'provision').jobs, plusDays(T0, 4))
    fire(e, 'enable')
    const t = plusDays(T0, 7.5)
    const cut = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs
    drain(e, cut, t)
    assert.equal(e.state, 'offboarded')
    const late = e.send({ type: 'account.enabled', system: 'google', now: plusMinutes(t, 5) })
    assert.equal(e.state, 'deprovisioning')
    assert.deepEqual(late.jobs.map((j) => [j.system, j.action, j.phase]), [['google', 'deprovision', 'cutoff']])
    assert.deepEqual(late.notifications.map((n) => n.kind), ['access_reenabled'])
  })
})

describe('dates, leave, rescind, cancellation', () => {
  test('when the termination date changes, then the old timer is cancelled, a new one scheduled, and the stale one ignored if it fires', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    e.send(hr('employee.terminated', { effectiveDate: '2025-05-01', immediate: false, voluntary: 'voluntary' }, { now: t, plan: PLAN, moments: { terminationAt: plusDays(t, 5) } }))
    const old = e.timer('terminate')
    const moved = e.send(hr('employee.terminated', { effectiveDate: '2025-05-08', immediate: false, voluntary: 'voluntary' }, { now: plusDays(t, 1), plan: PLAN, moments: { terminationAt: plusDays(t, 12) } }))
    assert.deepEqual(moved.cancelled, [old?.timerId])
    assert.equal(moved.scheduled[0]?.at, plusDays(t, 12))
    assert.notEqual(moved.scheduled[0]?.timerId, old?.timerId)
    const stale = e.send({ type: 'timer.fired', timerId: old?.timerId as string, timer: 'terminate', now: plusDays(t, 5) })
    assert.equal(e.state, 'terminationScheduled')
    assert.equal(stale.jobs.length, 0)
    assert.equal(stale.records[0]?.details['reason'], 'stale_timer')
  })

  test('when a termination is rescinded before its date, then the timer is cancelled and the person is back where they were', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    e.send(hr('employee.leave_started', { effectiveDate: '2025-04-12' }, { now: t, plan: PLAN, moments: { leaveAt: t } }))
    assert.equal(e.state, 'onLeave')
    e.send(hr('employee.terminated', { effectiveDate: '2025-05-01', immediate: false, voluntary: 'voluntary' }, { now: plusDays(t, 1), plan: PLAN, moments: { terminationAt: plusDays(t, 20) } }))
    assert.equal(e.state, 'terminationScheduled')
    const timer = e.timer('terminate')
    const back = e.send(hr('employee.termination_rescinded', {}, { now: plusDays(t, 2), plan: PLAN }))
    assert.equal(e.state, 'onLeave')
    assert.deepEqual(back.cancelled, [timer?.timerId])
    assert.equal(e.context.termination, undefined)
  })

  test('when a past termination date arrives, then revocation starts at once and the SLA clock keeps the HR date', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const effective = plusDays(t, -2)
    const jobs = e.send(hr('employee.terminated', { effectiveDate: effective.slice(0, 10), immediate: false, voluntary: 'voluntary' }, { now: t, plan: PLAN, moments: { terminationAt: effective } })).jobs
    assert.equal(e.state, 'deprovisioning')
    assert.ok(jobs.every((j) => j.deadline === effective))
    assert.equal(e.context.termination?.late, true)
  })

  test('when a leave is booked ahead, then accounts are suspended at its start and enabled when it ends', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    e.send(hr('employee.leave_started', { effectiveDate: '2025-04-20' }, { now: t, plan: PLAN, moments: { leaveAt: plusDays(t, 3) } }))
    assert.equal(e.state, 'active')
    const suspended = fire(e, 'leave_start').jobs
    assert.equal(e.state, 'onLeave')
    assert.deepEqual(suspended.map((j) => j.action), ['suspend', 'suspend', 'suspend'])
    complete(e, suspended, plusDays(t, 3))
    assert.ok(Object.values(e.context.systems).every((s) => s.status === 'suspended'))
    e.send(hr('employee.leave_ended', { effectiveDate: '2025-06-01' }, { now: plusDays(t, 20), plan: PLAN, moments: { returnAt: plusDays(t, 30) } }))
    assert.equal(e.state, 'onLeave')
    const enabled = fire(e, 'leave_end').jobs
    assert.equal(e.state, 'active')
    assert.deepEqual(enabled.map((j) => j.action), ['enable', 'enable', 'enable'])
  })

  test('when a person on leave moves, then the suspended accounts only lose access now and gain the new access when the leave ends', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    const leaveAt = plusMinutes(t, 1)
    complete(e, e.send(hr('employee.leave_started', { effectiveDate: '2025-04-12' }, { now: leaveAt, plan: PLAN, moments: { leaveAt } })).jobs, leaveAt)
    assert.equal(e.state, 'onLeave')
    // The new department drops Google's eng group and adds ops.
    const OPS = { ...PLAN, google: grant({ groups: ['all@example.com', 'ops@example.com'], licences: ['workspace'] }) }
    const moved = e.send(hr('employee.updated', { changes: { department: 'Ops' } }, { now: plusMinutes(t, 5), plan: OPS, leaver: LEAVER })).jobs
    assert.deepEqual(moved.map((j) => [j.system, j.action, j.change]), [['google', 'update', { add: {}, remove: { groups: ['eng@example.com'] } }]])
    complete(e, moved, plusMinutes(t, 6))
    const back = e.send(hr('employee.leave_ended', { effectiveDate: '2025-04-13' }, { now: plusMinutes(t, 10), plan: OPS, moments: { returnAt: plusMinutes(t, 10) } })).jobs
    const enableGoogle = back.find((j) => j.system === 'google')
    assert.equal(enableGoogle?.action, 'enable')
    assert.deepEqual(enableGoogle?.grant?.groups, ['all@example.com', 'ops@example.com'], 'the enable carries the whole grant, ops included')
    complete(e, back, plusMinutes(t, 11))
    assert.deepEqual(e.context.systems['google']?.provisioned?.groups, ['all@example.com', 'ops@example.com'])
  })

  test('when a termination that took effect is rescinded, then today\'s plan is restored and access the policy no longer grants is listed, not restored', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 40)
    drain(e, e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary' }, { now: t, plan: PLAN, moments: { terminationAt: t }, leaver: LEAVER })).jobs, t)
    assert.equal(e.state, 'offboarded')
    const today: Plan = { google: grant({ groups: ['all@example.com', 'new@example.com'], licences: ['workspace'] }), jira: PLAN.jira as NonNullable<Plan['jira']> }
    const restore = e.send(hr('employee.termination_rescinded', {}, { now: plusDays(t, 1), plan: today, leaver: LEAVER }))
    assert.equal(e.state, 'provisioning')
    assert.deepEqual(restore.jobs.map((j) => [j.action, j.system, j.accountId, j.enabled]), [
      ['restore', 'google', 'google-1', true],
      ['restore', 'jira', 'jira-1', true],
    ])
    assert.deepEqual(restore.jobs[0]?.grant?.groups, ['all@example.com', 'new@example.com'])
    const note = restore.records.find((r) => r.kind === 'termination.rescinded')
    assert.deepEqual(note?.details['notRestored'], {
      google: { groups: ['eng@example.com'] },
      slack: { account: true, channels: ['eng', 'general'] },
    })
    assert.equal(restore.notifications[0]?.kind, 'access_not_restored')
    complete(e, restore.jobs, plusDays(t, 1))
    assert.equal(e.state, 'active')
  })

  test('when a hire is cancelled after accounts were created, then they are cut off and deleted and the case ends cancelled', () => {
    const e = new FakeEngine()
    hire(e)
    complete(e, fire(e, 'provision').jobs, plusDays(T0, 4))
    assert.equal(e.state, 'ready')
    const t = plusDays(T0, 5)
    const cut = e.send(hr('employee.hire_cancelled', {}, { now: t, plan: PLAN, leaver: LEAVER }))
    assert.equal(e.state, 'deprovisioning')
    assert.ok(cut.cancelled.length >= 1, 'the enable timer is cancelled')
    const cleanups = complete(e, complete(e, cut.jobs, t), t)
    assert.ok(cleanups.every((j) => j.plan?.steps.at(-1) === 'delete' && !j.plan.steps.includes('transfer_data')))
    complete(e, cleanups, t)
    assert.equal(e.state, 'cancelled')
  })

  test('when a hire is cancelled before anything was created, then it is cancelled at once', () => {
    const e = new FakeEngine()
    hire(e)
    const done = e.send(hr('employee.hire_cancelled', {}, { now: plusDays(T0, 1), plan: PLAN }))
    assert.equal(e.state, 'cancelled')
    assert.equal(done.jobs.length, 0)
    assert.equal(done.cancelled.length, 1)
  })

  test('when a hire is cancelled but the clean-up did not delete an account, then the rehire restores that account instead of provisioning another', () => {
    const e = new FakeEngine()
    toActive(e)
    const t = plusDays(T0, 30)
    let jobs = e.send(hr('employee.hire_cancelled', {}, { now: t, plan: PLAN, leaver: LEAVER })).jobs
    for (let i = 0; i < 5 && jobs.length > 0; i++) {
      const next: JobRequest[] = []
      for (const job of jobs) {
        const event: LifecycleEvent =
          job.action === 'verify'
            ? { type: 'account.verified', system: job.system, revoked: true, checks: [{ name: 'suspended', ok: true }], now: t }
            : // The plan asks every clean-up to delete (a cancelled hire); Google's evidence says it skipped the step.
              { type: 'account.revoked', system: job.system, phase: job.phase ?? 'cutoff', residual: [], ...(job.phase === 'cleanup' ? { deleted: job.system !== 'google' } : {}), now: t }
        next.push(...e.send(event).jobs)
      }
      jobs = next
    }
    assert.equal(e.state, 'cancelled')
    const rehired = e.send(
      hr('employee.rehired', { profile: PROFILE, startDate: '2025-04-10' }, { now: plusDays(t, 1), plan: PLAN, moments: { provisionAt: plusDays(t, 1), enableAt: plusDays(t, 1) }, leaver: LEAVER }),
    ).jobs
    assert.deepEqual(rehired.map((j) => `${j.system}:${j.action}`), ['google:restore', 'jira:provision', 'slack:provision'])
  })

  test('when an unknown employee is terminated, then the plan\'s systems are revoked by lookup', () => {
    const e = new FakeEngine()
    const t = plusDays(T0, 1)
    const jobs = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary', profile: PROFILE }, { now: t, plan: PLAN, moments: { terminationAt: t } })).jobs
    assert.equal(e.state, 'deprovisioning')
    assert.deepEqual(jobs.map((j) => [j.system, j.phase, j.accountId]), [
      ['google', 'cutoff', undefined],
      ['jira', 'cutoff', undefined],
      ['slack', 'cutoff', undefined],
    ])
  })
})

describe('joiner case', () => {
  test('when a provisioning fails for good, then day one enables the rest, does not re-run the failed job, and the joiner case stays open until an operator retry succeeds', () => {
    const e = new FakeEngine()
    const { provisionAt, enableAt } = hire(e)
    assert.equal(joinerCaseView(e.context)?.status, 'scheduled')
    const created = fire(e, 'provision').jobs
    assert.equal(joinerCaseView(e.context)?.status, 'open')
    const t = plusDays(provisionAt, 0.1)
    complete(e, created.filter((j) => j.system !== 'slack'), t)
    e.send({ type: 'account.failed', system: 'slack', action: 'provision', error: { kind: 'Permanent', message: 'invalid_email' }, final: true, now: t })
    assert.equal(e.state, 'ready', 'a system that failed for good does not hold the others back')

    const dayOne = fire(e, 'enable').jobs
    assert.equal(e.state, 'active')
    assert.deepEqual(dayOne.map((j) => `${j.system}:${j.action}`), ['google:enable', 'jira:enable'], 'day one does not re-run the failed provisioning')
    complete(e, dayOne, enableAt)
    const open = joinerCaseView(e.context)!
    assert.equal(open.status, 'open')
    assert.deepEqual(open.counts, { total: 3, ready: 2, failed: 1 })
    assert.equal(open.startAt, enableAt)
    assert.equal(open.systems.find((s) => s.system === 'slack')?.lastError?.message, 'invalid_email')

    // A mover changes nothing for the failed system either; only a person's retry does.
    const later = plusDays(enableAt, 1)
    const moved = e.send(hr('employee.updated', { changes: { title: 'Lead' } }, { now: later, plan: PLAN, leaver: LEAVER })).jobs
    assert.equal(moved.filter((j) => j.system === 'slack').length, 0)
    const retried = e.send({ type: 'operator.retry', system: 'slack', actor: 'ops-1', now: later }).jobs
    assert.deepEqual(retried.map((j) => [j.system, j.action, j.enabled]), [['slack', 'provision', true]])
    complete(e, retried, later)
    const closed = joinerCaseView(e.context)!
    assert.equal(closed.status, 'closed')
    assert.equal(closed.systems.find((s) => s.system === 'slack')?.provisionedAt, later)
  })

  test('when the hire is cancelled or the leaver case starts before onboarding finished, then the joiner case is cancelled; an adopted leaver has none', () => {
    const e = new FakeEngine()
    hire(e)
    e.send(hr('employee.hire_cancelled', {}, { now: plusDays(T0, 1), plan: PLAN, leaver: LEAVER }))
    assert.equal(joinerCaseView(e.context)?.status, 'cancelled')

    const adopted = new FakeEngine()
    adopted.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary', effectiveAt: T0 }, { now: T0, plan: PLAN, leaver: LEAVER, moments: { terminationAt: T0 } }))
    assert.equal(joinerCaseView(adopted.context), undefined)
  })
})

describe('the chart reads by name', () => {
  /** Guard names a transition's guard refers to, through and()/or()/not(). */
  function guardNames(guard: unknown): string[] {
    if (guard === undefined) return []
    if (typeof guard === 'string') return [guard]
    const g = guard as { type?: string; guards?: unknown[] }
    if (g.guards) return g.guards.flatMap(guardNames)
    return g.type === undefined ? ['<inline>'] : [g.type]
  }

  test('when the statechart is read, then every transition runs one named handler action and its guards are named ones', () => {
    const actions = new Set<string>()
    const guards = new Set<string>()
    const visit = (node: AnyStateNode): void => {
      const transitions = [...[...node.transitions.values()].flat(), ...(node.always ?? [])]
      for (const t of transitions) {
        assert.equal(t.actions.length, 1, `${node.id}: one action per transition`)
        for (const a of t.actions) actions.add(typeof a === 'string' ? a : (a as { type: string }).type)
        for (const g of guardNames(t.guard)) guards.add(g)
      }
      for (const child of Object.values(node.states)) visit(child)
    }
    visit(employeeLifecycleMachine.root)
    assert.deepEqual([...actions].sort(), Object.keys(HANDLERS).sort(), 'each handler is one named action, and every one is used')
    assert.deepEqual([...guards].filter((g) => !(g in GUARDS)), [], 'guards not in the named table')
    assert.deepEqual(Object.keys(GUARDS).filter((g) => !guards.has(g)), [], 'named guards the chart never uses')
  })
})
