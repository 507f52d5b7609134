/**
 * The work of `tenure serve` in a process of its own (docs/operations.md "Process model").
 *
 * `tenure serve` keeps HTTP (webhook intake, API, console) in its own event loop and starts the
 * engine and every job worker in a child process: the same `startTenure` in worker mode, on the
 * same database, with the targets the parent resolved (in the sandbox, the emulators the parent
 * runs). An engine burst then costs the child's event loop, never a webhook's acknowledgement.
 *
 * The parent supervises it:
 *   - first start: forked as soon as the targets are known, so it starts while the parent does;
 *     `startTenure` waits until it is ready before listening, and fails if it cannot start;
 *   - the child exits (crash, kill, OOM): restarted after 1 s, doubling to 30 s while it keeps
 *     dying, back to 1 s once a child has run for a minute; jobs it held are retried by pg-boss's
 *     heartbeat like any dead worker's;
 *   - shutdown: asked to stop over IPC (graceful, in-flight jobs finish), killed if it overruns;
 *   - the parent dies (kill -9 included): the IPC channel closes, the child stops on its own;
 *   - /readyz carries a `workers` check, /metrics adds the child's metrics to the parent's;
 *   - it runs `workers.processNice` lower in priority, so a contended CPU serves the 202s first;
 *   - idle (`workers.idleStopSeconds`, default 60 s, with no job run or fetched): the child says
 *     so, the parent stops it (not a crash: no restart, no backoff, /readyz stays ready) and starts
 *     a new one on demand: `wake('delivery')` from the webhook route, or a poll of pg-boss's job
 *     table (`OnDemand.dueWork`) finding a job due in a queue the child works. One child at most:
 *     stopped → starting → running → stopping → stopped; a wake while it stops starts the next
 *     one once it has exited, a wake while one starts or runs does nothing.
 *
 * Protocol (IPC, JSON): parent → child  { type: 'start', config, targets, logLevel } | { type: 'metrics', id } | { type: 'stop' }
 *                       child → parent  { type: 'ready', facts, queues } | { type: 'failed', message } | { type: 'metrics', id, metrics }
 *                                       | { type: 'idle', idleMs, jobs }
 * `facts` are the enabled systems' own facts (kind, limiter buckets, revocation order): the
 * parent answers the API from them, so it never loads a provisioner or a vendor SDK itself.
 * Secrets cross as their values (the channel is a pipe between two processes of the same user,
 * never the environment or a file) and become `Secret`s again on the other side.
 */
