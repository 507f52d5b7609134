/**
 * `tenure serve`, as a newcomer runs it, applies the work in a worker process of its own
 * (src/worker-process.ts, docs/operations.md "Process model"): the HTTP process only
 * acknowledges. It stops while there is no work and starts again when there is. The real
 * command, a real PostgreSQL, real signals.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, readFileSync } from 'node:fs'
import { PgBoss } from 'pg-boss'
import { getPriority } from 'node:os'
import { SERVE_HEAP_FLAGS, WORKER_HEAP_FLAGS } from '../../src/jobs/heap.ts'
import { prepareServe, type Spawned } from '../helpers/process.ts'
import { signStandardWebhook } from '../../src/hr/index.ts'
import { isAlive as alive } from '../../src/util/process.ts'

const SECRET = `whsec_${Buffer.from('worker-process-test-secret-32!!!').toString('base64')}`

/** The worker processes a serve has reported ready so far, in order (its JSON log lines). */
function workerPids(run: Spawned): number[] {
  const pids: number[] = []
  for (const line of (run.stdout() + run.stderr()).split('\n')) {
    if (!line.includes('"worker process ready"')) continue
    pids.push((JSON.parse(line) as { pid: number }).pid)
  }
  return pids
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

test('when tenure serve runs, then the work is applied in a worker process it supervises: restarted when killed, stopped with it, gone when the parent is killed with -9', async () => {
  const setup = await prepareServe('workerproc', SECRET)
  const { pool } = setup
  const hire = async (url: string, id: string) => assert.equal(await setup.hire(url, id, { firstName: 'Worker', lastName: id }, `msg_${id}`), 202)
  const active = async (id: string) => (await pool.query(`SELECT 1 FROM employees WHERE external_id = $1 AND state = 'active'`, [id])).rowCount === 1
  try {
    const serve = setup.serve()
    const [, url] = await serve.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 120_000)
    const [first] = workerPids(serve)
    assert.ok(first && first !== serve.child.pid && alive(first), 'a worker process of its own runs beside the HTTP process')
    assert.equal(getPriority(first), Math.min(19, getPriority(serve.child.pid!) + 5), 'the worker process runs workers.processNice (5) nicer')
    const cmdline = readFileSync(`/proc/${first}/cmdline`, 'utf8').split('\0')
    for (const flag of WORKER_HEAP_FLAGS) assert.ok(cmdline.includes(flag), `the worker process runs with ${flag} (src/jobs/heap.ts): ${cmdline.join(' ')}`)
    // bin/tenure.js replaced itself (same pid) with a node that has the HTTP process's heap flags; the worker process does not inherit them.
    const serveCmdline = readFileSync(`/proc/${serve.child.pid}/cmdline`, 'utf8').split('\0')
    for (const flag of SERVE_HEAP_FLAGS) assert.ok(serveCmdline.includes(flag), `the HTTP process runs with ${flag} (src/jobs/heap.ts): ${serveCmdline.join(' ')}`)
    assert.equal(cmdline.filter((a) => a.startsWith('--max-semi-space-size')).join(' '), WORKER_HEAP_FLAGS[0], 'the worker process has its own young generation size, not the HTTP process’s')
    const ready = (await (await fetch(`${url}/readyz`)).json()) as { checks: Array<{ name: string; ok: boolean }> }
    assert.deepEqual(ready.checks.find((c) => c.name === 'workers'), { name: 'workers', ok: true })

    // End to end: the webhook is acknowledged by serve, the joiner is applied by the worker process.
    await hire(url!, 'WP1')
    await waitUntil('the first joiner to become active', () => active('WP1'))
    // The worker's metrics are in serve's /metrics (job counters exist only where jobs run).
    assert.match(await (await fetch(`${url}/metrics`)).text(), /tenure_jobs_total\{[^}]*outcome="completed"/)

    // Killed, it is restarted, and the work resumes.
    process.kill(first, 'SIGKILL')
    await waitUntil('a second worker process', () => workerPids(serve).length >= 2)
    const second = workerPids(serve)[1]!
    assert.notEqual(second, first)
    assert.ok(!alive(first))
    await waitUntil('/readyz to answer 200 again', async () => (await fetch(`${url}/readyz`)).status === 200)
    await hire(url!, 'WP2')
    await waitUntil('the second joiner to become active', () => active('WP2'))

    // Stopping serve stops its worker process.
    serve.child.kill('SIGTERM')
    assert.equal((await serve.exited).code, 0)
    assert.ok(!alive(second), 'the worker process stopped with serve')

    // kill -9 of serve: the worker process notices and goes too (no orphan).
    const again = setup.serve()
    await again.waitFor(/Tenure is listening on/, 120_000)
    const [third] = workerPids(again)
    assert.ok(third && alive(third))
    again.child.kill('SIGKILL')
    await again.exited
    await waitUntil('the orphaned worker process to exit', () => !alive(third), 15_000)
  } finally {
    await setup.cleanup()
  }
})

