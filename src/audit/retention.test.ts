import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { silentLogger } from '../log.ts'
import { createCheckpoint } from './checkpoints.ts'
import { queryAudit } from './query.ts'
import { pruneAudit } from './retention.ts'
import { appRole, auditTestDb, entry, tamper, testConfig, type AuditTestDb } from './test-support.ts'
import { verifyAudit } from './verify.ts'
import { recordAudit } from './writer.ts'

const { config, key } = testConfig({ retentionDays: 30 })
const DAY = 86_400_000
const databases: AuditTestDb[] = []
const roles: Array<{ drop(): Promise<void> }> = []
after(async () => {
  await Promise.all(roles.map((r) => r.drop()))
  await Promise.all(databases.map((t) => t.close()))
})

const daysAfter = (iso: string, days: number) => new Date(new Date(iso).getTime() + days * DAY)

/** 20 rows, checkpoint A (seq 20), 10 rows, checkpoint B (seq 30), 5 rows: head 35. Written as a tenure_app member. */
async function log() {
  const t: AuditTestDb = await auditTestDb('audit_retention', 4)
  databases.push(t)
  const app = await appRole(t)
  roles.push(app)
  await recordAudit(app.pool, Array.from({ length: 20 }, (_, i) => entry(i)))
  const a = (await createCheckpoint(app.pool, config, silentLogger)).checkpoint
  await recordAudit(app.pool, Array.from({ length: 10 }, (_, i) => entry(20 + i)))
  const b = (await createCheckpoint(app.pool, config, silentLogger)).checkpoint
  await recordAudit(app.pool, Array.from({ length: 5 }, (_, i) => entry(30 + i)))
  assert.ok(a.occurred_at! < b.occurred_at!, 'the two checkpoints cover rows written at different milliseconds')
  return { t, app, a, b }
}

const verify = (pool: AuditTestDb['pool']) => verifyAudit(pool, { publicKey: key.publicKeyPem })

describe('pruneAudit', () => {
  test('when rows outlive retention, then they are deleted up to the newest old-enough checkpoint, a tombstone is chained, and verification still passes', async () => {
    const { t, app, a } = await log()
    // 30 days after A's head row: A is old enough, B (written later) is not.
    const now = daysAfter(a.occurred_at!, 30)
    const result = await pruneAudit(app.pool, config, silentLogger, { now })
    assert.deepEqual([result.pruned, result.throughSeq, result.checkpointId, result.tombstone?.seq], [20, 20, a.id, 36])
    assert.deepEqual(result.tombstone?.details, {
      throughSeq: 20,
      checkpointId: a.id,
      checkpointHash: a.hash,
      deletedCount: 20,
      retentionDays: 30,
      cutoff: a.occurred_at,
    })
    const tombstone = (await queryAudit(t.pool, { action: 'audit.pruned' })).events
    assert.deepEqual(tombstone, [result.tombstone])

    const verified = await verify(t.pool)
    assert.deepEqual(verified.ok && [verified.count, verified.anchor, verified.head.seq], [16, { seq: 20, hash: a.hash }, 36], JSON.stringify(verified))

    assert.deepEqual(await pruneAudit(app.pool, config, silentLogger, { now }), { pruned: 0, throughSeq: null, checkpointId: null, tombstone: null })
    await assert.rejects(t.pool.query('DELETE FROM audit_events WHERE seq = 21'), /append-only/)
    await assert.rejects(t.pool.query("UPDATE audit_events SET actor_id = 'x' WHERE seq = 21"), /append-only/)

    // Checkpointing continues from the pruned chain, and a later prune can take everything up to the head.
    const c = (await createCheckpoint(app.pool, config, silentLogger)).checkpoint
    assert.equal(c.seq, 36)
    const again = await pruneAudit(app.pool, config, silentLogger, { now: daysAfter(c.occurred_at!, 31) })
    assert.deepEqual([again.pruned, again.throughSeq, again.tombstone?.seq], [16, 36, 37])
    const end = await verify(t.pool)
    assert.deepEqual(end.ok && [end.count, end.anchor.seq, end.head.seq], [1, 36, 37], JSON.stringify(end))
    assert.equal((await createCheckpoint(app.pool, config, silentLogger)).checkpoint.seq, 37)
  })

  test('when retention is not configured, then nothing is deleted', async () => {
    const { app, b } = await log()
    const keepForever = testConfig({}, key).config
    assert.equal((await pruneAudit(app.pool, keepForever, silentLogger, { now: daysAfter(b.occurred_at!, 3650) })).pruned, 0)
  })

  test('when no checkpoint is old enough, then nothing is deleted', async () => {
    const { app, a } = await log()
    const result = await pruneAudit(app.pool, config, silentLogger, { now: daysAfter(a.occurred_at!, 29) })
    assert.equal(result.pruned, 0)
  })

  test('when someone deletes more rows than retention did, then verification reports them', async () => {
    const { t, app, a } = await log()
    await pruneAudit(app.pool, config, silentLogger, { now: daysAfter(a.occurred_at!, 30) })
    await tamper(t.pool, ['DELETE FROM audit_events WHERE seq BETWEEN 21 AND 25'])
    const result = await verify(t.pool)
    assert.deepEqual(!result.ok && [result.reason, result.firstBadSeq], ['deleted', 21], JSON.stringify(result))
  })

  test('when the rows to be pruned fail verification, then nothing is deleted', async () => {
    const { t, app, a } = await log()
    await tamper(t.pool, ["UPDATE audit_events SET details = '{}' WHERE seq = 5"])
    await assert.rejects(pruneAudit(app.pool, config, silentLogger, { now: daysAfter(a.occurred_at!, 30) }), {
      code: 'prune_refused',
      message: /edited at seq 5/,
    })
    assert.equal((await queryAudit(t.pool, { limit: 1 })).events[0]?.seq, 1)
  })
})
