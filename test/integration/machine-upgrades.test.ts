/**
 * Upgrades of stored machines through the engine, on real PostgreSQL: snapshots written by today's
 * lifecycle machine (test/fixtures/snapshots/, kept as files) are stored as rows, then handled by
 * a worker of this build, by a newer worker (a test-only version 2 whose context gained a field)
 * and, once the newer worker wrote them, by an old worker again, which must refuse and leave the
 * row alone. Workers are off: each step is driven here, so nothing else moves the rows.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyEvent, applyHrEvent, SYSTEM_ACTOR, type EngineDeps } from '../../src/lifecycle/engine.ts'
import { timerWorker } from '../../src/jobs/timer-worker.ts'
import { testSystemWorker } from '../helpers/system-worker.ts'
import { queueFor, TIMER_QUEUE } from '../../src/jobs/queues.ts'
import { uuidV5 } from '../../src/util/ids.ts'
import { silentLogger } from '../../src/log.ts'
import { googleSandboxConfig } from '../../provisioners/google/emulator.ts'
import { slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import { jiraSandboxConfig } from '../../provisioners/jira/emulator.ts'
import { EMPLOYEE_LIFECYCLE_VERSION, type JobRequest, type TimerRequest } from '../../state-machines/employee-lifecycle.machine.ts'
import { EXCEPTION_APPROVAL_VERSION } from '../../state-machines/exception-approval.machine.ts'
import { exceptionsConfigSchema } from '../../src/exceptions/config.ts'
import { notifyConfigSchema } from '../../src/notify/index.ts'
import { requestException } from '../../src/exceptions/service.ts'
import { exceptionTimerWorker } from '../../src/exceptions/worker.ts'
import { EXCEPTION_TIMER_QUEUE } from '../../src/exceptions/queue.ts'
import { restoredContext } from '../../src/exceptions/approval.ts'
import { apiAs } from '../helpers/api.ts'
import { LIFECYCLE_VERSIONING, MachineVersionError, type MachineVersioning, type StoredSnapshot } from '../../state-machines/upgrades.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/snapshots')

interface Fixture {
  machineVersion: number
  state: string
  employeeId: string
  at: string
  pendingJobs: JobRequest[]
  snapshot: StoredSnapshot
}

/**
 * A fixture as employee `id`'s snapshot: the stored id is replaced everywhere (profile, job keys,
 * timer ids), so rows from several fixtures in one database never share a job id.
 */
function fixture(name: string, id: string): Fixture {
  const text = readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')
  const stored = (JSON.parse(text) as Fixture).employeeId
  return JSON.parse(text.replaceAll(stored, id)) as Fixture
}

/** The next release in a test: version +1, whose step adds `context.notes`. */
const NEXT: MachineVersioning = {
  machine: 'employeeLifecycle',
  current: LIFECYCLE_VERSIONING.current + 1,
  steps: [...LIFECYCLE_VERSIONING.steps, { from: LIFECYCLE_VERSIONING.current, change: 'context.notes added', up: (s) => ({ ...s, context: { ...s.context, notes: ['upgraded'] } }) }],
}

interface Row {
  snapshot: StoredSnapshot
  machine_version: number
  version: number
  state: string
}

