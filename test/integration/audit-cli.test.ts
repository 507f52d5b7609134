import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { createTestDatabase } from '../helpers/db.ts'
import { runTenure } from '../helpers/process.ts'
import { startS3Emulator } from '../helpers/s3-emulator.ts'

test('when an operator runs tenure audit checkpoint, export and verify, then a tampered row is named by its sequence number', async () => {
  const db = await createTestDatabase('auditcli')
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-auditcli-'))
  const env = { DATABASE_URL: db.url, TENURE_DATA_DIR: dir, TENURE_CONFIG: 'config/tenure.yaml', LOG_LEVEL: 'silent' }
  const pool = new pg.Pool({ connectionString: db.url })
  try {
    assert.equal((await runTenure(['migrate'], env).exited).code, 0)
    // Some history: three rows through the real writer.
    const { recordAudit } = await import('../../src/audit/index.ts')
    for (let i = 0; i < 3; i++) await recordAudit(pool, [{ actor: { type: 'system', id: 'test' }, action: 'job.enqueued', details: { i } }])

    const checkpoint = runTenure(['audit', 'checkpoint'], env)
    assert.equal((await checkpoint.exited).code, 0, checkpoint.stderr())
    assert.match(checkpoint.stdout(), /"signature"/)

    const out = path.join(dir, 'export.ndjson')
    assert.equal((await runTenure(['audit', 'export', '--out', out], env).exited).code, 0)
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string })
    assert.deepEqual(
      lines.map((l) => l.seq),
      [1, 2, 3],
    )

    const ok = runTenure(['audit', 'verify'], env)
    assert.equal((await ok.exited).code, 0, ok.stdout() + ok.stderr())
    assert.match(ok.stdout(), /"ok": true/)
    assert.match(ok.stdout(), /"coverage": "full"/)
    assert.match(ok.stdout(), /"summary": "chain intact; 3 of 3 entries covered by 1 signed checkpoint; last checkpoint \d{4}-/)

    // The same rows for a spreadsheet, filtered by actor and action prefix.
    const csv = path.join(dir, 'export.csv')
    const exported = runTenure(['audit', 'export', '--format', 'csv', '--actor', 'test', '--action', 'job.*', '--out', csv], env)
    assert.equal((await exported.exited).code, 0, exported.stderr())
    const csvLines = (await readFile(csv, 'utf8')).split('\r\n').filter(Boolean)
    assert.equal(csvLines[0]?.split(',')[0], 'seq')
    assert.deepEqual(csvLines.slice(1).map((l) => l.split(',')[0]), ['1', '2', '3'])
    const none = path.join(dir, 'none.csv')
    assert.equal((await runTenure(['audit', 'export', '--format', 'csv', '--actor', 'someone-else', '--out', none], env).exited).code, 0)
    assert.equal((await readFile(none, 'utf8')).split('\r\n').filter(Boolean).length, 1, 'only the header')

    // A database administrator edits row 2 behind the triggers' back.
    await pool.query('ALTER TABLE audit_events DISABLE TRIGGER USER')
    await pool.query(`UPDATE audit_events SET details = '{"i": 99}' WHERE seq = 2`)
    await pool.query('ALTER TABLE audit_events ENABLE TRIGGER USER')
    const bad = runTenure(['audit', 'verify'], env)
    assert.equal((await bad.exited).code, 1)
    assert.match(bad.stdout(), /"firstBadSeq": 2/)
    assert.match(bad.stdout(), /"reason": "edited"/)
  } finally {
    await pool.end()
    await db.drop()
    await rm(dir, { recursive: true, force: true })
  }
})