import { fork, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import type { MetricObjectWithValues, MetricValue } from 'prom-client'

type MetricJson = MetricObjectWithValues<MetricValue<string>>
import type { SystemFacts } from '../provisioners/registry.ts'
import type { Config } from './config/index.ts'
import { Secret } from './config/secret.ts'
import type { Logger } from './log.ts'
import { operatorExecArgv, workerHeapFlags } from './jobs/heap.ts'
import { AUDIT_CHECKPOINT_QUEUE } from './jobs/queues.ts'
import { EMERGENCY_EXPIRY_QUEUE } from './offboarding/expiry.ts'

/**
 * Housekeeping queued every minute by cron (the audit head checkpoint, the emergency off-boarding
 * expiry sweep): the worker process does not count its jobs as activity, `tenure serve` does not
 * start it for them, and serve works them itself while it is stopped (src/main.ts).
 */
export const SERVE_HOUSEKEEPING_QUEUES: ReadonlySet<string> = new Set([AUDIT_CHECKPOINT_QUEUE, EMERGENCY_EXPIRY_QUEUE])

/** What the parent resolved that the child must not resolve again (the sandbox's emulator URLs). */
export interface ResolvedTargets {
  systems: Config['systems']
  hr: Config['hr']
  notify: Config['notify']
}

export interface WorkerProcess {
  /** Resolves when the first child is ready; rejects when it could not start. */
  started: Promise<void>
  /** The child's process id while one runs. */
  pid(): number | undefined
  /** A child runs and has said it is ready. */
  ready(): boolean
  /**
   * For /readyz: ok while a child runs, while it is stopped for idleness (it starts on demand) and
   * while one starts or stops on demand; not ok while a crashed child waits for its restart.
   */
  health(): { ok: boolean; detail: string }
  /** Where the child is: stopped (idle, or a crash waiting for its restart), starting, running, stopping. */
  state(): WorkerState
  /** Children started after a crash. */
  restarts(): number
  /** Children started on demand, after an idle stop. */
  onDemandStarts(): number
  /** The systems' facts the latest ready child reported (undefined before the first is ready). */
  facts(): SystemFacts[] | undefined
  /** The child's metrics (prom-client JSON), or undefined when none answers within a second (or none runs). */
  metrics(): Promise<MetricJson[] | undefined>
  /** There is work (a stored delivery, a due job): start the child if it is stopped for idleness. */
  wake(reason: string): void
  stop(): Promise<void>
}

export type WorkerState = 'stopped' | 'starting' | 'running' | 'stopping'

/** What `tenure serve` gives the supervisor so that the child can stop while there is no work. */
export interface OnDemand {
  /** Is a job due in one of these queues (the ones the child works)? Asked while the child is stopped for idleness. */
  dueWork(queues: string[]): Promise<boolean>
  /** How often to ask (ms). */
  pollMs: number
  /** Called when the child has stopped for idleness (serve takes over the minute-by-minute housekeeping). */
  stopped?(): Promise<void> | void
  /** Called when a child starts on demand (serve hands the housekeeping back). */
  starting?(): Promise<void> | void
}

const FIRST_DELAY_MS = 1000
const MAX_DELAY_MS = 30_000
const STABLE_MS = 60_000

/** This file's sibling, in the same form (TypeScript from the sources, JavaScript from dist/). */
const ENTRY = fileURLToPath(new URL(`./worker-entry.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url))

/**
 * Node flags the child runs with: its V8 heap flags (src/jobs/heap.ts), then those it inherits
 * (not the test runner's, not a debugger port the parent holds, not the heap flags bin/tenure.js
 * gave the HTTP process), which win where both set one.
 */
function childExecArgv(): string[] {
  return [...workerHeapFlags(), ...operatorExecArgv().filter((a) => !a.startsWith('--test') && !a.startsWith('--inspect') && !a.startsWith('--watch'))]
}

export function toWire(value: unknown): unknown {
  if (value instanceof Secret) return { $secret: value.reveal(), source: value.source }
  if (Array.isArray(value)) return value.map(toWire)
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]))
  return value
}

export function fromWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromWire)
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>
    if (typeof o.$secret === 'string' && typeof o.source === 'string' && Object.keys(o).length === 2) return new Secret(o.$secret, o.source)
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fromWire(v)]))
  }
  return value
}

export function startWorkerProcess(options: { config: Config; targets: ResolvedTargets; log: Logger; shutdown: AbortSignal; onDemand?: OnDemand }): WorkerProcess {
  const { config, log, onDemand } = options
  const start = { type: 'start', config: toWire(config), targets: toWire(options.targets), logLevel: log.level }
  let child: ChildProcess | undefined
  let isReady = false
  let shuttingDown = false
  let state: WorkerState = 'stopped'
  /** Why the current (or last) child was started. */
  let cause: 'boot' | 'crash' | 'demand' = 'boot'
  /** The child stopped (or is stopping) for idleness, not because it crashed. */
  let idle = false
  /** Work came while the child was stopping for idleness: start again once it has exited. */
  let wakeAfterStop: string | undefined
  let restarts = 0
  let onDemandStarts = 0
  let delay = FIRST_DELAY_MS
  let timer: NodeJS.Timeout | undefined
  let pollTimer: NodeJS.Timeout | undefined
  let pollFailing = false
  /** What the child said when it reported idle (for the one log line of its stop). */
  let idleInfo: { idleSeconds: number; jobsRun: number } | undefined
  let killTimer: NodeJS.Timeout | undefined
  let nextId = 0
  let facts: SystemFacts[] | undefined
  let queues: string[] = []
  const waiting = new Map<number, (m: MetricJson[] | undefined) => void>()
  const clearTimers = () => {
    for (const t of [timer, pollTimer, killTimer]) if (t) clearTimeout(t)
    timer = pollTimer = killTimer = undefined
  }
  // From the first moment of a shutdown, a child that exits (SIGTERM to the whole group) is not restarted.
  options.shutdown.addEventListener('abort', () => {
    shuttingDown = true
    clearTimers()
  })
  const hook = (name: string, fn: (() => Promise<void> | void) | undefined) => {
    if (!fn) return
    void (async () => fn())().catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, `worker process ${name} hook failed`))
  }

  /** While stopped for idleness: look for due jobs every pollMs, and start a child when there are some. */
  const poll = () => {
    if (!onDemand) return
    pollTimer = setTimeout(() => {
      pollTimer = undefined
      if (shuttingDown || state !== 'stopped' || !idle) return
      onDemand.dueWork(queues).then(
        (due) => {
          pollFailing = false
          if (due) wake('due jobs')
          else poll()
        },
        (err: unknown) => {
          // Once per outage (PostgreSQL away), not every poll.
          if (!pollFailing) log.warn({ err: { message: (err as Error).message } }, 'could not look for due jobs; looking again every poll')
          pollFailing = true
          poll()
        },
      )
    }, onDemand.pollMs)
  }

  const wake = (reason: string) => {
    if (shuttingDown) return
    if (state === 'stopped' && idle) {
      if (pollTimer) clearTimeout(pollTimer)
      pollTimer = undefined
      onDemandStarts += 1
      log.info({ reason }, 'worker process starting on demand')
      hook('starting', onDemand?.starting)
      spawn('demand').catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'worker process start on demand failed'))
    } else if (state === 'stopping' && idle) {
      wakeAfterStop ??= reason
    }
  }

  const spawn = (why: typeof cause) =>
    new Promise<void>((resolve, reject) => {
      const c = fork(ENTRY, [], { execArgv: childExecArgv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      child = c
      state = 'starting'
      cause = why
      idle = false
      wakeAfterStop = undefined
      // Lower priority than the HTTP process: under contention the scheduler serves the 202s first.
      if (config.workers.processNice > 0 && c.pid !== undefined) {
        try {
          os.setPriority(c.pid, Math.min(19, os.getPriority() + config.workers.processNice))
        } catch (err) {
          log.warn({ err: { message: (err as Error).message } }, 'could not lower the worker process priority (workers.processNice)')
        }
      }
      const bornAt = Date.now()
      let settled = false
      c.on('message', (raw: unknown) => {
        const m = raw as { type?: string; message?: string; id?: number; metrics?: MetricJson[]; facts?: SystemFacts[]; queues?: string[]; idleMs?: number; jobs?: number }
        if (m.type === 'ready') {
          facts = m.facts ?? []
          queues = m.queues ?? []
          isReady = true
          if (state === 'starting') state = 'running'
          log.info({ pid: c.pid, restarts, cause: why }, 'worker process ready')
          settled = true
          resolve()
        } else if (m.type === 'failed') {
          log.error({ pid: c.pid, error: m.message }, 'worker process could not start')
          settled = true
          reject(new Error(`the worker process could not start: ${m.message ?? 'no reason given'}`))
        } else if (m.type === 'metrics' && m.id !== undefined) {
          waiting.get(m.id)?.(m.metrics)
          waiting.delete(m.id)
        } else if (m.type === 'idle' && child === c && state === 'running' && !shuttingDown) {
          // Nothing to do for idleStopSeconds: stop it (graceful; a job fetched meanwhile finishes) until there is work.
          state = 'stopping'
          idle = true
          idleInfo = { idleSeconds: Math.round((m.idleMs ?? 0) / 1000), jobsRun: m.jobs ?? 0 }
          log.debug({ pid: c.pid, ...idleInfo }, 'worker process idle: stopping it until there is work')
          c.send({ type: 'stop' }, (err) => {
            if (err) c.kill('SIGTERM')
          })
          killTimer = setTimeout(() => {
            log.warn({ pid: c.pid }, 'worker process did not stop in time; killing it')
            c.kill('SIGKILL')
          }, config.server.shutdownTimeoutSeconds * 1000 + 1000)
        }
      })
      c.on('error', (err) => log.warn({ err: { message: err.message } }, 'worker process channel error'))
      c.once('exit', (code, signal) => {
        if (killTimer) clearTimeout(killTimer)
        killTimer = undefined
        if (child === c) {
          child = undefined
          isReady = false
          state = 'stopped'
        }
        for (const [id, answer] of waiting) {
          answer(undefined)
          waiting.delete(id)
        }
        if (!settled) {
          settled = true
          reject(new Error(`the worker process exited (${signal ?? code}) before it was ready`))
          // The first child failing is a configuration problem (serve fails); a later one is restarted below.
          if (why === 'boot') return
        }
        if (shuttingDown) return
        if (idle) {
          // Stopped for idleness: not a crash. The next child starts on demand.
          delay = FIRST_DELAY_MS
          log.info({ pid: c.pid, code, signal, ...idleInfo }, 'worker process stopped for idleness; it starts again when there is work')
          hook('stopped', onDemand?.stopped)
          if (wakeAfterStop) wake(wakeAfterStop)
          else poll()
          return
        }
        // Back off while it keeps dying; a child that lived a while starts the count again.
        if (Date.now() - bornAt >= STABLE_MS) delay = FIRST_DELAY_MS
        log.error({ pid: c.pid, code, signal, restartInMs: delay }, 'worker process exited; restarting it')
        timer = setTimeout(() => {
          timer = undefined
          if (shuttingDown) return
          restarts += 1
          spawn('crash').catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'worker process restart failed'))
        }, delay)
        delay = Math.min(MAX_DELAY_MS, delay * 2)
      })
      c.send(start)
    })

  // The first child starts while the parent finishes its own start-up (only the child loads the provisioners).
  const first = spawn('boot').catch((err: unknown) => {
    // A child that cannot start at all is a configuration problem: `tenure serve` fails, it does not loop.
    shuttingDown = true
    clearTimers()
    child?.kill('SIGKILL')
    throw err
  })
  first.catch(() => undefined)

  const ready = () => isReady && child !== undefined && child.connected
  return {
    started: first,
    pid: () => child?.pid,
    facts: () => facts,
    ready,
    state: () => state,
    health: () => {
      if (state === 'running' && ready()) return { ok: true, detail: 'running' }
      if (idle && state === 'stopped') return { ok: true, detail: 'idle: starts on demand' }
      if (idle && state === 'stopping') return { ok: true, detail: 'stopping for idleness' }
      if (state === 'starting' && cause === 'demand') return { ok: true, detail: 'starting on demand' }
      return { ok: false, detail: `the worker process is not running (restarted ${restarts} times; restarting)` }
    },
    restarts: () => restarts,
    onDemandStarts: () => onDemandStarts,
    wake,
    metrics: () => {
      const c = child
      if (!c || !isReady || !c.connected) return Promise.resolve(undefined)
      const id = ++nextId
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          waiting.delete(id)
          resolve(undefined)
        }, 1000)
        waiting.set(id, (m) => {
          clearTimeout(t)
          resolve(m)
        })
        c.send({ type: 'metrics', id }, (err) => {
          if (!err) return
          clearTimeout(t)
          waiting.delete(id)
          resolve(undefined)
        })
      })
    },
    stop: async () => {
      shuttingDown = true
      clearTimers()
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
      if (c.connected) c.send({ type: 'stop' })
      else c.kill('SIGTERM')
      // Its own graceful budget, then a little: a stuck child must not hold the shutdown.
      const kill = setTimeout(() => {
        log.warn({ pid: c.pid }, 'worker process did not stop in time; killing it')
        c.kill('SIGKILL')
      }, config.server.shutdownTimeoutSeconds * 1000 + 1000)
      await exited
      clearTimeout(kill)
      log.info({ pid: c.pid }, 'worker process stopped')
    },
  }
}
