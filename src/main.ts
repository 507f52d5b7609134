/**
 * Composition root: wires configuration, the database, migrations, pg-boss, workers and the
 * HTTP server into one running instance, and takes them down again in the right order.
 *
 *   serve   API + workers     (`tenure serve`, `npm start` = the sandbox form); the workers run in
 *           a child process serve starts and supervises (src/worker-process.ts), or in this
 *           process with `workers.inProcess`
 *   worker  workers only      (`tenure worker`; run several on one PostgreSQL to scale out; also
 *           the child of `tenure serve`)
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Config } from './config/index.ts'
import { openDatabase } from './db/open.ts'
import { migrate } from './db/migrate.ts'
import { createPool, defaultPoolSize, ping, safeUrl, type Pool } from './db/pool.ts'
import { createMetrics, createJobMetrics, createSlaMetrics, createTargetMetrics, type Metrics } from './http/metrics.ts'
import type { Logger } from './log.ts'
import { createBoss, type Boss } from './jobs/boss.ts'
import { probeWorker, PROBE_QUEUE } from './jobs/diagnostics.ts'
import type { WorkerDefinition, WorkerHost } from './jobs/runtime.ts'
import type { z } from 'zod'
import { createQueues, ensureQueue, heartbeatRefreshSeconds } from './jobs/queues.ts'
import { hrSourcesConfigSchema, type HrSourcesConfig } from './hr/index.ts'
import type { HrEmulators } from './hr/emulators/index.ts'
import { enqueueNotification, lifecycleNotification, notifyConfigSchema, notifyWorker, type NotifyConfig } from './notify/index.ts'
import { uuidV5 } from './util/ids.ts'
import { escalationWorker, scheduleEscalations } from './sla/escalation.ts'
import { hrReconcileWorker, reconcileHrSourcesNow, scheduleHrReconciliation } from './jobs/hr-reconcile.ts'
import { scheduleTargetReconciliation, targetReconcileWorker } from './jobs/target-reconcile.ts'
import { buildRegistry, catalogFromFacts, type Registry, type SystemCatalog } from '../provisioners/registry.ts'
import { validatePolicy } from './policy/index.ts'
import type { EngineDeps } from './lifecycle/engine.ts'
import type { SandboxEmulators } from './sandbox/index.ts'
import type { SandboxMailbox } from './sandbox/mailbox.ts'
import type { Express } from 'express'
import { attachAuditSealer, auditCheckpointWorker, auditRetentionWorker, recordAudit, scheduleAuditJobs } from './audit/index.ts'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

const TENURE_VERSION = (JSON.parse(readFileSync(rootPath('package.json'), 'utf8')) as { version: string }).version
import { effectiveAuditConfig, LOCAL_KEY_WARNING } from './audit/local-key.ts'
import { enableClockOverride, type Clock } from 'pg-boss'
import { createExceptionQueues } from './exceptions/queue.ts'
import { createOffboardingQueues, emergencyExpiryWorker, scheduleEmergencyExpiry } from './offboarding/expiry.ts'
import { createReportQueues, reportRetentionWorker, scheduleReportRetention } from './reports/retention.ts'
import { COMPILED, rootPath } from './paths.ts'
import { collectStartupGarbage } from './jobs/heap.ts'
import { SERVE_HOUSEKEEPING_QUEUES, startWorkerProcess, type ResolvedTargets, type WorkerProcess } from './worker-process.ts'
import { AggregatorRegistry } from 'prom-client'

export type Mode = 'serve' | 'worker'

export interface StartOptions {
  config: Config
  mode: Mode
  log: Logger
  configFile?: string
  /** The clock the engine uses (tests pass a controllable one). */
  now?: () => Date
  /** pg-boss's clock (tests pass pg-boss's TestClock; the engine then reads time from it too). */
  clock?: Clock
  /**
   * Targets already resolved by a `tenure serve` parent (worker mode, src/worker-entry.ts): the
   * sandbox's emulators run in the parent, so the child uses their URLs instead of starting its own.
   */
  targets?: ResolvedTargets
}