test('when the newest rows and their checkpoint are deleted from the database, then tenure audit verify --published <url|file> reports the deleted tail and exits 1', async () => {
  const db = await createTestDatabase('auditpub')
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-auditpub-'))
  const env = { DATABASE_URL: db.url, TENURE_DATA_DIR: dir, TENURE_CONFIG: 'config/tenure.yaml', LOG_LEVEL: 'silent' }
  const pool = new pg.Pool({ connectionString: db.url })
  // What a webhook receiver stored: the bodies as delivered, served back as JSON lines.
  const bodies: string[] = []
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' })
    res.end(bodies.join('\n'))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/checkpoints`
  try {
    assert.equal((await runTenure(['migrate'], env).exited).code, 0)
    const { recordAudit } = await import('../../src/audit/index.ts')
    const publish = async () => {
      const run = runTenure(['audit', 'checkpoint'], env)
      assert.equal((await run.exited).code, 0, run.stderr())
      const created = JSON.parse(run.stdout()) as { checkpoint: unknown }
      bodies.push(JSON.stringify({ type: 'audit.checkpoint_created', timestamp: 'x', data: created.checkpoint }))
    }
    for (let i = 0; i < 3; i++) await recordAudit(pool, [{ actor: { type: 'system', id: 'test' }, action: 'job.enqueued', details: { i } }])
    await publish()
    for (let i = 3; i < 6; i++) await recordAudit(pool, [{ actor: { type: 'system', id: 'test' }, action: 'job.enqueued', details: { i } }])
    await publish()
    const file = path.join(dir, 'published.ndjson')
    await writeFile(file, bodies.map((b) => JSON.stringify((JSON.parse(b) as { data: unknown }).data)).join('\n'))

    const intact = runTenure(['audit', 'verify', '--published', url], env)
    assert.equal((await intact.exited).code, 0, intact.stdout() + intact.stderr())
    assert.match(intact.stdout(), /"checkpoints": 2/)

    // A database administrator removes the newest rows and the checkpoint over them.
    const admin = await pool.connect()
    try {
      await admin.query('BEGIN')
      await admin.query('ALTER TABLE audit_events DISABLE TRIGGER USER')
      await admin.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER USER')
      await admin.query('DELETE FROM audit_events WHERE seq > 4')
      await admin.query('DELETE FROM audit_checkpoints WHERE id = 2')
      await admin.query('ALTER TABLE audit_events ENABLE TRIGGER USER')
      await admin.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER USER')
      await admin.query('COMMIT')
    } finally {
      admin.release()
    }

    const blind = runTenure(['audit', 'verify'], env)
    assert.equal((await blind.exited).code, 0, 'the database alone cannot show it')
    for (const source of [url, file]) {
      const bad = runTenure(['audit', 'verify', '--published', source], env)
      assert.equal((await bad.exited).code, 1, bad.stdout() + bad.stderr())
      assert.match(bad.stdout(), /"reason": "deleted"/)
      assert.match(bad.stdout(), /"firstBadSeq": 5/)
      assert.match(bad.stdout(), /published checkpoint #2/)
    }
    // A published copy that cannot be read is an error, not "nothing published".
    const missing = runTenure(['audit', 'verify', '--published', path.join(dir, 'nope.ndjson')], env)
    assert.equal((await missing.exited).code, 2)
    assert.match(missing.stdout() + missing.stderr(), /could not read the published checkpoints/)
  } finally {
    server.close()
    await pool.end()
    await db.drop()
    await rm(dir, { recursive: true, force: true })
  }
})

test('when checkpoints go to an object store, then tenure audit checkpoint puts them there and tenure audit verify compares with them by default', async () => {
  const db = await createTestDatabase('auditobj')
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-auditobj-'))
  const s3 = await startS3Emulator()
  s3.createBucket('audit-worm', { objectLock: true })
  const config = path.join(dir, 'tenure.yaml')
  await writeFile(
    config,
    (await readFile('config/tenure.yaml', 'utf8')) +
      ['', 'audit:', '  publish:', '    objectStore:', '      bucket: audit-worm', `      endpoint: ${s3.url}`, '      forcePathStyle: true',
        '      accessKeyId: { env: S3_KEY_ID }', '      secretAccessKey: { env: S3_SECRET }', ''].join('\n'),
  )
  const env = { DATABASE_URL: db.url, TENURE_DATA_DIR: dir, TENURE_CONFIG: config, LOG_LEVEL: 'silent', S3_KEY_ID: s3.accessKeyId, S3_SECRET: s3.secretAccessKey }
  const pool = new pg.Pool({ connectionString: db.url })
  try {
    assert.equal((await runTenure(['migrate'], env).exited).code, 0)
    const { recordAudit } = await import('../../src/audit/index.ts')
    for (let round = 0; round < 2; round++) {
      await recordAudit(pool, [0, 1, 2].map((i) => ({ actor: { type: 'system' as const, id: 'test' }, action: 'job.enqueued', details: { round, i } })))
      const run = runTenure(['audit', 'checkpoint'], env)
      assert.equal((await run.exited).code, 0, run.stderr())
      assert.match(run.stdout(), /"objectStore": \{\s*"ok": true/)
    }
    assert.equal(s3.versions('audit-worm').length, 2)
    const intact = runTenure(['audit', 'verify'], env)
    assert.equal((await intact.exited).code, 0, intact.stdout() + intact.stderr())
    assert.match(intact.stdout(), /"source": "s3:\/\/audit-worm\/tenure\/audit-checkpoints\/"/)
    assert.match(intact.stdout(), /"checkpoints": 2/)

    const { tamper } = await import('../../src/audit/test-support.ts')
    await tamper(pool, ['DELETE FROM audit_events WHERE seq > 4', 'DELETE FROM audit_checkpoints WHERE id = 2'])
    const bad = runTenure(['audit', 'verify'], env)
    assert.equal((await bad.exited).code, 1, bad.stdout() + bad.stderr())
    assert.match(bad.stdout(), /"reason": "deleted"/)
    assert.match(bad.stdout(), /"firstBadSeq": 5/)
    // The store unreachable: exit 2, no verdict on the chain.
    s3.failNext(503, 100)
    const unreadable = runTenure(['audit', 'verify'], env)
    assert.equal((await unreadable.exited).code, 2, unreadable.stdout() + unreadable.stderr())
    assert.match(unreadable.stderr(), /could not read the published checkpoints at s3:\/\/audit-worm/)
  } finally {
    await pool.end()
    await s3.close()
    await db.drop()
    await rm(dir, { recursive: true, force: true })
  }
})
