/**
 * Runtime SQL for rate_limit_buckets: the token buckets of the shared per-system rate limiter
 * (src/jobs/limiter.ts decides; this module only runs the statements).
 */
import type { Queryable } from './pool.ts'

/**
 * One statement: refill by elapsed time (capped at capacity), take `cost`, and return the new
 * balance, unless the balance would fall below the most we allow to reserve ahead. Capacity and
 * rate come from the caller, so a changed limit in config applies on the next call.
 */
const TAKE_SQL = `
UPDATE rate_limit_buckets
   SET tokens = LEAST($7::float8, tokens + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * $4::float8 / 60.0) - $5::float8,
       capacity = $3::float8,
       per_minute = $4::float8,
       updated_at = clock_timestamp()
 WHERE system = $1 AND bucket = $2
   AND LEAST($7::float8, tokens + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * $4::float8 / 60.0) - $5::float8 >= -$6::float8
RETURNING tokens`

/** A new bucket starts full. */
const CREATE_SQL = `
INSERT INTO rate_limit_buckets (system, bucket, tokens, capacity, per_minute)
VALUES ($1, $2, $3, $3, $4)
ON CONFLICT (system, bucket) DO NOTHING`

const PEEK_SQL = `
SELECT LEAST(capacity, tokens + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * per_minute / 60.0) AS tokens
  FROM rate_limit_buckets WHERE system = $1 AND bucket = $2`

export interface TakeRequest {
  system: string
  bucket: string
  /** Capacity (the burst), as stored for the Admin screen. */
  burst: number
  /** The most the balance refills to (the burst, less what a process may hold; default the burst). */
  cap?: number
  perMinute: number
  cost: number
  /** How many tokens the balance may go below zero (reservations ahead). */
  maxAhead: number
}

/** The balance after taking, or undefined when the bucket does not exist or the reservation would be too far ahead. */
export async function takeTokens(db: Queryable, t: TakeRequest): Promise<number | undefined> {
  return (await db.query<{ tokens: number }>(TAKE_SQL, [t.system, t.bucket, t.burst, t.perMinute, t.cost, t.maxAhead, t.cap ?? t.burst])).rows[0]?.tokens
}

/** Create the bucket full unless it exists. */
export async function createBucket(db: Queryable, b: { system: string; bucket: string; burst: number; perMinute: number }): Promise<void> {
  await db.query(CREATE_SQL, [b.system, b.bucket, b.burst, b.perMinute])
}

/** The bucket's balance now (refilled, not taken), or undefined when it does not exist. */
export async function peekTokens(db: Queryable, system: string, bucket: string): Promise<number | undefined> {
  const peek = await db.query<{ tokens: number }>(PEEK_SQL, [system, bucket])
  return peek.rows[0]?.tokens
}

/** Every bucket's balance now (refilled, not taken), for the Admin screen. */
export async function bucketBalances(db: Queryable): Promise<Array<{ system: string; bucket: string; tokens: number; updated_at: Date }>> {
  const buckets = await db.query<{ system: string; bucket: string; tokens: number; updated_at: Date }>(
    `SELECT system, bucket, LEAST(capacity, tokens + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * per_minute / 60.0)::float8 AS tokens, updated_at FROM rate_limit_buckets`,
  )
  return buckets.rows
}
