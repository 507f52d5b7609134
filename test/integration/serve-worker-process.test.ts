/**
 * `tenure serve`, as a newcomer runs it, applies the work in a worker process of its own
 * (src/worker-process.ts, docs/operations.md "Process model"): the HTTP process only
 * acknowledges. The real command, a real PostgreSQL, real signals.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { getPriority } from 'node:os'
import { SERVE_HEAP_FLAGS, WORKER_HEAP_FLAGS } from '../../src/jobs/heap.ts'
import { prepareServe, type Spawned } from '../helpers/process.ts'

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
