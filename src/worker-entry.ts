/**
 * The child process `tenure serve` starts for its engine and job workers (src/worker-process.ts):
 * `startTenure` in worker mode, with the configuration and the resolved targets the parent sends
 * over IPC. It lives as long as the parent: when the IPC channel closes (the parent stopped, or
 * was killed with -9) it stops on its own, so it never stays behind as an orphan.
 *
 * It also stops when there is nothing to do: after `workers.idleStopSeconds` with no job running
 * and none fetched it tells the parent ({ type: 'idle' }), which asks it to stop and starts a new
 * one when work comes (docs/operations.md "Process model"). Nothing it holds in memory is work
 * still to do: every wait (a timer, a retry, a clean-up waiting for cut-offs, the limiter) is a
 * pg-boss job, queued or running, and a running one keeps it busy.
 */
import type { Config } from './config/index.ts'
import { createLogger } from './log.ts'
import { ignoreForIdleness, jobActivity } from './jobs/runtime.ts'
import { startTenure, type Running } from './main.ts'
import { fromWire, SERVE_HOUSEKEEPING_QUEUES, type ResolvedTargets } from './worker-process.ts'

let running: Running | undefined
let stopping: Promise<void> | undefined
let budgetMs = 30_000

const send = (message: unknown) => new Promise<void>((resolve) => (process.connected && process.send ? process.send(message, () => resolve()) : resolve()))

const stop = (reason: string) => {
  stopping ??= (async () => {
    // A stuck dependency (the parent's embedded PostgreSQL gone with it) must not keep us alive.
    setTimeout(() => process.exit(1), budgetMs + 5000).unref()
    await running?.stop(reason).catch(() => undefined)
  })()
  return stopping
}

/**
 * Says { type: 'idle' } once, when no job has run or been fetched for `seconds` since it was ready
 * (0: never). The parent answers with 'stop'; a job fetched meanwhile finishes first (the stop is graceful).
 */
function watchIdleness(seconds: number): void {
  if (!(seconds > 0)) return
  const readyAt = Date.now()
  const limitMs = seconds * 1000
  const timer = setInterval(
    () => {
      const a = jobActivity()
      const idleMs = Math.min(a.idleMs, Date.now() - readyAt)
      if (stopping || a.active > 0 || idleMs < limitMs) return
      clearInterval(timer)
      void send({ type: 'idle', idleMs, jobs: a.jobs })
    },
    Math.min(1000, limitMs / 4),
  )
  timer.unref()
}

process.on('message', (raw: unknown) => {
  const m = raw as { type?: string; id?: number; config?: unknown; targets?: unknown; logLevel?: string }
  if (m.type === 'start' && !running) {
    void (async () => {
      try {
        const config = fromWire(m.config) as Config
        budgetMs = config.server.shutdownTimeoutSeconds * 1000
        const log = createLogger({ level: m.logLevel ?? config.log.level, format: config.log.format, base: { process: 'worker' } })
        ignoreForIdleness(SERVE_HOUSEKEEPING_QUEUES)
        running = await startTenure({ config, mode: 'worker', log, targets: fromWire(m.targets) as ResolvedTargets })
        if (stopping) return
        // The systems' facts: `tenure serve` answers the API from them without loading a provisioner.
        // The queues it works: `tenure serve` looks for due jobs in them while it is stopped.
        await send({ type: 'ready', facts: running.registry.facts(), queues: jobActivity().queues })
        watchIdleness(config.workers.idleStopSeconds)
      } catch (err) {
        await send({ type: 'failed', message: err instanceof Error ? err.message : String(err) })
        process.exit(1)
      }
    })()
  } else if (m.type === 'metrics') {
    void (running ? running.metrics.registry.getMetricsAsJSON() : Promise.resolve(undefined)).then(
      (metrics) => send({ type: 'metrics', id: m.id, metrics }),
      () => send({ type: 'metrics', id: m.id }),
    )
  } else if (m.type === 'stop') {
    void stop('stop requested by tenure serve').then(() => process.exit(0))
  }
})
// The parent went away without asking us to stop (kill -9, a crash, its hard-stop timer): the
// deployment crashed, and we go with it at once, as the in-process workers would have. Jobs we held
// are retried by pg-boss's heartbeat, like any dead worker's (docs/reliability.md).
process.on('disconnect', () => {
  if (!stopping) process.exit(1)
})
// Ctrl-C reaches the whole process group: the parent decides when we stop (over IPC), not the terminal.
process.on('SIGINT', () => undefined)
process.on('SIGTERM', () => void stop('SIGTERM').then(() => process.exit(0)))
