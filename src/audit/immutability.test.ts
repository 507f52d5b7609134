import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type pg from 'pg'
import { silentLogger } from '../log.ts'
import { createCheckpoint } from './checkpoints.ts'
import { appRole, auditTestDb, entry, testConfig, type AuditTestDb } from './test-support.ts'
import { verifyAudit } from './verify.ts'
import { recordAudit } from './writer.ts'
import { sealAudit } from './sealer.ts'

let t: AuditTestDb
let app: Awaited<ReturnType<typeof appRole>>
const { config, key } = testConfig()

before(async () => {
  t = await auditTestDb('audit_immutable', 4)
  app = await appRole(t)
  // Everything the application does, done as a member of tenure_app: the grants are enough.
  await recordAudit(app.pool, Array.from({ length: 10 }, (_, i) => entry(i)))
  await createCheckpoint(app.pool, config, silentLogger)
  await recordAudit(app.pool, [entry(10)])
  // Sealed by the application role too (audit_seal_pending() is all it needs).
  await sealAudit(app.pool)
})
after(async () => {
  await app.drop()
  await t.close()
})

const CHANGES = {
  'UPDATE audit_events': "UPDATE audit_events SET actor_id = 'x' WHERE seq = 3",
  'DELETE audit_events': 'DELETE FROM audit_events WHERE seq = 3',
  'TRUNCATE audit_events': 'TRUNCATE audit_events',
  'UPDATE audit_checkpoints': 'UPDATE audit_checkpoints SET seq = 0',
  'DELETE audit_checkpoints': 'DELETE FROM audit_checkpoints',
  'TRUNCATE audit_checkpoints': 'TRUNCATE audit_checkpoints',
}

async function count(pool: pg.Pool): Promise<number> {
  return Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_events')).rows[0]?.n)
}

describe('the audit tables refuse change', () => {
  test('when a member of tenure_app updates, deletes or truncates, then PostgreSQL denies the privilege', async () => {
    for (const [what, statement] of Object.entries(CHANGES)) {
      await assert.rejects(app.pool.query(statement), { code: '42501', message: /permission denied/ }, what)
    }
    assert.equal(await count(t.pool), 11)
  })

  test('when the owner (here even a superuser) updates, deletes or truncates, then the triggers refuse it', async () => {
    for (const [what, statement] of Object.entries(CHANGES)) {
      await assert.rejects(t.pool.query(statement), { code: '42501', message: /append-only/ }, what)
    }
    assert.equal(await count(t.pool), 11)
    assert.equal((await verifyAudit(t.pool, { publicKey: key.publicKeyPem })).ok, true)
  })

  test('when a member of tenure_app sets the prune switch itself, then it still has no DELETE privilege', async () => {
    const client = await app.pool.connect()
    try {
      await client.query('BEGIN')
      await client.query("SELECT set_config('tenure.audit_prune_through', '10', true)")
      await assert.rejects(client.query('DELETE FROM audit_events WHERE seq <= 10'), { code: '42501' })
      await client.query('ROLLBACK')
    } finally {
      client.release()
    }
  })

  test('when a member of tenure_app calls audit_prune_before without a matching checkpoint or tombstone, then it is refused', async () => {
    const tombstone = { seq: 12, occurred_at: new Date().toISOString(), actor_type: 'system', actor_id: 'x', action: 'audit.pruned', details: { throughSeq: 10, deletedCount: 10 }, prev_hash: '0'.repeat(64), hash: '0'.repeat(64) }
    await assert.rejects(app.pool.query('SELECT audit_prune_before(5, $1::jsonb)', [JSON.stringify(tombstone)]), /no audit checkpoint at seq 5/)
    await assert.rejects(app.pool.query('SELECT audit_prune_before(10, $1::jsonb)', [JSON.stringify(tombstone)]), /tombstone does not describe/)
    await assert.rejects(
      app.pool.query('SELECT audit_prune_before(10, $1::jsonb)', [JSON.stringify({ ...tombstone, action: 'job.enqueued' })]),
      /tombstone does not describe/,
    )
    assert.equal(await count(t.pool), 11)
  })

  test('when a member of tenure_app inserts a row directly, then only one that continues the head is accepted', async () => {
    await assert.rejects(
      app.pool.query(
        `INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, details, prev_hash, hash)
         VALUES (99, date_trunc('milliseconds', now()), 'system', 'x', 'job.enqueued', '{}', $1, $1)`,
        ['0'.repeat(64)],
      ),
      /does not continue the chain head/,
    )
  })

  test('when the owner forges the prune switch to delete rows, then the triggers let it through but verification exposes it', async () => {
    const client = await t.pool.connect()
    try {
      await client.query('BEGIN')
      await client.query("SELECT set_config('tenure.audit_prune_through', '4', true)")
      await client.query('DELETE FROM audit_events WHERE seq <= 4')
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    const result = await verifyAudit(t.pool, { publicKey: key.publicKeyPem })
    assert.deepEqual(!result.ok && [result.reason, result.firstBadSeq], ['deleted', 1], JSON.stringify(result))
  })
})
