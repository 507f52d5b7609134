/**
 * pg-boss, configured for low latency. Queues are declared in one place (src/jobs/queues.ts)
 * and created at start; workers are registered by src/jobs/workers.ts.
 *
 * Latency settings, and why:
 * - `useListenNotify: true` on the instance plus `notify: true` on each queue: workers are
 *   woken by NOTIFY the instant a job is inserted instead of waiting for their next poll
 *   (pg-boss >= 12.21). Polling stays on as the correctness floor: delayed (`startAfter`) jobs
 *   do not notify, so `notifyPollingIntervalSeconds` bounds how late a timer can fire.
 * - A worker that just got a job fetches again at once instead of sleeping out the interval
 *   (src/jobs/runtime.ts wakes it with `notifyWorker`; pg-boss's own `burstWhenBatchFull` does
 *   nothing at `batchSize: 1`), so a mass layoff drains at the rate the targets allow.
 * - `localConcurrency`: several jobs in flight per queue per process (one single-job worker
 *   each); pg-boss hands out jobs with SKIP LOCKED, so several `tenure worker` processes share
 *   the work without a lock service.
 *
 * Crash recovery, and why:
 * - Every worked queue carries `heartbeatSeconds` (src/jobs/queues.ts `ensureQueue`): a worker
 *   refreshes its job's `heartbeat_on` while the handler runs (src/jobs/runtime.ts), and the
 *   supervisor retries an active job not refreshed for `heartbeatSeconds` (pg-boss >= 12.12,
 *   `failJobsByHeartbeat`). A process killed with -9, or one that lost PostgreSQL while it held
 *   a job and could not settle it, stops refreshing, so its jobs are retried in about
 *   heartbeatSeconds + monitorIntervalSeconds (+ the first retry delay and a poll): under 60 s by
 *   default. Before, only `expireInSeconds` (300 s) plus pg-boss's 60 s monitor interval found
 *   them, about 6 minutes of a leaver's SLA per crash. A slow job keeps refreshing and is left
 *   alone; `expireInSeconds` still bounds one run.
 * - `monitorIntervalSeconds` is pg-boss's own (default 60 s): the supervisor only looks for
 *   stale heartbeats that often, whatever `superviseIntervalSeconds` says.
 */
import { PgBoss, type Db as IDatabase, type Clock } from 'pg-boss'
import Manager from 'pg-boss/dist/manager.js'
import type { Config } from '../config/index.ts'
import type { Logger } from '../log.ts'
import type { Queryable } from '../db/pool.ts'
import { isUnavailable } from '../http/errors.ts'

export type Boss = PgBoss

/** What wakeOneOnNotify() reads of a pg-boss worker (pg-boss 12.35 dist/worker.js). */
interface WorkerLoop {
  name: string
  /** Set while the worker waits out its polling interval: idle, nothing fetched, nothing running. */
  loopDelayPromise: unknown
  notify(): void
}

/**
 * A NOTIFY for a queue wakes one of its idle workers, not every one. pg-boss's notifyQueue()
 * wakes all of them, and Tenure runs each queue as `localConcurrency` single-job workers
 * (src/jobs/runtime.ts), so every job inserted made 8 workers fetch at once, 7 of them for
 * nothing; a leaver case's opening notifies 5 system queues in one commit: 40 fetches, about
 * 40 ms of PostgreSQL on 2 cores, and the cut-off jobs waited behind them (single-leaver run,
 * PostgreSQL's statement log: 754 fetches in 6.5 s for 8 jobs per system). The woken worker,
 * when it gets a job, wakes one more (src/jobs/runtime.ts), so a burst fills every idle slot
 * one fetch after another and the chain ends at the first empty fetch. A worker that is
 * fetching or running a job is still notified: it only skips its next wait, so a fetch whose
 * snapshot predates the NOTIFY is followed by another and nothing waits for a poll.
 * The rest of pg-boss is untouched (gap recovery after a reconnect still wakes every worker).
 */
