/**
 * registerWorker with batches (`batchSize` > 1, the HR intake's queue): each job of a fetched batch
 * is settled on its own, on real PostgreSQL and pg-boss.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PgBoss } from 'pg-boss'
import { z } from 'zod'
import { workerHostFixture } from '../../test/helpers/worker-host.ts'
import { registerWorker } from './runtime.ts'

const jobs = workerHostFixture('runtime', (url) => {
  const boss = new PgBoss({ connectionString: url, supervise: false, schedule: false })
  boss.on('error', () => {})
  return boss
})

const until = async (what: string, check: () => Promise<boolean>, ms = 20_000) => {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const stateOf = async (queue: string, id: string) => (await jobs.boss.getJobById(queue, id))?.state

test('a batch settles each job on its own: one failure is retried alone, its neighbours complete once', async () => {
  const queue = 'batch-settle'
  await jobs.boss.createQueue(queue, { policy: 'key_strict_fifo', retryLimit: 2, retryDelay: 0 } as never)
  // Six lanes queued before the worker starts, so its first fetch takes a full batch of four.
  const ids = (await jobs.boss.insert(queue, Array.from({ length: 6 }, (_, i) => ({ data: { n: i }, singletonKey: `lane-${i}` })), { returnId: true }))!
  const runs = new Map<number, number>()
  let claimedAtFirstRun = 0
  await registerWorker(jobs.host, {
    queue,
    schema: z.object({ n: z.number() }),
    options: { batchSize: 4, localConcurrency: 1, pollingIntervalSeconds: 0.5 },
    handler: async ({ n }) => {
      // One slot, yet the first fetch claimed four jobs at once.
      if (runs.size === 0) claimedAtFirstRun = (await Promise.all(ids.map((id) => stateOf(queue, id)))).filter((s) => s === 'active').length
      runs.set(n, (runs.get(n) ?? 0) + 1)
      if (n === 1 && runs.get(n) === 1) throw new Error('first attempt of job 1 fails')
      return { n }
    },
  })
  await until('every job completed', async () => (await Promise.all(ids.map((id) => stateOf(queue, id)))).every((s) => s === 'completed'))
  assert.equal(claimedAtFirstRun, 4, 'the first fetch took a batch of four')
  assert.deepEqual([...runs.entries()].sort((a, b) => a[0] - b[0]), [[0, 1], [1, 2], [2, 1], [3, 1], [4, 1], [5, 1]], 'each job ran once, job 1 twice')
  const first = await jobs.boss.getJobById(queue, ids[0]!)
  assert.deepEqual(first?.output, { n: 0 }, 'each completed job keeps its own output')
  const retried = await jobs.boss.getJobById(queue, ids[1]!)
  assert.equal(retried?.retryCount, 1, 'the failed job was retried once')
})

test('a batch hands back the jobs it could not start within its budget; they run later', async () => {
  const queue = 'batch-budget'
  await jobs.boss.createQueue(queue, { policy: 'key_strict_fifo', retryLimit: 3, retryDelay: 0 } as never)
  const ids = (await jobs.boss.insert(queue, Array.from({ length: 3 }, (_, i) => ({ data: { n: i }, singletonKey: `lane-${i}` })), { returnId: true }))!
  const order: number[] = []
  await registerWorker(jobs.host, {
    queue,
    schema: z.object({ n: z.number() }),
    options: { batchSize: 3, localConcurrency: 1, pollingIntervalSeconds: 0.5 },
    batchStartBudgetMs: 100,
    handler: async ({ n }) => {
      order.push(n)
      // The batch's first job outlasts the budget: the other two are not started in this batch.
      if (order.length === 1) await new Promise((r) => setTimeout(r, 300))
    },
  })
  await until('every job completed', async () => (await Promise.all(ids.map((id) => stateOf(queue, id)))).every((s) => s === 'completed'))
  assert.equal(order.length, 3, `each job ran once: ${order.join(',')}`)
  const handedBack = await Promise.all(ids.map((id) => jobs.boss.getJobById(queue, id)))
  assert.deepEqual(handedBack.map((j) => j?.retryCount).sort(), [0, 1, 1], 'the two jobs not started were handed back once each')
})