describe('upgrades of stored machines', () => {
  let t: TestTenure
  const unreachable = 'http://127.0.0.1:9'

  before(async () => {
    t = await startTestTenure({
      systems: { sandbox: { enabled: true }, google: googleSandboxConfig(unreachable), slack: slackSandboxConfig(unreachable), jira: jiraSandboxConfig(unreachable) },
      policy: { rules: [{ name: 'everyone', grant: { google: { groups: ['all@example.com'] }, slack: { channels: ['general'] }, jira: { projects: ['ENG'] } } }] },
      workers: { enabled: false },
    })
  })
  after(async () => {
    await t.stop()
  })

  /** Store a fixture as an employee row written by machine version `machineVersion`. */
  async function store(f: Fixture, externalId: string, machineVersion = f.machineVersion): Promise<string> {
    const id = randomUUID()
    await t.running.pool.query(
      `INSERT INTO employees (id, source, external_id, account_key, snapshot, state, machine_version) VALUES ($1, 'generic', $2, $2, $3, $4, $5)`,
      [id, externalId, JSON.stringify(f.snapshot), f.state, machineVersion],
    )
    return id
  }

  const row = async (id: string): Promise<Row> =>
    (await t.running.pool.query<Row>('SELECT snapshot, machine_version, version, state FROM employees WHERE id = $1', [id])).rows[0]!
  const audits = async (id: string): Promise<number> =>
    (await sealedQuery<{ n: number }>(t.running.pool, `SELECT count(*)::int AS n FROM audit_events WHERE employee_id = $1`, [id])).rows[0]!.n
  const newer = (): EngineDeps => ({ ...t.running.engine, lifecycleVersioning: NEXT })

  test('when this build handles an event for a snapshot stored by the machine of today, then it restores it, moves on and stores its version', async () => {
    const f = fixture('lifecycle-deprovisioning-v1', 'E-201')
    const id = await store(f, 'E-201')
    const jira = f.pendingJobs.find((j) => j.system === 'jira' && j.action === 'deprovision')
    assert.ok(jira, 'the fixture has a Jira cut-off in flight')
    // The cut-off that was in flight when the snapshot was stored comes back.
    const result = await applyEvent(t.running.engine, id, { type: 'account.revoked', system: 'jira', phase: 'cutoff', residual: [], now: f.at }, { actor: SYSTEM_ACTOR, correlationId: 'upgrade-1' })
    assert.equal(result.from, 'deprovisioning')
    assert.equal(result.jobsEnqueued, 1, "Jira's verification is queued")
    const after = await row(id)
    assert.equal(after.machine_version, EMPLOYEE_LIFECYCLE_VERSION)
    assert.equal((after.snapshot.context as { systems: Record<string, { status: string }> }).systems['jira']?.status, 'verifying')
  })

  test('when a newer worker upgrades a stored snapshot and an old worker then gets an event for it, then the old worker refuses and the row keeps what the newer one wrote', async () => {
    const f = fixture('lifecycle-active-v1', 'E-202')
    const id = await store(f, 'E-202')

    // The newer worker: reads version 1, upgrades, terminates, writes version 2 with the new field.
    const moved = await applyHrEvent(newer(), hrEvent('employee.terminated', 'E-202', { effectiveAt: new Date().toISOString(), immediate: true, voluntary: 'involuntary' }), { actor: SYSTEM_ACTOR, correlationId: 'upgrade-2' })
    assert.equal(moved.from, 'active')
    assert.equal(moved.to, 'deprovisioning')
    assert.equal(moved.jobsEnqueued, 3, 'a cut-off per system')
    const written = await row(id)
    assert.equal(written.machine_version, NEXT.current)
    assert.deepEqual(written.snapshot.context.notes, ['upgraded'], 'the field the upgrade step added is persisted')

    // An old worker (this build) gets the next event: refused before anything is written.
    const auditsBefore = await audits(id)
    await assert.rejects(
      applyEvent(t.running.engine, id, { type: 'account.revoked', system: 'slack', phase: 'cutoff', residual: [], now: new Date().toISOString() }, { actor: SYSTEM_ACTOR, correlationId: 'upgrade-3' }),
      (err: unknown) => err instanceof MachineVersionError && err.problem === 'newer' && err.stored === NEXT.current && err.current === EMPLOYEE_LIFECYCLE_VERSION,
    )
    assert.deepEqual(await row(id), written, 'snapshot, version and machine version are untouched')
    assert.equal(await audits(id), auditsBefore)

    // The same event on the newer worker goes through, and keeps the field.
    const revoked = await applyEvent(newer(), id, { type: 'account.revoked', system: 'slack', phase: 'cutoff', residual: [], now: new Date().toISOString() }, { actor: SYSTEM_ACTOR, correlationId: 'upgrade-4' })
    assert.equal(revoked.jobsEnqueued, 1, "Slack's verification is queued")
    const later = await row(id)
    assert.equal(later.machine_version, NEXT.current)
    assert.deepEqual(later.snapshot.context.notes, ['upgraded'])
    assert.equal(later.version, written.version + 1)
  })

  test('when an old worker fires a timer for an employee a newer machine wrote, then the timer is sent again for later instead of running out of retries', async () => {
    const f = fixture('lifecycle-prehire-v1', 'E-203')
    const id = await store(f, 'E-203', NEXT.current)
    const timer = Object.values(f.snapshot.context.timers as Record<string, TimerRequest>).find((x) => x.timer === 'provision')
    assert.ok(timer, 'the fixture has a provision timer')
    const jobId = randomUUID()
    const handled = await timerWorker(t.running.engine).handler(
      { correlationId: 'upgrade-5', employeeId: id, timerId: timer.timerId, timer: 'provision' },
      { jobId, queue: TIMER_QUEUE, attempt: 1, correlationId: 'upgrade-5', log: silentLogger, signal: new AbortController().signal },
    )
    assert.deepEqual(handled, { deferred: 'newer_machine_version' })
    const again = await t.running.boss.getJobById<{ timerId: string }>(TIMER_QUEUE, uuidV5(`timer:${timer.timerId}:after:${jobId}`))
    assert.equal(again?.data.timerId, timer.timerId)
    assert.ok(again && again.startAfter.getTime() > Date.now() + 10_000, 'deferred, not immediate')
    assert.equal((await row(id)).version, 0, 'the row is untouched')

    // The newer worker takes the deferred timer: upgraded, provisioning starts.
    const fired = await timerWorker(newer()).handler(
      { correlationId: 'upgrade-6', employeeId: id, timerId: timer.timerId, timer: 'provision' },
      { jobId: randomUUID(), queue: TIMER_QUEUE, attempt: 1, correlationId: 'upgrade-6', log: silentLogger, signal: new AbortController().signal },
    )
    assert.deepEqual(fired, { from: 'preHire', to: 'provisioning', jobs: 3 })
  })

  test('when an old worker provisions for an employee a newer machine wrote, then the job is handed back for later without spending an attempt', async () => {
    const f = fixture('lifecycle-prehire-v1', 'E-205')
    const id = await store(f, 'E-205', NEXT.current)
    const worker = testSystemWorker(t, 'sandbox')
    const request: JobRequest = { key: 'generic:E-205:sandbox:provision:g1', system: 'sandbox', action: 'provision', enabled: false, grant: { account: true, groups: ['staff'], licences: [], channels: [], projects: [], roles: [] } }
    const data = {
      correlationId: 'upgrade-8',
      employeeId: id,
      externalId: 'E-205',
      accountKey: 'E-205',
      source: 'generic' as const,
      generation: 1,
      request,
      profile: { employeeId: 'E-205', firstName: 'Ada', lastName: 'Lovelace' },
    }
    const handled = await worker.handler(data as never, { jobId: randomUUID(), queue: queueFor(request), attempt: 1, correlationId: 'upgrade-8', log: silentLogger, signal: new AbortController().signal })
    assert.deepEqual(handled, { outcome: 'newer_machine_version' })
    const again = await t.running.boss.getJobById<{ rateLimitedCount: number }>(queueFor(request), uuidV5(`job:${request.key}:rl1`))
    assert.equal(again?.data.rateLimitedCount, 1, 'the same job, handed back')
    assert.ok(again && again.startAfter.getTime() > Date.now() + 10_000, 'for later, not at once')
    assert.equal((await row(id)).version, 0, 'the row is untouched')
  })

  test('when pg-boss ended the attempt while its handler still ran (expired, or failed after a missed heartbeat), then the handler does not hand the job back: the retry pg-boss makes is the one chain that goes on', async () => {
    const f = fixture('lifecycle-prehire-v1', 'E-206')
    const id = await store(f, 'E-206', NEXT.current)
    const worker = testSystemWorker(t, 'sandbox')
    const request: JobRequest = { key: 'generic:E-206:sandbox:provision:g1', system: 'sandbox', action: 'provision', enabled: false, grant: { account: true, groups: ['staff'], licences: [], channels: [], projects: [], roles: [] } }
    const data = {
      correlationId: 'upgrade-8b',
      employeeId: id,
      externalId: 'E-206',
      accountKey: 'E-206',
      source: 'generic' as const,
      generation: 1,
      request,
      profile: { employeeId: 'E-206', firstName: 'Ada', lastName: 'Lovelace' },
    }
    // A real job in a queue no worker serves: taken (attempt 1), then failed from outside, as
    // pg-boss's monitor does to an attempt that outlived its expiry. pg-boss will retry it.
    const queue = 'test.superseded-attempt'
    await t.running.boss.createQueue(queue)
    const jobId = await t.running.boss.send(queue, { any: 1 })
    const [taken] = await t.running.boss.fetch(queue)
    assert.equal(taken?.id, jobId)
    await t.running.boss.fail(queue, jobId!, { message: 'expired while its handler ran' })
    const ctx = (id: string) => ({ jobId: id, queue, attempt: 1, correlationId: 'upgrade-8b', log: silentLogger, signal: new AbortController().signal })
    const handled = await worker.handler(data as never, ctx(jobId!))
    assert.deepEqual(handled, { outcome: 'newer_machine_version' })
    const handedBack = () => t.running.boss.getJobById(queueFor(request), uuidV5(`job:${request.key}:rl1`))
    assert.equal(await handedBack(), null, 'no second chain: the superseded attempt did not hand the job back')

    // The attempt pg-boss retries next is the current one, and it does hand the job back.
    const [retried] = await t.running.boss.fetch(queue)
    assert.equal(retried?.id, jobId, 'pg-boss retried the job itself')
    await worker.handler(data as never, { ...ctx(jobId!), attempt: 2 })
    assert.ok(await handedBack(), 'the current attempt hands the job back')
  })

  test('when an old serve gets a decision on an exception a newer approval machine wrote, then it answers 503 newer_machine_version, defers its timer and leaves the row alone', async () => {
    const f = fixture('lifecycle-active-v1', 'E-204')
    const employeeId = await store(f, 'E-204')
    const deps = { engine: t.running.engine, config: exceptionsConfigSchema.parse({}), notify: () => notifyConfigSchema.parse({ log: true }) }
    const requester = { type: 'api_token' as const, id: 'tok-operator', name: 'it-ops', roles: ['operator' as const] }
    const { record } = await requestException(
      deps,
      requester,
      { kind: 'retain_account', employeeId, endsAt: new Date(Date.now() + 86_400_000).toISOString(), reason: 'keep the mailbox for the audit period' },
      { correlationId: 'upgrade-7' },
    )
    assert.equal(record.machineVersion, EXCEPTION_APPROVAL_VERSION)
    await t.running.pool.query('UPDATE exceptions SET machine_version = $2 WHERE id = $1', [record.id, EXCEPTION_APPROVAL_VERSION + 1])
    const stored = (await t.running.pool.query('SELECT snapshot, status, version FROM exceptions WHERE id = $1', [record.id])).rows[0]

    const api = await apiAs(t, ['approver'])
    const approve = () => api<{ error?: { code: string }; status?: string }>('approver', `/api/v1/exceptions/${record.id}/approve`, { method: 'POST', body: JSON.stringify({ reason: 'the audit needs the mailbox' }) })
    const refused = await approve()
    assert.equal(refused.status, 503)
    assert.equal(refused.body.error?.code, 'newer_machine_version')
    assert.deepEqual((await t.running.pool.query('SELECT snapshot, status, version FROM exceptions WHERE id = $1', [record.id])).rows[0], stored, 'nothing was written')

    // Its expiry timer fires on an old worker: sent again for later, not run out of retries.
    const due = restoredContext(record.snapshot).context.timers['answer_due']
    assert.ok(due, 'the request has an answer_due timer')
    const jobId = randomUUID()
    const fired = await exceptionTimerWorker(deps).handler(
      { correlationId: 'upgrade-9', exceptionId: record.id, timerId: due.timerId, timer: 'answer_due' },
      { jobId, queue: EXCEPTION_TIMER_QUEUE, attempt: 1, correlationId: 'upgrade-9', log: silentLogger, signal: new AbortController().signal },
    )
    assert.deepEqual(fired, { outcome: 'deferred_newer_machine_version' })
    const again = await t.running.boss.getJobById<{ timerId: string }>(EXCEPTION_TIMER_QUEUE, uuidV5(`exception-timer:${due.timerId}:after:${jobId}`))
    assert.equal(again?.data.timerId, due.timerId)
    assert.deepEqual((await t.running.pool.query('SELECT snapshot, status, version FROM exceptions WHERE id = $1', [record.id])).rows[0], stored, 'still nothing written')

    // Back on a process that knows the version (here: the row as this build wrote it), the same call goes through.
    await t.running.pool.query('UPDATE exceptions SET machine_version = $2 WHERE id = $1', [record.id, EXCEPTION_APPROVAL_VERSION])
    const approved = await approve()
    assert.equal(approved.status, 200)
    assert.notEqual(approved.body.status, 'requested')
  })
})