function wakeOneOnNotify(): void {
  const proto = Manager.prototype as unknown as { notifyQueue(this: { workers: Map<string, unknown> }, name: string): void; tenureWakesOne?: true }
  if (proto.tenureWakesOne) return
  proto.tenureWakesOne = true
  proto.notifyQueue = function notifyQueue(name) {
    let woke = false
    for (const w of this.workers.values()) {
      const worker = w as WorkerLoop
      if (worker.name !== name) continue
      if (!worker.loopDelayPromise) worker.notify()
      else if (!woke) {
        worker.notify()
        woke = true
      }
    }
  }
}
wakeOneOnNotify()

export interface BossOptions {
  url: string
  config: Config
  log: Logger
  /** Run maintenance and cron scheduling in this process (every serve/worker process may; pg-boss coordinates). */
  supervise?: boolean
  /** pg-boss's clock; tests pass its TestClock, which also moves PostgreSQL's idea of now for jobs. */
  clock?: Clock
}

export function createBoss(options: BossOptions): Boss {
  const { config, log } = options
  const boss = new PgBoss({
    connectionString: options.url,
    schema: config.queue.schema,
    max: config.queue.poolSize,
    application_name: 'tenure-queue',
    useListenNotify: config.queue.useListenNotify,
    supervise: options.supervise ?? true,
    superviseIntervalSeconds: config.queue.superviseIntervalSeconds,
    monitorIntervalSeconds: config.queue.monitorIntervalSeconds,
    schedule: options.supervise ?? true,
    ...(options.clock ? { clock: options.clock } : {}),
  })
  // While PostgreSQL is away (restart, fail-over) every worker's poll and every heartbeat fails
  // and pg-boss reports each one; pg-boss keeps polling and recovers by itself when PostgreSQL is
  // back. One warning per 10 s says so without burying the log; other errors are logged each time.
  let quietUntil = 0
  let suppressed = 0
  boss.on('error', (err: Error) => {
    const code = (err as { code?: string }).code
    if (isUnavailable(err)) {
      const now = Date.now()
      if (now < quietUntil) {
        suppressed += 1
        return
      }
      log.warn({ err: { message: err.message, code }, suppressed }, 'queue cannot reach PostgreSQL; it retries by itself')
      quietUntil = now + 10_000
      suppressed = 0
      return
    }
    log.error({ err: { message: err.message, name: err.name, code } }, 'queue error')
  })
  boss.on('warning', (warning: { message: string; data?: unknown }) => log.warn({ warning: warning.message }, 'queue warning'))
  return boss
}

/**
 * pg-boss's statements in our transactions (a queue's job insert, the timer cancel) under a name
 * each, so every connection prepares them once: the job insert is a large statement PostgreSQL
 * otherwise parsed and planned again on every transition. One name per distinct text (pg-boss
 * builds them per queue, a few dozen); past the cap a text goes unnamed, as before.
 */
const bossStatementNames = new Map<string, string>()
function bossStatementName(text: string): string | undefined {
  const known = bossStatementNames.get(text)
  if (known || bossStatementNames.size >= 200) return known
  const name = `tenure-boss-${bossStatementNames.size + 1}`
  bossStatementNames.set(text, name)
  return name
}

/** Adapt a pg client to pg-boss's IDatabase so a job is inserted inside our own transaction. */
export function inTransaction(client: Queryable): IDatabase {
  return {
    executeSql: async (text: string, values?: unknown[]) => {
      // Only a statement with parameters is named: it is one statement (the extended protocol),
      // while a parameterless text may hold several, which a prepared statement cannot.
      const name = values && values.length > 0 ? bossStatementName(text) : undefined
      const result = name ? await client.query({ name, text, values }) : await client.query(text, values as unknown[])
      return { rows: result.rows }
    },
  }
}
