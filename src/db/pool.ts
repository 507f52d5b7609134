/**
 * The application's connection pool and a transaction helper. Runtime SQL lives in src/db/
 * modules, one per table group, parameterised and returning plain typed objects.
 */
import pg from 'pg'
import type { Logger } from '../log.ts'

export type Pool = pg.Pool
export type PoolClient = pg.PoolClient
/** Anything that can run a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>

// timestamptz → ISO strings would lose nothing, but Date objects are what the code expects;
// bigint (int8) → number: our sequence numbers and counters stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value))

export interface PoolOptions {
  url: string
  max: number
  statementTimeoutMs: number
  applicationName?: string
  log: Logger
  /** Statements every new connection runs first (tests: opt in to pg-boss's test clock). */
  sessionStatements?: string[]
}

export function createPool(options: PoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max,
    application_name: options.applicationName ?? 'tenure',
    statement_timeout: options.statementTimeoutMs,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  })
  // An idle client losing its connection (database restart) emits here; without a listener the
  // process would crash. The pool replaces the client on next use.
  const statements = options.sessionStatements ?? []
  if (statements.length > 0) {
    // Queries queue per client, so these run before anything the pool hands the client out for.
    pool.on('connect', (client) => {
      for (const sql of statements) client.query(sql).catch((err: Error) => options.log.warn({ err: { message: err.message } }, 'session statement failed'))
    })
  }
  pool.on('error', (err) => options.log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'idle database connection lost'))
  return pool
}

/** Run `fn` in a transaction; commit on success, roll back on any error and rethrow it. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

/** Redact the password from a connection URL before it is logged or printed. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparseable database URL)'
  }
}
