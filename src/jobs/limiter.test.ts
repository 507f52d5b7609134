import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import pg from 'pg'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts'
import { migrate } from '../db/migrate.ts'
import { silentLogger } from '../log.ts'
import { createLimiter } from './limiter.ts'
import { RateLimitedError } from '../../provisioners/errors.ts'

let db: TestDatabase
const pools: pg.Pool[] = []
before(async () => {
  db = await createTestDatabase('limiter')
  for (let i = 0; i < 3; i++) pools.push(new pg.Pool({ connectionString: db.url, max: 4 }))
  await migrate(pools[0]!, silentLogger)
})
after(async () => {
  await Promise.all(pools.map((p) => p.end()))
  await db.drop()
})

test('when several processes take from one bucket at once, then grants never exceed burst plus the rate', async () => {
  const spec = { perMinute: 1200, burst: 5 } // 20 per second
  const limiters = pools.map((p) => createLimiter(p, { maxWaitMs: 60_000 }))
  const grants: number[] = []
  const t0 = Date.now()
  await Promise.all(
    Array.from({ length: 45 }, async (_, i) => {
      await limiters[i % limiters.length]!.take('google', 'directory', spec)
      grants.push(Date.now())
    }),
  )
  assert.equal(grants.length, 45)
  grants.sort((a, b) => a - b)
  // At any moment t, at most burst + rate * (t - t0) calls may have been let through
  // (+1 for the rounding of the reservation arithmetic).
  for (let k = 0; k < grants.length; k++) {
    const elapsedSeconds = (grants[k]! - t0) / 1000
    assert.ok(k + 1 <= spec.burst + 20 * elapsedSeconds + 1, `grant ${k + 1} came after only ${elapsedSeconds.toFixed(3)} s`)
  }
})

test('when a slot is further away than the longest allowed wait, then the call is refused with the wait and nothing is taken', async () => {
  const limiter = createLimiter(pools[0]!, { maxWaitMs: 300 })
  const spec = { perMinute: 60, burst: 1 } // one per second
  await limiter.take('slack', 'scim_write', spec)
  await assert.rejects(limiter.take('slack', 'scim_write', spec), (err: unknown) => {
    assert.ok(err instanceof RateLimitedError)
    assert.ok(err.retryAfterMs > 300 && err.retryAfterMs <= 1000, `retryAfterMs ${err.retryAfterMs}`)
    return true
  })
  const { rows } = await pools[0]!.query(`SELECT tokens FROM rate_limit_buckets WHERE system = 'slack' AND bucket = 'scim_write'`)
  assert.ok(rows[0].tokens > -0.5, 'the refused call reserved nothing')
})

test('when the configured limit changes, then the bucket follows it on the next call', async () => {
  const waits: number[] = []
  const limiter = createLimiter(pools[0]!, { maxWaitMs: 60_000, sleep: async (ms) => void waits.push(ms) })
  await limiter.take('jira', 'write', { perMinute: 60, burst: 1 })
  await limiter.take('jira', 'write', { perMinute: 60, burst: 1 })
  assert.ok(waits[0]! > 900, 'second call waits about a second at 1/s')
  const { rows } = await pools[0]!.query(`SELECT per_minute, capacity FROM rate_limit_buckets WHERE system = 'jira'`)
  assert.deepEqual(rows[0], { per_minute: 60, capacity: 1 })
  await limiter.take('jira', 'write', { perMinute: 6000, burst: 50 })
  const after = await pools[0]!.query(`SELECT per_minute, capacity FROM rate_limit_buckets WHERE system = 'jira'`)
  assert.deepEqual(after.rows[0], { per_minute: 6000, capacity: 50 })
})

