/**
 * Forward-only SQL migrations (graphile-worker's shape): migrations/NNNN_name.sql, applied in
 * order, each in its own transaction, recorded with a checksum. Two processes migrating at once
 * serialise on an advisory lock, so the second finds the work done. A recorded file whose
 * content changed is refused: a migration that ran must never be edited, only followed by a new
 * one. pg-boss keeps its own schema and migrates it itself.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type pg from 'pg'
import type { Logger } from '../log.ts'
import { rootPath } from '../paths.ts'

export const MIGRATIONS_DIR = `${rootPath('migrations')}${path.sep}`

/** Arbitrary but fixed: hashtext('tenure.migrations') would do too, a constant is clearer. */
const MIGRATION_LOCK_KEY = 7_402_519_331

const FILE_PATTERN = /^(\d{4})_[a-z0-9_]+\.sql$/

export interface Migration {
  name: string
  number: number
  sql: string
  checksum: string
}

export class MigrationError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'MigrationError'
    this.code = code
  }
}

export function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex')
}

export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort()
  const migrations: Migration[] = []
  for (const file of files) {
    const match = FILE_PATTERN.exec(file)
    if (!match) {
      throw new MigrationError('migration_name_invalid', `migrations/${file}: names must look like 0001_lowercase_words.sql`)
    }
    const sql = await readFile(path.join(dir, file), 'utf8')
    const number = Number(match[1])
    if (migrations.some((m) => m.number === number)) {
      throw new MigrationError('migration_number_duplicate', `migrations/${file}: number ${match[1]} is used twice`)
    }
    migrations.push({ name: file, number, sql, checksum: checksum(sql) })
  }
  return migrations
}

export interface MigrateResult {
  applied: string[]
  alreadyApplied: number
}

/**
 * Apply pending migrations. Takes a dedicated client from the pool for the session-level
 * advisory lock (a lock taken through a pool could be released on another connection).
 */
export async function migrate(pool: pg.Pool, log: Logger, dir: string = MIGRATIONS_DIR): Promise<MigrateResult> {
  const migrations = await loadMigrations(dir)
  const client = await pool.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        name text PRIMARY KEY,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`)
    const { rows } = await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_migrations')
    const applied = new Map(rows.map((r) => [r.name, r.checksum]))
    const known = new Set(migrations.map((m) => m.name))
    for (const name of applied.keys()) {
      if (!known.has(name)) {
        throw new MigrationError(
          'migration_missing',
          `The database has migration ${name} applied, but migrations/ has no such file. Is this an older version of Tenure than the one that migrated this database?`,
        )
      }
    }
    for (const m of migrations) {
      const recorded = applied.get(m.name)
      if (recorded !== undefined && recorded !== m.checksum) {
        throw new MigrationError(
          'migration_modified',
          `migrations/${m.name} was changed after it was applied (recorded checksum ${recorded.slice(0, 12)}…, file now ${m.checksum.slice(0, 12)}…). ` +
            'Applied migrations are immutable: restore the file and put the change in a new migration.',
        )
      }
    }
    const pending = migrations.filter((m) => !applied.has(m.name))
    for (const m of pending) {
      const started = Date.now()
      await client.query('BEGIN')
      try {
        await client.query(m.sql)
        await client.query('INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)', [m.name, m.checksum])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK')
        const pgErr = err as { message?: string; position?: string }
        throw new MigrationError(
          'migration_failed',
          `migrations/${m.name} failed and was rolled back: ${pgErr.message ?? String(err)}${pgErr.position ? ` (at character ${pgErr.position})` : ''}`,
        )
      }
      log.info({ migration: m.name, ms: Date.now() - started }, 'migration applied')
    }
    return { applied: pending.map((m) => m.name), alreadyApplied: migrations.length - pending.length }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {})
    client.release()
  }
}
