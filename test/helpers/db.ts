/**
 * A fresh database per test file on the PostgreSQL that `npm test` provides (DATABASE_URL).
 * Real PostgreSQL, never a mock.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export interface TestDatabase {
  url: string
  name: string
  drop(): Promise<void>
}

export function adminUrl(): string {
  const url = process.env.DATABASE_URL
  if (!url) throw new Error('DATABASE_URL is not set: run tests through `npm test`, which starts PostgreSQL')
  return url
}

export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const base = new URL(adminUrl())
  const name = `tenure_${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  const admin = new pg.Client({ connectionString: base.toString() })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(base.toString())
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const client = new pg.Client({ connectionString: base.toString() })
      await client.connect()
      // pg-pool's end() resolves once it has *asked* its clients to close, not when they have
      // closed. Dropping WITH (FORCE) at once terminates those sockets mid-close, and a client the
      // pool no longer listens to then throws "terminating connection due to administrator
      // command" as an uncaught exception in the test that owned it. Give them up to 2 s to go.
      for (let i = 0; i < 40; i++) {
        const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name])
        if (rows[0]!.n === 0) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await client.end()
    },
  }
}
