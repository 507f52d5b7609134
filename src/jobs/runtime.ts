/**
 * Worker runtime: every queue's handler is registered through `registerWorker`, which reads the
 * payload as `unknown` and validates it, logs once per failure with job id, attempt and
 * correlation id, and counts outcomes. Handlers stay small: validate → do → return.
 */
import type { Job, JobResult, WorkOptions } from 'pg-boss'
import type { z } from 'zod'
import type { Logger } from '../log.ts'
import type { Boss } from './boss.ts'
import { serializeError } from '../http/errors.ts'
import type { JobMetrics } from '../http/metrics.ts'

export interface JobContext {
  jobId: string
  queue: string
  attempt: number
  correlationId: string
  log: Logger
  signal: AbortSignal
}

export interface WorkerDefinition<S extends z.ZodType> {
  queue: string
  schema: S
  handler: (data: z.output<S>, ctx: JobContext) => Promise<unknown>
  options?: WorkOptions
  /** With `options.batchSize` > 1: how long a batch keeps starting its jobs (default BATCH_START_BUDGET_MS; tests). */
  batchStartBudgetMs?: number
}


/** A job payload that fails validation will never succeed: fail it without retries. */
export class InvalidPayloadError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidPayloadError'
  }
}

export interface WorkerHost {
  boss: Boss
  log: Logger
  metrics: JobMetrics
  /** Aborted when shutdown starts, so long handlers can stop early where that is safe. */
  shutdown: AbortSignal
}

/**
 * What the job workers of this process have been doing: the worker process of `tenure serve`
 * stops itself after `workers.idleStopSeconds` with none running and none fetched
 * (src/worker-entry.ts), and tells `tenure serve` which queues it works, so that serve starts it
 * again when one of them has a job due (src/worker-process.ts).
 */
const activity = { active: 0, lastAt: Date.now(), jobs: 0, queues: new Set<string>(), ignored: new Set<string>() }

/**
 * Jobs of these queues do not count as activity (the minute-by-minute housekeeping `tenure serve`
 * works itself while its worker process is stopped: counted, a cron job every minute would keep
 * the worker process from ever being idle for a minute).
 */
export function ignoreForIdleness(queues: Iterable<string>): void {
  for (const q of queues) activity.ignored.add(q)
}

export interface JobActivity {
  /** Handlers running now. */
  active: number
  /** Since the last handler started or finished (0 while one runs). */
  idleMs: number
  /** Jobs run since the process started. */
  jobs: number
  /** The queues this process works (every registerWorker call). */
  queues: string[]
}

export function jobActivity(): JobActivity {
  return { active: activity.active, idleMs: activity.active > 0 ? 0 : Date.now() - activity.lastAt, jobs: activity.jobs, queues: [...activity.queues] }
}

/**
 * Starts `localConcurrency` workers on the queue, each fetching one job at a time.
 *
 * Each is its own `work()` with `localConcurrency: 1`, so a handler knows its worker and, when it
 * finishes a job, wakes that worker to fetch again at once (`notifyWorker`), and wakes one idle
 * sibling to look for the next job (a NOTIFY wakes only one, src/jobs/boss.ts). pg-boss only bursts
 * for batches larger than one (`burstWhenBatchFull` is ignored at `batchSize: 1`); without this,
 * a worker with a backlog took one job per polling interval unless a NOTIFY happened to land,
 * which capped a system's queue at `localConcurrency` jobs per interval in a layoff. A fetch
 * that finds nothing runs no handler, so an idle queue still just polls (or waits for NOTIFY).
 * Returns the first worker's id.
 */
export async function registerWorker<S extends z.ZodType>(host: WorkerHost, def: WorkerDefinition<S>): Promise<string> {
  const { localConcurrency = 1, ...rest } = def.options ?? {}
  activity.queues.add(def.queue)
  // The id is known only once work() returns; a job fetched before that just waits one interval.
  const slots: Array<{ id?: string; busy: boolean }> = []
  for (let i = 0; i < localConcurrency; i++) {
    const self: { id?: string; busy: boolean } = { busy: false }
    slots.push(self)
    self.id = await startWorker(host, def, { ...rest, localConcurrency: 1 }, {
      fetched: () => {
        self.busy = true
        if (self.id) host.boss.notifyWorker(self.id)
        // A NOTIFY wakes one idle worker (src/jobs/boss.ts wakeOneOnNotify): one that got a job
        // wakes one more, which looks for the next; the chain stops at the first empty fetch.
        const idle = slots.find((slot) => slot !== self && !slot.busy && slot.id)
        if (idle?.id) host.boss.notifyWorker(idle.id)
      },
      settled: () => {
        self.busy = false
      },
    })
  }
  return slots[0]!.id!
}

