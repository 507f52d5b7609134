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
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await client.end()
    },
  }
}
