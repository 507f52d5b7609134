/**
 * `tenure serve`, as a newcomer runs it, applies the work in a worker process of its own
 * (src/worker-process.ts, docs/operations.md "Process model"): the HTTP process only
 * acknowledges. The real command, a real PostgreSQL, real signals.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { getPriority, tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { createTestDatabase } from '../helpers/db.ts'
import { runTenure, type Spawned } from '../helpers/process.ts'
import { signStandardWebhook } from '../../src/hr/index.ts'

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

test('when tenure serve runs, then the work is applied in a worker process it supervises: restarted when killed, stopped with it, gone when the parent is killed with -9', async () => {
  const db = await createTestDatabase('workerproc')
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-workerproc-'))
  const configFile = path.join(dir, 'tenure.yaml')
  await writeFile(
    configFile,
    [
      'server: { port: 0 }',
      'queue: { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1, retryDelaySeconds: 1, expireInSeconds: 30, superviseIntervalSeconds: 2 }',
      `hr: { generic: { secrets: ['${SECRET}'] } }`,
      'systems: { sandbox: { enabled: true } }',
      'policy: { rules: [ { name: everyone, grant: { sandbox: { groups: [staff] } } } ] }',
      '',
    ].join('\n'),
  )
  const env = { DATABASE_URL: db.url, TENURE_CONFIG: configFile, TENURE_DATA_DIR: dir, PORT: '0' }
  const pool = new pg.Pool({ connectionString: db.url })
  const runs: Spawned[] = []
  const hire = async (url: string, id: string) => {
    const body = Buffer.from(
      JSON.stringify({ type: 'employee.hired', timestamp: new Date().toISOString(), data: { employeeId: id, profile: { firstName: 'Worker', lastName: id }, startDate: new Date().toISOString().slice(0, 10) } }),
    )
    const res = await fetch(`${url}/webhooks/hr/generic`, { method: 'POST', headers: { 'content-type': 'application/json', ...signStandardWebhook(body, SECRET, new Date(), `msg_${id}`) }, body })
    assert.equal(res.status, 202)
  }
  const active = async (id: string) => (await pool.query(`SELECT 1 FROM employees WHERE external_id = $1 AND state = 'active'`, [id])).rowCount === 1
  try {
    const serve = runTenure(['serve'], env)
    runs.push(serve)
    const [, url] = await serve.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 120_000)
    const [first] = workerPids(serve)
    assert.ok(first && first !== serve.child.pid && alive(first), 'a worker process of its own runs beside the HTTP process')
    assert.equal(getPriority(first), Math.min(19, getPriority(serve.child.pid!) + 5), 'the worker process runs workers.processNice (5) nicer')
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
    const again = runTenure(['serve'], env)
    runs.push(again)
    await again.waitFor(/Tenure is listening on/, 120_000)
    const [third] = workerPids(again)
    assert.ok(third && alive(third))
    again.child.kill('SIGKILL')
    await again.exited
    await waitUntil('the orphaned worker process to exit', () => !alive(third), 15_000)
  } finally {
    for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL')
    await pool.end()
    await db.drop()
    await rm(dir, { recursive: true, force: true })
  }
})
