/**
 * The shared per-system rate limiter: token buckets kept in PostgreSQL, so the vendor's published
 * limit holds across every worker process on the database (no lock service, no Redis).
 *
 * It reserves rather than polls: each call takes a token even when the bucket is empty, driving
 * it negative, and waits until its reserved slot comes (tokens / rate). Concurrent callers get
 * distinct slots from one atomic UPDATE, so calls leave at the paced rate with no retry storm
 * and no 429 discovered the hard way. A reservation further out than `maxWaitMs` is refused
 * (and not taken): the job is re-queued for that time instead of holding a worker.
 */
import { RateLimitedError } from '../../provisioners/errors.ts'
import type { RateLimitSpec } from '../../provisioners/types.ts'
import type { Queryable } from '../db/pool.ts'

export interface LimiterOptions {
  /** The longest a caller may wait for its slot before the job is pushed back instead. */
  maxWaitMs: number
  /** Injected for tests; defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>
  /** Observes waits (metrics): system, bucket, milliseconds waited. */
  onWait?: (system: string, bucket: string, ms: number) => void
}

export interface Limiter {
  take(system: string, bucket: string, spec: RateLimitSpec, cost?: number, signal?: AbortSignal): Promise<void>
}

// The signal is the process's shutdown signal, shared by every job: a listener left on it after
// the timer fired stayed there for good, and in the 5,000-leaver run the listeners piled up until
// adding and removing them was a quarter of the CPU profile.
const sleepFor = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason ?? new Error('aborted'))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })

/**
 * One statement: refill by elapsed time (capped at capacity), take `cost`, and return the new
 * balance, unless the balance would fall below the most we allow to reserve ahead. Capacity and
 * rate come from the caller, so a changed limit in config applies on the next call.
 */
const TAKE_SQL = `
UPDATE rate_limit_buckets
   SET tokens = LEAST($3::float8, tokens + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * $4::float8 / 60.0) - $5::float8,
       capacity = $3::float8,
       per_minute = $4::float8,
       updated_at = clock_timestamp()
 WHERE system = $1 AND bucket = $2
   AND LEAST($3::float8, tokens + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * $4::float8 / 60.0) - $5::float8 >= -$6::float8
RETURNING tokens`

/** A new bucket starts full. */
const CREATE_SQL = `
INSERT INTO rate_limit_buckets (system, bucket, tokens, capacity, per_minute)
VALUES ($1, $2, $3, $3, $4)
ON CONFLICT (system, bucket) DO NOTHING`

const PEEK_SQL = `
SELECT LEAST(capacity, tokens + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * per_minute / 60.0) AS tokens
  FROM rate_limit_buckets WHERE system = $1 AND bucket = $2`

export function createLimiter(db: Queryable, options: LimiterOptions): Limiter {
  const sleep = options.sleep
  return {
    async take(system, bucket, spec, cost = 1, signal) {
      const perSecond = spec.perMinute / 60
      const maxAhead = (options.maxWaitMs / 1000) * perSecond
      const params = [system, bucket, spec.burst, spec.perMinute, cost, maxAhead]
      let row = (await db.query<{ tokens: number }>(TAKE_SQL, params)).rows[0]
      if (!row) {
        // First use (or a concurrent first use by another worker): create the bucket, then take.
        await db.query(CREATE_SQL, [system, bucket, spec.burst, spec.perMinute])
        row = (await db.query<{ tokens: number }>(TAKE_SQL, params)).rows[0]
      }
      if (!row) {
        const peek = await db.query<{ tokens: number }>(PEEK_SQL, [system, bucket])
        const balance = peek.rows[0]?.tokens ?? 0
        const retryAfterMs = Math.max(1, Math.ceil(((cost - balance) / perSecond) * 1000))
        throw new RateLimitedError(`local limiter: ${system}/${bucket} is booked for the next ${retryAfterMs} ms`, retryAfterMs, {
          system,
          operation: `limiter.${bucket}`,
        })
      }
      if (row.tokens >= 0) return
      const waitMs = Math.ceil((-row.tokens / perSecond) * 1000)
      options.onWait?.(system, bucket, waitMs)
      await (sleep ? sleep(waitMs) : sleepFor(waitMs, signal))
    },
  }
}
