/**
 * The application's connection pool and a transaction helper. Runtime SQL lives in src/db/
 * modules, one per table group, and in a capability's one store.ts (docs/architecture.md, "Where
 * SQL lives"), parameterised and returning plain typed objects.
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
  /** How long a checkout waits for a connection, new or free (pg-pool's connectionTimeoutMillis), before it fails. Default 5 s. */
  connectTimeoutMs?: number
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
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
  })
  const statements = options.sessionStatements ?? []
  pool.on('connect', (client) => {
    // pg's documented pitfall (https://node-postgres.com/apis/pool#error, /apis/client#error): a
    // client whose connection is cut emits 'error', and an 'error' with no listener ends the
    // process. The pool listens only while a client is idle in it; a client checked out (a
    // transaction in progress, a lock held across a vendor call) has no listener of its own, so a
    // PostgreSQL restart or fail-over (57P01 "terminating connection due to administrator
    // command") used to take Tenure down. This listener stays for the client's whole life. The
    // holder learns of the loss from its next query, which rejects; the pool discards the broken
    // client on release (it is no longer queryable) and opens a fresh one when PostgreSQL is back.
    client.on('error', (err: Error) => lost(err, 'in use'))
    // Queries queue per client, so these run before anything the pool hands the client out for.
    for (const sql of statements) client.query(sql).catch((err: Error) => options.log.warn({ err: { message: err.message } }, 'session statement failed'))
  })
  const lost = (err: Error, where: 'idle' | 'in use') =>
    options.log.warn({ err: { message: err.message, code: (err as { code?: string }).code }, where }, 'database connection lost')
  // An idle client losing its connection emits here too; the pool drops it and replaces it on next use.
  pool.on('error', (err) => lost(err, 'idle'))
  return pool
}

/** Connections the HTTP side of a process takes: the webhook intake's group commit and the API (the pool size the ingest benchmark was measured with). */
export const HTTP_POOL_CONNECTIONS = 10
/** Connections for the workers that are not per-system: engine timers, notify, audit, reconciliation, escalations. */
export const WORKER_POOL_HEADROOM = 4

/**
 * The application pool's size when `database.poolSize` is not set, from what this process runs.
 * A system job can hold a connection for as long as its vendor call takes (a group edit under an
 * advisory lock, src/db/advisory-locks.ts, which may take half the pool) besides its transactions
 * and limiter takes, and each HR notice applies in a transaction: a fixed pool of 10 made raising
 * `workers.concurrency` queue jobs on connections instead of running them. So the workers take one
 * connection per job slot of a system queue and per HR notice in flight, plus the headroom; the HTTP
 * side takes its own share where this process serves it (the HTTP process of `tenure serve` with a
 * worker process: that share only).
 */
export function defaultPoolSize(runs: { http: boolean; workers: false | { concurrency: number; hrEventConcurrency: number } }): number {
  const workers = runs.workers ? runs.workers.concurrency + runs.workers.hrEventConcurrency + WORKER_POOL_HEADROOM : 0
  return Math.max(2, workers + (runs.http ? HTTP_POOL_CONNECTIONS : 0))
}

/** How a transaction begins: PostgreSQL's default, or an explicit isolation level (the audit chain's writers and readers). */
const BEGIN = {
  default: 'BEGIN',
  readCommitted: 'BEGIN ISOLATION LEVEL READ COMMITTED',
  repeatableReadOnly: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
} as const
export type TransactionMode = keyof typeof BEGIN

/** Run `fn` in a transaction; commit on success, roll back on any error and rethrow it. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>, mode: TransactionMode = 'default'): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query(BEGIN[mode])
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

/**
 * A transaction whose first statement travels with its BEGIN, in one simple query: one round trip
 * less on the engine's hot path (node-postgres never pipelines, so BEGIN alone costs a full round
 * trip and a wake-up of the backend). `first` is SQL text without parameters (the simple protocol
 * takes none): its builder must put only values it validated into it. Its rows go to `fn`.
 */
export async function withTransactionStartingWith<R extends pg.QueryResultRow, T>(pool: Pool, first: string, fn: (client: PoolClient, rows: R[]) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    // A multi-statement simple query answers with one result per statement: BEGIN's, then ours.
    const results = (await client.query(`${BEGIN.default}; ${first}`)) as unknown as Array<pg.QueryResult<R>>
    const rows = Array.isArray(results) ? (results[1]?.rows ?? []) : []
    const result = await fn(client, rows)
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

/** One round trip: the readiness check's proof that PostgreSQL answers. */
export async function ping(db: Queryable): Promise<void> {
  await db.query('SELECT 1')
}
