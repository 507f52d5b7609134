import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type pg from 'pg'
import { secret } from '../config/secret.ts'
import { GENESIS_HASH, computeHash } from './record.ts'
import { queryAudit } from './query.ts'
import { auditTestDb, entry, testConfig, type AuditTestDb } from './test-support.ts'
import { verifyAudit } from './verify.ts'
import { appendAudit, recordAudit } from './writer.ts'
import { attachAuditSealer, sealAudit } from './sealer.ts'
import { silentLogger } from '../log.ts'

let t: AuditTestDb
const { key } = testConfig()

before(async () => {
  t = await auditTestDb('audit_writer', 12)
  await t.pool.query('CREATE TABLE things (id serial PRIMARY KEY, name text NOT NULL)')
  // Sealing as in a running process: kicked when a writer's client goes back to the pool.
  attachAuditSealer(t.pool, silentLogger, { backstopMs: false })
})
after(async () => {
  await t.close()
})

async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, commit = true): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    await client.query(commit ? 'COMMIT' : 'ROLLBACK')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

/** The chain's seqs once every committed entry is sealed. */
async function chainSeqs(): Promise<number[]> {
  await sealAudit(t.pool)
  const { rows } = await t.pool.query<{ seq: string }>('SELECT seq FROM audit_events ORDER BY seq')
  return rows.map((r) => Number(r.seq))
}

