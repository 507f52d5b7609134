/**
 * A worker that dies holding a job: the job is taken up by another process within a minute with
 * the default queue settings (heartbeats), not after `expireInSeconds` (300 s) plus the monitor
 * interval as before. And the other side of it: a job that is merely slow keeps its heartbeat
 * and is not retried while it runs.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { createTestDatabase } from '../helpers/db.ts'
import { runTenure, type Spawned } from '../helpers/process.ts'
import { startTestTenure, hrEvent } from '../helpers/tenure.ts'
import { signStandardWebhook } from '../../src/hr/index.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { SlackEmulator, slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import { cleanupQueue, createQueues, deadLetterQueue, HR_EVENT_QUEUE, NOTIFY_QUEUE, systemQueue, TARGET_RECONCILE_QUEUE, TIMER_QUEUE } from '../../src/jobs/queues.ts'
import { createExceptionQueues, EXCEPTION_TIMER_QUEUE } from '../../src/exceptions/queue.ts'

const SECRET = `whsec_${Buffer.from('worker-crash-secret-of-thirty-2!').toString('base64')}`
const today = () => new Date().toISOString().slice(0, 10)

test('when the process holding a job is killed with -9, then another process completes the job within 60 s with the default settings', async () => {
  const db = await createTestDatabase('workercrash')
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-worker-crash-'))
  const slack = new SlackEmulator()
  const slackUrl = await slack.start()
  const configFile = path.join(dir, 'tenure.yaml')
  // Queue timings are the defaults: what is measured is what an operator gets. The vendor
  // timeout is long, so the held call does not end by itself before the kill.
  await writeFile(
    configFile,
    JSON.stringify({
      server: { port: 0 },
      hr: { generic: { secrets: [SECRET] } },
      systems: { slack: { ...slackSandboxConfig(slackUrl), timeoutMs: 120_000 } },
      policy: { rules: [{ name: 'everyone', grant: { slack: {} } }] },
    }),
  )
  const env = { DATABASE_URL: db.url, TENURE_CONFIG: configFile, TENURE_DATA_DIR: dir, PORT: '0' }
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  const children: Spawned[] = []
  try {
    // The first process takes the joiner's Slack job; Slack holds the account creation.
    slack.kit.injectFault({ method: 'POST', pathIncludes: '/scim/v2/Users', hangMs: 120_000 })
    const first = runTenure(['serve'], env)
    children.push(first)
    const [, url] = await first.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 60_000)
    const body = Buffer.from(
      JSON.stringify({
        type: 'employee.hired',
        timestamp: new Date().toISOString(),
        data: { employeeId: 'W1', profile: { firstName: 'Wanda', lastName: 'Worker', workEmail: 'wanda.worker@example.com' }, startDate: today() },
      }),
    )
    const res = await fetch(`${url}/webhooks/hr/generic`, { method: 'POST', headers: { 'content-type': 'application/json', ...signStandardWebhook(body, SECRET, new Date(), 'msg_w1') }, body })
    assert.equal(res.status, 202)
    const heldBy = Date.now() + 60_000
    while (slack.kit.stats.faultsInjected === 0) {
      if (Date.now() > heldBy) assert.fail('the Slack account creation never reached the emulator')
      await new Promise((r) => setTimeout(r, 50))
    }
    const active = async () =>
      (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'system.slack' AND state = 'active'`)).rows[0]!.n
    assert.equal(await active(), 1, 'the first process holds the job')

    // A second process is up and idle; then the first one dies without a word.
    const second = runTenure(['worker'], env)
    children.push(second)
    await second.waitFor(/Tenure worker started/, 60_000)
    first.child.kill('SIGKILL')
    await first.exited
    const killedAt = Date.now()
    for (;;) {
      const user = slack.findUserByEmail('wanda.worker@example.com')
      const { rows } = await pool.query<{ state: string }>(`SELECT state FROM employees WHERE external_id = 'W1'`)
      // The job itself too: its outcome can reach the engine (employee active) a moment before
      // pg-boss records the job completed.
      const { rows: held } = await pool.query<{ state: string }>(`SELECT state FROM pgboss.job WHERE name = 'system.slack' ORDER BY created_on LIMIT 1`)
      if (user?.active && rows[0]?.state === 'active' && held[0]?.state === 'completed') break
      if (Date.now() - killedAt > 60_000)
        assert.fail(`the job held by the killed process was not completed within 60 s (employee ${rows[0]?.state}, Slack user ${user ? 'exists' : 'missing'}, job ${held[0]?.state})`)
      await new Promise((r) => setTimeout(r, 200))
    }
    const seconds = (Date.now() - killedAt) / 1000
    console.log(`job taken up and completed ${seconds.toFixed(1)} s after the kill`)
    const { rows: jobs } = await pool.query<{ state: string; retry_count: number; output: { message?: string } | null }>(
      `SELECT state, retry_count, output FROM pgboss.job WHERE name = 'system.slack' ORDER BY created_on`,
    )
    // The first Slack job is the account creation the killed process held.
    assert.equal(jobs[0]!.state, 'completed')
    assert.equal(jobs[0]!.retry_count, 1, 'retried once, after its heartbeat stopped')
    second.child.kill('SIGTERM')
    assert.equal((await second.exited).code, 0)
  } finally {
    for (const c of children) {
      if (c.child.exitCode === null && c.child.signalCode === null) {
        c.child.kill('SIGKILL')
        await c.exited
      }
    }
    await pool.end()
    await slack.close()
    await db.drop()
    await rm(dir, { recursive: true, force: true })
  }
})

test('when a job is slow but its process is alive, then it is not retried while it runs', async () => {
  const slack = new SlackEmulator()
  const slackUrl = await slack.start()
  // The shortest heartbeat pg-boss allows and a fast monitor: a job that stopped refreshing its
  // heartbeat would be retried after about 11 s; this one runs for 25 s.
  const t = await startTestTenure({
    queue: { heartbeatSeconds: 10, superviseIntervalSeconds: 1, monitorIntervalSeconds: 1 },
    systems: { slack: { ...slackSandboxConfig(slackUrl), timeoutMs: 120_000 } },
    policy: { rules: [{ name: 'everyone', grant: { slack: {} } }] },
  })
  try {
    slack.kit.injectFault({ method: 'POST', pathIncludes: '/scim/v2/Users', delayMs: 25_000 })
    const startedAt = Date.now()
    await applyHrEvent(
      t.running.engine,
      hrEvent('employee.hired', 'S1', { profile: { employeeId: 'S1', firstName: 'Sam', lastName: 'Slow', workEmail: 'sam.slow@example.com' }, startDate: today(), preHire: false }),
      { actor: SYSTEM_ACTOR, correlationId: 'slow-1' },
    )
    await t.until('the joiner to be active', async () => (await t.employeeState('S1')) === 'active', 60_000)
    assert.ok(Date.now() - startedAt >= 25_000, 'the Slack call was held')
    const { rows: jobs } = await t.running.pool.query<{ state: string; retry_count: number }>(
      `SELECT state, retry_count FROM pgboss.job WHERE name = 'system.slack' ORDER BY created_on LIMIT 1`,
    )
    assert.deepEqual(jobs, [{ state: 'completed', retry_count: 0 }], 'the held account creation was done on its first attempt, never retried')
    assert.equal(slack.kit.stats.faultsInjected, 1)
  } finally {
    await t.stop()
    await slack.close()
  }
})

test('when a database has queues from before heartbeats, then the next start gives them the configured heartbeat', async () => {
  const t = await startTestTenure({ systems: { sandbox: { enabled: true } } })
  try {
    const { boss, config } = t.running
    const worked = [systemQueue('sandbox'), cleanupQueue('sandbox'), HR_EVENT_QUEUE, TIMER_QUEUE, NOTIFY_QUEUE, TARGET_RECONCILE_QUEUE, EXCEPTION_TIMER_QUEUE]
    for (const name of worked) assert.equal((await boss.getQueue(name))?.heartbeatSeconds, config.queue.heartbeatSeconds, `${name} has a heartbeat`)
    for (const name of worked) await boss.updateQueue(name, { heartbeatSeconds: null })
    // What start does for an existing database.
    await createQueues(boss, config, ['sandbox'])
    await createExceptionQueues(boss, config)
    for (const name of worked) assert.equal((await boss.getQueue(name))?.heartbeatSeconds, config.queue.heartbeatSeconds, `${name} got its heartbeat back`)
    assert.equal((await boss.getQueue(deadLetterQueue('sandbox')))?.heartbeatSeconds ?? null, null, 'nobody works a dead-letter queue')
  } finally {
    await t.stop()
  }
})
