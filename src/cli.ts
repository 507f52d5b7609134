/**
 * The `tenure` command line. Every command reads the same configuration (TENURE_CONFIG or
 * --config) and works against the same database as a running server: DATABASE_URL, or the
 * embedded PostgreSQL of the same data folder (used while a server runs, started when not).
 * Commands that talk to a running server find it through TENURE_URL (default
 * http://127.0.0.1:$PORT). Documented in docs/cli.md.
 */
import { Command, Option } from 'commander'
import { ConfigError, loadConfig } from './config/load.ts'
import type { Config } from './config/index.ts'
import { MigrationError, migrate } from './db/migrate.ts'
import { createPool, safeUrl } from './db/pool.ts'
import { createLogger, type Logger } from './log.ts'
import type { Mode, Running } from './main.ts'
import { createBoss } from './jobs/boss.ts'
import { PROBE_QUEUE } from './jobs/diagnostics.ts'
import { registerTokenCommands } from './auth/cli.ts'
import { registerExceptionCommands } from './exceptions/cli.ts'
import { registerReportCommands } from './reports/cli.ts'
import { registerAuditCommands } from './audit/cli.ts'
import { registerHoldCommands } from './hr/holds-cli.ts'
import { registerDeadLetterCommands } from './api/jobs-cli.ts'
import { registerReconcileCommands } from './admin/cli.ts'
import { registerEmployeeCommands } from './api/employees-cli.ts'
import { registerEmergencyCommands } from './offboarding/cli.ts'

const program = new Command()
program
  .name('tenure')
  .description('Employee lifecycle provisioning: HR events in, verified access changes out.')
  .option('-c, --config <file>', 'configuration file (default: $TENURE_CONFIG or config/tenure.yaml)')
  .showHelpAfterError()

/** Errors the user can act on: print the message alone, exit non-zero, no stack trace. */
class UsageError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

async function config(opts: { sandbox?: boolean } = {}): Promise<{ config: Config; log: Logger; file: string }> {
  const { config, file } = await loadConfig({ file: program.opts<{ config?: string }>().config, sandbox: opts.sandbox })
  const log = createLogger({ level: config.log.level, format: config.log.format })
  return { config, log, file }
}

async function runServer(mode: Mode, sandbox: boolean): Promise<void> {
  const { config: cfg, log, file } = await config({ sandbox })
  if (sandbox) cfg.sandbox.enabled = true
  // Signals are handled from here on, not only once the service is up: one that arrives while it
  // starts (the worker logs "Tenure worker started" a moment before startTenure returns; systemd may
  // stop a unit that is still starting) would otherwise meet Node's default action and kill the
  // process mid-way (seen in a fresh-clone CI run). It stops the service as soon as it has started.
  // The handlers go in before the first line is logged: a process that reads that line and signals
  // at once can be scheduled before this one returns from the write, and the signal is acted on as
  // the write returns (a loaded CI machine did it: "configuration loaded", then killed by SIGTERM).
  let running: Running | undefined = undefined
  let pending: NodeJS.Signals | undefined
  let signals = 0
  const stop = (signal: NodeJS.Signals, service: Running) => {
    // A hard stop a little after the graceful budget, so a stuck dependency cannot hang us.
    setTimeout(() => {
      log.error('shutdown took too long; exiting')
      process.exit(1)
    }, (cfg.server.shutdownTimeoutSeconds + 2.5) * 1000).unref()
    void service.stop(signal).then(() => process.exit(0))
  }
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting without waiting')
      process.exit(1)
    }
    if (running) stop(signal, running)
    else {
      log.info({ signal }, 'signal received while starting: stopping once started')
      pending = signal
    }
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  log.info({ configFile: file, mode, sandbox: cfg.sandbox.enabled }, 'configuration loaded')
  // main.ts (and the half of it this mode runs: the HTTP side, the job workers) loads only for the
  // commands that run the service; the others skip that cost.
  const { startTenure } = await import('./main.ts')
  running = await startTenure({ config: cfg, mode, log, configFile: file })
  if (pending) return stop(pending, running)
  const summary = running.url && cfg.sandbox.enabled ? await sandboxSummary(running) : running.url ? `\nTenure is listening on ${running.url}\n\n` : undefined
  if (signals > 0) return
  if (summary) process.stderr.write(summary)
}