test('when calls wait for their slot under the shared shutdown signal, then no listener is left on the signal afterwards', async () => {
  const limiter = createLimiter(pools[0]!, { maxWaitMs: 60_000 })
  const shutdown = new AbortController()
  const spec = { perMinute: 6000, burst: 1 } // 100 per second: every call but the first waits a few ms
  await Promise.all(Array.from({ length: 20 }, () => limiter.take('entra', 'write-leak', spec, 1, shutdown.signal)))
  assert.equal(EventEmitter.getEventListeners(shutdown.signal, 'abort').length, 0)
})

/** A pool that counts the statements sent through it (one limiter = one process). */
function counted(pool: pg.Pool): { db: Pick<pg.Pool, 'query'>; n: () => number } {
  let n = 0
  return {
    db: { query: ((...args: Parameters<pg.Pool['query']>) => ((n += 1), pool.query(...args))) as pg.Pool['query'] },
    n: () => n,
  }
}

test('when two processes take tokens in blocks from one fast bucket, then no window ever sees more than burst plus the rate and most calls cost no statement', async () => {
  const spec = { perMinute: 6000, burst: 40 } // 100 per second: blocks of 8
  const dbs = [counted(pools[1]!), counted(pools[2]!)]
  const limiters = dbs.map((d) => createLimiter(d.db, { maxWaitMs: 60_000 }))
  const grants: number[] = []
  await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      await limiters[i % 2]!.take('entra', 'blocks', spec)
      grants.push(Date.now())
    }),
  )
  grants.sort((a, b) => a - b)
  // Every window [grants[i], grants[j]]: j - i + 1 calls in (t_j - t_i) ms; +1 for rounding and +2
  // for the event loop (a grant is timed when its await resumes, up to ~20 ms late on this machine).
  for (let i = 0; i < grants.length; i++) {
    for (let j = i; j < grants.length; j++) {
      const allowed = spec.burst + (spec.perMinute / 60) * ((grants[j]! - grants[i]!) / 1000) + 3
      assert.ok(j - i + 1 <= allowed, `${j - i + 1} calls within ${grants[j]! - grants[i]!} ms (allowed ${allowed.toFixed(1)})`)
    }
  }
  const statements = dbs[0]!.n() + dbs[1]!.n()
  assert.ok(statements <= 200 / 4, `${statements} statements for 200 calls`)
})

test('when a process holds tokens past their hold time, then it takes a new block instead of spending them late', async () => {
  const spec = { perMinute: 6000, burst: 40 }
  const d = counted(pools[1]!)
  const limiter = createLimiter(d.db, { maxWaitMs: 60_000, block: { maxTokens: 4, maxHoldMs: 40 } })
  await limiter.take('entra', 'expiry', spec) // creates the bucket and takes a block of 4 (3 statements)
  await limiter.take('entra', 'expiry', spec) // from the block
  const afterBlock = d.n()
  const t0 = Date.now()
  await new Promise<void>((resolve) => setTimeout(resolve, 100))
  assert.ok(Date.now() - t0 >= 100)
  await limiter.take('entra', 'expiry', spec)
  assert.equal(d.n(), afterBlock + 1, 'the held tokens expired: one UPDATE for a new block')
  const { rows } = await pools[1]!.query(`SELECT capacity FROM rate_limit_buckets WHERE system = 'entra' AND bucket = 'expiry'`)
  assert.equal(rows[0].capacity, 40, 'the stored capacity is still the published burst')
})

test('when a bucket refills slowly, then every call takes its own token as before', async () => {
  const d = counted(pools[1]!)
  const waits: number[] = []
  const limiter = createLimiter(d.db, { maxWaitMs: 60_000, sleep: async (ms) => void waits.push(ms) })
  const spec = { perMinute: 20, burst: 3 } // Slack Tier 2
  for (let i = 0; i < 4; i++) await limiter.take('slack', 'tier2-slow', spec)
  assert.equal(d.n(), 6, 'the first call: UPDATE, create, UPDATE; then one UPDATE per call')
  assert.ok(waits[0]! > 2900, `the fourth call waits for its slot (${waits[0]} ms)`)
})
