/**
 * A NOTIFY wakes one idle worker of its queue (src/jobs/boss.ts), and a worker that gets a job
 * wakes one more (src/jobs/runtime.ts): one job costs one fetch instead of one per slot, and a
 * burst still fills every slot without waiting for a poll. Real PostgreSQL and pg-boss.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import Manager from 'pg-boss/dist/manager.js'
import { z } from 'zod'
import { workerHostFixture } from '../../test/helpers/worker-host.ts'
import { silentLogger } from '../log.ts'
import { createBoss } from './boss.ts'
import { registerWorker } from './runtime.ts'
import { validateConfig } from '../config/load.ts'

// Polls 30 s apart: anything that runs sooner was woken by a NOTIFY or by a sibling.
const jobs = workerHostFixture('notify_wake', (url) =>
  createBoss({ url, config: validateConfig({ queue: { notifyPollingIntervalSeconds: 30, pollingIntervalSeconds: 30 } }), log: silentLogger, supervise: false }),
)

test('a NOTIFY wakes one idle worker; workers fetching or running are only told to fetch again after', () => {
  const woken: string[] = []
  const worker = (id: string, name: string, idle: boolean) => ({ id, name, loopDelayPromise: idle ? {} : null, notify: () => woken.push(id) })
  const workers = new Map(
    [worker('a-running', 'a', false), worker('b-idle', 'b', true), worker('a-idle-1', 'a', true), worker('a-idle-2', 'a', true), worker('a-fetching', 'a', false)].map((w) => [w.id, w]),
  )
  Manager.prototype.notifyQueue.call({ workers } as unknown as Manager, 'a')
  assert.deepEqual(woken.sort(), ['a-fetching', 'a-idle-1', 'a-running'])
})

test('one job on a queue of 8 idle slots runs at once; a burst of 24 fills all 8 slots without a poll', async () => {
  const queue = 'notify-wake'
  await jobs.boss.createQueue(queue, { notify: true, retryLimit: 0 } as never)
  let running = 0
  let most = 0
  const ran: number[] = []
  let release: () => void = () => {}
  let gate = Promise.resolve()
  await registerWorker(jobs.host, {
    queue,
    schema: z.object({ n: z.number() }),
    options: { localConcurrency: 8, notifyPollingIntervalSeconds: 30, pollingIntervalSeconds: 30 },
    handler: async ({ n }) => {
      running += 1
      most = Math.max(most, running)
      await gate
      ran.push(n)
      running -= 1
    },
  })
  // The workers' first fetches (at start) found nothing; they now wait out 30 s.
  await new Promise((r) => setTimeout(r, 1_000))

  const t0 = Date.now()
  await jobs.boss.send(queue, { n: 0 })
  while (ran.length < 1 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10))
  assert.deepEqual(ran, [0], 'the one job ran')
  assert.ok(Date.now() - t0 < 5_000, `the job waited ${Date.now() - t0} ms: a poll, not the NOTIFY, ran it`)

  gate = new Promise<void>((resolve) => (release = resolve))
  await jobs.boss.insert(queue, Array.from({ length: 24 }, (_, i) => ({ data: { n: i + 1 } })))
  const t1 = Date.now()
  while (running < 8 && Date.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 10))
  assert.equal(most, 8, 'every slot took a job of the burst: each worker that got one woke the next')
  release()
  while (ran.length < 25 && Date.now() - t1 < 15_000) await new Promise((r) => setTimeout(r, 10))
  assert.equal(ran.length, 25, 'the whole burst ran: a slot that finishes fetches again at once')
  assert.ok(Date.now() - t1 < 10_000, `the burst took ${Date.now() - t1} ms`)
})