/** The sandbox's start-up summary: URL, console, tokens, emulators, data, how to stop. */
async function sandboxSummary(running: Running): Promise<string> {
  const { formatSandboxSummary, readSandboxTokens } = await import('./sandbox/summary.ts')
  const path = await import('node:path')
  const dataDir = path.resolve(running.config.database.dataDir)
  const { file, tokens } = await readSandboxTokens(dataDir)
  const inPlace = running.postgresDir === undefined || running.postgresDir.startsWith(dataDir + path.sep)
  return formatSandboxSummary({
    url: running.url!,
    dataDir,
    ...(inPlace ? {} : { postgresDir: running.postgresDir }),
    externalDatabase: running.postgresDir === undefined,
    consoleEnabled: running.config.console.enabled,
    tokens,
    tokensFile: file,
    emulators: running.emulators?.urls ?? {},
    hrEmulators: running.hrEmulators?.urls ?? {},
    ...(running.sandboxMail ? { mailPort: running.sandboxMail.port } : {}),
  })
}

program
  .command('serve')
  .description('run the HTTP API and the job workers')
  .option('--sandbox', 'start the local emulators and point every system at them (what `npm start` runs)')
  .action(async (opts: { sandbox?: boolean }) => runServer('serve', Boolean(opts.sandbox)))

program
  .command('worker')
  .description('run job workers only (start several on one PostgreSQL to scale out)')
  .option('--sandbox', 'use the sandbox configuration')
  .action(async (opts: { sandbox?: boolean }) => runServer('worker', Boolean(opts.sandbox)))

program
  .command('migrate')
  .description('apply pending database migrations and exit')
  .action(async () => {
    const { config: cfg, log } = await config()
    const { openDatabase } = await import('./db/open.ts')
    const db = await openDatabase(cfg, log)
    const pool = createPool({ url: db.url, max: 2, statementTimeoutMs: 0, log })
    try {
      const result = await migrate(pool, log)
      process.stdout.write(
        `${result.applied.length} migration(s) applied, ${result.alreadyApplied} already applied (${safeUrl(db.url)})\n` +
          result.applied.map((n) => `  applied ${n}\n`).join(''),
      )
    } finally {
      await pool.end()
      if (db.embedded?.owned) await db.embedded.stop()
    }
  })

const configCommand = program.command('config').description('inspect the configuration')
configCommand
  .command('check')
  .description('validate the configuration and exit 0 if it is valid')
  .option('--sandbox', 'check the sandbox configuration')
  .action(async (opts: { sandbox?: boolean }) => {
    const { file } = await config({ sandbox: opts.sandbox })
    process.stdout.write(`configuration in ${file} is valid\n`)
  })