describe('appendAudit', () => {
  test('when the change is rolled back, then its audit entry is gone too, is never sealed and leaves no gap', async () => {
    const before = await chainSeqs()
    await inTransaction(
      t.pool,
      async (client) => {
        await client.query("INSERT INTO things (name) VALUES ('laptop')")
        await appendAudit(client, [entry(1, { correlationId: 'rolled-back' })])
      },
      false,
    )
    assert.equal((await t.pool.query('SELECT * FROM things')).rowCount, 0)
    assert.deepEqual(await chainSeqs(), before)
    assert.equal((await t.pool.query('SELECT * FROM audit_pending')).rowCount, 0)

    await inTransaction(t.pool, async (client) => {
      await client.query("INSERT INTO things (name) VALUES ('badge')")
      return appendAudit(client, [entry(2, { correlationId: 'committed' })])
    })
    assert.deepEqual(await chainSeqs(), [...before, before.length + 1], 'the committed entry takes the next seq: no gap')
    const { rows } = await t.pool.query<{ correlation_id: string }>('SELECT correlation_id FROM audit_events WHERE seq = $1', [before.length + 1])
    assert.equal(rows[0]?.correlation_id, 'committed')
    assert.equal((await t.pool.query(`SELECT 1 FROM audit_events WHERE correlation_id = 'rolled-back'`)).rowCount, 0)
    assert.equal((await t.pool.query('SELECT * FROM things')).rowCount, 1)
  })

  test('when several entries are appended in one call, then they get consecutive seqs, one timestamp and linked hashes', async () => {
    const queued = await recordAudit(t.pool, [entry(1), entry(2), entry(3, { action: 'job.enqueued', correlationId: 'several-3' })])
    assert.equal(queued.length, 3)
    await sealAudit(t.pool)
    const rows = (await queryAudit(t.pool, { order: 'desc', limit: 3 })).events.reverse()
    assert.deepEqual(
      rows.map(({ actor, action, subject, correlation_id, details }) => ({ actor, action, subject, correlation_id, details })),
      queued,
      'the sealed rows carry exactly what the writer queued, in its order',
    )
    const [a, b, c] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]]
    assert.deepEqual([b.seq - a.seq, c.seq - b.seq], [1, 1])
    assert.equal(a.occurred_at, c.occurred_at)
    assert.match(a.occurred_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
    assert.equal(b.prev_hash, a.hash)
    assert.equal(c.prev_hash, b.hash)
    assert.equal(c.hash, computeHash(c, b.hash))
  })

  test('when the first row of the log is written, then its prev_hash is the genesis hash', async () => {
    const { rows } = await t.pool.query<{ prev_hash: string }>('SELECT prev_hash FROM audit_events WHERE seq = 1')
    assert.equal(rows[0]?.prev_hash, GENESIS_HASH)
  })

  test('when appendAudit runs outside a transaction, then it throws and writes nothing', async () => {
    const before = await chainSeqs()
    const pendingBefore = (await t.pool.query('SELECT 1 FROM audit_pending')).rowCount
    const client = await t.pool.connect()
    try {
      await assert.rejects(appendAudit(client, [entry(1)]), { code: 'audit_not_in_transaction' })
    } finally {
      client.release()
    }
    assert.equal((await t.pool.query('SELECT 1 FROM audit_pending')).rowCount, pendingBefore)
    assert.deepEqual(await chainSeqs(), before)
  })

  test('when the transaction is REPEATABLE READ, then the entry is queued and sealed all the same (a writer reads no chain head)', async () => {
    const before = await chainSeqs()
    const client = await t.pool.connect()
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
      await appendAudit(client, [entry(1, { correlationId: 'repeatable-read' })])
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    assert.deepEqual(await chainSeqs(), [...before, before.length + 1])
    assert.equal((await t.pool.query(`SELECT 1 FROM audit_events WHERE correlation_id = 'repeatable-read'`)).rowCount, 1)
  })

  test('when an entry is malformed, then it is rejected before anything is written', async () => {
    await assert.rejects(recordAudit(t.pool, [entry(1, { action: 'Not A Verb' as 'x.y' })]), { code: 'audit_entry_invalid' })
    await assert.rejects(
      recordAudit(t.pool, [entry(1, { actor: { type: 'robot' as 'system', id: 'x' } })]),
      { code: 'audit_entry_invalid' },
    )
  })

  test('when details carry credentials, then the stored row has them masked and still verifies', async () => {
    const configured = secret('s3cr3t-from-config-4242')
    await recordAudit(t.pool, [
      entry(1, {
        action: 'target.api_called',
        details: {
          request: { url: 'https://slack.example/api/users.admin.setInactive', headers: { Authorization: 'Bearer xoxb-123', 'X-Api-Key': 'k' } },
          accessToken: 'ya29.a0',
          client_secret: 'cs',
          password: 'hunter2',
          tokenId: 'tok_123',
          note: `retrying with s3cr3t-from-config-4242 after 429`,
          echoed: configured.reveal(),
          configuredSecret: configured,
          jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig',
          at: new Date('2025-01-02T03:04:05.006Z'),
          big: 12345678901234567890n,
          nan: Number.NaN,
          nul: 'a\u0000b',
          error: new Error('boom'),
        },
      }),
    ])
    const stored = await queryAudit(t.pool, { correlationId: 'corr-1', action: 'target.api_called' })
    const details = stored.events.at(-1)?.details
    assert.deepEqual(details, {
      request: { url: 'https://slack.example/api/users.admin.setInactive', headers: { Authorization: '[redacted]', 'X-Api-Key': '[redacted]' } },
      accessToken: '[redacted]',
      client_secret: '[redacted]',
      password: '[redacted]',
      tokenId: 'tok_123',
      note: 'retrying with [redacted] after 429',
      echoed: '[redacted]',
      configuredSecret: '[redacted]',
      jwt: '[redacted]',
      at: '2025-01-02T03:04:05.006Z',
      big: '12345678901234567890',
      nan: null,
      nul: 'a\uFFFDb',
      error: { name: 'Error', message: 'boom' },
    })
    const raw = JSON.stringify((await t.pool.query('SELECT details FROM audit_events WHERE seq = $1', [stored.events.at(-1)?.seq])).rows[0])
    for (const leaked of ['xoxb-123', 'ya29', 'hunter2', 's3cr3t-from-config-4242']) assert.ok(!raw.includes(leaked), `${leaked} reached the database`)
    const result = await verifyAudit(t.pool, { publicKey: key.publicKeyPem })
    assert.equal(result.ok, true, JSON.stringify(result))
  })

  test('when a writer inserts a row that does not continue the head, then the database refuses it', async () => {
    const client = await t.pool.connect()
    try {
      const head = (await client.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1')).rows[0]!
      const insert = `INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, details, prev_hash, hash)
                      VALUES ($1, date_trunc('milliseconds', now()), 'system', 'rogue', 'job.enqueued', '{}', $2, $3)`
      await assert.rejects(client.query(insert, [Number(head.seq) + 2, head.hash, GENESIS_HASH]), /does not continue the chain head/)
      await assert.rejects(client.query(insert, [Number(head.seq) + 1, GENESIS_HASH, GENESIS_HASH]), /does not continue the chain head/)
    } finally {
      client.release()
    }
  })
})