export interface Running {
  mode: Mode
  config: Config
  /** The URL the API listens on (serve mode). */
  url?: string
  /** The express app (serve mode): tests walk its router stack to check every route is documented. */
  app?: Express
  pool: Pool
  boss: Boss
  metrics: Metrics
  databaseUrl: string
  /** The embedded PostgreSQL's cluster folder, when Tenure runs one. */
  postgresDir?: string
  /**
   * The provisioners, where the system workers run in this process (`tenure worker`, or `tenure
   * serve` with `workers.inProcess`). Reading it from a `tenure serve` whose workers run in its
   * worker process throws: the provisioners and their vendor SDKs are not loaded there.
   */
  readonly registry: Registry
  /** The configured systems and their facts (kind, limiter buckets): what the API answers from. */
  catalog: SystemCatalog
  engine: EngineDeps
  /** The child process running the engine and the job workers (serve mode, unless workers.inProcess). */
  workerProcess?: WorkerProcess
  /** The sandbox's emulators, when the sandbox runs (tests and benchmarks steer them). */
  emulators?: SandboxEmulators
  hrEmulators?: HrEmulators
  /** The sandbox's SMTP sink, when it catches e-mail (no notify.email configured). */
  sandboxMail?: SandboxMailbox
  /** The HR sources in effect (the sandbox points them at its HR emulators). */
  hrSources: HrSourcesConfig
  stop(reason?: string): Promise<void>
}

export { openDatabase, type Database } from './db/open.ts'

/**
 * Each process imports only its half (docs/operations.md "Process model"). The HTTP side (the
 * express app, every API route, the console, the webhook intake) loads only where HTTP is served;
 * the job workers (the system, HR-event and timer workers, the limiter) only where they run: the
 * worker process of `tenure serve`, `tenure worker`, or `tenure serve` with `workers.inProcess`.
 * Statically imported, both processes carried both halves (test/integration/lazy-provisioners.test.ts
 * checks the module lists; docs/benchmarks.md has the RSS before and after).
 */
async function loadHttpModules() {
  const [{ createApp }, { createApi }, { consoleRouter }, { webhookRouter }, { default: express }, { ensureSandboxTokens }, { queueAnswers }] = await Promise.all([
    import('./http/app.ts'),
    import('./http/api-routes.ts'),
    import('./http/console.ts'),
    import('./http/webhooks.ts'),
    import('express'),
    import('./auth/sandbox.ts'),
    import('./jobs/inspect.ts'),
  ])
  return { createApp, createApi, consoleRouter, webhookRouter, express, ensureSandboxTokens, queueAnswers }
}

async function loadWorkerModules() {
  const [{ registerWorker }, { systemWorker }, { timerWorker }, { hrEventWorker, HR_EVENT_FETCH_BATCH }, { exceptionTimerWorker }, { createLimiter }] = await Promise.all([
    import('./jobs/runtime.ts'),
    import('./jobs/system-worker.ts'),
    import('./jobs/timer-worker.ts'),
    import('./jobs/hr-worker.ts'),
    import('./exceptions/worker.ts'),
    import('./jobs/limiter.ts'),
  ])
  return { registerWorker, systemWorker, timerWorker, hrEventWorker, HR_EVENT_FETCH_BATCH, exceptionTimerWorker, createLimiter }
}

async function createProbeQueue(boss: Boss, config: Config): Promise<void> {
  await ensureQueue(boss, config, PROBE_QUEUE, {
    retryLimit: 0,
    expireInSeconds: config.queue.expireInSeconds,
    notify: true,
  } as NonNullable<Parameters<Boss['createQueue']>[1]>)
}

