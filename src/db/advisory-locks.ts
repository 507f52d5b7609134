/**
 * Cross-process locks for read-modify-writes in target systems (provisioners/types.ts TargetLock):
 * a Slack user group's member list, a SCIM Group replaced with PUT. Several `tenure worker`
 * processes on one PostgreSQL edit the same group when leavers (or joiners) share it; a vendor
 * API that replaces the whole list loses one of two concurrent edits. The lock makes "read the
 * list, change it, write it back" one step across every process on the database.
 *
 * Why a transaction-level advisory lock and not a pg-boss queue per group: a deprovision job edits
 * every group its person is in, one after the other, and reports them in one evidence record;
 * routing each group edit through a job of its own would split that record and its retries. The
 * lock is held only around the read-modify-write (two or three vendor calls).
 *
 * - pg_try_advisory_xact_lock, polled, not pg_advisory_xact_lock: a blocked caller would hold a
 *   pool connection while it waits and could be cut by statement_timeout. Polling waits without
 *   a connection, and with backoff (25 ms doubling to 500 ms) a contended group costs a few cheap
 *   statements a second.
 * - Transaction-scoped: COMMIT or ROLLBACK releases it, and a process that dies (kill -9, a lost
 *   host) releases it with its connection. Nothing to clean up, nothing can stay locked.
 * - At most `maxHeld` locks held at once per process (default: half the pool). The holder's vendor
 *   calls take limiter tokens through the same pool (src/jobs/limiter.ts); with every connection
 *   held by lock holders, those would wait for a connection that never comes.
 * - The key is hashed to 64 bits (hashtextextended). A collision only makes two unrelated groups
 *   take turns.
 * - If the connection holding the lock is lost mid-edit (a PostgreSQL restart), the lock is gone
 *   with it; the COMMIT then fails and the caller's job is retried, which reads the group again.
 */
import type { Pool, Queryable } from './pool.ts'
import type { TargetLock } from '../../provisioners/types.ts'
import { TargetLockBusyError } from '../../provisioners/errors.ts'

const TRY_LOCK = 'SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok'
const FIRST_WAIT_MS = 25
const MAX_WAIT_MS = 500

export interface AdvisoryLockOptions {
  /** Locks held at once by this process; default half the pool's size (at least 1). */
  maxHeld?: number
  /**
   * Longest a caller waits for the lock (default 30 s) before giving up with TargetLockBusyError,
   * which the job layer turns into a hand-back: a job queueing behind a busy group for minutes
   * would outlive its run's expiry and spend pg-boss attempts on waiting (the second full chaos
   * run dead-lettered joiners that way: "handler execution exceeded 300s").
   */
  maxWaitMs?: number
}

export function advisoryLocks(pool: Pool, options: AdvisoryLockOptions = {}): TargetLock {
  const maxHeld = Math.max(1, options.maxHeld ?? Math.floor((pool.options.max ?? 10) / 2))
  const maxWaitMs = options.maxWaitMs ?? 30_000
  let held = 0
  const waiting: Array<() => void> = []
  const acquireSlot = (signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason)
      if (held < maxHeld) {
        held += 1
        return resolve()
      }
      const onAbort = () => {
        const i = waiting.indexOf(grant)
        if (i >= 0) waiting.splice(i, 1)
        reject(signal.reason)
      }
      const grant = () => {
        signal.removeEventListener('abort', onAbort)
        held += 1
        resolve()
      }
      signal.addEventListener('abort', onAbort, { once: true })
      waiting.push(grant)
    })
  const releaseSlot = () => {
    held -= 1
    waiting.shift()?.()
  }

  return {
    async hold(key, signal, fn) {
      const started = Date.now()
      for (let wait = FIRST_WAIT_MS; ; wait = Math.min(MAX_WAIT_MS, wait * 2)) {
        const waited = Date.now() - started
        if (waited > maxWaitMs) throw new TargetLockBusyError(key, waited, Math.min(60_000, waited))
        try {
          await acquireSlot(waitSignal(signal, maxWaitMs - waited))
        } catch (err) {
          if (signal.aborted) throw err
          // This process's share of the pool stayed taken by other lock holders.
          const all = Date.now() - started
          throw new TargetLockBusyError(key, all, Math.min(60_000, all))
        }
        const client = await pool.connect().catch((err: unknown) => {
          releaseSlot()
          throw err
        })
        // A client whose transaction state is unknown (a statement failed) never goes back to the pool.
        let broken: Error | undefined
        const query = (sql: string, values?: unknown[]) =>
          client.query<{ ok: boolean }>(sql, values).catch((err: unknown) => {
            broken = err instanceof Error ? err : new Error(String(err))
            throw err
          })
        try {
          await query('BEGIN')
          const { rows } = await query(TRY_LOCK, [key])
          if (rows[0]?.ok) {
            let result: Awaited<ReturnType<typeof fn>>
            try {
              result = await fn()
            } catch (err) {
              await query('ROLLBACK').catch(() => {})
              throw err
            }
            await query('COMMIT')
            return result
          }
          await query('ROLLBACK')
        } finally {
          client.release(broken)
          releaseSlot()
        }
        await sleep(wait / 2 + Math.random() * (wait / 2), signal)
      }
    },
  }
}

/** `signal`, or a timeout of `ms` when that comes first (a slot that never frees up). */
function waitSignal(signal: AbortSignal, ms: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, ms))])
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** A transaction-scoped advisory lock on a text key (released at COMMIT or ROLLBACK). */
export async function lockKeyForTransaction(db: Queryable, key: string): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key])
}
