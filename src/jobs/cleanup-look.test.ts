/**
 * The clean-ups' look at pending cut-off work (src/jobs/system-worker.ts `cutoffWorkPending`), on
 * real PostgreSQL and pg-boss: a look reads every job of the system's queue, so while cut-offs
 * stay pending its answer is reused for longer, and "nothing pending" is still seen promptly.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { PgBoss } from 'pg-boss'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts'
import { cutoffWorkPending, type SystemWorkerDeps } from './system-worker.ts'
import { HR_EVENT_QUEUE, systemQueue } from './queues.ts'

let db: TestDatabase
let boss: PgBoss
let pool: pg.Pool

before(async () => {
  db = await createTestDatabase('cleanuplook')
  boss = new PgBoss({ connectionString: db.url, supervise: false, schedule: false })
  boss.on('error', () => {})
  await boss.start()
  await boss.createQueue(systemQueue('acme'))
  await boss.createQueue(HR_EVENT_QUEUE, { policy: 'key_strict_fifo' } as never)
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
})

after(async () => {
  await pool.end()
  await boss.stop({ graceful: false })
  await db.drop()
})

test('while a cut-off stays pending the look is repeated less and less often; once it is done, the answer changes within one held look', async () => {
  let looks = 0
  const counting = { query: (text: string, values?: unknown[]) => ((looks += 1), pool.query(text, values)) }
  const pollMs = 100
  const deps = { pool: counting, queueSchema: 'pgboss', cleanupPollMs: pollMs, cleanupSettleMs: 0 } as unknown as SystemWorkerDeps
  const [id] = (await boss.insert(systemQueue('acme'), [{ data: { employeeId: 'e1', request: { action: 'deprovision', system: 'acme' } } }], { returnId: true }))!
  // Clean-ups waiting in this process ask every poll, as awaitCutoffs does, for 3 s.
  const start = Date.now()
  while (Date.now() - start < 3_000) {
    assert.equal(await cutoffWorkPending(deps, 'acme'), true, 'the queued cut-off is pending')
    await new Promise((r) => setTimeout(r, pollMs))
  }
  // Every poll would be about 30 looks; held for 50, 100, 200, 400, then 500 ms: about 9.
  assert.ok(looks <= 12, `looks while pending: ${looks}`)
  await boss.deleteJob(systemQueue('acme'), id!)
  const done = Date.now()
  while (await cutoffWorkPending(deps, 'acme')) await new Promise((r) => setTimeout(r, pollMs))
  const seenAfter = Date.now() - done
  // At most one held answer late (500 ms here); a hold that kept doubling would be 1.6-3.2 s by now.
  assert.ok(seenAfter < 1_500, `"nothing pending" was seen ${seenAfter} ms after the cut-off left the queue`)
})
