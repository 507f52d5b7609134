/**
 * The one module that looks into pg-boss's queue (docs/architecture.md, "Where SQL lives").
 *
 * It uses pg-boss's public API (12.35: `findJobs`, `getJobById`, `getQueues`, `getQueueStats`,
 * `complete`) where that answers the question exactly. Where it does not, the statement stays here,
 * on pg-boss's `job` table, with the API that was checked and why it falls short beside it. Two
 * reasons recur:
 *   - `getQueues()` / `getQueue()` / `getQueueStats()` report the counts the monitor last stored
 *     on the queue row (`queue.queued_count` …, refreshed every monitor pass), not the jobs as
 *     they are now: a count read there lags by up to a monitor interval and cannot be filtered by
 *     payload (`data`).
 *   - `findJobs(name, …)` and `getJobById(name, id)` need the queue's name, filter the payload
 *     only by containment, return every row of that queue (no order, limit or count), and with
 *     `queued: true` return `created` and `retry` but not `active`.
 * Nothing outside this module names the `job` table.
 */
import type { Queryable } from '../db/pool.ts'
import type { Boss } from './boss.ts'
import { inTransaction } from './boss.ts'
import type { PoolClient } from '../db/pool.ts'
import { cleanupQueue, systemQueue } from './queues.ts'

/**
 * Is leaver cut-off or verification work of this system due now or settled moments ago, or HR
 * work due now? SQL: a state filter with a start_after bound and a completed-within window,
 * across two queues with payload conditions that are not containment (`IN`, `<>`);
 * `findJobs(queued)` leaves out `active` jobs and `getQueue().readyCount` is the monitor's
 * stored count, not today's.
 */
