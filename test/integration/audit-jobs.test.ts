/**
 * The audit trail's scheduled work in a running Tenure (real PostgreSQL, real pg-boss): the
 * per-minute head checkpoint that bounds the unsigned tail, publication to an append-only file,
 * and daily retention that prunes only behind a signed checkpoint and leaves a chain that verifies.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { generateSigningKey, recordAudit, verifyAudit } from '../../src/audit/index.ts'
import { parsePublished } from '../../src/audit/published.ts'
import { AUDIT_CHECKPOINT_QUEUE, AUDIT_RETENTION_QUEUE } from '../../src/jobs/queues.ts'
import { sealAudit } from '../../src/audit/sealer.ts'

const DAY = 86_400_000

describe('audit jobs (checkpoint on head move, publication, retention)', () => {
  let t: TestTenure
  let dir: string
  const key = generateSigningKey()
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tenure-auditjobs-'))
    // The engine's clock runs two days ahead, so rows written now are past a one-day retention.
    t = await startTestTenure(
      { audit: { signingKey: key.privateKey, retentionDays: 1, publish: { file: path.join(dir, 'checkpoints.ndjson') } } },
      { now: () => new Date(Date.now() + 2 * DAY) },
    )
  })
  after(async () => {
    await t.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const head = async () => Number((await t.running.pool.query<{ seq: string }>('SELECT max(seq)::text AS seq FROM audit_events')).rows[0]!.seq)
  const checkpoints = async () => (await t.running.pool.query<{ id: string; seq: string }>('SELECT id::text, seq::text FROM audit_checkpoints ORDER BY id')).rows.map((r) => [Number(r.id), Number(r.seq)])

  test('when Tenure starts, then a checkpoint is scheduled every minute the head moves, the hourly heartbeat stays, and retention runs daily', async () => {
    const schedules = await t.running.boss.getSchedules(AUDIT_CHECKPOINT_QUEUE)
    assert.deepEqual(
      schedules.map((s) => [s.key, s.cron, s.data]).sort(),
      [
        ['audit', '0 * * * *', {}],
        ['audit-head', '* * * * *', { ifHeadMoved: true }],
      ],
    )
    const retention = await t.running.boss.getSchedules(AUDIT_RETENTION_QUEUE)
    assert.deepEqual(retention.map((s) => [s.key, s.cron]), [['audit', '17 3 * * *']])
  })

  test('when rows are appended, then the head-moved job signs and publishes them; retention prunes behind that checkpoint and the chain still verifies, published checkpoints included', async () => {
    await recordAudit(
      t.running.pool,
      Array.from({ length: 5 }, (_, i) => ({ actor: { type: 'system' as const, id: 'test' }, action: 'job.enqueued', details: { i } })),
    )
    await sealAudit(t.running.pool)
    const signedThrough = await head()
    await t.running.boss.send(AUDIT_CHECKPOINT_QUEUE, { ifHeadMoved: true })
    await t.until('the head checkpoint', async () => (await checkpoints()).some(([, seq]) => seq === signedThrough))
    const before = (await checkpoints()).length
    // A quiet minute: nothing more is signed.
    const quiet = await t.running.boss.send(AUDIT_CHECKPOINT_QUEUE, { ifHeadMoved: true })
    await t.until('the quiet run to finish', async () => (await t.running.boss.getJobById(AUDIT_CHECKPOINT_QUEUE, quiet!))?.state === 'completed')
    assert.equal((await checkpoints()).length, before)

    await t.running.boss.send(AUDIT_RETENTION_QUEUE, {})
    const tombstone = await t.until('the retention tombstone', async () => (await t.running.pool.query(`SELECT seq, details FROM audit_events WHERE action = 'audit.pruned'`)).rows[0])
    assert.equal(tombstone.details.throughSeq, signedThrough, 'pruned exactly up to the signed checkpoint')
    const first = Number((await t.running.pool.query<{ seq: string }>('SELECT min(seq)::text AS seq FROM audit_events')).rows[0]!.seq)
    assert.equal(first, signedThrough + 1)

    const published = parsePublished(await readFile(path.join(dir, 'checkpoints.ndjson'), 'utf8'), 'publish file')
    assert.ok(published.length >= 1)
    const verified = await verifyAudit(t.running.pool, { publicKey: key.publicKeyPem, publishedCheckpoints: published })
    assert.equal(verified.ok, true, JSON.stringify(verified))
    assert.equal(verified.ok && verified.anchor.seq, signedThrough)
    // The tombstone itself is signed within the next minute.
    const tombSeq = Number(tombstone.seq)
    await t.running.boss.send(AUDIT_CHECKPOINT_QUEUE, { ifHeadMoved: true })
    await t.until('the tombstone signed', async () => (await checkpoints()).some(([, seq]) => seq! >= tombSeq))
  })
})
