import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { after, describe, test } from 'node:test'
import type pg from 'pg'
import { silentLogger } from '../log.ts'
import { CHECKPOINT_TYPE, signCheckpoint, type SignedCheckpoint } from './checkpoint-format.ts'
import { createCheckpoint, listCheckpoints } from './checkpoints.ts'
import { encodeCursor } from './cursor.ts'
import { keyId } from './keys.ts'
import { queryAudit, streamAudit } from './query.ts'
import { computeHash, type AuditRow } from './record.ts'
import { auditTestDb, entry, tamper, testConfig, type AuditTestDb } from './test-support.ts'
import { verifyAudit, verifyExport } from './verify.ts'
import { recordAudit } from './writer.ts'
import { sealAudit } from './sealer.ts'

const { config, key } = testConfig()
const open: AuditTestDb[] = []
after(async () => {
  await Promise.all(open.map((t) => t.close()))
})

/** A fresh log of `rows` rows written 5 per transaction, with checkpoints after the given seqs. */
async function chain(rows = 40, checkpointsAfter: number[] = []): Promise<pg.Pool> {
  const t = await auditTestDb('audit_verify', 4)
  open.push(t)
  for (let seq = 0; seq < rows; seq += 5) {
    await recordAudit(t.pool, Array.from({ length: 5 }, (_, i) => entry(seq + i)))
    if (checkpointsAfter.includes(seq + 5)) await createCheckpoint(t.pool, config, silentLogger)
  }
  // Sealed before the tests tamper with audit_events.
  await sealAudit(t.pool)
  return t.pool
}

async function row(pool: pg.Pool, seq: number): Promise<AuditRow> {
  const found = (await queryAudit(pool, { cursor: encodeCursor(seq - 1), limit: 1 })).events[0]
  assert.equal(found?.seq, seq)
  return found
}

const writeRow = (seqNow: number, r: AuditRow) => ({
  text: `UPDATE audit_events SET seq = $2, occurred_at = $3, actor_type = $4, actor_id = $5, action = $6, employee_id = $7,
         system = $8, account_id = $9, correlation_id = $10, details = $11, prev_hash = $12, hash = $13 WHERE seq = $1`,
  values: [seqNow, r.seq, r.occurred_at, r.actor.type, r.actor.id, r.action, r.subject.employee_id, r.subject.system, r.subject.account_id, r.correlation_id, JSON.stringify(r.details), r.prev_hash, r.hash],
})

/** Move rows with seq >= from by `by` (through a high offset, so the primary key never collides). */
const shift = (from: number, by: number) => [
  `UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= ${from}`,
  `UPDATE audit_events SET seq = seq - 1000000 + (${by}) WHERE seq >= 1000000`,
]
const swap = (a: number, b: number) => [
  `UPDATE audit_events SET seq = 1000000 WHERE seq = ${a}`,
  `UPDATE audit_events SET seq = ${a} WHERE seq = ${b}`,
  `UPDATE audit_events SET seq = ${b} WHERE seq = 1000000`,
]

const verify = (pool: pg.Pool, published?: unknown[]) => verifyAudit(pool, { publicKey: key.publicKeyPem, publishedCheckpoints: published })

function assertBad(result: Awaited<ReturnType<typeof verify>>, reason: string, firstBadSeq: number) {
  assert.equal(result.ok, false, 'verification should fail')
  if (result.ok) return
  assert.deepEqual({ reason: result.reason, firstBadSeq: result.firstBadSeq }, { reason, firstBadSeq }, result.message)
  assert.ok(result.message.length > 10)
}

describe('verifyAudit on an intact log', () => {
  test('when nothing was touched, then it reports the count, head, checkpoints and unsigned tail', async () => {
    const pool = await chain(40, [30])
    const head = await row(pool, 40)
    const checkpoints = (await listCheckpoints(pool)).checkpoints
    const result = await verify(pool, checkpoints)
    const createdAt = checkpoints[0]!.created_at
    assert.deepEqual(result, {
      ok: true,
      count: 40,
      head: { seq: 40, hash: head.hash },
      checkpoints: 1,
      anchor: { seq: 0, hash: '0'.repeat(64) },
      uncheckpointed: 10,
      covered: 30,
      coverage: 'partial',
      pending: 0,
      newestCheckpoint: { id: 1, seq: 30, createdAt },
      summary: `chain intact; 30 of 40 entries covered by 1 signed checkpoint; last checkpoint ${createdAt}`,
    })
  })

  test('when no checkpoint was ever signed, then the chain is intact but its coverage is none, and the summary says so', async () => {
    const pool = await chain(1250)
    const result = await verify(pool)
    assert.equal(result.ok, true)
    if (!result.ok) return
    assert.deepEqual([result.count, result.covered, result.coverage, result.newestCheckpoint], [1250, 0, 'none', null])
    assert.match(result.summary, /^chain intact, but no entry is covered by a signed checkpoint \(0 signed checkpoints\): the 1,250 entries are only hash-chained/)
  })

  test('when every row is under a checkpoint, then coverage is full', async () => {
    const pool = await chain(20, [10, 20])
    const result = await verify(pool)
    assert.deepEqual(result.ok && [result.covered, result.count, result.coverage, result.newestCheckpoint?.seq], [20, 20, 'full', 20])
    assert.match(result.ok ? result.summary : '', /^chain intact; 20 of 20 entries covered by 2 signed checkpoints; last checkpoint \d{4}-/)
  })

  test('when the log is empty, then it verifies with count 0', async () => {
    const t = await auditTestDb('audit_verify_empty', 2)
    open.push(t)
    await createCheckpoint(t.pool, config, silentLogger)
    const result = await verifyAudit(t.pool, { publicKey: key.publicKey })
    assert.deepEqual(result.ok && [result.count, result.head.seq, result.checkpoints], [0, 0, 1])
  })
})