export async function workBlockingCleanup(db: Queryable, schema: string, k: { systemQueue: string; hrQueue: string; settleSeconds: number }): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM ${schema}.job
      WHERE name = $1
        AND (state IN ('created', 'retry', 'active') AND start_after <= now() + interval '1 second'
             OR state = 'completed' AND completed_on > now() - make_interval(secs => $3))
        AND data->'request'->>'action' IN ('deprovision', 'verify') AND COALESCE(data->'request'->>'phase', 'cutoff') <> 'cleanup'
     UNION ALL
     SELECT 1 FROM ${schema}.job WHERE name = $2 AND state IN ('created', 'retry', 'active') AND start_after <= now()
     LIMIT 1`,
    [k.systemQueue, k.hrQueue, k.settleSeconds],
  )
  return rows.length > 0
}

/**
 * Jobs per queue now: system and clean-up work waiting or running, and dead letters waiting.
 * SQL: `getQueues()` has these counts per queue, but as the monitor last stored them.
 */
export async function queueDepths(db: Queryable, schema: string): Promise<Array<{ name: string; n: number }>> {
  const counts = await db.query<{ name: string; n: number }>(
    `SELECT name, count(*)::int AS n FROM ${schema}.job WHERE ((name LIKE 'system.%' OR name LIKE 'cleanup.%') AND state IN ('created', 'retry', 'active')) OR (name LIKE 'dlq.%' AND state = 'created') GROUP BY name`,
  )
  return counts.rows
}

/** Dead letters waiting per dead-letter queue (the metric). SQL: as queueDepths(). */
export async function deadLetterDepths(db: Queryable, schema: string): Promise<Array<{ name: string; n: number }>> {
  const { rows } = await db.query<{ name: string; n: number }>(`SELECT name, count(*)::int AS n FROM ${schema}.job WHERE name LIKE 'dlq.%' AND state = 'created' GROUP BY name`)
  return rows
}

/**
 * Leaver work (cut-offs and verifications) waiting or running per system queue, for the forecast.
 * SQL: a count filtered by the payload's action; `getQueues()` counts every job of a queue, as
 * the monitor last stored it.
 */
export async function leaverWorkDepths(db: Queryable, schema: string): Promise<Array<{ name: string; n: number }>> {
  const { rows } = await db.query<{ name: string; n: number }>(
    `SELECT name, count(*)::int AS n FROM ${schema}.job
      WHERE name LIKE 'system.%' AND state IN ('created', 'retry', 'active')
        AND data->'request'->>'action' IN ('deprovision', 'verify')
      GROUP BY name`,
  )
  return rows
}

export interface PendingJobRow {
  id: string
  name: string
  state: string
  start_after: Date
  retry_count: number
  action: string | null
  phase: string | null
}

/**
 * An employee's jobs waiting or running in any queue, soonest first (at most 100). SQL:
 * `findJobs()` looks in one named queue at a time, returns finished jobs too, and has no order or limit.
 */
export async function pendingJobsOf(db: Queryable, schema: string, employeeId: string): Promise<PendingJobRow[]> {
  const jobs = await db.query<PendingJobRow>(
    `SELECT id, name, state, start_after, retry_count, data->'request'->>'action' AS action, data->'request'->>'phase' AS phase
         FROM ${schema}.job WHERE data->>'employeeId' = $1 AND state IN ('created', 'retry', 'active') ORDER BY start_after LIMIT 100`,
    [employeeId],
  )
  return jobs.rows
}

/** A dead letter's payload: the system job it was, and the failure the worker recorded. */
export interface DeadLetterData {
  correlationId: string
  employeeId: string
  externalId: string
  request: { system: string; action: string; phase?: string; key: string }
  failure?: unknown
}

export interface DeadLetterRow {
  id: string
  name: string
  data: DeadLetterData
  created_on: Date
}

export interface DeadLetterFilter {
  /** `dlq.<system>` or the pattern `dlq.%`. */
  queue: string
  employeeId?: string
  action?: string
  sort: 'created' | '-created'
  limit: number
  offset: number
}

/**
 * A page of dead letters waiting for a person, and how many match. SQL: across every dead-letter
 * queue, ordered, paged and counted; `findJobs()` reads one queue at a time and returns all of it.
 */
export async function listDeadLetters(db: Queryable, schema: string, f: DeadLetterFilter): Promise<{ rows: DeadLetterRow[]; total: number }> {
  const params: unknown[] = [f.queue]
  const where = [`name LIKE $1`, `state = 'created'`]
  if (f.employeeId) where.push(`data->>'employeeId' = $${params.push(f.employeeId)}`)
  if (f.action) where.push(`data->'request'->>'action' = $${params.push(f.action)}`)
  const filter = where.join(' AND ')
  const [{ rows }, count] = await Promise.all([
    db.query<DeadLetterRow>(
      `SELECT id, name, data, created_on FROM ${schema}.job WHERE ${filter} ORDER BY created_on ${f.sort === 'created' ? 'ASC' : 'DESC'}, id
         LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, f.limit, f.offset],
    ),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.job WHERE ${filter}`, params),
  ])
  return { rows, total: count.rows[0]!.n }
}

/**
 * One dead letter by id, in any dead-letter queue. SQL: `getJobById(name, id)` and
 * `findJobs(name, { id })` need the queue's name, which the operator's link does not carry.
 */
export async function deadLetterById(db: Queryable, schema: string, id: string): Promise<(DeadLetterRow & { state: string; output: unknown }) | undefined> {
  const { rows } = await db.query<DeadLetterRow & { state: string; output: unknown }>(`SELECT id, name, data, state, output FROM ${schema}.job WHERE id = $1 AND name LIKE 'dlq.%'`, [id])
  return rows[0]
}

/**
 * Marks a waiting dead letter settled (state completed, how in `output`) in the caller's
 * transaction; false when it was not waiting any more (another click settled it first). SQL:
 * `complete(name, id, output, { includeQueued: true, db })` would settle it in the transaction, but
 * it matches every state before `completed` (a `retry` or `active` row too, where this must match
 * `created` only), stamps pg-boss's clock rather than the transaction's, and clears dependency flags.
 */
export async function settleDeadLetter(db: Queryable, schema: string, dead: { id: string; name: string }, output: unknown): Promise<boolean> {
  const updated = await db.query(`UPDATE ${schema}.job SET state = 'completed', completed_on = now(), output = $3 WHERE id = $1 AND name = $2 AND state = 'created'`, [
    dead.id,
    dead.name,
    JSON.stringify(output),
  ])
  return updated.rowCount !== 0
}

/**
 * Is the attempt `retryCount` of job `id` still the job's current one? Locks the job row for the
 * caller's transaction, so pg-boss's monitor cannot expire or retry it until the caller commits.
 * False when pg-boss ended the attempt meanwhile (expired, failed from outside after a missed
 * heartbeat, retried): a handler that finishes after that must not hand the job back, or the job
 * goes on twice (pg-boss's retry and the hand-back). A row that does not exist at all (a handler
 * called outside pg-boss, as tests do) counts as current. SQL: `getJobById()` reads without a
 * lock, so the answer could change before the hand-back commits.
 */
export async function isCurrentAttempt(db: Queryable, schema: string, job: { queue: string; id: string; retryCount: number }): Promise<boolean> {
  const { rows } = await db.query<{ state: string; retry_count: number }>(`SELECT state, retry_count FROM ${schema}.job WHERE name = $1 AND id = $2 FOR UPDATE`, [job.queue, job.id])
  const row = rows[0]
  return !row || (row.state === 'active' && row.retry_count === job.retryCount)
}

/** How a job was settled (its `output`). SQL: as deadLetterById(). */
export async function jobOutput(db: Queryable, schema: string, id: string): Promise<unknown> {
  const { rows } = await db.query<{ output: unknown }>(`SELECT output FROM ${schema}.job WHERE id = $1`, [id])
  return rows[0]?.output
}

/**
 * The newest job waiting or running for this employee in this system's work or clean-up queue,
 * read in the caller's transaction (so a job queued in it is seen). Public API: `findJobs()` on
 * both queues, payload matched by containment.
 */
export async function latestSystemJob(boss: Boss, client: PoolClient, employeeId: string, system: string): Promise<string | null> {
  const db = inTransaction(client)
  const data = { employeeId, request: { system } }
  // findJobs() refuses a queue that does not exist; a system disabled since its job failed keeps its queues, but ask first.
  const queues = (await boss.getQueues([systemQueue(system), cleanupQueue(system)])).map((q) => q.name)
  const live: Array<{ id: string; createdOn: Date }> = []
  for (const name of queues) {
    for (const j of await boss.findJobs(name, { data, db })) if (j.state === 'created' || j.state === 'retry' || j.state === 'active') live.push(j)
  }
  live.sort((a, b) => b.createdOn.getTime() - a.createdOn.getTime())
  return live[0]?.id ?? null
}

/** Readiness: one round trip on pg-boss's own connection pool (public API: getDb().executeSql()). */
export async function queueAnswers(boss: Boss): Promise<void> {
  await boss.getDb().executeSql('SELECT 1')
}

/** A reconciliation job as the Admin screen shows it. */
export interface ReconcileJobRow {
  id: string
  state: string
  created_on: Date
  started_on: Date | null
  completed_on: Date | null
  output: unknown
}

/** A job that has not finished: queued, waiting for a retry, or running. */
export const PENDING_STATES = ['created', 'retry', 'active']

/**
 * The latest job of `queue` for one source or system (matched by `data.<field>`; for a system, a
 * job without the field covers every system), and the oldest one still pending. SQL: newest-first
 * and oldest-pending reads with a state filter; `findJobs(queue, { data })` matches by
 * containment only (not "the field is absent") and returns the whole queue unordered.
 */
export async function reconcileJobRows(
  db: Queryable,
  schema: string,
  queue: string,
  field: 'source' | 'system',
  value: string,
): Promise<{ last: ReconcileJobRow | undefined; pending: ReconcileJobRow | undefined }> {
  const cols = 'id, state, created_on, started_on, completed_on, output'
  const match = field === 'system' ? `(data->>'system' = $2 OR data->>'system' IS NULL)` : `data->>'source' = $2`
  const last = await db.query<ReconcileJobRow>(`SELECT ${cols} FROM ${schema}.job WHERE name = $1 AND ${match} ORDER BY created_on DESC LIMIT 1`, [queue, value])
  const pending = await db.query<ReconcileJobRow>(
    `SELECT ${cols} FROM ${schema}.job WHERE name = $1 AND data->>'${field}' = $2 AND state::text = ANY($3::text[]) ORDER BY created_on LIMIT 1`,
    [queue, value, PENDING_STATES],
  )
  return { last: last.rows[0], pending: pending.rows[0] }
}

/** The oldest pending job of `queue` for this source or system, in the caller's transaction. SQL: as reconcileJobRows(). */
export async function pendingReconcileJob(db: Queryable, schema: string, queue: string, field: 'source' | 'system', value: string): Promise<{ id: string; state: string } | undefined> {
  const pending = await db.query<{ id: string; state: string }>(
    `SELECT id, state FROM ${schema}.job WHERE name = $1 AND data->>'${field}' = $2 AND state::text = ANY($3::text[]) ORDER BY created_on LIMIT 1`,
    [queue, value, PENDING_STATES],
  )
  return pending.rows[0]
}

/**
 * Is a job due in one of these queues: waiting, or waiting for its retry, with its start time
 * passed, and fetchable as pg-boss's fetch would take it (not blocked by a dependency, not
 * behind a sibling of its key in a key_strict_fifo queue that is running, waiting for a retry or
 * failed)? `tenure serve` asks every couple of seconds while its worker process is stopped for
 * idleness (src/worker-process.ts), and starts it when the answer is yes. The conditions are
 * those of pg-boss 12's fetch (plans.js), so a job the worker process could not fetch does not
 * start it again and again. SQL: `getQueueStats()` counts what the monitor last stored, not
 * what is due now; `findJobs(name, { queued })` reads one queue's every queued row, due or not.
 */
export async function jobDueIn(db: Queryable, schema: string, queues: string[]): Promise<boolean> {
  if (queues.length === 0) return false
  const { rows } = await db.query(
    `SELECT 1 FROM ${schema}.job j
      WHERE j.name = ANY($1::text[]) AND j.state < 'active' AND NOT j.blocked AND j.start_after <= ${schema}.job_now()
        AND (j.policy IS DISTINCT FROM 'key_strict_fifo' OR NOT EXISTS (
              SELECT 1 FROM ${schema}.job b
               WHERE b.name = j.name AND b.singleton_key = j.singleton_key AND b.id <> j.id
                 AND b.state IN ('active', 'retry', 'failed') AND b.policy = 'key_strict_fifo'))
      LIMIT 1`,
    [queues],
  )
  return rows.length > 0
}
