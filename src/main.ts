/**
 * Composition root: wires configuration, the database, migrations, pg-boss, workers and the
 * HTTP server into one running instance, and takes them down again in the right order.
 *
 *   serve   API + workers     (`tenure serve`, `npm start` = the sandbox form)
 *   worker  workers only      (`tenure worker`; run several on one PostgreSQL to scale out)
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Config } from './config/index.ts'
import { startEmbedded, type EmbeddedDatabase } from './db/embedded.ts'
import { migrate } from './db/migrate.ts'
import { createPool, safeUrl, type Pool } from './db/pool.ts'
import { createApp } from './http/app.ts'
import { createMetrics, type Metrics } from './http/metrics.ts'
import type { Logger } from './log.ts'
import { createBoss, type Boss } from './queue/boss.ts'
import { probeWorker, PROBE_QUEUE } from './jobs/diagnostics.ts'
import { createJobMetrics, registerWorker, type WorkerHost } from './jobs/runtime.ts'

export type Mode = 'serve' | 'worker'

export interface StartOptions {
  config: Config
  mode: Mode
  log: Logger
  configFile?: string
}

export interface Running {
  mode: Mode
  /** The URL the API listens on (serve mode). */
  url?: string
  pool: Pool
  boss: Boss
  metrics: Metrics
  databaseUrl: string
  stop(reason?: string): Promise<void>
}

export interface Database {
  url: string
  embedded?: EmbeddedDatabase
}

/** DATABASE_URL when configured, else the embedded PostgreSQL of the data folder. */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  if (config.database.url) return { url: config.database.url }
  const embedded = await startEmbedded({ dataDir: config.database.dataDir, log })
  return { url: embedded.url, embedded }
}

/** Queues every process knows about. Capabilities add theirs in src/jobs/queues.ts. */
async function createQueues(boss: Boss, config: Config): Promise<void> {
  await boss.createQueue(PROBE_QUEUE, {
    retryLimit: 0,
    expireInSeconds: config.queue.expireInSeconds,
    notify: true,
  } as Parameters<Boss['createQueue']>[1])
}

export async function startTenure(options: StartOptions): Promise<Running> {
  const { config, mode, log } = options
  const cleanups: Array<{ name: string; fn: () => Promise<void> }> = []
  const metrics = createMetrics()
  const shutdown = new AbortController()

  const database = await openDatabase(config, log)
  if (database.embedded?.owned) cleanups.unshift({ name: 'embedded postgres', fn: () => database.embedded!.stop() })
  log.info({ database: safeUrl(database.url), embedded: Boolean(database.embedded) }, 'database selected')

  const pool = createPool({
    url: database.url,
    max: config.database.poolSize,
    statementTimeoutMs: config.database.statementTimeoutMs,
    log,
  })
  cleanups.unshift({ name: 'pool', fn: () => pool.end() })

  let boss: Boss | undefined
  let server: Server | undefined
  try {
    const result = await migrate(pool, log)
    log.info({ applied: result.applied.length, alreadyApplied: result.alreadyApplied }, 'migrations checked')

    boss = createBoss({ url: database.url, config, log })
    await boss.start()
    const startedBoss = boss
    cleanups.unshift({
      name: 'queue',
      // graceful: wait for handlers in flight to finish, up to the configured timeout.
      fn: () => startedBoss.stop({ graceful: true, timeout: config.server.shutdownTimeoutSeconds * 1000, close: true }),
    })
    await createQueues(boss, config)

    const jobMetrics = createJobMetrics(metrics.registry)
    const host: WorkerHost = { boss, log, metrics: jobMetrics, shutdown: shutdown.signal }
    const runWorkers = mode === 'worker' || config.workers.enabled
    if (runWorkers) {
      await registerWorker(host, {
        ...probeWorker(),
        options: {
          localConcurrency: 2,
          pollingIntervalSeconds: config.queue.pollingIntervalSeconds,
          notifyPollingIntervalSeconds: config.queue.notifyPollingIntervalSeconds,
        },
      })
    }

    let url: string | undefined
    if (mode === 'serve') {
      const app = createApp({
        log,
        metrics,
        bodyLimitBytes: config.server.bodyLimitBytes,
        trustProxy: config.server.trustProxy,
        readiness: [
          { name: 'database', check: async () => void (await pool.query('SELECT 1')) },
          { name: 'queue', check: async () => void (await startedBoss.getDb().executeSql('SELECT 1')) },
        ],
      })
      server = app.listen(config.server.port, config.server.host)
      await new Promise<void>((resolve, reject) => {
        server!.once('listening', resolve)
        server!.once('error', reject)
      })
      const { port } = server.address() as AddressInfo
      const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host
      url = `http://${host}:${port}`
      const httpServer = server
      // HTTP goes first on shutdown: stop accepting, let in-flight requests finish.
      cleanups.unshift({
        name: 'http',
        fn: () =>
          new Promise<void>((resolve) => {
            httpServer.close(() => resolve())
            httpServer.closeIdleConnections()
            setTimeout(() => httpServer.closeAllConnections(), config.server.shutdownTimeoutSeconds * 500).unref()
          }),
      })
      log.info({ url, mode, workers: runWorkers }, `Tenure is listening on ${url}`)
    } else {
      log.info({ mode }, 'Tenure worker started')
    }

    let stopping: Promise<void> | undefined
    return {
      mode,
      url,
      pool,
      boss,
      metrics,
      databaseUrl: database.url,
      stop: (reason = 'stop requested') => {
        stopping ??= (async () => {
          log.info({ reason }, 'shutting down')
          shutdown.abort()
          await runCleanups(cleanups, log)
          log.info('shutdown complete')
        })()
        return stopping
      },
    }
  } catch (err) {
    shutdown.abort()
    await runCleanups(cleanups, log)
    throw err
  }
}

async function runCleanups(cleanups: Array<{ name: string; fn: () => Promise<void> }>, log: Logger): Promise<void> {
  for (const { name, fn } of cleanups) {
    try {
      await fn()
    } catch (err) {
      log.warn({ step: name, err: { message: (err as Error).message } }, 'shutdown step failed')
    }
  }
}
