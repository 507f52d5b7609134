/**
 * The cross-process target lock on real PostgreSQL: two pools stand for two worker processes.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createTestDatabase } from '../../test/helpers/db.ts'
import { silentLogger } from '../log.ts'
import { advisoryLocks } from './advisory-locks.ts'
import { lockFailure, RateLimitedError, TargetLockBusyError } from '../../provisioners/errors.ts'
import { createPool } from './pool.ts'

test('when two processes hold one key, then the second runs only after the first has finished; other keys do not wait; an error or an abort leaves nothing locked', async (t) => {
  const db = await createTestDatabase('locks')
  const [poolA, poolB] = [1, 2].map(() => createPool({ url: db.url, max: 4, statementTimeoutMs: 5_000, log: silentLogger }))
  t.after(async () => {
    await poolA!.end()
    await poolB!.end()
    await db.drop()
  })
  const [a, b] = [advisoryLocks(poolA!), advisoryLocks(poolB!)]
  const never = new AbortController().signal
  const events: string[] = []
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  let entered!: () => void
  const inside = new Promise<void>((resolve) => (entered = resolve))

  const first = a.hold('tenure.test:group-1', never, async () => {
    events.push('a in')
    entered()
    await held
    events.push('a out')
  })
  await inside
  const second = b.hold('tenure.test:group-1', never, async () => {
    events.push('b in')
  })
  // A different key is not held up by group-1.
  await b.hold('tenure.test:group-2', never, async () => {
    events.push('b other')
  })
  release()
  await Promise.all([first, second])
  assert.deepEqual(events, ['a in', 'b other', 'a out', 'b in'])

  // An error inside releases the lock and passes through unchanged.
  await assert.rejects(
    a.hold('tenure.test:group-1', never, async () => {
      throw new Error('vendor said no')
    }),
    /vendor said no/,
  )
  assert.equal(await b.hold('tenure.test:group-1', never, async () => 'free'), 'free')

  // A caller waiting for a held key stops when its job is cancelled, and runs nothing.
  let unblock!: () => void
  const blocker = new Promise<void>((resolve) => (unblock = resolve))
  let blocking!: () => void
  const blocked = new Promise<void>((resolve) => (blocking = resolve))
  const holder = a.hold('tenure.test:group-3', never, async () => {
    blocking()
    await blocker
  })
  await blocked
  const cancel = new AbortController()
  let ran = false
  const waiter = b.hold('tenure.test:group-3', cancel.signal, async () => {
    ran = true
  })
  cancel.abort(new Error('job cancelled'))
  await assert.rejects(waiter, /job cancelled/)
  unblock()
  await holder
  assert.equal(ran, false)
  const { rows } = await poolA!.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
  assert.equal(rows[0]!.n, 0, 'no advisory lock left behind')
})

test('when another process keeps a key longer than the caller may wait, then the caller gives up with TargetLockBusyError and runs nothing; a Slack user-group edit turns that into a rate-limit hand-back', async (t) => {
  const db = await createTestDatabase('lockbusy')
  const [poolA, poolB] = [1, 2].map(() => createPool({ url: db.url, max: 4, statementTimeoutMs: 5_000, log: silentLogger }))
  t.after(async () => {
    await poolA!.end()
    await poolB!.end()
    await db.drop()
  })
  const a = advisoryLocks(poolA!)
  const b = advisoryLocks(poolB!, { maxWaitMs: 300 })
  const never = new AbortController().signal
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  let entered!: () => void
  const inside = new Promise<void>((resolve) => (entered = resolve))
  const holder = a.hold('tenure.test:busy', never, async () => {
    entered()
    await held
  })
  await inside
  let ran = false
  const err = await b
    .hold('tenure.test:busy', never, async () => {
      ran = true
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    )
  assert.ok(err instanceof TargetLockBusyError, `gave up with TargetLockBusyError, got ${String(err)}`)
  assert.ok(err.waitedMs >= 300 && err.retryAfterMs > 0)
  assert.equal(ran, false)
  const mapped = lockFailure(err, 'user group S1', { system: 'slack', operation: 'usergroups.lock' })
  assert.ok(mapped instanceof RateLimitedError, 'a busy lock is handed back like a rate limit, without spending an attempt')
  assert.equal(mapped.retryAfterMs, err.retryAfterMs)
  // The database being unreachable is not "busy": that stays a counted, transient failure.
  assert.equal(lockFailure(new Error('timeout exceeded when trying to connect'), 'user group S1', { system: 'slack' }).kind, 'Transient')

  // This process's own slots (half its pool) all held by long edits: the next caller gives up as well.
  const local = advisoryLocks(poolB!, { maxHeld: 1, maxWaitMs: 300 })
  let releaseLocal!: () => void
  const heldLocal = new Promise<void>((resolve) => (releaseLocal = resolve))
  let enteredLocal!: () => void
  const insideLocal = new Promise<void>((resolve) => (enteredLocal = resolve))
  const localHolder = local.hold('tenure.test:one', never, async () => {
    enteredLocal()
    await heldLocal
  })
  await insideLocal
  await assert.rejects(local.hold('tenure.test:two', never, async () => undefined), TargetLockBusyError)
  releaseLocal()
  await localHolder
  release()
  await holder
  assert.equal(await b.hold('tenure.test:busy', never, async () => 'free'), 'free')
})
