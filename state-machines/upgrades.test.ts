import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createActor } from 'xstate'
import { EMPLOYEE_LIFECYCLE_VERSION, type JobRequest, type LifecycleEvent } from './employee-lifecycle.machine.ts'
import { exceptionApprovalMachine } from './exception-approval.machine.ts'
import { FakeEngine, PROFILE, emptyCaptured, hr, plusDays, providedMachine, type LifecycleSnapshot } from './test-support.ts'
import {
  APPROVAL_VERSIONING,
  LIFECYCLE_VERSIONING,
  MachineVersionError,
  assertUpgradeChain,
  upgradeSnapshot,
  type MachineVersioning,
  type StoredSnapshot,
} from './upgrades.ts'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/snapshots')

interface Fixture {
  machine: string
  machineVersion: number
  state: string
  at: string
  pendingJobs?: JobRequest[]
  snapshot: StoredSnapshot
}

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Fixture
}

const LIFECYCLE_FIXTURES = ['lifecycle-prehire-v1', 'lifecycle-active-v1', 'lifecycle-deprovisioning-v1', 'lifecycle-offboarded-v1']

/**
 * A test-only next version of the lifecycle machine: its context gains `notes` (a field the
 * stored snapshots do not have) and `seenHrEventIds` is renamed `seenEventIds` and back, as a
 * later release that renames a field would do (v2 → v3), so both kinds of step run in a chain.
 */
const NEXT: MachineVersioning = {
  machine: 'employeeLifecycle',
  current: LIFECYCLE_VERSIONING.current + 2,
  steps: [
    ...LIFECYCLE_VERSIONING.steps,
    {
      from: LIFECYCLE_VERSIONING.current,
      change: 'context.notes added; seenHrEventIds renamed seenEventIds',
      up: (s) => {
        const { seenHrEventIds, ...rest } = s.context
        return { ...s, context: { ...rest, seenEventIds: seenHrEventIds, notes: [] } }
      },
    },
    {
      from: LIFECYCLE_VERSIONING.current + 1,
      change: 'seenEventIds renamed back to seenHrEventIds (this machine reads it)',
      up: (s) => {
        const { seenEventIds, ...rest } = s.context
        return { ...s, context: { ...rest, seenHrEventIds: seenEventIds } }
      },
    },
  ],
}

/** Answers a job with success, as a worker would. */
function outcome(job: JobRequest, now: string): LifecycleEvent {
  switch (job.action) {
    case 'provision':
    case 'restore':
      return { type: 'account.provisioned', system: job.system, accountId: job.accountId ?? `${job.system}-1`, now }
    case 'deprovision':
      return { type: 'account.revoked', system: job.system, phase: job.phase ?? 'cutoff', residual: [], now }
    case 'verify':
      return { type: 'account.verified', system: job.system, revoked: true, checks: [{ name: 'suspended', ok: true }], now }
    default:
      return { type: 'account.updated', system: job.system, now }
  }
}

/** A FakeEngine that starts from a stored snapshot instead of a new employee. */
function engineFrom(persisted: unknown): FakeEngine {
  const e = new FakeEngine()
  e.persisted = persisted
  return e
}

/**
 * The next event each fixture's employee would see, and the state it must lead to. HR events get
 * fresh ids: the fixtures remember the ids of the events that built them (duplicate detection).
 */
