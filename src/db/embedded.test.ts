import assert from 'node:assert/strict'
import { existsSync, statSync } from 'node:fs'
import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import pg from 'pg'
import { silentLogger } from '../log.ts'
import { externalClusterDir, preparePostgresCache, privateAncestor, startEmbedded } from './embedded.ts'

const isRoot = userInfo().uid === 0

async function privateParent(prefix: string): Promise<string> {
  // mkdtemp makes the folder 0700, as `mktemp -d` does and as /root is.
  const parent = await mkdtemp(path.join(tmpdir(), prefix))
  await chmod(parent, 0o700)
  return parent
}

async function query(url: string, sql: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql)).rows[0]
  } finally {
    await client.end()
  }
}

describe('embedded PostgreSQL placement', () => {
  test('when a folder above the data folder is mode 0700, then privateAncestor names it', async () => {
    const parent = await privateParent('tenure-private-')
    try {
      assert.deepEqual(privateAncestor(path.join(parent, 'tenure', '.tenure', 'pg')), { folder: parent, mode: 0o700 })
      await chmod(parent, 0o755)
      assert.equal(privateAncestor(path.join(parent, 'tenure', '.tenure', 'pg')), undefined)
    } finally {
      await rm(parent, { recursive: true, force: true })
    }
  })

  test('when two data folders differ, then their outside clusters differ, and one folder always maps to the same one', () => {
    assert.equal(externalClusterDir('/a/.tenure', '/c'), externalClusterDir('/a/./.tenure', '/c'))
    assert.notEqual(externalClusterDir('/a/.tenure', '/c'), externalClusterDir('/b/.tenure', '/c'))
    assert.match(externalClusterDir('/a/.tenure', '/c'), /^\/c\/[0-9a-f]{16}\/pg$/)
  })

  test('when the binaries are prepared for the postgres user, then only the programs, libraries and share files are copied, readable by all, and reused', async () => {
    const cacheRoot = await mkdtemp(path.join(tmpdir(), 'tenure-pgcache-'))
    try {
      const first = await preparePostgresCache(silentLogger, cacheRoot)
      assert.deepEqual((await readdir(path.join(first.dir, 'bin'))).sort(), ['initdb', 'postgres'])
      const libs = await readdir(path.join(first.dir, 'lib'))
      assert.ok(libs.includes('libpq.so.5'), 'initdb needs libpq')
      assert.ok(libs.includes('postgresql'), 'the server loads plpgsql and the encoding conversions from lib/postgresql')
      assert.equal(libs.filter((f) => f.endsWith('.a') || f === 'pkgconfig' || f.startsWith('libecpg')).length, 0)
      assert.ok(existsSync(path.join(first.dir, 'share', 'postgresql', 'postgres.bki')), 'initdb reads the catalog from share/')
      // The postgres user enters folders and runs programs (o+rx), reads the rest (o+r), changes nothing.
      const expectations: Array<[string, number]> = [
        [first.dir, 0o005],
        [first.postgres, 0o005],
        [first.initdb, 0o005],
        [path.join(first.dir, 'share', 'postgresql', 'postgres.bki'), 0o004],
      ]
      for (const [file, others] of expectations) {
        assert.equal(statSync(file).mode & others, others, `${file} is readable by others`)
        assert.equal(statSync(file).mode & 0o022, 0, `${file} is writable by its owner only`)
      }
      const marker = path.join(first.dir, 'tenure-postgres.json')
      const before = (await stat(marker)).mtimeMs
      const again = await preparePostgresCache(silentLogger, cacheRoot)
      assert.equal(again.dir, first.dir)
      assert.equal((await stat(marker)).mtimeMs, before, 'the copy with a matching marker is reused, not made again')
      assert.equal((await readdir(cacheRoot)).length, 1, 'no temporary copy left behind')
    } finally {
      await rm(cacheRoot, { recursive: true, force: true })
    }
  })

  test('when the data folder is under a mode-0700 parent, then PostgreSQL starts, and as root its cluster is kept where the postgres user can reach it', async () => {
    const parent = await privateParent('tenure-private-')
    const dataDir = path.join(parent, 'tenure', '.tenure')
    let clusterDir: string | undefined
    try {
      const db = await startEmbedded({ dataDir, log: silentLogger })
      clusterDir = path.dirname(db.pgDir)
      try {
        assert.deepEqual(await query(db.url, 'SELECT 1 AS one'), { one: 1 })
        if (isRoot) {
          assert.ok(!db.pgDir.startsWith(parent), `the cluster ${db.pgDir} is outside the private folder`)
          assert.equal(statSync(db.pgDir).uid, Number((await readFile('/etc/passwd', 'utf8')).match(/^postgres:[^:]*:(\d+):/m)?.[1]))
          const state = JSON.parse(await readFile(path.join(dataDir, 'embedded.json'), 'utf8')) as { pgDir?: string }
          assert.equal(state.pgDir, db.pgDir, 'embedded.json records where the cluster is')
        } else {
          assert.equal(db.pgDir, path.join(dataDir, 'pg'), 'as an ordinary user the cluster stays in the data folder')
        }
        await query(db.url, 'CREATE TABLE kept (id int)')
      } finally {
        await db.stop()
      }

      // A second start finds the same cluster (and its rows).
      const again = await startEmbedded({ dataDir, log: silentLogger })
      try {
        assert.equal(again.pgDir, clusterDir && path.join(clusterDir, 'pg'))
        assert.deepEqual(await query(again.url, "SELECT to_regclass('kept')::text AS t"), { t: 'kept' })
      } finally {
        await again.stop()
      }
    } finally {
      await rm(parent, { recursive: true, force: true })
      if (clusterDir && !clusterDir.startsWith(parent)) await rm(clusterDir, { recursive: true, force: true })
    }
  })

  test('when the data folder was deleted but its cluster outside it was not, then the next start begins afresh instead of failing on a lost password', { skip: !isRoot && 'the cluster moves out only as root' }, async () => {
    const parent = await privateParent('tenure-private-')
    const dataDir = path.join(parent, '.tenure')
    let clusterDir: string | undefined
    try {
      const first = await startEmbedded({ dataDir, log: silentLogger })
      clusterDir = path.dirname(first.pgDir)
      await query(first.url, 'CREATE TABLE old_rows (id int)')
      await first.stop()
      await rm(dataDir, { recursive: true, force: true })

      const second = await startEmbedded({ dataDir, log: silentLogger })
      try {
        assert.equal(second.pgDir, first.pgDir)
        assert.deepEqual(await query(second.url, "SELECT to_regclass('old_rows') AS t"), { t: null })
      } finally {
        await second.stop()
      }
    } finally {
      await rm(parent, { recursive: true, force: true })
      if (clusterDir) await rm(clusterDir, { recursive: true, force: true })
    }
  })
  test('when a folder above an in-place cluster is made private afterwards, then the start says which folder and what to do', { skip: !isRoot && 'only root runs PostgreSQL as another user' }, async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'tenure-closed-'))
    await chmod(parent, 0o755)
    const dataDir = path.join(parent, '.tenure')
    try {
      const first = await startEmbedded({ dataDir, log: silentLogger })
      assert.equal(first.pgDir, path.join(dataDir, 'pg'))
      await first.stop()
      await chmod(parent, 0o700)
      await assert.rejects(startEmbedded({ dataDir, log: silentLogger }), (err: Error) => {
        assert.match(err.message, new RegExp(`cannot enter ${parent} \\(mode 700\\)`))
        assert.match(err.message, /chmod o\+x/)
        return true
      })
    } finally {
      await rm(parent, { recursive: true, force: true })
    }
  })
})