describe('verifyAudit names what was done to the rows (as a superuser with triggers disabled)', { concurrency: 4 }, () => {
  test('when a row is edited, then it reports edited at that seq', async () => {
    const pool = await chain()
    await tamper(pool, [`UPDATE audit_events SET details = '{"from":"active","to":"active"}' WHERE seq = 17`])
    assertBad(await verify(pool), 'edited', 17)
  })

  test('when a row is edited and its hash recomputed with the published recipe, then it still reports edited at that seq', async () => {
    const pool = await chain()
    const original = await row(pool, 17)
    const forged = { ...original, actor: { type: 'oidc' as const, id: 'someone-else' } }
    await tamper(pool, [writeRow(17, { ...forged, hash: computeHash(forged, forged.prev_hash) })])
    assertBad(await verify(pool), 'edited', 17)
  })

  test('when a timestamp is moved by one microsecond (after dropping the millisecond check), then it reports edited', async () => {
    const pool = await chain()
    await tamper(pool, ['ALTER TABLE audit_events DROP CONSTRAINT audit_events_occurred_at_check', `UPDATE audit_events SET occurred_at = occurred_at + interval '1 microsecond' WHERE seq = 17`])
    assertBad(await verify(pool), 'edited', 17)
  })

  test('when the head row is edited, then it reports edited at the head', async () => {
    const pool = await chain()
    await tamper(pool, [`UPDATE audit_events SET actor_id = 'nobody' WHERE seq = 40`])
    assertBad(await verify(pool), 'edited', 40)
  })

  test('when a row is deleted, then it reports deleted at that seq', async () => {
    const pool = await chain()
    await tamper(pool, ['DELETE FROM audit_events WHERE seq = 17'])
    assertBad(await verify(pool), 'deleted', 17)
  })

  test('when a row is deleted and the rest renumbered to hide the gap, then it reports deleted at that seq', async () => {
    const pool = await chain()
    await tamper(pool, ['DELETE FROM audit_events WHERE seq = 17', ...shift(18, -1)])
    assertBad(await verify(pool), 'deleted', 17)
  })

  test('when the first rows are deleted without retention, then it reports deleted from seq 1', async () => {
    const pool = await chain(40, [20])
    await tamper(pool, ['DELETE FROM audit_events WHERE seq <= 20'])
    assertBad(await verify(pool), 'deleted', 1)
  })

  test('when rows after a checkpoint are cut off the end, then it reports deleted after the new end', async () => {
    const pool = await chain(40, [40])
    await tamper(pool, ['DELETE FROM audit_events WHERE seq >= 36'])
    assertBad(await verify(pool), 'deleted', 36)
  })

  test('when two adjacent rows swap places, then it reports reordered at the first', async () => {
    const pool = await chain()
    await tamper(pool, swap(17, 18))
    assertBad(await verify(pool), 'reordered', 17)
  })

  test('when two distant rows swap places, then it reports reordered at the earlier', async () => {
    const pool = await chain()
    await tamper(pool, swap(10, 25))
    assertBad(await verify(pool), 'reordered', 10)
  })

  test('when a row is moved past the head, then it reports reordered at its old seq', async () => {
    const pool = await chain()
    await tamper(pool, ['UPDATE audit_events SET seq = 41 WHERE seq = 17', ...shift(18, -1)])
    assertBad(await verify(pool), 'reordered', 17)
  })

  test('when a forged row is inserted with a correctly computed hash, then it reports inserted at its seq', async () => {
    const pool = await chain()
    const before = await row(pool, 16)
    const forged = { ...before, seq: 17, correlation_id: 'forged', details: { approvedBy: 'nobody' }, prev_hash: before.hash }
    const hashed = { ...forged, hash: computeHash(forged, before.hash) }
    await tamper(pool, [
      ...shift(17, 1),
      {
        text: `INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, correlation_id, details, prev_hash, hash)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        values: [17, hashed.occurred_at, hashed.actor.type, hashed.actor.id, 'exception.decided', hashed.correlation_id, JSON.stringify(hashed.details), hashed.prev_hash, computeHash({ ...hashed, action: 'exception.decided' }, before.hash)],
      },
    ])
    assertBad(await verify(pool), 'inserted', 17)
  })

  test('when a row with a made-up hash is inserted, then it reports inserted at its seq', async () => {
    const pool = await chain()
    const before = await row(pool, 16)
    await tamper(pool, [
      ...shift(17, 1),
      {
        text: `INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, details, prev_hash, hash)
               VALUES (17, date_trunc('milliseconds', now()), 'system', 'x', 'job.enqueued', '{}', $1, $2)`,
        values: [before.hash, 'ab'.repeat(32)],
      },
    ])
    assertBad(await verify(pool), 'inserted', 17)
  })

  test('when every row from 20 on is rewritten consistently and a checkpoint covered them, then the checkpoint exposes it', async () => {
    const pool = await chain(40, [30])
    let prev = (await row(pool, 19)).hash
    const rewritten = []
    for (let seq = 20; seq <= 40; seq++) {
      const original = await row(pool, seq)
      const forged = { ...original, details: { ...original.details, to: 'active' }, prev_hash: prev }
      const hashed = { ...forged, hash: computeHash(forged, prev) }
      prev = hashed.hash
      rewritten.push(writeRow(seq, hashed))
    }
    await tamper(pool, rewritten)
    assertBad(await verify(pool), 'checkpoint_mismatch', 30)
  })

  test('when rows after the newest checkpoint are rewritten consistently, then the chain alone cannot tell (why checkpoints are frequent)', async () => {
    const pool = await chain(40, [30])
    let prev = (await row(pool, 30)).hash
    const rewritten = []
    for (let seq = 31; seq <= 40; seq++) {
      const original = await row(pool, seq)
      const forged = { ...original, details: { rewritten: true }, prev_hash: prev }
      const hashed = { ...forged, hash: computeHash(forged, prev) }
      prev = hashed.hash
      rewritten.push(writeRow(seq, hashed))
    }
    await tamper(pool, rewritten)
    const result = await verify(pool)
    assert.deepEqual(result.ok && result.uncheckpointed, 10, 'reported as verified, with 10 rows not yet under a signature')
  })
})

describe('verifyAudit checks checkpoints', { concurrency: 2 }, () => {
  test('when a checkpoint is signed by a key the auditor does not trust, then it reports checkpoint_signature_invalid', async () => {
    const pool = await chain(20, [20])
    const intruder = generateKeyPairSync('ed25519').privateKey
    const last = (await listCheckpoints(pool)).checkpoints.at(-1)!
    const head = await row(pool, 20)
    const forged = signCheckpoint(
      { type: CHECKPOINT_TYPE, id: last.id + 1, created_at: head.occurred_at, seq: 20, hash: head.hash, occurred_at: head.occurred_at, count: 0, previous_signature: last.signature, key_id: keyId(intruder) },
      intruder,
    )
    await insertCheckpoint(pool, forged)
    assertBad(await verify(pool), 'checkpoint_signature_invalid', 20)
  })

  test('when a checkpoint names our key but its content was altered after signing, then it reports checkpoint_signature_invalid', async () => {
    const pool = await chain(20, [10])
    const cp = (await listCheckpoints(pool)).checkpoints[0]!
    await tamper(pool, [{ text: 'UPDATE audit_checkpoints SET seq = 20, count = 20, hash = $1 WHERE id = $2', values: [(await row(pool, 20)).hash, cp.id] }])
    assertBad(await verify(pool), 'checkpoint_signature_invalid', 20)
  })

  test('when a published checkpoint is missing from the database, then it reports checkpoint_mismatch', async () => {
    const pool = await chain(20, [10, 20])
    const published = (await listCheckpoints(pool)).checkpoints
    assert.equal((await verify(pool, published)).ok, true)
    await tamper(pool, ['DELETE FROM audit_checkpoints WHERE id = 2'])
    assertBad(await verify(pool, published), 'checkpoint_mismatch', 20)
  })

  test('when the newest rows are deleted together with the checkpoints over them, then only the published checkpoints show it, as a deleted tail', async () => {
    const pool = await chain(20, [10, 20])
    const published = (await listCheckpoints(pool)).checkpoints
    await tamper(pool, ['DELETE FROM audit_checkpoints WHERE id = 2', 'DELETE FROM audit_events WHERE seq > 12'])
    assert.equal((await verify(pool)).ok, true, 'the database alone still looks intact')
    assertBad(await verify(pool, published), 'deleted', 13)
  })

  test('when rows after a published checkpoint are rewritten and the log written on, then the published checkpoint no longer matches', async () => {
    const pool = await chain(20, [10, 20])
    const published = (await listCheckpoints(pool)).checkpoints
    // Rows 16..20 replaced by a consistent chain of other rows, checkpoint #2 dropped.
    const r15 = await row(pool, 15)
    await tamper(pool, ['DELETE FROM audit_checkpoints WHERE id = 2', 'DELETE FROM audit_events WHERE seq > 15'])
    let prev = r15.hash
    const rewrites = []
    for (let seq = 16; seq <= 22; seq++) {
      const base = { seq, occurred_at: r15.occurred_at, actor: r15.actor, action: r15.action, subject: r15.subject, correlation_id: null, details: { rewritten: seq } }
      const hash = computeHash(base, prev)
      rewrites.push({
        text: `INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, employee_id, system, account_id, correlation_id, details, prev_hash, hash)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        values: [seq, base.occurred_at, base.actor.type, base.actor.id, base.action, base.subject.employee_id, base.subject.system, base.subject.account_id, null, JSON.stringify(base.details), prev, hash],
      })
      prev = hash
    }
    await tamper(pool, rewrites)
    assert.equal((await verify(pool)).ok, true, 'the database alone still looks intact')
    assertBad(await verify(pool, published), 'checkpoint_mismatch', 20)
  })

  test('when a published checkpoint was altered, then its signature gives it away', async () => {
    const pool = await chain(20, [20])
    const [cp] = (await listCheckpoints(pool)).checkpoints
    assertBad(await verify(pool, [{ ...cp, seq: 19 }]), 'checkpoint_signature_invalid', 19)
  })
})