function nextStep(name: string, f: Fixture, e: FakeEngine): string {
  switch (name) {
    case 'lifecycle-prehire-v1': {
      const timer = e.timer('provision')
      assert.ok(timer, 'the stored provision timer is there')
      const jobs = e.send({ type: 'timer.fired', timerId: timer.timerId, timer: 'provision', now: timer.at }).jobs
      assert.deepEqual(jobs.map((j) => j.action), ['provision', 'provision', 'provision'])
      return 'provisioning'
    }
    case 'lifecycle-active-v1': {
      const jobs = e.send(hr('employee.terminated', { immediate: true, voluntary: 'involuntary', eventId: randomUUID() }, { now: plusDays(f.at, 1), plan: e.context.plan, moments: { terminationAt: plusDays(f.at, 1) } })).jobs
      assert.deepEqual(jobs.map((j) => `${j.system}:${j.phase}`).sort(), ['google:cutoff', 'jira:cutoff', 'slack:cutoff'])
      return 'deprovisioning'
    }
    case 'lifecycle-deprovisioning-v1': {
      // The jobs that were in flight when the older machine stored the snapshot come back.
      let pending = f.pendingJobs ?? []
      assert.equal(pending.length, 3)
      for (let i = 0; i < 10 && pending.length > 0; i++) pending = pending.flatMap((j) => e.send(outcome(j, f.at)).jobs)
      assert.equal(pending.length, 0)
      return 'offboarded'
    }
    case 'lifecycle-offboarded-v1': {
      const t = plusDays(f.at, 60)
      e.send(hr('employee.rehired', { profile: PROFILE, startDate: plusDays(t, 5).slice(0, 10), eventId: randomUUID() }, { now: t, plan: e.context.plan, moments: { provisionAt: plusDays(t, 2), enableAt: plusDays(t, 5) } }))
      assert.equal(e.context.generation, 2)
      return 'preHire'
    }
    default:
      throw new Error(`no next step for ${name}`)
  }
}

