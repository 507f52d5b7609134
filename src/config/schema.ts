/**
 * The configuration schema. Every key carries its documentation in `.describe()`;
 * docs/configuration.md is generated from it (`npm run docs:config`) so the two cannot drift.
 */
import { z } from 'zod'

const port = z.coerce.number().int().min(0).max(65535)

export const serverSchema = z
  .object({
    port: port.default(8080).describe('HTTP port. Env: PORT. 0 picks a free port.'),
    host: z.string().default('127.0.0.1').describe('Interface to listen on. Use 0.0.0.0 behind a load balancer.'),
    publicUrl: z.url().optional().describe('URL users reach Tenure at (links in notifications, OIDC redirect). Default: http://<host>:<port>.'),
    trustProxy: z
      .union([z.boolean(), z.number().int(), z.string()])
      .default(false)
      .describe("express 'trust proxy' setting: true, a hop count, or a list of subnets; needed for per-IP rate limits behind a proxy."),
    bodyLimitBytes: z.number().int().positive().default(1_048_576).describe('Largest accepted request body; larger gets 413.'),
    cors: z
      .object({
        origins: z
          .array(
            z
              .url()
              .refine((v) => new URL(v).origin === v.replace(/\/$/, ''), 'an origin: scheme://host[:port], no path')
              .transform((v) => new URL(v).origin),
          )
          .default([])
          .describe('Browser origins allowed to call /api (e.g. https://console.example.com). Empty: no CORS headers, so pages on other origins cannot read API responses.'),
        maxAgeSeconds: z.number().int().min(0).max(86_400).default(600).describe('How long a browser may cache a CORS preflight answer.'),
      })
      .strict()
      .prefault({})
      .describe('CORS for the API. Off unless origins are listed.'),
    shutdownTimeoutSeconds: z
      .number()
      .positive()
      .default(12)
      .describe('On SIGTERM/SIGINT: how long in-flight requests and jobs may take to finish before the process exits anyway.'),
  })
  .strict()

export const databaseSchema = z
  .object({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
      .optional()
      .describe('PostgreSQL connection URL. Env: DATABASE_URL. Unset: an embedded PostgreSQL is started in dataDir.'),
    dataDir: z.string().default('.tenure').describe('Folder for the embedded PostgreSQL and local state. Env: TENURE_DATA_DIR.'),
    poolSize: z
      .number()
      .int()
      .min(2)
      .max(400)
      .optional()
      .describe(
        'Connections in the application pool, per process (pg-boss has its own, queue.poolSize). Unset: derived from what the process runs (src/db/pool.ts defaultPoolSize): a process that runs the workers takes workers.concurrency + workers.hrEventConcurrency + 4 (engine timers, notify, audit, reconciliation); one that serves HTTP takes 10 more. With the defaults: the HTTP process of `tenure serve` 10, its worker process and `tenure worker` 16, `tenure serve` with workers.inProcess 26. Set it when PostgreSQL (max_connections) or a pooler limits connections: every process on the database counts.',
      ),
    connectTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .default(5_000)
      .describe(
        "How long a query waits for a connection before it fails (and its job is retried): a new one to PostgreSQL, or a free one when the pool is full (pg-pool's connectionTimeoutMillis covers both). A database that does not answer fails fast instead of stalling every worker.",
      ),
    statementTimeoutMs: z.number().int().positive().default(30_000).describe('statement_timeout for application queries.'),
  })
  .strict()

export const queueSchema = z
  .object({
    schema: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('pgboss').describe("PostgreSQL schema pg-boss owns."),
    poolSize: z.number().int().min(2).max(100).default(10).describe("pg-boss's own connection pool size."),
    useListenNotify: z
      .boolean()
      .default(true)
      .describe('Wake workers by LISTEN/NOTIFY the moment a job is queued (needs a session-mode connection, not PgBouncer transaction mode).'),
    pollingIntervalSeconds: z
      .number()
      .min(0.5)
      .default(2)
      .describe('Fallback polling when NOTIFY is off; pg-boss requires >= 0.5.'),
    notifyPollingIntervalSeconds: z
      .number()
      .min(0.5)
      .default(10)
      .describe('Safety-net polling while NOTIFY is on (delayed jobs do not notify; they are picked up by this poll).'),
    retryLimit: z.number().int().min(0).default(8).describe('Attempts after the first before a job goes to its dead-letter queue.'),
    retryDelaySeconds: z.number().min(0).default(5).describe('First retry delay; doubles with jitter (exponential backoff).'),
    retryDelayMaxSeconds: z.number().min(1).default(600).describe('Longest backoff between retries.'),
    heartbeatSeconds: z
      .number()
      .int()
      .min(10)
      .default(20)
      .describe(
        'A running job proves it is alive every quarter of this; a job not heard from for this long (its process died: kill -9, OOM, a lost host) is retried. Detects a dead worker in about heartbeatSeconds + monitorIntervalSeconds, without touching slow jobs that are still running. pg-boss requires >= 10.',
      ),
    superviseIntervalSeconds: z
      .number()
      .int()
      .min(1)
      .default(10)
      .describe("How often pg-boss's supervisor runs in each process (job expiry, heartbeat checks, retention); monitoring runs on these ticks."),
    monitorIntervalSeconds: z
      .number()
      .int()
      .min(1)
      .default(10)
      .describe('How often jobs whose heartbeat stopped (or that ran past expireInSeconds) are found and retried, and queue statistics refreshed.'),
    expireInSeconds: z
      .number()
      .int()
      .min(30)
      .default(300)
      .describe('Longest a single run of a job may take; a run still going after this is counted as failed and retried. Keep above the slowest vendor call. Dead workers are found by heartbeatSeconds, not by this.'),
  })
  .strict()