/** The lines of a serve's JSON log with this message, parsed. */
function logLines(run: Spawned, msg: string): Array<Record<string, unknown>> {
  return (run.stdout() + run.stderr())
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}`))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

test('when tenure serve sits idle past workers.idleStopSeconds, then its worker process stops (serve stays ready) and starts again for a delivery and for a job that comes due', async () => {
  const setup = await prepareServe('workerondemand', SECRET)
  appendFileSync(setup.env.TENURE_CONFIG!, 'workers: { idleStopSeconds: 2, cleanupSettleSeconds: 0 }\n')
  const { pool } = setup
  const state = async (id: string) => (await pool.query<{ state: string }>(`SELECT state FROM employees WHERE external_id = $1`, [id])).rows[0]?.state
  const readyz = async (url: string) => {
    const res = await fetch(`${url}/readyz`)
    return { status: res.status, workers: ((await res.json()) as { checks: Array<{ name: string; ok: boolean; detail?: string }> }).checks.find((c) => c.name === 'workers') }
  }
  let boss: PgBoss | undefined
  try {
    const serve = setup.serve()
    const [, url] = await serve.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 120_000)
    const idleStops = () => logLines(serve, 'worker process stopped for idleness').length
    const starts = () => logLines(serve, 'worker process starting on demand').map((l) => l.reason)
    assert.equal(await setup.hire(url!, 'OD1', { firstName: 'On', lastName: 'Demand' }, 'msg_OD1'), 202)
    await waitUntil('the joiner to become active', async () => (await state('OD1')) === 'active')

    // Idle: the worker process goes, serve stays ready and says why. The housekeeping cron queues
    // every minute (here a sweep every 0.5 s) does not count as work: it would keep it up forever.
    const [first] = workerPids(serve)
    boss = new PgBoss({ connectionString: setup.env.DATABASE_URL, supervise: false, schedule: false })
    await boss.start()
    const sweeps = setInterval(() => void boss!.send('offboarding.expire', {}).catch(() => undefined), 500)
    try {
      await waitUntil('the worker process to stop for idleness', () => idleStops() >= 1 && !alive(first!), 60_000)
    } finally {
      clearInterval(sweeps)
    }
    assert.deepEqual(await readyz(url!), { status: 200, workers: { name: 'workers', ok: true, detail: 'idle: starts on demand' } })
    assert.equal(logLines(serve, 'worker process exited; restarting it').length, 0, 'an idle stop is not a crash')

    // A delivery starts it at once, and the leaver is cut off.
    const body = Buffer.from(JSON.stringify({ type: 'employee.terminated', timestamp: new Date().toISOString(), data: { employeeId: 'OD1', effectiveAt: new Date().toISOString(), voluntary: 'involuntary', immediate: true } }))
    const res = await fetch(`${url}/webhooks/hr/generic`, { method: 'POST', headers: { 'content-type': 'application/json', ...signStandardWebhook(body, SECRET, new Date(), 'msg_OD1_leaves') }, body })
    assert.equal(res.status, 202)
    await waitUntil('the leaver to be off-boarded', async () => (await state('OD1')) === 'offboarded', 60_000)
    assert.equal(starts()[0], 'delivery', 'the delivery started it')
    const second = workerPids(serve).at(-1)!
    assert.notEqual(second, first)

    // Idle again; then a job queued for later (a timer, a retry) starts it when it comes due.
    await waitUntil('the second worker process to stop for idleness', () => idleStops() >= 2 && !alive(second), 60_000)
    const before = starts().length
    // The housekeeping cron queues every minute is worked by serve itself meanwhile: it starts nothing.
    const sweep = await boss.send('offboarding.expire', {})
    assert.ok(sweep)
    await waitUntil('serve to run the expiry sweep', async () => (await boss!.getJobById('offboarding.expire', sweep))?.state === 'completed', 30_000)
    assert.equal(starts().length, before, 'the minute-by-minute housekeeping does not start the worker process')
    const id = await boss.send('diagnostics.probe', { note: 'due later' }, { startAfter: 3 })
    assert.ok(id)
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal(starts().length, before, 'a job not yet due starts nothing')
    await waitUntil('the due job to be run', async () => (await boss!.getJobById('diagnostics.probe', id))?.state === 'completed', 60_000)
    assert.equal(starts()[before], 'due jobs', 'the due job started it')
    assert.equal((await readyz(url!)).status, 200)
    // Three worker processes ran the one configuration serve started with: one config.loaded entry.
    const loaded = await pool.query(`SELECT 1 FROM (SELECT action FROM audit_events UNION ALL SELECT action FROM audit_pending) a WHERE action = 'config.loaded'`)
    assert.equal(loaded.rowCount, 1, 'a worker process that starts on demand does not record the configuration again')

    serve.child.kill('SIGTERM')
    assert.equal((await serve.exited).code, 0)
  } finally {
    await boss?.stop({ graceful: false, close: true }).catch(() => undefined)
    await setup.cleanup()
  }
})
