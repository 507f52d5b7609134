/**
 * Shared set-up for the audit tests (not a test file itself): a fresh migrated database per
 * file, a config with a generated key, and the superuser's tampering tool.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts'
import { secret } from '../config/secret.ts'
import { migrate } from '../db/migrate.ts'
import { silentLogger } from '../log.ts'
import { auditConfigSchema, type AuditConfig, type AuditConfigInput } from './config.ts'
import { generateSigningKey, type GeneratedSigningKey } from './keys.ts'
import type { AuditEntryInput } from './writer.ts'
import { sealAudit } from './sealer.ts'

export interface AuditTestDb {
  db: TestDatabase
  /** Connected as the superuser that ran the migrations (the tables' owner). */
  pool: pg.Pool
  close(): Promise<void>
}

export async function auditTestDb(prefix: string, poolSize = 10): Promise<AuditTestDb> {
  const db = await createTestDatabase(prefix)
  // Commits return before the WAL flush in these throwaway databases. This sandbox's disk takes
  // ~10 ms per fsync, and every writer and every seal waits for its commit to be flushed, so with
  // durable commits the tests would measure the disk. The concurrency test samples the durable
  // rate separately (SET synchronous_commit = on) and logs both.
  const admin = new pg.Client({ connectionString: db.url })
  await admin.connect()
  await admin.query(`ALTER DATABASE ${db.name} SET synchronous_commit = off`)
  await admin.end()
  const pool = new pg.Pool({ connectionString: db.url, max: poolSize })
  await migrate(pool, silentLogger)
  return {
    db,
    pool,
    close: async () => {
      await pool.end()
      await db.drop()
    },
  }
}

export function testConfig(
  overrides: Partial<Omit<AuditConfigInput, 'signingKey'>> = {},
  key: GeneratedSigningKey = generateSigningKey(),
): { config: AuditConfig; key: GeneratedSigningKey } {
  const config = auditConfigSchema.parse({ signingKey: key.privateKey, ...overrides })
  return { config, key }
}

export function entry(i: number, overrides: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    actor: { type: 'system', id: 'engine' },
    action: 'lifecycle.transitioned',
    subject: { employeeId: `emp-${i % 7}`, system: i % 2 === 0 ? 'slack' : 'google', accountId: null },
    correlationId: `corr-${i}`,
    details: { from: 'active', to: 'offboarding', i },
    ...overrides,
  }
}

/**
 * Run statements as the superuser with the audit triggers disabled: what an owner or DBA could
 * do, and what verification must expose.
 */
export async function tamper(pool: pg.Pool, statements: Array<string | { text: string; values: unknown[] }>): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query('ALTER TABLE audit_events DISABLE TRIGGER USER')
    await client.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER USER')
    for (const statement of statements) {
      if (typeof statement === 'string') await client.query(statement)
      else await client.query(statement.text, statement.values)
    }
    await client.query('ALTER TABLE audit_events ENABLE TRIGGER USER')
    await client.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER USER')
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

/**
 * A login role that is a member of tenure_app and owns nothing: how production connects.
 * Roles are cluster-wide, so the name is random and drop() removes it.
 */
export async function appRole(testDb: AuditTestDb): Promise<{ pool: pg.Pool; name: string; drop(): Promise<void> }> {
  const name = `tenure_test_${randomBytes(4).toString('hex')}`
  const password = randomBytes(12).toString('hex')
  secret(password)
  await testDb.pool.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}' IN ROLE tenure_app`)
  const url = new URL(testDb.db.url)
  url.username = name
  url.password = password
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 })
  return {
    pool,
    name,
    drop: async () => {
      await pool.end()
      await testDb.pool.query(`DROP OWNED BY ${name}`)
      await testDb.pool.query(`DROP ROLE ${name}`)
    },
  }
}

/**
 * `pool.query` after sealing every committed audit entry (src/audit/sealer.ts): for tests that
 * read audit_events right after an action, which would otherwise race the sealer.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as pg's own query<R = any>: callers type their rows or not, as with pool.query
export async function sealedQuery<R extends pg.QueryResultRow = any>(pool: pg.Pool, text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
  await sealAudit(pool)
  return pool.query<R>(text, values)
}
