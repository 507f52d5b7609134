import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { createTestDatabase } from '../helpers/db.ts'
import { runTenure } from '../helpers/process.ts'

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
