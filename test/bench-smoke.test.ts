/**
 * The benchmark harness (bench/) at toy sizes: the same scenario code `npm run bench` runs,
 * checked for correctness only (counts, nothing lost, every leaver revoked), never for timings.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { benchSettings, destroyAgent, openBenchDatabase, type BenchDatabase } from '../bench/harness.ts'
import { inFlightMemoryScenario, ingestScenario, layoffScenario, singleScenario } from '../bench/scenarios.ts'
import { engineScenario } from '../bench/engine.ts'
import { scaleScenario } from '../bench/scale.ts'

// The toy layoff's leavers arrive at once: clean-ups need not wait the default 30 s.
benchSettings.cleanupSettleSeconds = 1

let db: BenchDatabase
before(async () => {
  db = await openBenchDatabase()
})
after(async () => {
  destroyAgent()
  await db.stop()
})

test('when 20 signed deliveries are sent open-loop, then each acknowledged one is stored exactly once', async () => {
  // A short idle stop: the idle sample waits for the worker process to stop for idleness (60 s by default).
  const r = await ingestScenario(db, { rates: [20], secondsPerRate: 1, stepUpCap: 20, ceilingSeconds: 0.2, concurrency: 2, idleStopSeconds: 2 })
  assert.equal(r.steps[0]!.sent, 20)
  assert.equal(r.exactlyOnce.acknowledged, 20)
  assert.deepEqual({ missing: r.exactlyOnce.missing, duplicated: r.exactlyOnce.duplicated, stored: r.exactlyOnce.stored }, { missing: 0, duplicated: 0, stored: 20 })
})

test('when 3 leavers leave one after another, then each is verified in every system, the oracle revokes its accounts too, and both sides make the same calls (so their latency draws pair up)', async () => {
  const r = await singleScenario(db, { leavers: 3 })
  assert.equal(r.timeToVerifiedMs.n, 3)
  assert.equal(r.oracleMs.n, 3)
  assert.equal(r.oracleNotRevoked, 0)
  assert.deepEqual(r.requestsPerLeaver.tenure, r.requestsPerLeaver.oracle, `calls that differ: ${JSON.stringify(r.requestDifference)}`)
  assert.deepEqual(r.requestDifference, {})
  assert.ok(Object.values(r.requestsPerLeaver.tenure).every((n) => n > 0), JSON.stringify(r.requestsPerLeaver))
})

test('when 10 leavers arrive together under scaled limits, then every one is cut off everywhere and none is dead-lettered', async () => {
  const r = await layoffScenario(db, { leavers: 10, limitScale: 100, arrivalSeconds: 1, timeoutMs: 60_000 })
  assert.equal(r.acknowledged, 10)
  assert.equal(r.deadLettered, 0, JSON.stringify(r.deadLetterQueues))
  assert.equal(r.timedOut, false)
  assert.equal(r.leaversVerified, 10)
  assert.equal(Object.keys(r.perSystem).length, 5)
})

test('when 20 seeded leavers are terminated with the targets paused, then every termination is acknowledged and their work is still queued', async () => {
  const r = await inFlightMemoryScenario(db, { leavers: 20, holdSeconds: 1 })
  assert.equal(r.acknowledged, 20)
  assert.ok(r.jobsQueuedAtEnd > 0, 'the cut-offs wait on the paused targets')
  assert.ok(r.memory.peak.rssMB > 0)
})

test('when 5 joiners are hired and laid off through the engine alone, then every leaver case closes, the audit chain verifies and every statement is counted by step', async () => {
  // Blocks of up to 8 tokens. A token's hold is what the bucket refills in a block's time (a few ms
  // at limits ×100, src/jobs/limiter.ts), so on a loaded machine tokens expire unused and the count
  // rises with the load: 0.2 quiet, 0.62 in a loaded CI run, 0.76 at load average 21. One UPDATE per
  // call (no blocks) is ≥ 1; the budget below tells the two apart whatever the load.
  const r = await engineScenario(db, { leavers: 5, concurrency: 2, limitScale: 100, limiterBlock: { maxTokens: 8, maxHoldMs: 60_000 } })
  assert.deepEqual(r.leaverCases, { closed: 5 })
  assert.equal(r.jobsNotDue, 0)
  assert.deepEqual(r.auditChain, { ok: true })
  assert.equal(r.transitionsPerLeaver, 16, 'termination + cut-off, verification and clean-up of 5 systems')
  for (const [phase, p] of Object.entries(r.phases)) {
    assert.equal(p.perStep.other, 0, `${phase}: every statement belongs to a step`)
    assert.equal(p.perStep['begin/commit'], 2, `${phase}: one transaction per transition`)
  }
  // Budgets (exact counts, not timings): 13.67 and 1.03 before the cuts of issue #21.
  assert.ok(r.phases.drain.statementsPerTransition <= 8, `a leaver transition costs ${r.phases.drain.statementsPerTransition} statements`)
  assert.ok(r.limiter.statementsPerCall < 0.9, `the limiter costs ${r.limiter.statementsPerCall} statements per call`)
})

test('when 4 seeded leavers are worked by 2 worker processes on one database, then every one is verified and closed, none is dead-lettered and the rows written are counted', async () => {
  const r = await scaleScenario(db, { leavers: 4, workers: 2, timeoutMs: 120_000, cleanupSettleSeconds: 1, statsSettleMs: 1000 })
  assert.equal(r.acknowledged, 4)
  assert.equal(r.tenureProcesses, 3, 'the serve process, its worker process and one `tenure worker` process')
  assert.deepEqual({ timedOut: r.timedOut, leaversVerified: r.leaversVerified, casesClosed: r.casesClosed, deadLettered: r.deadLettered }, { timedOut: false, leaversVerified: 4, casesClosed: 4, deadLettered: 0 })
  assert.ok((r.rowsPerLeaver ?? 0) > 0 && (r.auditRowsPerLeaver ?? 0) > 0, `rows ${r.rowsPerLeaver}, audit rows ${r.auditRowsPerLeaver} per leaver`)
  assert.ok((r.walBytesPerLeaver ?? 0) > 0)
  assert.equal(r.peakRss.perProcessMB.length, 3, 'RSS sampled in every Tenure process')
})