describe('snapshot upgrades', () => {
  test('when the fixtures were written, then they carry the version of the machine that wrote them and their state', () => {
    for (const name of LIFECYCLE_FIXTURES) {
      const f = fixture(name)
      assert.equal(f.machineVersion, 1, name)
      assert.equal(String(f.snapshot.value), f.state, name)
    }
  })

  test('when a snapshot carries the current version, then it is restored as stored and no step runs', () => {
    const f = fixture('lifecycle-active-v1')
    const up = upgradeSnapshot(LIFECYCLE_VERSIONING, f.snapshot, LIFECYCLE_VERSIONING.current)
    assert.equal(up.snapshot, f.snapshot)
    assert.deepEqual(up.applied, [])
  })

  for (const name of LIFECYCLE_FIXTURES) {
    test(`when ${name} is restored by this build, then it reaches the current version and takes its next event`, () => {
      const f = fixture(name)
      const up = upgradeSnapshot(LIFECYCLE_VERSIONING, f.snapshot, f.machineVersion)
      assert.equal(up.to, EMPLOYEE_LIFECYCLE_VERSION)
      const e = engineFrom(up.snapshot)
      assert.equal(e.state, f.state)
      const expected = nextStep(name, f, e)
      assert.equal(e.state, expected)
    })

    test(`when ${name} is restored after a change to the machine's context, then the steps run in order, the machine takes its next event and keeps the new field`, () => {
      const f = fixture(name)
      const before = JSON.stringify(f.snapshot)
      const up = upgradeSnapshot(NEXT, f.snapshot, f.machineVersion)
      assert.equal(JSON.stringify(f.snapshot), before, 'the stored snapshot is not changed in place')
      assert.equal(up.from, 1)
      assert.equal(up.to, NEXT.current)
      assert.equal(up.applied.length, NEXT.current - 1)
      assert.deepEqual(up.snapshot.context.notes, [])
      assert.equal(up.snapshot.context.seenEventIds, undefined)
      assert.deepEqual(up.snapshot.context.seenHrEventIds, f.snapshot.context.seenHrEventIds)
      const e = engineFrom(up.snapshot)
      const expected = nextStep(name, f, e)
      assert.equal(e.state, expected)
      assert.deepEqual((e.persisted as StoredSnapshot).context.notes, [], 'the field the step added survives restore, send and persist')
    })
  }

  test('when a snapshot was written by a newer machine, then it is refused and left as it was', () => {
    const f = fixture('lifecycle-deprovisioning-v1')
    const before = JSON.stringify(f.snapshot)
    assert.throws(
      () => upgradeSnapshot(LIFECYCLE_VERSIONING, f.snapshot, LIFECYCLE_VERSIONING.current + 1),
      (err: unknown) => err instanceof MachineVersionError && err.problem === 'newer' && err.stored === LIFECYCLE_VERSIONING.current + 1 && /newer machine/.test(err.message),
    )
    assert.equal(JSON.stringify(f.snapshot), before)
  })

  test('when the stored version or snapshot is not one any machine wrote, then it is refused as invalid', () => {
    const f = fixture('lifecycle-active-v1')
    for (const version of [null, undefined, 0, 1.5, '1']) {
      assert.throws(() => upgradeSnapshot(LIFECYCLE_VERSIONING, f.snapshot, version), (err: unknown) => err instanceof MachineVersionError && err.problem === 'invalid', String(version))
    }
    for (const snapshot of [null, [], { value: 'active' }, { context: {} }]) {
      assert.throws(() => upgradeSnapshot(NEXT, snapshot, 1), (err: unknown) => err instanceof MachineVersionError && err.problem === 'invalid')
    }
    const broken: MachineVersioning = { ...NEXT, steps: [{ from: 1, change: 'broken', up: () => ({ value: 'x' }) as unknown as StoredSnapshot }, NEXT.steps[1]!] }
    assert.throws(() => upgradeSnapshot(broken, f.snapshot, 1), (err: unknown) => err instanceof MachineVersionError && err.problem === 'invalid')
  })

  test('when a version bump has no step, then the chain check and the upgrade both say which step is missing', () => {
    const gap: MachineVersioning = { machine: 'employeeLifecycle', current: 3, steps: [NEXT.steps[1]!] }
    assert.throws(() => assertUpgradeChain(gap), /from version 1/)
    assert.throws(() => upgradeSnapshot(gap, fixture('lifecycle-active-v1').snapshot, 1), (err: unknown) => err instanceof MachineVersionError && err.problem === 'no_step')
    assert.throws(() => assertUpgradeChain({ ...NEXT, steps: [...NEXT.steps, NEXT.steps[0]!] }), /2 upgrade steps from version 1/)
    assert.throws(() => assertUpgradeChain({ ...NEXT, steps: [...NEXT.steps, { from: 3, change: 'too far', up: (s) => s }] }), /outside/)
    assertUpgradeChain(NEXT)
    assertUpgradeChain(LIFECYCLE_VERSIONING)
    assertUpgradeChain(APPROVAL_VERSIONING)
  })

  test('when the stored approval fixture is restored by this build, then the approval machine takes its next event', () => {
    const f = fixture('approval-requested-v1')
    const up = upgradeSnapshot(APPROVAL_VERSIONING, f.snapshot, f.machineVersion)
    const into = { records: [] as unknown[] }
    const machine = exceptionApprovalMachine.provide({
      actions: { record: (_, p) => void into.records.push(p), notify: () => {}, schedule: () => {}, cancelTimer: () => {}, forward: () => {} },
    })
    const actor = createActor(machine, { input: { exceptionId: '00000000-0000-4000-8000-0000000000e1' }, snapshot: up.snapshot as never })
    actor.start()
    actor.send({ type: 'exception.approve', actor: { id: 'approver@example.com', roles: ['approver'] }, now: f.at })
    assert.notEqual(String(actor.getSnapshot().value), 'requested')
    actor.stop()
  })

  test('when a restored snapshot is persisted again, then it is a snapshot of this build that restores to the same state', () => {
    const f = fixture('lifecycle-deprovisioning-v1')
    const actor = createActor(providedMachine(emptyCaptured()), { snapshot: f.snapshot as unknown as LifecycleSnapshot, input: { employeeId: 'E-100', source: 'generic' } })
    actor.start()
    const again = JSON.parse(JSON.stringify(actor.getPersistedSnapshot())) as StoredSnapshot
    actor.stop()
    assert.deepEqual(again, f.snapshot)
  })
})
