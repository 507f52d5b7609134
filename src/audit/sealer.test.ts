/**
 * The sealer (src/audit/sealer.ts): writers queue entries in audit_pending in their own
 * transaction, without the chain lock; sealers in any process move them into the chain.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { silentLogger } from '../log.ts'
import { appRole, auditTestDb, entry, testConfig, type AuditTestDb } from './test-support.ts'
import { AuditSealer, attachAuditSealer, sealAudit, sealBatch, sealPending } from './sealer.ts'
import { verifyAudit } from './verify.ts'
import { appendAudit, recordAudit } from './writer.ts'

let t: AuditTestDb
const { key } = testConfig()

before(async () => {
  t = await auditTestDb('audit_sealer', 12)
})
after(async () => {
  await t.close()
})

async function chain(pool: pg.Pool = t.pool): Promise<Array<{ seq: number; correlation_id: string | null }>> {
  return (await pool.query<{ seq: number; correlation_id: string | null }>('SELECT seq::int AS seq, correlation_id FROM audit_events ORDER BY seq')).rows
}

async function pendingIds(pool: pg.Pool = t.pool): Promise<number[]> {
  return (await pool.query<{ id: number }>('SELECT id::int AS id FROM audit_pending ORDER BY id')).rows.map((r) => r.id)
}

/** Resolve when `check` is truthy (re-checked every few ms), fail after 10 s. */
async function waitFor(what: string, check: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const gapless = (seqs: number[]) => seqs.every((s, i) => s === i + 1)

async function verified(pool: pg.Pool = t.pool): Promise<void> {
  const result = await verifyAudit(pool, { publicKey: key.publicKeyPem })
  assert.equal(result.ok, true, JSON.stringify(result))
}

/** A transaction that holds its audit entry uncommitted until `release` resolves. */
async function openWriter(pool: pg.Pool, correlationId: string): Promise<{ commit(): Promise<void>; rollback(): Promise<void> }> {
  const client = await pool.connect()
  await client.query('BEGIN')
  await appendAudit(client, [entry(1, { correlationId })])
  const end = async (sql: string) => {
    try {
      await client.query(sql)
    } finally {
      client.release()
    }
  }
  return { commit: () => end('COMMIT'), rollback: () => end('ROLLBACK') }
}

describe('sealing', () => {
  test('when two writers commit concurrently, then both entries are sealed in one unbroken chain and verify passes', async () => {
    const a = await openWriter(t.pool, 'concurrent-a')
    const b = await openWriter(t.pool, 'concurrent-b')
    // Both hold their entries uncommitted at the same time: neither waited for the other.
    await Promise.all([b.commit(), a.commit()])
    assert.equal(await sealPending(t.pool), 2)
    const rows = await chain()
    assert.ok(gapless(rows.map((r) => r.seq)))
    assert.deepEqual(rows.slice(-2).map((r) => r.correlation_id).sort(), ['concurrent-a', 'concurrent-b'])
    assert.deepEqual(await pendingIds(), [])
    await verified()
  })

  test('when a writer rolls back while another commits, then its entry is never sealed and no seq gap appears', async () => {
    const before = (await chain()).length
    const doomed = await openWriter(t.pool, 'rolled-back')
    const kept = await openWriter(t.pool, 'kept')
    // The rolled-back entry has the lower pending id; the sealer runs while it is still open.
    assert.equal(await sealPending(t.pool), 0, 'nothing committed yet')
    await kept.commit()
    assert.equal(await sealPending(t.pool), 1)
    await doomed.rollback()
    assert.equal(await sealPending(t.pool), 0)
    const rows = await chain()
    assert.equal(rows.length, before + 1)
    assert.ok(gapless(rows.map((r) => r.seq)))
    assert.equal(rows.at(-1)?.correlation_id, 'kept')
    assert.equal(rows.filter((r) => r.correlation_id === 'rolled-back').length, 0)
    await verified()
  })

  test('when an entry with a lower pending id commits after one with a higher id was sealed, then it is sealed after it and the chain still verifies', async () => {
    const early = await openWriter(t.pool, 'lower-id-commits-late')
    await recordAudit(t.pool, [entry(2, { correlationId: 'higher-id-commits-first' })])
    await sealPending(t.pool)
    await early.commit()
    await sealPending(t.pool)
    const rows = await chain()
    assert.deepEqual(rows.slice(-2).map((r) => r.correlation_id), ['higher-id-commits-first', 'lower-id-commits-late'])
    assert.ok(gapless(rows.map((r) => r.seq)))
    await verified()
  })

  test('when a process dies after its commit but before sealing, then the backstop of another process seals its entries', async () => {
    // The dead process: its entries are committed in audit_pending and nobody kicked a sealer.
    const dead = new pg.Pool({ connectionString: t.db.url, max: 1 })
    await recordAudit(dead, [entry(1, { correlationId: 'orphan-1' }), entry(2, { correlationId: 'orphan-2' })])
    await dead.end()
    assert.equal((await pendingIds()).length, 2)

    // Another process, with nothing of its own to seal: only its backstop finds the orphans.
    const other = new pg.Pool({ connectionString: t.db.url, max: 2 })
    const sealer = attachAuditSealer(other, silentLogger, { backstopMs: 20 })
    try {
      await waitFor('the backstop to seal the orphaned entries', async () => (await pendingIds()).length === 0)
      const rows = await chain()
      assert.deepEqual(rows.slice(-2).map((r) => r.correlation_id), ['orphan-1', 'orphan-2'])
      assert.ok(gapless(rows.map((r) => r.seq)))
    } finally {
      await sealer.stop()
      await other.end()
    }
    await verified()
  })

  test('when a writer commits on a pool with a sealer, then releasing its client kicks a seal (no backstop, no explicit call)', async () => {
    const pool = new pg.Pool({ connectionString: t.db.url, max: 3 })
    const sealer = attachAuditSealer(pool, silentLogger, { backstopMs: false })
    try {
      await recordAudit(pool, [entry(1, { correlationId: 'kicked-by-release' })])
      await waitFor('the kicked seal', async () => (await pendingIds()).length === 0)
      assert.equal((await chain()).at(-1)?.correlation_id, 'kicked-by-release')
    } finally {
      await sealer.stop()
      await pool.end()
    }
  })

  test('when writers commit within the gather window of the last round, then one later round chains them all, and a reader does not wait for the window', async () => {
    const pool = new pg.Pool({ connectionString: t.db.url, max: 3 })
    const sealer = attachAuditSealer(pool, silentLogger, { backstopMs: false, gatherMs: 400 })
    // Rows sealed by one transaction share its xmin.
    const rounds = async (prefix: string) =>
      (await t.pool.query<{ n: number }>(`SELECT count(DISTINCT xmin::text)::int AS n FROM audit_events WHERE correlation_id LIKE $1`, [`${prefix}%`])).rows[0]!.n
    try {
      // An idle sealer seals the first commit at once.
      await recordAudit(pool, [entry(1, { correlationId: 'gather-0' })])
      await waitFor('the first commit to be sealed', async () => (await rounds('gather-')) === 1)
      const started = performance.now()
      for (let i = 1; i <= 5; i++) await recordAudit(pool, [entry(i, { correlationId: `gather-${i}` })])
      assert.ok(performance.now() - started < 300, 'the five commits fall within the window')
      assert.equal((await chain()).filter((r) => r.correlation_id?.startsWith('gather-')).length, 1, 'nothing sealed before the window ends')
      await waitFor('the gathered round', async () => (await pendingIds()).length === 0)
      assert.equal(await rounds('gather-'), 2, 'the five commits of the window were chained by one transaction')

      // A reader inside a window: sealAudit() chains at once instead of waiting for it.
      await recordAudit(pool, [entry(7, { correlationId: 'reader-0' })])
      const asked = performance.now()
      await sealAudit(pool)
      assert.ok(performance.now() - asked < 300, `sealAudit waited ${Math.round(performance.now() - asked)} ms`)
      assert.equal((await chain()).at(-1)?.correlation_id, 'reader-0')
      await verified()
    } finally {
      await sealer.stop()
      await pool.end()
    }
  })

  test('when a kick arrives while a seal runs, then it resolves only after a later round that saw its entry', async () => {
    const pool = new pg.Pool({ connectionString: t.db.url, max: 4 })
    const sealer = new AuditSealer(pool, silentLogger)
    // Another process's sealer holds the chain lock: the first round waits for it, in progress.
    const holder = await t.pool.connect()
    await holder.query('SELECT pg_advisory_lock(7402519401)')
    try {
      await recordAudit(pool, [entry(1, { correlationId: 'kick-1' })])
      const first = sealer.kick()
      await waitFor('the round to wait for the chain lock', async () => (await t.pool.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 3107552105 AND NOT granted`)).rowCount)
      await recordAudit(pool, [entry(2, { correlationId: 'kick-2' })])
      const second = sealer.kick()
      const third = sealer.kick()
      assert.equal(second, third, 'kicks during a round share the next round')
      assert.notEqual(first, second)
      await holder.query('SELECT pg_advisory_unlock(7402519401)')
      await second
      assert.deepEqual(await pendingIds(), [])
      assert.deepEqual((await chain()).slice(-2).map((r) => r.correlation_id), ['kick-1', 'kick-2'])
      await first
    } finally {
      holder.release()
      await sealer.stop()
      await pool.end()
    }
  })

  test('when more entries are pending than a batch holds, then sealing takes several transactions and stops when none are left', async () => {
    await recordAudit(t.pool, Array.from({ length: 25 }, (_, i) => entry(i, { correlationId: `batch-${i}` })))
    assert.equal(await sealBatch(t.pool, 10), 10)
    assert.equal((await pendingIds()).length, 15)
    assert.equal(await sealPending(t.pool, 10), 15)
    assert.deepEqual(await pendingIds(), [])
    const rows = await chain()
    assert.deepEqual(rows.slice(-25).map((r) => r.correlation_id), Array.from({ length: 25 }, (_, i) => `batch-${i}`), 'sealed in the order written')
    await verified()
  })

  test('when verification runs, then it seals first, and entries it did not seal are reported as committed but not yet sealed', async () => {
    await recordAudit(t.pool, [entry(1, { correlationId: 'sealed-by-verify' })])
    const sealedFirst = await verifyAudit(t.pool, { publicKey: key.publicKeyPem })
    assert.equal(sealedFirst.ok && sealedFirst.pending, 0, JSON.stringify(sealedFirst))
    assert.equal((await chain()).at(-1)?.correlation_id, 'sealed-by-verify')

    await recordAudit(t.pool, [entry(1, { correlationId: 'left-pending' }), entry(2, { correlationId: 'left-pending' })])
    const unsealed = await verifyAudit(t.pool, { publicKey: key.publicKeyPem, seal: false })
    assert.ok(unsealed.ok, JSON.stringify(unsealed))
    assert.equal(unsealed.pending, 2)
    assert.match(unsealed.summary, /; 2 entries committed but not yet sealed into the chain$/)
    await sealPending(t.pool)
  })
})

describe('protection of pending entries', () => {
  test('when anyone updates, deletes or truncates audit_pending outside the sealer, then PostgreSQL refuses it, even for the owner', async () => {
    await recordAudit(t.pool, [entry(1, { correlationId: 'protected' })])
    for (const sql of [`UPDATE audit_pending SET actor_id = 'forged'`, 'DELETE FROM audit_pending', 'TRUNCATE audit_pending']) {
      await assert.rejects(t.pool.query(sql), /audit_pending rows leave only by being sealed/, sql)
    }
    assert.equal((await pendingIds()).length, 1)
    await sealPending(t.pool)
  })

  test('when the application role writes and seals, then it may insert and seal but not delete pending rows itself', async () => {
    const app = await appRole(t)
    try {
      const client = await app.pool.connect()
      try {
        await client.query('BEGIN')
        await appendAudit(client, [entry(1, { correlationId: 'app-role' })])
        await client.query('COMMIT')
      } finally {
        client.release()
      }
      await assert.rejects(app.pool.query('DELETE FROM audit_pending'), /permission denied/)
      assert.equal(await sealPending(app.pool), 1)
      assert.equal((await chain()).at(-1)?.correlation_id, 'app-role')
    } finally {
      await app.drop()
    }
    await verified()
  })
})

describe('concurrency', () => {
  test('when N writers in parallel and sealers in two pools run at once, then seq runs 1..N without gap or duplicate and the chain verifies', async () => {
    const start = (await chain()).length
    const poolA = new pg.Pool({ connectionString: t.db.url, max: 6 })
    const poolB = new pg.Pool({ connectionString: t.db.url, max: 6 })
    // Two processes: each kicks its own sealer after its writers' commits; they queue on the chain lock.
    const sealers = [attachAuditSealer(poolA, silentLogger, { backstopMs: false }), attachAuditSealer(poolB, silentLogger, { backstopMs: false })]
    const WRITERS = 8
    const PER_WRITER = 250
    try {
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, w) => {
          const pool = w % 2 === 0 ? poolA : poolB
          for (let i = 0; i < PER_WRITER; i++) {
            const client = await pool.connect()
            try {
              await client.query('BEGIN')
              await appendAudit(client, [entry(i, { correlationId: `par-${w}-${i}` })])
              await client.query('COMMIT')
            } finally {
              client.release()
            }
          }
        }),
      )
      await Promise.all([sealAudit(poolA), sealAudit(poolB)])
    } finally {
      for (const s of sealers) await s.stop()
      await poolA.end()
      await poolB.end()
    }
    const rows = await chain()
    const total = WRITERS * PER_WRITER
    assert.equal(rows.length, start + total)
    assert.ok(gapless(rows.map((r) => r.seq)), 'seq runs 1..n with no gap and no duplicate')
    assert.equal(rows.filter((r) => r.correlation_id?.startsWith('par-')).length, total, 'every entry sealed exactly once')
    // Per writer, its entries are in the order it committed them.
    for (let w = 0; w < WRITERS; w++) {
      const own = rows.filter((r) => r.correlation_id?.startsWith(`par-${w}-`)).map((r) => Number(r.correlation_id!.split('-')[2]))
      assert.deepEqual(own, Array.from({ length: PER_WRITER }, (_, i) => i), `writer ${w} in its commit order`)
    }
    assert.deepEqual(await pendingIds(), [])
    await verified()
  })
})
