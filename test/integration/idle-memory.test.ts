/**
 * An idle `tenure serve` gives back what its start-up took (src/jobs/heap.ts, collectStartupGarbage):
 * start-up grows V8's young generation to its maximum in both processes (two 16 MB semi-spaces
 * each), and without a full collection at the end of start-up V8's memory reducer is never armed,
 * so an idle process kept it for as long as it waited. Read from outside, as an operator would:
 * the young generation's size in /metrics (prom-client's heap space gauges, the HTTP process's and
 * the worker process's added up). The real command, a real PostgreSQL.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { WORKER_HEAP_FLAGS } from '../../src/jobs/heap.ts'
import { prepareServe, runTenure } from '../helpers/process.ts'

const SECRET = `whsec_${Buffer.from('idle-memory-test-secret-32-byte!').toString('base64')}`

/** The young generation's committed size in MB, both processes together, from /metrics. */
async function newSpaceMB(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const m = /^tenure_nodejs_heap_space_size_total_bytes\{space="new"[^}]*\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text)
  assert.ok(m, 'the young generation’s size is in /metrics')
  return Number(m[1]) / 1048576
}

test('when tenure serve has started and sits idle, then both processes give back the young generation their start-up grew', async () => {
  const setup = await prepareServe('idlemem', SECRET)
  try {
    const serve = setup.serve()
    const [, url] = await serve.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 120_000)
    // V8's memory reducer acts about 8 s after a full collection, and only while little is
    // allocated: scraped every 2 s, not in a tight loop that would keep the processes busy.
    const deadline = Date.now() + 60_000
    let size = await newSpaceMB(url!)
    const atStart = size
    while (size > 8 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2000))
      size = await newSpaceMB(url!)
    }
    assert.ok(size <= 8, `the two processes' young generations came down to ${size} MB together (${atStart} MB when serve started listening), not at most 8 MB within 60 s`)
    serve.child.kill('SIGTERM')
    assert.equal((await serve.exited).code, 0)
  } finally {
    await setup.cleanup()
  }
})

test('when tenure worker runs, then it runs with the worker heap flags, as the worker process of tenure serve does', async () => {
  const setup = await prepareServe('idlememw', SECRET)
  const worker = runTenure(['worker'], setup.env)
  try {
    await worker.waitFor(/Tenure worker started/, 120_000)
    // bin/tenure.js replaced itself with a node that has them: the same pid.
    const cmdline = readFileSync(`/proc/${worker.child.pid}/cmdline`, 'utf8').split('\0')
    for (const flag of WORKER_HEAP_FLAGS) assert.ok(cmdline.includes(flag), `tenure worker runs with ${flag} (src/jobs/heap.ts): ${cmdline.join(' ')}`)
    worker.child.kill('SIGTERM')
    assert.equal((await worker.exited).code, 0)
  } finally {
    // setup.cleanup stops only what setup.serve() started: a worker left running would hold the database.
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL')
    await setup.cleanup()
  }
})

test('when tenure worker is sent SIGTERM while it is still starting, then it finishes starting, stops cleanly and exits 0', async () => {
  const setup = await prepareServe('startsignal', SECRET)
  const worker = runTenure(['worker'], setup.env)
  try {
    // The first line it logs: the database, the queue and the workers are not up yet.
    await worker.waitFor(/configuration loaded/, 120_000)
    worker.child.kill('SIGTERM')
    assert.deepEqual(await worker.exited, { code: 0, signal: null })
    const logged = worker.stdout() + worker.stderr()
    assert.match(logged, /signal received while starting: stopping once started/)
    assert.match(logged, /shutdown complete/)
  } finally {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL')
    await setup.cleanup()
  }
})