async function insertCheckpoint(pool: pg.Pool, cp: SignedCheckpoint): Promise<void> {
  await pool.query(
    `INSERT INTO audit_checkpoints (id, created_at, seq, hash, occurred_at, count, previous_signature, key_id, signature)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [cp.id, cp.created_at, cp.seq, cp.hash, cp.occurred_at, cp.count, cp.previous_signature, cp.key_id, cp.signature],
  )
}

async function exportLines(pool: pg.Pool, afterSeq: number): Promise<string[]> {
  const lines: string[] = []
  for await (const r of streamAudit(pool, { cursor: encodeCursor(afterSeq) })) lines.push(JSON.stringify(r))
  return lines
}

describe('verifyExport (offline)', () => {
  test('when an exported range starts at a checkpoint, then it verifies without the database and catches edits, gaps and reordering', async () => {
    const pool = await chain(40, [20, 40])
    const [start, end] = (await listCheckpoints(pool)).checkpoints as [SignedCheckpoint, SignedCheckpoint]
    const lines = await exportLines(pool, 20)
    assert.equal(lines.length, 20)

    const good = await verifyExport(lines, key.publicKeyPem, start, { checkpoints: [end] })
    assert.deepEqual(good.ok && [good.count, good.head.seq, good.checkpoints], [20, 40, 2])

    const edited = lines.map((l, i) => (i === 4 ? l.replace('"to":"offboarding"', '"to":"active"') : l))
    const swapped = [...lines.slice(0, 3), lines[4]!, lines[3]!, ...lines.slice(5)]
    const dropped = lines.filter((_, i) => i !== 6)
    const results = await Promise.all([
      verifyExport(edited, key.publicKeyPem, start),
      verifyExport(swapped, key.publicKeyPem, start),
      verifyExport(dropped, key.publicKeyPem, start),
      verifyExport(lines.slice(0, 15), key.publicKeyPem, start, { checkpoints: [end] }),
    ])
    assert.deepEqual(
      results.map((r) => !r.ok && [r.reason, r.firstBadSeq]),
      [
        ['edited', 25],
        ['reordered', 24],
        ['deleted', 27],
        ['deleted', 36],
      ],
    )
  })

  test('when the starting checkpoint is forged, then the export is rejected', async () => {
    const pool = await chain(20, [10])
    const [start] = (await listCheckpoints(pool)).checkpoints as [SignedCheckpoint]
    const lines = await exportLines(pool, 10)
    const result = await verifyExport(lines, key.publicKeyPem, { ...start, hash: (await row(pool, 11)).hash })
    assert.equal(!result.ok && result.reason, 'checkpoint_signature_invalid')
  })

  test('when an export line is not JSON, then it is rejected with the line number', async () => {
    await assert.rejects(verifyExport(['{"seq":1', ''], key.publicKeyPem, null), { code: 'export_line_invalid', message: /line 1/ })
  })
})
