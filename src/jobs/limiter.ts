/**
 * The shared per-system rate limiter: token buckets kept in PostgreSQL, so the vendor's published
 * limit holds across every worker process on the database (no lock service, no Redis).
 *
 * It reserves rather than polls: each call takes a token even when the bucket is empty, driving
 * it negative, and waits until its reserved slot comes (tokens / rate). Concurrent callers get
 * distinct slots from one atomic UPDATE, so calls leave at the paced rate with no retry storm
 * and no 429 discovered the hard way. A reservation further out than `maxWaitMs` is refused
 * (and not taken): the job is re-queued instead of holding a worker, for its place in the line
 * of refused callers (rate_limit_buckets.deferred_until), so the re-poll is sized to the queue ahead.
 */
import { RateLimitedError } from '../../provisioners/errors.ts'
import type { RateLimitSpec } from '../../provisioners/types.ts'
import type { Queryable } from '../db/pool.ts'
import { createBucket, deferSlot, peekTokens, takeTokens } from '../db/rate-limits.ts'

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

export function createLimiter(db: Queryable, options: LimiterOptions): Limiter {
  const sleep = options.sleep
  return {
    async take(system, bucket, spec, cost = 1, signal) {
      const perSecond = spec.perMinute / 60
      const maxAhead = (options.maxWaitMs / 1000) * perSecond
      const request = { system, bucket, burst: spec.burst, perMinute: spec.perMinute, cost, maxAhead }
      let tokens = await takeTokens(db, request)
      if (tokens === undefined) {
        // First use (or a concurrent first use by another worker): create the bucket, then take.
        await createBucket(db, { system, bucket, burst: spec.burst, perMinute: spec.perMinute })
        tokens = await takeTokens(db, request)
      }
      if (tokens === undefined) {
        // The job comes back at its place in the line of refused callers, not after a fixed few
        // seconds: with N jobs waiting on a bucket that refills r tokens a second, the k-th one
        // refused waits about (booked ahead + k) / r. Re-polling every ~5 s made a 500-joiner wave
        // hand Slack jobs back 88,207 times (docs/reliability.md) while nothing moved.
        const slotMs = await deferSlot(db, system, bucket, cost)
        const balance = slotMs === undefined ? ((await peekTokens(db, system, bucket)) ?? 0) : undefined
        const retryAfterMs = Math.max(1, Math.ceil(slotMs ?? ((cost - (balance ?? 0)) / perSecond) * 1000))
        throw new RateLimitedError(`local limiter: ${system}/${bucket} is booked for the next ${retryAfterMs} ms`, retryAfterMs, {
          system,
          operation: `limiter.${bucket}`,
        })
      }
      if (tokens >= 0) return
      const waitMs = Math.ceil((-tokens / perSecond) * 1000)
      options.onWait?.(system, bucket, waitMs)
      await (sleep ? sleep(waitMs) : sleepFor(waitMs, signal))
    },
  }
}
