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

/**
 * A place in the line of refused callers: the slot after the bucket's reservations (when a token
 * for `cost` would be there) or one `cost` after the previous refused caller's slot, whichever is
 * later. Answers the milliseconds until that slot, or undefined when the bucket does not exist.
 * The line is a time, not a count, so it drains by itself at the refill rate: callers who never
 * come back (their change done by another job's call) leave no debt behind.
 */
const DEFER_SQL = `
UPDATE rate_limit_buckets
   SET deferred_until = GREATEST(
         clock_timestamp() + make_interval(secs => GREATEST(0, $3::float8 - LEAST(capacity, tokens + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * per_minute / 60.0)) / (per_minute / 60.0)),
         COALESCE(deferred_until, '-infinity'::timestamptz) + make_interval(secs => $3::float8 / (per_minute / 60.0)))
 WHERE system = $1 AND bucket = $2
RETURNING EXTRACT(EPOCH FROM deferred_until - clock_timestamp()) * 1000.0 AS wait_ms`

export async function deferSlot(db: Queryable, system: string, bucket: string, cost: number): Promise<number | undefined> {
  const res = await db.query<{ wait_ms: number | string }>(DEFER_SQL, [system, bucket, cost])
  const row = res.rows[0]
  return row === undefined ? undefined : Number(row.wait_ms)
}

/**
 * One statement for a sliding-minute bucket (src/jobs/limiter.ts decides the slot size and the
 * window's length in slots): lock the row, move the window to now (or to the latest slot already
 * booked, whichever is later: reservations stay in time order, so only the window that ends at
 * the new slot needs checking: every later window holds a subset of its calls), find the first
 * slot from there at which the calls in the window plus `cost` stay within the limit, and book it
 * there unless it is further ahead than `maxAheadMs`. A refused caller books nothing; with
 * `defer` it gets a place in the line of refused callers (deferred_until, as the token bucket's):
 * the slot with room, or one `cost` at the average rate after the previous refused caller's.
 *
 * The row is locked by the WITH query's FOR UPDATE, which returns the latest version of the row
 * (READ COMMITTED), and the clock is read after the lock: every value the UPDATE writes comes
 * from that version, so concurrent callers on other processes are serialised on the row.
 * Params: $1 system, $2 bucket, $3 limit (calls in any window), $4 cost, $5 maxAheadMs,
 * $6 slot ms, $7 slots per window, $8 burst (stored), $9 perMinute (stored), $10 defer,
 * $11 the time to book at (tests; NULL: the database's clock, the one clock every process shares).
 */
const WINDOW_TAKE_SQL = `
WITH cur AS (
  SELECT window_slots AS slots, window_head AS head, window_slot_ms AS slot_ms
    FROM rate_limit_buckets WHERE system = $1 AND bucket = $2
     FOR UPDATE
), clock AS (
  SELECT cur.*, t.now_ts, EXTRACT(EPOCH FROM t.now_ts) * 1000.0 AS now_ms
    FROM cur, LATERAL (SELECT COALESCE($11::timestamptz, clock_timestamp()) AS now_ts) t
), base AS (
  SELECT clock.*, GREATEST(COALESCE(clock.head, s.now_slot), s.now_slot) AS b
    FROM clock, LATERAL (SELECT floor(clock.now_ms / $6::float8)::bigint AS now_slot) s
), shifted AS (
  SELECT base.*,
         CASE WHEN base.slots IS NULL OR base.slot_ms IS DISTINCT FROM $6::int OR cardinality(base.slots) <> $7::int OR base.b - base.head >= $7::int
              THEN array_fill(0, ARRAY[$7::int])
              ELSE array_fill(0, ARRAY[(base.b - base.head)::int]) || base.slots[1 : $7::int - (base.b - base.head)::int] END AS arr
    FROM base
), pick AS (
  SELECT shifted.*,
         CASE WHEN w.total + $4::int <= $3::int THEN 0
              ELSE (SELECT $7::int - max(d.i) + 1
                      FROM (SELECT u.i, sum(u.c) OVER (ORDER BY u.i DESC) AS dropped FROM unnest(shifted.arr) WITH ORDINALITY AS u(c, i)) d
                     WHERE w.total - d.dropped + $4::int <= $3::int) END AS j
    FROM shifted, LATERAL (SELECT COALESCE(sum(x), 0) AS total FROM unnest(shifted.arr) x) w
), decided AS (
  SELECT pick.*,
         pick.j IS NOT NULL AND (pick.b + pick.j) * $6::float8 - pick.now_ms <= $5::float8 AS ok,
         pick.b + COALESCE(pick.j, $7::int) AS slot
    FROM pick
)
UPDATE rate_limit_buckets r
   SET window_slots = CASE WHEN NOT d.ok THEN r.window_slots
                           WHEN d.j = 0 THEN ARRAY[d.arr[1] + $4::int] || d.arr[2 : $7::int]
                           ELSE ARRAY[$4::int] || array_fill(0, ARRAY[(d.j - 1)::int]) || d.arr[1 : $7::int - d.j::int] END,
       window_head = CASE WHEN d.ok THEN d.slot ELSE r.window_head END,
       window_slot_ms = CASE WHEN d.ok THEN $6::int ELSE r.window_slot_ms END,
       capacity = $8::float8,
       per_minute = $9::float8,
       updated_at = CASE WHEN d.ok THEN d.now_ts ELSE r.updated_at END,
       deferred_until = CASE WHEN d.ok OR NOT $10::boolean THEN r.deferred_until
                             ELSE GREATEST(to_timestamp(d.slot * $6::float8 / 1000.0),
                                           COALESCE(r.deferred_until, '-infinity'::timestamptz) + make_interval(secs => $4::float8 / ($3::float8 / 60.0))) END
  FROM decided d
 WHERE r.system = $1 AND r.bucket = $2
RETURNING d.ok,
          CASE WHEN d.ok OR NOT $10::boolean THEN d.slot * $6::float8 - d.now_ms
               ELSE EXTRACT(EPOCH FROM r.deferred_until) * 1000.0 - d.now_ms END AS wait_ms,
          (d.slot + 1) * $6::float8 - d.now_ms AS slot_end_ms`

