import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cp, mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { PgBoss } from 'pg-boss'
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts'
import { postgresProcessesFor, runTenure } from '../helpers/process.ts'
import { MIGRATIONS_DIR, migrate, MigrationError } from '../../src/db/migrate.ts'
import { startEmbedded } from '../../src/db/embedded.ts'
import { silentLogger } from '../../src/log.ts'
import { validateConfig } from '../../src/config/load.ts'
import { startTenure } from '../../src/main.ts'
import { PROBE_QUEUE } from '../../src/jobs/diagnostics.ts'

describe('migrations', () => {
  let db: TestDatabase
  let pool: pg.Pool
  before(async () => {
    db = await createTestDatabase('migrate')
    pool = new pg.Pool({ connectionString: db.url, max: 6 })
  })
  after(async () => {
    await pool.end()
    await db.drop()
  })

  test('when migrations run on an empty database, then every file is applied and recorded with its checksum', async () => {
    const first = await migrate(pool, silentLogger)
    assert.ok(first.applied.length >= 1)
    assert.equal(first.applied[0], '0001_core.sql')
    const { rows } = await pool.query('SELECT name, checksum, applied_at FROM schema_migrations ORDER BY name')
    assert.deepEqual(
      rows.map((r) => r.name),
      first.applied,
    )
    for (const row of rows) {
      assert.match(row.checksum, /^[0-9a-f]{64}$/)
      assert.ok(row.applied_at instanceof Date)
    }
    const tables = await pool.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'employees'`)
    assert.equal(tables.rows[0].n, 1)
  })

  test('when migrations run a second time, then nothing is applied', async () => {
    const again = await migrate(pool, silentLogger)
    assert.deepEqual(again.applied, [])
    assert.ok(again.alreadyApplied >= 1)
  })

  test('when an applied migration file was edited, then migrating is refused naming the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tenure-mig-'))
    try {
      await cp(MIGRATIONS_DIR, dir, { recursive: true })
      await appendFile(path.join(dir, '0001_core.sql'), '\n-- sneaky edit\n')
      await assert.rejects(migrate(pool, silentLogger, dir), (err: unknown) => {
        assert.ok(err instanceof MigrationError)
        assert.equal(err.code, 'migration_modified')
        assert.match(err.message, /0001_core\.sql was changed after it was applied/)
        return true
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('when a new migration fails, then it is rolled back and not recorded', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tenure-mig-'))
    try {
      await cp(MIGRATIONS_DIR, dir, { recursive: true })
      await writeFile(path.join(dir, '9999_broken.sql'), 'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n')
      await assert.rejects(migrate(pool, silentLogger, dir), /9999_broken\.sql failed and was rolled back/)
      const { rows } = await pool.query(`SELECT to_regclass('half_done') AS t, (SELECT count(*)::int FROM schema_migrations WHERE name = '9999_broken.sql') AS n`)
      assert.equal(rows[0].t, null)
      assert.equal(rows[0].n, 0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('when two processes migrate a fresh database at once, then each file is applied exactly once', async () => {
    const fresh = await createTestDatabase('race')
    const a = new pg.Pool({ connectionString: fresh.url, max: 2 })
    const b = new pg.Pool({ connectionString: fresh.url, max: 2 })
    try {
      const [ra, rb] = await Promise.all([migrate(a, silentLogger), migrate(b, silentLogger)])
      const total = ra.applied.length + rb.applied.length
      const files = (await a.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n
      assert.equal(total, files, 'each migration applied by exactly one of the two')
      assert.ok(ra.applied.length === 0 || rb.applied.length === 0, 'the second waited on the lock and found the work done')
    } finally {
      await a.end()
      await b.end()
      await fresh.drop()
    }
  })
})

describe('configuration', () => {
  test('when a key has the wrong type, then validation names the key, the problem and the expected form', () => {
    assert.throws(
      () => validateConfig({ server: { port: 'eighty' } }),
      (err: Error) => {
        assert.match(err.message, /server\.port/)
        assert.match(err.message, /expected: HTTP port/)
        return true
      },
    )
  })

  test('when a key is misspelled, then it is reported as unknown', () => {
    assert.throws(() => validateConfig({ servr: {} }), /servr: unknown key/)
  })

  test('when the config file is invalid, then `tenure serve` exits non-zero before starting anything', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tenure-cfg-'))
    try {
      const file = path.join(dir, 'bad.yaml')
      await writeFile(file, 'server:\n  port: -3\nqueue:\n  pollingIntervalSeconds: 0.1\n')
      const run = runTenure(['serve'], { TENURE_CONFIG: file, TENURE_DATA_DIR: path.join(dir, 'data') })
      const { code } = await run.exited
      assert.equal(code, 2)
      assert.match(run.stderr(), /server\.port: Too small/)
      assert.match(run.stderr(), /queue\.pollingIntervalSeconds/)
      assert.equal(postgresProcessesFor(dir).length, 0, 'no database was started')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('when a secret references an unset environment variable, then the key is named', async () => {
    const { secretSchema } = await import('../../src/config/secret.ts')
    const result = secretSchema.safeParse({ env: 'TENURE_TEST_UNSET_VARIABLE' })
    assert.equal(result.success, false)
    assert.match(JSON.stringify(result.error?.issues), /TENURE_TEST_UNSET_VARIABLE is not set/)
  })
})

describe('readiness', () => {
  test('when the database stops, then /readyz answers 503, and 200 again once it is back', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tenure-ready-'))
    let embedded = await startEmbedded({ dataDir: dir, log: silentLogger })
    const config = validateConfig({
      server: { port: 0 },
      database: { url: embedded.url },
      workers: { enabled: false },
      log: { level: 'silent' },
    })
    const running = await startTenure({ config, mode: 'serve', log: silentLogger })
    try {
      const ready = async () => (await fetch(`${running.url}/readyz`)).status
      assert.equal(await ready(), 200)
      await embedded.stop()
      assert.equal(await ready(), 503)
      const body = (await (await fetch(`${running.url}/readyz`)).json()) as { status: string }
      assert.equal(body.status, 'unavailable')
      embedded = await startEmbedded({ dataDir: dir, log: silentLogger, port: embedded.port })
      // The pool drops dead connections as it meets them; wait for the first good answer.
      let status = 0
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = await ready()
        if (status !== 200) await new Promise((r) => setTimeout(r, 100))
      }
      assert.equal(status, 200)
    } finally {
      await running.stop()
      await embedded.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('process lifecycle', () => {
  test('when SIGTERM arrives during a running job, then the job finishes and the process exits 0', async () => {
    const db = await createTestDatabase('sigterm')
    const server = runTenure(['serve'], { DATABASE_URL: db.url, PORT: '0', TENURE_CONFIG: 'config/tenure.yaml' })
    const boss = new PgBoss({ connectionString: db.url, supervise: false, schedule: false })
    try {
      await server.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/)
      await boss.start()
      const id = await boss.send(PROBE_QUEUE, { holdMs: 3000, note: 'sigterm test' })
      assert.ok(id)
      for (let i = 0; i < 200; i++) {
        const job = await boss.getJobById(PROBE_QUEUE, id)
        if (job?.state === 'active') break
        await new Promise((r) => setTimeout(r, 50))
      }
      const started = Date.now()
      server.child.kill('SIGTERM')
      const { code } = await server.exited
      const elapsed = Date.now() - started
      assert.equal(code, 0)
      assert.ok(elapsed < 15_000, `exited after ${elapsed} ms`)
      const job = await boss.getJobById<unknown>(PROBE_QUEUE, id)
      assert.equal(job?.state, 'completed', 'the running job finished before exit')
      assert.match(server.stdout(), /shutdown complete/)
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL')
      await boss.stop({ graceful: false, close: true })
      await db.drop()
    }
  })

  test('when the server on an embedded data folder stops, then no postgres is left, and a second start works even after kill -9', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tenure-embedded-'))
    const env = { TENURE_DATA_DIR: dir, PORT: '0', DATABASE_URL: '', TENURE_CONFIG: 'config/tenure.yaml' }
    const children: Array<ReturnType<typeof runTenure>> = []
    const start = () => {
      const run = runTenure(['serve'], env)
      children.push(run)
      return run
    }
    try {
      const first = start()
      const [, url] = await first.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 60_000)
      assert.equal((await fetch(`${url}/readyz`)).status, 200)
      assert.equal(postgresProcessesFor(dir).length > 0, true)
      first.child.kill('SIGTERM')
      assert.equal((await first.exited).code, 0)
      assert.deepEqual(postgresProcessesFor(dir), [], 'no postgres process left behind')

      // A crash: the server is killed outright and leaves PostgreSQL running.
      const second = start()
      await second.waitFor(/Tenure is listening on/)
      second.child.kill('SIGKILL')
      await second.exited
      const state = JSON.parse(await readFile(path.join(dir, 'embedded.json'), 'utf8'))
      assert.equal(typeof state.port, 'number')

      const third = start()
      const [, url3] = await third.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/)
      assert.equal((await fetch(`${url3}/readyz`)).status, 200)
      third.child.kill('SIGTERM')
      assert.equal((await third.exited).code, 0)
      assert.deepEqual(postgresProcessesFor(dir), [], 'the adopted postgres was stopped too')
    } finally {
      for (const run of children) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL')
      for (const pid of postgresProcessesFor(dir)) process.kill(pid, 'SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  })
})