describe('concurrent appends', () => {
  test('when 8 connections append 10,000 rows in separate transactions while the sealer runs, then the chain is one unbroken line', async () => {
    const start = (await chainSeqs()).length
    const WRITERS = 8
    const PER_WRITER = 1250
    const started = performance.now()
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        const client = await t.pool.connect()
        try {
          for (let i = 0; i < PER_WRITER; i++) {
            await client.query('BEGIN')
            await appendAudit(client, [entry(w * PER_WRITER + i, { actor: { type: 'system', id: `writer-${w}` } })])
            await client.query('COMMIT')
          }
        } finally {
          client.release()
        }
      }),
    )
    const seconds = (performance.now() - started) / 1000
    const total = WRITERS * PER_WRITER
    console.log(
      `# audit appends (synchronous_commit=off): ${total} single-row transactions from ${WRITERS} connections in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} appends/s (sealed by the kicked sealer meanwhile)`,
    )

    const seqs = await chainSeqs()
    assert.equal(seqs.length, start + total)
    assert.deepEqual(seqs, Array.from({ length: start + total }, (_, i) => i + 1), 'seq runs 1..n with no gap and no duplicate')
    const result = await verifyAudit(t.pool, { publicKey: key.publicKeyPem })
    assert.deepEqual(result.ok && { count: result.count, head: result.head.seq }, { count: start + total, head: start + total }, JSON.stringify(result))
  })

  test('when commits are durable, then appends still form one chain (each writer bounded by its own WAL flush, logged)', async () => {
    const start = (await chainSeqs()).length
    const WRITERS = 4
    const PER_WRITER = 25
    const started = performance.now()
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        const client = await t.pool.connect()
        try {
          await client.query('SET synchronous_commit = on')
          for (let i = 0; i < PER_WRITER; i++) {
            await client.query('BEGIN')
            await appendAudit(client, [entry(i, { actor: { type: 'system', id: `durable-${w}` } })])
            await client.query('COMMIT')
          }
        } finally {
          await client.query('RESET synchronous_commit')
          client.release()
        }
      }),
    )
    const seconds = (performance.now() - started) / 1000
    const total = WRITERS * PER_WRITER
    console.log(
      `# audit appends (synchronous_commit=on): ${total} single-row transactions from ${WRITERS} connections in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} appends/s`,
    )
    assert.deepEqual(await chainSeqs(), Array.from({ length: start + total }, (_, i) => i + 1))
  })

  test('when concurrent transactions roll back at random, then the committed rows alone form a gapless chain', async () => {
    const start = (await chainSeqs()).length
    let committed = 0
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        const client = await t.pool.connect()
        try {
          for (let i = 0; i < 60; i++) {
            await client.query('BEGIN')
            await appendAudit(client, [entry(i), entry(i + 1)])
            // Deterministic pattern, different per writer: every third transaction of each writer is abandoned.
            if ((i + w) % 3 === 0) {
              await client.query('ROLLBACK')
            } else {
              await client.query('COMMIT')
              committed += 2
            }
          }
        } finally {
          client.release()
        }
      }),
    )
    const seqs = await chainSeqs()
    assert.equal(seqs.length, start + committed)
    assert.equal(seqs.at(-1), start + committed)
    const result = await verifyAudit(t.pool, { publicKey: key.publicKeyPem })
    assert.equal(result.ok, true, JSON.stringify(result))
  })
})
