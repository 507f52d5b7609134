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
 *
 * Blocks: where a bucket refills fast, a process takes a small block of tokens in one UPDATE and
 * hands them to its own callers, each at the slot it would have had taken alone (the k-th token of
 * a block taken at balance b is due (k − b) / rate after the take). A block is at most what the
 * bucket refills in `block.maxHoldMs` (and at most half the burst), and a token not used within
 * that hold after its slot expires (it is not returned: that would cost the UPDATE the block
 * saved). So that a token used late can never make a burst the vendor refuses, the bucket refills
 * only to the burst less one block: in any window W, calls ≤ (burst − block) + rate × (W + hold)
 * = burst + rate × W, the published limit, however many processes share it. Slow buckets (a block
 * of one) keep one UPDATE per call, exactly as before.
 *
 * Sliding minutes (`window: 'sliding-minute'`, Google's Directory API): at most `perMinute` calls
 * in any 60-second interval, and a whole minute's quota may go at once. The row counts the calls
 * booked per slot of WINDOW_SLOT_MS; a call may be booked at slot T only if the slots of the window
 * that ends at T hold at most `perMinute` with it. Rounding errs on the safe side: a call booked in
 * slot T goes out during T or up to WINDOW_HOLD_MS after it (a block's token), and reaches the
 * vendor up to WINDOW_MARGIN_MS after its slot ends, so any 60 s at the vendor's end can see calls
 * of at most 60 s / slot + 1 + margin / slot consecutive slots: that many slots (WINDOW_SLOTS, a
 * window of 61.25 s) are counted. Bookings ahead, blocks and the line of refused callers work as
 * for token buckets: a block is booked in one slot and its tokens expire WINDOW_HOLD_MS after it.
 */
import { RateLimitedError } from '../../provisioners/errors.ts'
import type { RateLimitSpec } from '../../provisioners/types.ts'
import type { Queryable } from '../db/pool.ts'
import { createBucket, deferSlot, peekTokens, takeTokens, takeWindowSlots, type WindowTakeRequest } from '../db/rate-limits.ts'

/** A sliding minute's slot: a call counts in the slot in which it was booked. */
export const WINDOW_SLOT_MS = 250
/** The longest a block's token may be used after its slot has ended. */
export const WINDOW_HOLD_MS = 250
/** Margin for a call's time from Tenure to the vendor's counter (the hold included): network and event-loop jitter. */
export const WINDOW_MARGIN_MS = 1000
/** Slots counted per window: 60 s, the slot a call is counted in, and the margin (245 slots of 250 ms: 61.25 s). */
export const WINDOW_SLOTS = 60_000 / WINDOW_SLOT_MS + 1 + WINDOW_MARGIN_MS / WINDOW_SLOT_MS

export interface LimiterOptions {
  /** The longest a caller may wait for its slot before the job is pushed back instead. */
  maxWaitMs: number
  /** Injected for tests; defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>
  /** Observes waits (metrics): system, bucket, milliseconds waited. */
  onWait?: (system: string, bucket: string, ms: number) => void
  /**
   * Injected for tests: the clock (ms since the epoch) of sliding-minute buckets, sent to the
   * database in place of its own and used for this process's blocks. Default: the database's clock
   * for bookings (shared by every process) and Date.now() for the durations it answers.
   */
  now?: () => number
  /** Tokens taken per UPDATE at most, and the longest a process holds them (default 8 tokens, 1 s; `maxTokens: 1` turns blocks off). */
  block?: { maxTokens: number; maxHoldMs: number }
}

/** How many tokens one UPDATE takes for this bucket (1: no block). */
export function blockSize(spec: RateLimitSpec, block: { maxTokens: number; maxHoldMs: number }): number {
  return Math.max(1, Math.min(block.maxTokens, Math.floor(spec.burst / 2), Math.floor((spec.perMinute / 60) * (block.maxHoldMs / 1000))))
}

/** A block this process holds: taken at `at` (ms) when the balance was `balance` before it. */
interface Block {
  at: number
  balance: number
  size: number
  used: number
  /** A token is usable until its slot plus this. */
  holdMs: number
  perSecond: number
}

/** A block of a sliding-minute bucket this process holds: usable from `start` until `end` (ms, this process's clock). */
interface WindowBlock {
  start: number
  end: number
  size: number
  used: number
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
  const blockOptions = options.block ?? { maxTokens: 8, maxHoldMs: 1000 }
  const blocks = new Map<string, Block>()
  const taking = new Map<string, Promise<void>>()

  /**
   * A call's wait from this process's block of `key` (`local`), taking a new block when it has none
   * left (`fetchBlock`: true when one was taken). One fetch per key at a time: the others wait for it
   * and look again. Undefined when no block could be taken: the caller takes its own token.
   */
  async function fromSharedBlock(key: string, local: (key: string) => number | undefined, fetchBlock: (key: string) => Promise<boolean>): Promise<number | undefined> {
    for (;;) {
      const ms = local(key)
      if (ms !== undefined) return ms
      const inFlight = taking.get(key)
      if (inFlight) {
        await inFlight
        continue
      }
      let got = false
      const fetch = (async () => {
        got = await fetchBlock(key)
      })().finally(() => taking.delete(key))
      taking.set(key, fetch)
      await fetch
      if (!got) return undefined
    }
  }

  /** Milliseconds until the caller may go with `cost` more tokens of the block, or undefined when the block cannot serve it. */
  const fromBlock = (b: Block | undefined, cost: number, now: number): number | undefined => {
    if (!b || b.used + cost > b.size) return undefined
    const due = b.at + Math.max(0, ((b.used + cost - b.balance) / b.perSecond) * 1000)
    if (now > due + b.holdMs) return undefined // expired: a late token could make a burst
    b.used += cost
    return Math.max(0, due - now)
  }

  const wait = async (system: string, bucket: string, waitMs: number, signal?: AbortSignal) => {
    if (waitMs <= 0) return
    options.onWait?.(system, bucket, waitMs)
    await (sleep ? sleep(waitMs) : sleepFor(waitMs, signal))
  }

  const windowBlocks = new Map<string, WindowBlock>()
  const clock = options.now ?? Date.now

  /** Milliseconds until the caller may go with `cost` more tokens of the block, or undefined when the block cannot serve it. */
  const fromWindowBlock = (b: WindowBlock | undefined, cost: number, now: number): number | undefined => {
    if (!b || b.used + cost > b.size || now > b.end) return undefined
    b.used += cost
    return Math.max(0, b.start - now)
  }

  const takeWindow = async (system: string, bucket: string, spec: RateLimitSpec, cost: number, signal?: AbortSignal): Promise<void> => {
    const request: Omit<WindowTakeRequest, 'cost' | 'defer'> = {
      system,
      bucket,
      limit: Math.max(1, Math.floor(spec.perMinute)),
      maxAheadMs: options.maxWaitMs,
      slotMs: WINDOW_SLOT_MS,
      slots: WINDOW_SLOTS,
      burst: spec.burst,
      perMinute: spec.perMinute,
    }
    const take = async (n: number, defer: boolean) => {
      const at = () => (options.now ? { at: new Date(options.now()) } : {})
      let booked = await takeWindowSlots(db, { ...request, cost: n, defer, ...at() })
      if (booked === undefined) {
        await createBucket(db, { system, bucket, burst: spec.burst, perMinute: spec.perMinute })
        booked = await takeWindowSlots(db, { ...request, cost: n, defer, ...at() })
      }
      if (booked === undefined) throw new Error(`rate limit bucket ${system}/${bucket} could not be created`)
      return booked
    }
    const size = blockSize(spec, blockOptions)
    if (size > 1 && cost <= size) {
      const ms = await fromSharedBlock(`${system}\u0000${bucket}`, (key) => fromWindowBlock(windowBlocks.get(key), cost, clock()), async (key) => {
        const booked = await take(size, false)
        if (!booked.granted) return false // too far ahead for a whole block: one token, below
        // Durations from the database's answer, counted from when it arrived: never earlier than the slot.
        const now = clock()
        windowBlocks.set(key, { start: now + booked.waitMs, end: now + booked.slotEndMs + WINDOW_HOLD_MS, size, used: 0 })
        return true
      })
      if (ms !== undefined) return wait(system, bucket, ms, signal)
    }
    const booked = await take(cost, true)
    if (!booked.granted) {
      const retryAfterMs = Math.max(1, Math.ceil(booked.waitMs))
      throw new RateLimitedError(`local limiter: ${system}/${bucket} is booked for the next ${retryAfterMs} ms`, retryAfterMs, {
        system,
        operation: `limiter.${bucket}`,
      })
    }
    await wait(system, bucket, Math.ceil(booked.waitMs), signal)
  }

  return {
    async take(system, bucket, spec, cost = 1, signal) {
      if (spec.window === 'sliding-minute') return takeWindow(system, bucket, spec, cost, signal)
      const perSecond = spec.perMinute / 60
      const maxAhead = (options.maxWaitMs / 1000) * perSecond
      const size = blockSize(spec, blockOptions)
      const cap = size > 1 ? spec.burst - size : spec.burst
      if (size > 1 && cost <= size) {
        const ms = await fromSharedBlock(`${system}\u0000${bucket}`, (key) => fromBlock(blocks.get(key), cost, Date.now()), async (key) => {
          const request = { system, bucket, burst: spec.burst, cap, perMinute: spec.perMinute, cost: size, maxAhead }
          let tokens = await takeTokens(db, request)
          if (tokens === undefined) {
            await createBucket(db, { system, bucket, burst: spec.burst, perMinute: spec.perMinute })
            tokens = await takeTokens(db, request)
          }
          if (tokens === undefined) return false // too far ahead for a whole block: one token, below
          // Slots count from the answer, as a single take's wait does: never earlier than the bucket's.
          blocks.set(key, { at: Date.now(), balance: tokens + size, size, used: 0, holdMs: (size / perSecond) * 1000, perSecond })
          return true
        })
        if (ms !== undefined) return wait(system, bucket, ms, signal)
      }
      const request = { system, bucket, burst: spec.burst, cap, perMinute: spec.perMinute, cost, maxAhead }
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
      await wait(system, bucket, waitMs, signal)
    },
  }
}
