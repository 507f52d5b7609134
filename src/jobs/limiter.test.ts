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

test('when 10 calls are refused on a booked Tier-2 bucket, then each is handed back for its own slot in the line (3 s apart), not a fixed few seconds', async () => {
  // Slack's Tier 2: 20 a minute, one token every 3 s. maxWaitMs 5 s: one call may book ahead.
  const limiter = createLimiter(pools[0]!, { maxWaitMs: 5_000, sleep: async () => {} })
  const spec = { perMinute: 20, burst: 1 }
  await limiter.take('slack', 'usergroups.users.update', spec) // the burst
  await limiter.take('slack', 'usergroups.users.update', spec) // booked 3 s ahead (within 5 s)
  const waits: number[] = []
  /** When each refused call is told to come back (its wait plus the moment it was told), ms since the epoch. */
  const slots: number[] = []
  for (let i = 0; i < 10; i++) {
    await assert.rejects(limiter.take('slack', 'usergroups.users.update', spec), (err: unknown) => {
      assert.ok(err instanceof RateLimitedError)
      waits.push(err.retryAfterMs)
      slots.push(Date.now() + err.retryAfterMs)
      return true
    })
  }
  // The first refused call's token is there after the booked one (6 s); every later one 3 s after
  // the previous (the bucket's refill), so 10 waiting calls come back over 33 s, one per slot.
  // Before: every one of them was told about 6 s and all came back together. Compared as slots
  // (absolute times), so a slow database under load does not shift the figures.
  assert.ok(Math.abs(waits[0]! - 6_000) < 500, `first refused call: ${waits[0]} ms, expected about 6000 ms`)
  for (const [k, at] of slots.entries()) {
    const apart = at - slots[0]!
    assert.ok(Math.abs(apart - k * 3_000) < 400, `refused call ${k + 1}: ${apart} ms after the first one's slot, expected about ${k * 3_000} ms (waits ${waits.join(', ')})`)
  }
  const { rows } = await pools[0]!.query(`SELECT tokens FROM rate_limit_buckets WHERE system = 'slack' AND bucket = 'usergroups.users.update'`)
  assert.ok(rows[0].tokens > -1.1, 'refused calls take no token: the line is a time, not a debt')
})
