/**
 * A job that finds Tenure's own database out of reach (a PostgreSQL restart, a fail-over, a pool
 * with no free connection) is handed back a few seconds later without spending one of its
 * attempts: the target did nothing wrong. The fourth full chaos run dead-lettered 18 leavers'
 * clean-ups that spent all nine attempts on "timeout exceeded when trying to connect", thrown by
 * the clean-up's wait for the system's cut-offs (docs/reliability.md).
 *
 * The fault is injected where pg reports it: the pool's first query answers with the error the pg
 * pool raises when no connection comes within `connectionTimeoutMillis`; every later query reaches
 * the real PostgreSQL.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { testSystemWorker } from '../helpers/system-worker.ts'
import { cleanupQueue, queueFor } from '../../src/jobs/queues.ts'
import { uuidV5 } from '../../src/util/ids.ts'
import { silentLogger } from '../../src/log.ts'
import type { Pool } from '../../src/db/pool.ts'
import type { JobRequest } from '../../state-machines/employee-lifecycle.machine.ts'

/** The real pool, except that its first `failures` queries fail as an unreachable database does. */
function flakyPool(pool: Pool, failures: number): Pool {
  let left = failures
  return new Proxy(pool, {
    get(target, prop) {
      if (prop === 'query') {
        return (...args: unknown[]) => {
          if (left > 0) {
            left -= 1
            return Promise.reject(new Error('timeout exceeded when trying to connect'))
          }
          return (target.query as (...a: unknown[]) => unknown).apply(target, args)
        }
      }
      const value = Reflect.get(target, prop, target) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}

describe('Tenure’s database out of reach during a job', () => {
  let t: TestTenure

  before(async () => {
    t = await startTestTenure({ systems: { sandbox: { enabled: true } }, workers: { enabled: false } })
  })
  after(async () => {
    await t.stop()
  })

  test('when a clean-up cannot reach the database while it waits for the cut-offs, then it is handed back for a few seconds later without spending an attempt', async () => {
    const worker = testSystemWorker(t, 'sandbox', { lane: 'cleanup', pool: flakyPool(t.running.pool, 1) })
    const request: JobRequest = { key: 'generic:E-301:sandbox:deprovision:cleanup:g1', system: 'sandbox', action: 'deprovision', phase: 'cleanup', steps: [] } as unknown as JobRequest
    assert.equal(queueFor(request), cleanupQueue('sandbox'))
    const data = { correlationId: 'db-1', employeeId: randomUUID(), externalId: 'E-301', accountKey: 'E-301', source: 'generic' as const, generation: 1, request, attemptsBefore: 2 }
    const before = Date.now()
    // Its third attempt: two were spent on the target before.
    const handled = await worker.handler(data as never, { jobId: randomUUID(), queue: cleanupQueue('sandbox'), attempt: 3, correlationId: 'db-1', log: silentLogger, signal: new AbortController().signal })
    assert.deepEqual(handled, { outcome: 'database_unavailable' })

    const again = await t.running.boss.getJobById<{ rateLimitedCount: number; attemptsBefore: number }>(cleanupQueue('sandbox'), uuidV5(`job:${request.key}:rl1`))
    assert.ok(again, 'the same job, handed back')
    assert.equal(again.data.attemptsBefore, 4, 'the attempts it made before stay counted (2 + the 2 earlier attempts of this job), none for the database')
    const wait = again.startAfter.getTime() - before
    assert.ok(wait >= 3_000 && wait <= 30_000, `a few seconds later, not at once and not at the longest backoff (${wait} ms)`)
  })
})