export async function startTenure(options: StartOptions): Promise<Running> {
  const { config, mode, log } = options
  const cleanups: Array<{ name: string; fn: () => Promise<void> }> = []
  const metrics = createMetrics()
  const shutdown = new AbortController()

  const database = await openDatabase(config, log)
  if (database.embedded?.owned) cleanups.unshift({ name: 'embedded postgres', fn: () => database.embedded!.stop() })

  const runWorkers = mode === 'worker' || config.workers.enabled
  // A clock or a time source handed in (tests) cannot cross to another process: those run in-process.
  const inProcess = mode === 'worker' || config.workers.inProcess || options.clock !== undefined || options.now !== undefined
  // This process's half, loading while the database starts (awaited where it is used).
  const httpModules = mode === 'serve' ? loadHttpModules() : undefined
  const workerModules = runWorkers && inProcess ? loadWorkerModules() : undefined
  // A start-up that fails before they are awaited must not leave an unhandled rejection behind.
  httpModules?.catch(() => undefined)
  workerModules?.catch(() => undefined)
  const pool = createPool({
    url: database.url,
    // Unset: sized from what this process runs (the HTTP process of `tenure serve` does not run the workers).
    max: config.database.poolSize ?? defaultPoolSize({ http: mode === 'serve', workers: runWorkers && inProcess ? config.workers : false }),
    statementTimeoutMs: config.database.statementTimeoutMs,
    connectTimeoutMs: config.database.connectTimeoutMs,
    log,
    // Under pg-boss's TestClock, jobs we insert in our own transactions must read its time too.
    ...(options.clock ? { sessionStatements: [enableClockOverride()] } : {}),
  })
  cleanups.unshift({ name: 'pool', fn: () => pool.end() })
  // Audit entries are committed by their writers into audit_pending and chained by this sealer
  // (src/audit/sealer.ts): kicked when a writer's client is released, and every second as a backstop
  // for entries a process that died after its commit left behind. Stopped (a last seal) before the pool ends.
  const sealer = attachAuditSealer(pool, log, { backstopMs: false })
  cleanups.unshift({ name: 'audit sealer', fn: () => sealer.stop() })
  log.info({ database: safeUrl(database.url), embedded: Boolean(database.embedded), poolSize: pool.options.max }, 'database selected')

  let boss: Boss | undefined
  let server: Server | undefined
  try {
    const result = await migrate(pool, log)
    sealer.startBackstop()
    log.info({ applied: result.applied.length, alreadyApplied: result.alreadyApplied }, 'migrations checked')

    // Target systems: the configured ones, or in the sandbox the emulators.
    let emulators: SandboxEmulators | undefined
    let hrEmulators: HrEmulators | undefined
    let systemsConfig = config.systems
    let hrSources = config.hr
    let notify: NotifyConfig = config.notify
    let sandboxMail: SandboxMailbox | undefined
    if (options.targets) {
      // The child of `tenure serve`: the parent resolved the targets (and runs the sandbox's emulators and mail sink).
      systemsConfig = options.targets.systems
      hrSources = options.targets.hr
      notify = options.targets.notify
    } else if (config.sandbox.enabled) {
      // The emulators (express apps of their own) load only where the sandbox runs them.
      const [{ sandboxSystems, startSandboxEmulators }, { notifySandboxConfig, seedNotifyChannels }, { removeSandboxHrState, startHrEmulators, writeSandboxHrState }] = await Promise.all([
        import('./sandbox/index.ts'),
        import('./notify/sandbox.ts'),
        import('./hr/emulators/index.ts'),
      ])
      emulators = await startSandboxEmulators({ log })
      const started = emulators
      cleanups.unshift({ name: 'emulators', fn: () => started.close() })
      systemsConfig = sandboxSystems(emulators.urls, config.systems)
      seedNotifyChannels(emulators.slack)
      if (!config.notify.slack) notify = { ...config.notify, slack: notifyConfigSchema.parse(notifySandboxConfig(emulators.urls.slack!)).slack }
      if (!config.notify.email) {
        // E-mail goes to a local SMTP sink (smtp-server, a devDependency: loaded only here), listed at GET /api/v1/sandbox/mail.
        const { startSandboxMail, sandboxEmailConfig } = await import('./sandbox/mail.ts')
        const mail = await startSandboxMail(log)
        sandboxMail = mail
        cleanups.unshift({ name: 'smtp sink', fn: () => mail.close() })
        const systems = ['sandbox', 'google', 'entra', 'slack', 'jira', 'scim:sandbox', ...config.systems.manual.map((m) => `manual:${m.name}`)]
        notify = { ...notify, email: notifyConfigSchema.parse({ email: sandboxEmailConfig(mail.port, systems) }).email }
      }
      hrEmulators = await startHrEmulators({ sandboxPeople: true })
      const hr = hrEmulators
      cleanups.unshift({ name: 'hr emulators', fn: () => hr.close() })
      // `tenure hr send --sandbox` reads these to register employees with thin-payload vendors (docs/sandbox.md).
      const stateFile = await writeSandboxHrState(config.database.dataDir, hr.urls)
      cleanups.unshift({ name: 'hr emulator state', fn: () => removeSandboxHrState(config.database.dataDir) })
      log.info({ hrEmulators: hr.urls, stateFile }, 'sandbox HR emulators started')
      // Sources configured in the file win; the rest point at the HR emulators.
      hrSources = { ...hrSourcesConfigSchema.parse(hrEmulators.config), ...config.hr }
    }
    let workerProcess: WorkerProcess | undefined
    // While the worker process is stopped for idleness, this process works the housekeeping that is
    // due every minute (set up once pg-boss runs, below); the worker process takes it back when it starts.
    let housekeeping: { start(): Promise<void>; stop(): Promise<void> } | undefined
    if (runWorkers && !inProcess) {
      // The engine and the job workers in a child process (src/worker-process.ts): the HTTP event
      // loop only acknowledges. Forked now, so that it loads while this process does.
      const childConfig: Config = {
        ...config,
        database: { ...config.database, url: database.url },
        // This process asks the HR sources for their people at start (below), not the child.
        sandbox: { ...config.sandbox, readHrAtStart: false },
      }
      const started = startWorkerProcess({
        config: childConfig,
        targets: { systems: systemsConfig, hr: hrSources, notify },
        log,
        shutdown: shutdown.signal,
        // workers.idleStopSeconds > 0: the child stops when it has nothing to do and starts again when a
        // delivery is stored (the webhook route, below) or a job comes due in a queue it works (this poll).
        ...(config.workers.idleStopSeconds > 0
          ? {
              onDemand: {
                pollMs: Math.min(2, config.queue.pollingIntervalSeconds) * 1000,
                dueWork: async (queues: string[]) => {
                  if (!boss) return false
                  const { jobDueIn } = await import('./jobs/inspect.ts')
                  return jobDueIn(pool, config.queue.schema, queues.filter((q) => !SERVE_HOUSEKEEPING_QUEUES.has(q)))
                },
                stopped: () => housekeeping?.start(),
                starting: () => housekeeping?.stop(),
              },
            }
          : {}),
      })
      workerProcess = started
      cleanups.unshift({ name: 'worker process', fn: () => started.stop() })
      // /metrics: this process's metrics and the child's, summed (counters, histograms) or the larger (database gauges).
      metrics.render = async () => {
        const [mine, theirs] = await Promise.all([metrics.registry.getMetricsAsJSON(), started.metrics()])
        return theirs ? AggregatorRegistry.aggregate([mine, theirs]).metrics() : metrics.registry.metrics()
      }
    }
    // Each provisioner module, and the vendor SDK it loads, is imported only where the system
    // workers run, and only for a configured system (provisioners/registry.ts). With a worker
    // process, this process answers the API from the facts the child reports when it is ready
    // (startTenure waits for that before it listens) and never loads a provisioner.
    const registry = workerProcess ? undefined : await buildRegistry(systemsConfig, { db: pool })
    const catalog: SystemCatalog = registry ?? catalogFromFacts(systemsConfig, () => workerProcess?.facts())
    // Policy errors are configuration errors: refuse to start, naming the rule.
    const policy = validatePolicy(config.policy, catalog.systems.map((s) => s.system))
    for (const info of catalog.systems.filter((s) => !s.enabled)) log.info({ system: info.system, reason: info.reason }, 'system disabled')

    boss = createBoss({ url: database.url, config, log, ...(options.clock ? { clock: options.clock } : {}) })
    await boss.start()
    const startedBoss = boss
    cleanups.unshift({
      name: 'queue',
      // graceful: wait for handlers in flight to finish, up to the configured timeout.
      fn: () => startedBoss.stop({ graceful: true, timeout: config.server.shutdownTimeoutSeconds * 1000, close: true }),
    })
    await createProbeQueue(boss, config)
    await createQueues(boss, config, catalog.enabledIds())
    await createExceptionQueues(boss, config)
    await createOffboardingQueues(boss, config)
    await createReportQueues(boss, config)

    // SLA metrics: time to verified revocation, and case gauges read from the database on scrape.
    const { timeToRevoke } = createSlaMetrics(metrics.registry, { pool, queueSchema: config.queue.schema })

    const engine: EngineDeps = {
      pool,
      boss,
      log,
      policy,
      systems: () => catalog.enabledIds(),
      schedule: {
        dateOnlyMeans: config.lifecycle.dateOnlyTerminationMeans,
        defaultTimeZone: config.lifecycle.defaultTimeZone,
        provisionLeadDays: config.lifecycle.provisionLeadDays,
        dayStartsAt: config.lifecycle.dayStartsAt,
      },
      now: options.now ?? (options.clock ? () => new Date(options.clock!.now()) : () => new Date()),
      residualOwnerGroup: config.lifecycle.residualAccessOwnerGroup,
      onRevocationVerified: (e) => {
        timeToRevoke.observe({ system: e.system, from: 'hr_effective' }, e.secondsFromEffective)
        timeToRevoke.observe({ system: e.system, from: 'webhook_receipt' }, e.secondsFromReceipt)
      },
      onCaseDeadline: (client, kase) => scheduleEscalations(client, boss!, notify.escalation.steps, kase),
      // The machine's notify effects become notification jobs in the same transaction.
      onNotify: async (client, n) => {
        const occurredAt = (options.now ?? (() => new Date()))().toISOString()
        const notification = lifecycleNotification({
          id: uuidV5(`notify:${n.employeeId}:${n.kind}:${n.system ?? ''}:${n.correlationId}`),
          kind: n.kind,
          message: n.message,
          employeeId: n.employeeId,
          ...(n.displayName ? { employeeName: n.displayName } : {}),
          ...(n.system ? { system: n.system } : {}),
          occurredAt,
        })
        // Routed by notify.routes: the failing system's owners, the leaver's manager where access may remain.
        await enqueueNotification(client, boss!, notification, { config: notify, correlationId: n.correlationId, context: { employeeId: n.employeeId } })
      },
    }

    // The audit trail's checkpoint key: configured, or (sandbox, trying Tenure out) kept in the data folder.
    // The same key signs report manifests (src/reports/export.ts resolves it the same way).
    const effectiveAudit = await effectiveAuditConfig(config)
    if (effectiveAudit.local) log.warn({ file: effectiveAudit.local.file, created: effectiveAudit.local.created }, LOCAL_KEY_WARNING)
    const auditConfig = effectiveAudit.config
    await scheduleAuditJobs(boss, auditConfig)
    await scheduleEmergencyExpiry(boss)
    await scheduleReportRetention(boss)
    // Which configuration this process runs with, on the chain (a digest and the source, never values).
    // Recorded by the process the operator started: the worker process of `tenure serve` runs the
    // parent's configuration and starts again whenever work arrives after an idle stop, which would
    // put one entry per wake-up on the chain.
    if (!options.targets) await recordAudit(pool, [
      {
        actor: { type: 'system', id: 'tenure' },
        action: 'config.loaded',
        details: {
          mode,
          source: options.configFile ?? 'in-memory',
          digest: createHash('sha256').update(JSON.stringify(config)).digest('hex'),
          version: TENURE_VERSION,
          sandbox: config.sandbox.enabled,
          systems: catalog.systems.map((s) => ({ system: s.system, enabled: s.enabled })),
        },
      },
    ])
    await scheduleHrReconciliation(boss, hrSources, log)
    if (config.sandbox.enabled && config.sandbox.readHrAtStart && (mode === 'worker' || config.workers.enabled)) {
      const sources = await reconcileHrSourcesNow(boss, hrSources, new Date())
      if (sources.length > 0) log.info({ sources }, 'sandbox: reading the HR emulators now')
    }
    await scheduleTargetReconciliation(boss, config.reconciliation)

    const jobMetrics = createJobMetrics(metrics.registry)
    const targetMetrics = createTargetMetrics(metrics.registry)
    if (workerProcess) housekeeping = parentHousekeeping({ boss, log, metrics: jobMetrics, shutdown: shutdown.signal }, config, [
      // The audit trail's head checkpoint (every minute when the head moved) and its hourly heartbeat.
      auditCheckpointWorker({ pool, config: auditConfig, log, now: engine.now }),
      // The sweep that expires unapproved emergency off-boarding requests (every minute).
      emergencyExpiryWorker({ engine, config: config.offboarding.emergency, notify: () => notify }),
    ])
    // runWorkers with a registry: the workers run in this process (no worker process was started).
    if (runWorkers && registry) {
      const { registerWorker, systemWorker, timerWorker, hrEventWorker, HR_EVENT_FETCH_BATCH, exceptionTimerWorker, createLimiter } = await (workerModules ?? loadWorkerModules())
      const limiter = createLimiter(pool, {
        maxWaitMs: 5_000,
        onWait: (system, bucket, ms) => targetMetrics.limiterWait.observe({ system, bucket }, ms / 1000),
      })
      const host: WorkerHost = { boss, log, metrics: jobMetrics, shutdown: shutdown.signal }
      const polling = {
        pollingIntervalSeconds: config.queue.pollingIntervalSeconds,
        notifyPollingIntervalSeconds: config.queue.notifyPollingIntervalSeconds,
        // pg-boss refreshes at half the heartbeat by default: one late refresh (a busy pool, a
        // stalled event loop) would then retry a job that is still running.
        heartbeatRefreshSeconds: heartbeatRefreshSeconds(config),
      }
      await registerWorker(host, { ...probeWorker(), options: { localConcurrency: 2, ...polling } })
      await registerWorker(host, { ...timerWorker(engine), options: { localConcurrency: 2, ...polling } })
      await registerWorker(host, { ...notifyWorker({ config: notify, pool }), options: { localConcurrency: 4, ...polling } })
      const auditJobs = { pool, config: auditConfig, log, now: engine.now }
      await registerWorker(host, { ...auditCheckpointWorker(auditJobs), options: { localConcurrency: 1, ...polling } })
      await registerWorker(host, { ...auditRetentionWorker(auditJobs), options: { localConcurrency: 1, ...polling } })
      await registerWorker(host, { ...hrReconcileWorker({ pool, boss, log, sources: hrSources, now: engine.now }), options: { localConcurrency: 2, ...polling } })
      await registerWorker(host, {
        ...targetReconcileWorker({ pool, boss, log, engine, registry, limiter, config: config.reconciliation }),
        options: { localConcurrency: 1, ...polling },
      })
      await registerWorker(host, { ...escalationWorker({ pool, boss, log, notify: () => notify, now: engine.now }), options: { localConcurrency: 2, ...polling } })
      await registerWorker(host, { ...exceptionTimerWorker({ engine, config: config.exceptions, notify: () => notify }), options: { localConcurrency: 2, ...polling } })
      await registerWorker(host, { ...emergencyExpiryWorker({ engine, config: config.offboarding.emergency, notify: () => notify }), options: { localConcurrency: 1, ...polling } })
      await registerWorker(host, { ...reportRetentionWorker({ pool, now: engine.now }), options: { localConcurrency: 1, ...polling } })
      // Strict FIFO per employee: concurrency spreads over employees, never within one.
      await registerWorker(host, { ...hrEventWorker({ pool, log, engine, sources: hrSources, notify: () => notify }), options: { localConcurrency: config.workers.hrEventConcurrency, batchSize: HR_EVENT_FETCH_BATCH, ...polling } })
      const systemDeps = {
        pool,
        boss,
        log,
        engine,
        registry,
        limiter,
        retryLimit: config.queue.retryLimit,
        queueSchema: config.queue.schema,
        retryDelayMaxMs: config.queue.retryDelayMaxSeconds * 1000,
        metrics: targetMetrics,
        // A clean-up waiting for cut-offs must finish well before pg-boss would call it lost.
        cleanupWaitMs: Math.min(60_000, (config.queue.expireInSeconds * 1000) / 3),
        cleanupSettleMs: config.workers.cleanupSettleSeconds * 1000,
      }
      for (const system of registry.enabledIds()) {
        await registerWorker(host, {
          ...systemWorker(systemDeps, system),
          // Several jobs in flight per system; the shared limiter, not the worker count, sets the pace.
          options: { localConcurrency: config.workers.systemConcurrency[system] ?? config.workers.concurrency, ...polling },
        })
        await registerWorker(host, {
          ...systemWorker(systemDeps, system, 'cleanup'),
          options: { localConcurrency: config.workers.cleanupConcurrency, ...polling },
        })
      }
    }

    // Ready means the work is applied too: wait for the worker process (it fails start-up if it cannot start).
    if (workerProcess) await workerProcess.started
    let url: string | undefined
    let served: Express | undefined
    if (mode === 'serve') {
      const { createApi, createApp, consoleRouter, webhookRouter, express, ensureSandboxTokens, queueAnswers } = await (httpModules ?? loadHttpModules())
      const api = createApi({ config, pool, log, now: options.now, engine, boss: startedBoss, notify: () => notify, registry: catalog, hrSources, ...(sandboxMail ? { sandboxMail } : {}) })
      const app = createApp({
        log,
        metrics,
        before: api.before,
        mounts: [
          api.mount,
          // The web console at /: last, so it never shadows an API route.
          ...(config.console.enabled ? [{ path: '/', router: consoleRouter({ config, log }) }] : []),
        ],
        bodyLimitBytes: config.server.bodyLimitBytes,
        trustProxy: config.server.trustProxy,
        rawMounts: [
          {
            path: '/webhooks',
            router: express
              .Router()
              .use(api.webhookRateLimiter)
              // A stored delivery is work for the worker process: start it now if it is stopped for idleness.
              .use((_req, res, next) => {
                res.once('finish', () => {
                  if (res.statusCode === 202) workerProcess?.wake('delivery')
                })
                next()
              })
              .use(webhookRouter({ pool, boss: startedBoss, jobSchema: config.queue.schema, log, sources: hrSources, registry: metrics.registry, bodyLimitBytes: config.server.bodyLimitBytes, dataDir: config.database.dataDir })),
          },
        ],
        readiness: [
          { name: 'database', check: () => ping(pool) },
          { name: 'queue', check: () => queueAnswers(startedBoss) },
          ...(workerProcess
            ? [
                {
                  name: 'workers',
                  // Ready while it runs, and while it is stopped for idleness (it starts on demand); not while a crashed one waits for its restart.
                  check: async () => {
                    const health = workerProcess!.health()
                    if (!health.ok) throw new Error(health.detail)
                    return health.detail === 'running' ? undefined : health.detail
                  },
                },
              ]
            : []),
        ],
      })
      served = app
      compactAfterStart(log)
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
      log.info({ url, mode, workers: runWorkers ? (workerProcess ? `process ${workerProcess.pid()}` : 'in-process') : false, runtime: COMPILED ? 'compiled' : 'typescript' }, `Tenure is listening on ${url}`)
      // The tokens are printed by the start-up summary (src/sandbox/summary.ts), not here.
      if (config.sandbox.enabled) await ensureSandboxTokens(pool, log, { dataDir: config.database.dataDir, url, write: () => {} })
    } else {
      compactAfterStart(log)
      log.info({ mode, runtime: COMPILED ? 'compiled' : 'typescript' }, 'Tenure worker started')
    }

    let stopping: Promise<void> | undefined
    return {
      mode,
      config,
      url,
      app: served,
      pool,
      boss,
      metrics,
      databaseUrl: database.url,
      ...(database.embedded ? { postgresDir: database.embedded.pgDir } : {}),
      get registry(): Registry {
        if (!registry) throw new Error('the provisioners run in the worker process: read `catalog` for the systems and their facts')
        return registry
      },
      catalog,
      engine,
      ...(workerProcess ? { workerProcess } : {}),
      hrSources,
      ...(emulators ? { emulators } : {}),
      ...(hrEmulators ? { hrEmulators } : {}),
      ...(sandboxMail ? { sandboxMail } : {}),
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

/**
 * Housekeeping due every minute, worked by the HTTP process of `tenure serve` while its worker
 * process is stopped for idleness: the audit head checkpoint and the emergency off-boarding
 * expiry sweep are cron jobs queued every minute, and each would otherwise start the worker
 * process every minute only to find, as a rule, nothing to do (so it would never stay stopped).
 * Both are short and load nothing this process has not loaded (the API makes checkpoints and
 * expires requests too). While a worker process runs, it works them (a layoff's checkpoints cover
 * many entries, and the HTTP process only acknowledges).
 */
function parentHousekeeping(host: WorkerHost, config: Config, defs: Array<WorkerDefinition<z.ZodType>>): { start(): Promise<void>; stop(): Promise<void> } {
  let working = false
  let chain = Promise.resolve()
  const serial = (fn: () => Promise<void>) => (chain = chain.then(fn, fn))
  const polling = { pollingIntervalSeconds: config.queue.pollingIntervalSeconds, notifyPollingIntervalSeconds: config.queue.notifyPollingIntervalSeconds, heartbeatRefreshSeconds: heartbeatRefreshSeconds(config) }
  return {
    start: () =>
      serial(async () => {
        if (working || host.shutdown.aborted) return
        working = true
        const { registerWorker } = await import('./jobs/runtime.ts')
        for (const def of defs) await registerWorker(host, { ...def, options: { localConcurrency: 1, ...polling } })
      }),
    stop: () =>
      serial(async () => {
        if (!working) return
        working = false
        for (const def of defs) await host.boss.offWork(def.queue)
      }),
  }
}

/**
 * Start-up is done (every module this process needs is loaded): one full collection, before the
 * HTTP server listens or a worker says it is ready, so that V8 gives the start-up heap back once
 * the process idles (src/jobs/heap.ts).
 */
function compactAfterStart(log: Logger): void {
  const gc = collectStartupGarbage()
  log.debug(gc, 'start-up garbage collected')
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