interface SlotHooks {
  /** A fetch returned jobs: fetch again once they are done, and wake an idle sibling. */
  fetched(): void
  settled(): void
}

async function startWorker<S extends z.ZodType>(host: WorkerHost, def: WorkerDefinition<S>, workOptions: WorkOptions, hooks: SlotHooks): Promise<string> {
  const { boss } = host
  const batched = (workOptions.batchSize ?? 1) > 1
  const options: WorkOptions = { batchSize: 1, ...workOptions, ...(batched ? { perJobResults: true } : {}) }
  const run = (jobs: Job<unknown>[]) => (batched ? runBatch(host, def, jobs, def.batchStartBudgetMs) : runJob(host, def, jobs[0]!))
  const handler = async (jobs: Job<unknown>[]): Promise<unknown> => {
    if (jobs.length === 0) return batched ? [] : undefined
    hooks.fetched()
    try {
      if (activity.ignored.has(def.queue)) return await run(jobs)
      activity.active += 1
      activity.jobs += jobs.length
      activity.lastAt = Date.now()
      try {
        return await run(jobs)
      } finally {
        activity.active -= 1
        activity.lastAt = Date.now()
      }
    } finally {
      hooks.settled()
    }
  }
  return boss.work(def.queue, options, handler)
}

/**
 * How long a batch keeps starting its jobs. The jobs of a batch were all claimed at its fetch and
 * run one after another; one still waiting after this long is handed back (failed, so it is
 * retried after the queue's retry delay, by any process) instead of running into the queue's
 * expireInSeconds (300 s by default) while it waits.
 */
export const BATCH_START_BUDGET_MS = 30_000

/**
 * A fetched batch (`batchSize` > 1), run one job after another in this slot, each settled on its
 * own (pg-boss's `perJobResults`): a job that fails is retried alone, the others complete. For a
 * queue whose fetch costs grow with its backlog (the HR intake's strict-FIFO fetch reads the head
 * of every employee's lane), one fetch per batch instead of one per job.
 */
async function runBatch<S extends z.ZodType>(host: WorkerHost, def: WorkerDefinition<S>, jobs: Job<unknown>[], budgetMs = BATCH_START_BUDGET_MS): Promise<JobResult[]> {
  const started = Date.now()
  const results: JobResult[] = []
  for (const job of jobs) {
    const late = results.length > 0 && Date.now() - started > budgetMs
    if (late || host.shutdown.aborted) {
      const reason = late ? `not started within ${budgetMs / 1000} s of its batch's fetch` : 'not started: the process is shutting down'
      host.log.info({ jobId: job.id, queue: def.queue }, `job handed back: ${reason}`)
      results.push({ id: job.id, status: 'failed', output: { message: `${reason}; retried` } })
      continue
    }
    try {
      results.push({ id: job.id, status: 'completed', output: await runJob(host, def, job) })
    } catch (err) {
      results.push({ id: job.id, status: 'failed', output: serializeError(err) })
    }
  }
  return results
}

/** One job: validate its payload, run the handler, log and count the outcome (throws on failure). */
async function runJob<S extends z.ZodType>(host: WorkerHost, def: WorkerDefinition<S>, job: Job<unknown>): Promise<unknown> {
  const { log, metrics } = host
  const data = job.data as { correlationId?: unknown } | null
  const correlationId = typeof data?.correlationId === 'string' ? data.correlationId : job.id
  const attempt = ((job as { retryCount?: number }).retryCount ?? 0) + 1
  const jobLog = log.child({ jobId: job.id, queue: def.queue, attempt, correlationId })
  const parsed = def.schema.safeParse(job.data)
  const end = metrics.duration.startTimer({ queue: def.queue })
  if (!parsed.success) {
    metrics.outcomes.inc({ queue: def.queue, outcome: 'invalid' })
    jobLog.error({ issues: parsed.error.issues.slice(0, 5) }, 'job payload failed validation')
    end()
    throw new InvalidPayloadError(`invalid payload: ${parsed.error.issues[0]?.message ?? 'unknown'}`)
  }
  try {
    const result = await def.handler(parsed.data, {
      jobId: job.id,
      queue: def.queue,
      attempt,
      correlationId,
      log: jobLog,
      signal: host.shutdown,
    })
    metrics.outcomes.inc({ queue: def.queue, outcome: 'completed' })
    return result
  } catch (err) {
    metrics.outcomes.inc({ queue: def.queue, outcome: 'failed' })
    jobLog.warn({ err: serializeError(err) }, 'job failed')
    throw err
  } finally {
    end()
  }
}