export const workersSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run job workers with `tenure serve` (in its child process, or in-process with `workers.inProcess`); `tenure worker` always does.'),
    inProcess: z
      .boolean()
      .default(false)
      .describe(
        '`tenure serve` only. false: the engine and the job workers run in a child process that `tenure serve` starts, supervises (restarted on exit with backoff, stopped on shutdown, its logs on the same output, its health in /readyz, its metrics in /metrics) and that stops when the parent goes away, so the work never shares an event loop with the webhook acknowledgements. true: they run in the serve process itself (one process; tests and embedded uses that pass a clock).',
      ),
    processNice: z
      .number()
      .int()
      .min(0)
      .max(19)
      .default(5)
      .describe(
        "`tenure serve`'s worker process runs at this niceness above the serve process's (Linux/macOS `nice`; 0 = the same priority). When both want the CPU, the operating system runs the webhook acknowledgements first; the work still gets its share (at 5, about a quarter of a contended core) and all of an idle one.",
      ),
    idleStopSeconds: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(60)
      .describe(
        "`tenure serve` only (not with workers.inProcess; `tenure worker` never stops). Its worker process stops after this many seconds with no job running and none fetched, and starts again when there is work: at once when a webhook delivery is stored, and within about queue.pollingIntervalSeconds when a job comes due (a timer, a retry, a cron schedule, a job an API action queued). An idle `tenure serve` is then one process. Meanwhile the HTTP process runs the minute-by-minute housekeeping (audit head checkpoints, the emergency off-boarding expiry sweep). 0: the worker process runs for as long as serve does.",
      ),
    concurrency: z.number().int().min(1).max(200).default(8).describe('Jobs in flight per system queue in this process (unless workers.systemConcurrency names the system).'),
    systemConcurrency: z
      .record(z.string(), z.number().int().min(1).max(200))
      .default({})
      .describe(
        "Jobs in flight in one system's queue in this process, by system id, instead of workers.concurrency (e.g. { entra: 24, slack: 4 }). A cut-off is a chain of calls made one after another, so a system whose limits allow many calls a second (Entra, Jira) needs more jobs in flight to use them, and one held to a few calls a second (Slack's SCIM writes, a SCIM app at 600/min) needs few: its extra jobs only wait in the limiter. Raise a system only where the process has CPU and connections to spare: every job shares them with the HR intake that opens leaver cases, and on a busy process more jobs in flight slowed the intake down and every cut-off with it (docs/benchmarks.md, layoff).",
      ),
    hrEventConcurrency: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(4)
      .describe(
        'HR notices applied at once in this process (each a different employee: one employee\'s notices always apply one at a time, in order). Bounds how fast a mass layoff opens its leaver cases.',
      ),
    cleanupConcurrency: z
      .number()
      .int()
      .min(1)
      .max(200)
      .default(8)
      .describe("Leavers' clean-up jobs (groups, licences, data transfer) in flight per system in this process; they start only once no cut-off is pending in the system."),
    cleanupSettleSeconds: z
      .number()
      .min(0)
      .max(3600)
      .default(30)
      .describe(
        "A leaver's clean-up in a system starts only when the system's last cut-off or verification finished at least this long ago and no HR notice is waiting to be applied, so a layoff arriving over a minute is cut off everywhere before anyone is cleaned up. Delays the close of a lone leaver's case by as much. Waiting clean-ups look once a second, and while cut-offs stay pending up to every 5 s, so a clean-up may start up to 5 s after this.",
      ),
  })
  .strict()

export const logSchema = z
  .object({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Log level. Env: LOG_LEVEL.'),
    format: z
      .enum(['auto', 'json', 'pretty'])
      .default('auto')
      .describe(
        'How log lines look on stdout. `auto`: readable lines (pino-pretty) when stdout is a terminal, JSON lines otherwise (piped, redirected, a service manager, a container log). `json`: always JSON lines. `pretty`: always readable lines. Env: LOG_FORMAT.',
      ),
  })
  .strict()

export const baseConfigShape = {
  server: serverSchema.prefault({}),
  database: databaseSchema.prefault({}),
  queue: queueSchema.prefault({}),
  workers: workersSchema.prefault({}),
  log: logSchema.prefault({}),
}