export interface WindowTakeRequest {
  system: string
  bucket: string
  /** The most calls in any window (the published figure, whole calls). */
  limit: number
  cost: number
  /** The furthest ahead a slot may be booked. */
  maxAheadMs: number
  slotMs: number
  /** Slots per window: the minute, the slot a call is counted in and the margin. */
  slots: number
  /** As stored for the Admin screen. */
  burst: number
  perMinute: number
  /** On refusal, take a place in the line of refused callers. */
  defer: boolean
  /** Tests: book at this time instead of the database's clock. */
  at?: Date
}

export interface WindowTake {
  /** Booked; else refused, nothing booked. */
  granted: boolean
  /** Granted: ms until the booked slot begins (≤ 0: it has). Refused with `defer`: ms until the caller's place in the line; else until the slot with room. */
  waitMs: number
  /** Ms until the booked slot ends. */
  slotEndMs: number
}

/** Book `cost` calls in a sliding-minute bucket; undefined when the bucket does not exist. */
export async function takeWindowSlots(db: Queryable, t: WindowTakeRequest): Promise<WindowTake | undefined> {
  const res = await db.query<{ ok: boolean; wait_ms: number | string; slot_end_ms: number | string }>(WINDOW_TAKE_SQL, [
    t.system,
    t.bucket,
    t.limit,
    t.cost,
    t.maxAheadMs,
    t.slotMs,
    t.slots,
    t.burst,
    t.perMinute,
    t.defer,
    t.at ?? null,
  ])
  const row = res.rows[0]
  return row === undefined ? undefined : { granted: row.ok, waitMs: Number(row.wait_ms), slotEndMs: Number(row.slot_end_ms) }
}

/** Every bucket's balance now (refilled, not taken), for the Admin screen. */
export async function bucketBalances(db: Queryable): Promise<Array<{ system: string; bucket: string; tokens: number; updated_at: Date }>> {
  const buckets = await db.query<{ system: string; bucket: string; tokens: number; updated_at: Date }>(
    // A sliding-minute bucket's balance: its limit less the calls booked in the window that ends now (and any booked ahead).
    `SELECT system, bucket,
            CASE WHEN window_slots IS NULL THEN LEAST(capacity, tokens + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * per_minute / 60.0)
                 ELSE floor(per_minute) - (SELECT COALESCE(sum(u.c), 0) FROM unnest(window_slots) WITH ORDINALITY AS u(c, i)
                                    WHERE window_head - u.i + 1 > floor(EXTRACT(EPOCH FROM clock_timestamp()) * 1000.0 / window_slot_ms) - cardinality(window_slots)) END::float8 AS tokens,
            updated_at
       FROM rate_limit_buckets`,
  )
  return buckets.rows
}