const hr = program.command('hr').description('HR sources')
hr.command('send')
  .description("build a delivery in a vendor's format, sign it as the vendor would, and post it to the running server")
  .requiredOption('--source <source>', 'generic, bamboohr, hibob, personio, merge, deel, gusto or rippling')
  .requiredOption('--event <kind>', 'employee.hired, employee.updated, employee.terminated, employee.rehired, employee.hire_cancelled, employee.termination_rescinded, employee.leave_started, employee.leave_ended')
  .option('--employee <id>', "the HR system's employee id (default: a random one)")
  .option('--file <payload.json>', 'send this body instead of a built sample (signed all the same)')
  .option('--set <key=value...>', 'set profile fields (or changes, for employee.updated), e.g. --set department=Engineering: in the generic payload, or in the sandbox HR emulator\'s record for the other sources')
  .option('--sandbox', 'use the sandbox configuration (its development secrets)')
  .action(async (opts: { source: string; event: string; employee?: string; file?: string; set?: string[]; sandbox?: boolean }) => {
    const { hrSend } = await import('./commands/hr-send.ts')
    const { config: cfg } = await config({ sandbox: opts.sandbox })
    let sources = cfg.hr
    let emulators: Record<string, string> | undefined
    if (opts.sandbox || cfg.sandbox.enabled) {
      // Thin-payload vendors re-fetch the employee: the running sandbox says where its HR emulators are.
      const { readSandboxHrState } = await import('./hr/emulators/index.ts')
      emulators = (await readSandboxHrState(cfg.database.dataDir))?.emulators
      // The sandbox's HR sources use the documented development secrets.
      const { HR_DEV_WEBHOOK_SECRETS } = await import('./hr/emulators/index.ts')
      const { hrSourcesConfigSchema } = await import('./hr/index.ts')
      const dev = Object.fromEntries(Object.entries(HR_DEV_WEBHOOK_SECRETS).map(([k, secret]) => [k, { secrets: [secret] }]))
      sources = { ...hrSourcesConfigSchema.parse(dev), ...cfg.hr }
    }
    const set = Object.fromEntries((opts.set ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
    const base = process.env.TENURE_URL ?? `http://127.0.0.1:${process.env.PORT ?? cfg.server.port}`
    try {
      if (emulators === undefined && (opts.sandbox || cfg.sandbox.enabled) && opts.source !== 'generic' && !opts.file)
        process.stderr.write(`no ${cfg.database.dataDir}/sandbox-hr.json: is the sandbox (npm start) running? ${opts.source} re-fetches the employee, who is not registered in its emulator\n`)
      const result = await hrSend({ source: opts.source, event: opts.event, employee: opts.employee, file: opts.file, set, ...(emulators ? { emulators } : {}) }, sources, base)
      if (result.registered) process.stdout.write(`${opts.source} emulator: ${result.registered}\n`)
      process.stdout.write(`${result.status} ${JSON.stringify(result.body)}\n`)
      if (result.status >= 400) process.exitCode = 1
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
  })

// tenure hr holds list | show | confirm | reject (src/hr/holds-cli.ts)
registerHoldCommands(hr)

const jobs = program.command('jobs').description('work with the job queue')
jobs
  .command('probe')
  .description('queue a diagnostic job and wait until a worker has run it (proves the workers are alive)')
  .addOption(new Option('--hold <ms>', 'how long the job holds a worker').default('0'))
  .addOption(new Option('--timeout <ms>', 'how long to wait for completion').default('30000'))
  .action(async (opts: { hold: string; timeout: string }) => {
    const { config: cfg, log } = await config()
    const { openDatabase } = await import('./db/open.ts')
    const db = await openDatabase(cfg, log)
    const boss = createBoss({ url: db.url, config: cfg, log, supervise: false })
    await boss.start()
    try {
      const id = await boss.send(PROBE_QUEUE, { holdMs: Number(opts.hold), note: 'tenure jobs probe' })
      if (!id) throw new UsageError('the probe job was not queued')
      const deadline = Date.now() + Number(opts.timeout)
      for (;;) {
        const job = await boss.getJobById<unknown>(PROBE_QUEUE, id)
        if (job?.state === 'completed') {
          process.stdout.write(`probe ${id} completed: ${JSON.stringify(job.output)}\n`)
          return
        }
        if (job?.state === 'failed') throw new UsageError(`probe ${id} failed: ${JSON.stringify(job.output)}`)
        if (Date.now() > deadline) throw new UsageError(`probe ${id} was not run within ${opts.timeout} ms: is a worker running?`, 3)
        await new Promise((r) => setTimeout(r, 200))
      }
    } finally {
      await boss.stop({ graceful: false, close: true })
      if (db.embedded?.owned) await db.embedded.stop()
    }
  })

// tenure jobs dead-letters | retry | settle (src/api/jobs-cli.ts)
registerDeadLetterCommands(jobs)

// tenure employees plan <id|email> [--what-if move|termination|rehire] (src/api/employees-cli.ts)
registerEmployeeCommands(program)

// tenure reconcile hr | targets (src/admin/cli.ts)
registerReconcileCommands(program)

// tenure tokens create | list | revoke (src/auth/cli.ts)
registerTokenCommands(program, { loadConfig: () => config() })

// tenure exceptions request | list | show | approve | reject | revoke (src/exceptions/cli.ts)
registerExceptionCommands(program)

// tenure employees terminate | emergency list | approve | reject (src/offboarding/cli.ts)
registerEmergencyCommands(program)

// tenure reports access-revocations | verify (src/reports/cli.ts)
registerReportCommands(program, { loadConfig: () => config() })
registerAuditCommands(program, { loadConfig: () => config() })

export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    }
    if (err instanceof MigrationError) {
      process.stderr.write(`Migration refused [${err.code}]: ${err.message}\n`)
      process.exit(1)
    }
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(err.exitCode)
    }
    process.stderr.write(`tenure: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  }
}

await main(process.argv)
