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
 *   - it runs `workers.processNice` lower in priority, so a contended CPU serves the 202s first.
 *
 * Protocol (IPC, JSON): parent → child  { type: 'start', config, targets, logLevel } | { type: 'metrics', id } | { type: 'stop' }
 *                       child → parent  { type: 'ready', facts } | { type: 'failed', message } | { type: 'metrics', id, metrics }
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
  /** Children started after the first (restarts). */
  restarts(): number
  /** The systems' facts the latest ready child reported (undefined before the first is ready). */
  facts(): SystemFacts[] | undefined
  /** The child's metrics (prom-client JSON), or undefined when none answers within a second. */
  metrics(): Promise<MetricJson[] | undefined>
  stop(): Promise<void>
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

export function startWorkerProcess(options: { config: Config; targets: ResolvedTargets; log: Logger; shutdown: AbortSignal }): WorkerProcess {
  const { config, log } = options
  const start = { type: 'start', config: toWire(config), targets: toWire(options.targets), logLevel: log.level }
  let child: ChildProcess | undefined
  let isReady = false
  let stopping = false
  let started = 0
  let delay = FIRST_DELAY_MS
  let timer: NodeJS.Timeout | undefined
  let nextId = 0
  let facts: SystemFacts[] | undefined
  const waiting = new Map<number, (m: MetricJson[] | undefined) => void>()
  // From the first moment of a shutdown, a child that exits (SIGTERM to the whole group) is not restarted.
  options.shutdown.addEventListener('abort', () => {
    stopping = true
    if (timer) clearTimeout(timer)
  })

  const spawn = () =>
    new Promise<void>((resolve, reject) => {
      const c = fork(ENTRY, [], { execArgv: childExecArgv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      child = c
      started += 1
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
        const m = raw as { type?: string; message?: string; id?: number; metrics?: MetricJson[]; facts?: SystemFacts[] }
        if (m.type === 'ready') {
          facts = m.facts ?? []
          isReady = true
          log.info({ pid: c.pid, restarts: started - 1 }, 'worker process ready')
          settled = true
          resolve()
        } else if (m.type === 'failed') {
          log.error({ pid: c.pid, error: m.message }, 'worker process could not start')
          settled = true
          reject(new Error(`the worker process could not start: ${m.message ?? 'no reason given'}`))
        } else if (m.type === 'metrics' && m.id !== undefined) {
          waiting.get(m.id)?.(m.metrics)
          waiting.delete(m.id)
        }
      })
      c.on('error', (err) => log.warn({ err: { message: err.message } }, 'worker process channel error'))
      c.once('exit', (code, signal) => {
        if (child === c) {
          child = undefined
          isReady = false
        }
        for (const [id, answer] of waiting) {
          answer(undefined)
          waiting.delete(id)
        }
        if (!settled) {
          settled = true
          reject(new Error(`the worker process exited (${signal ?? code}) before it was ready`))
          return
        }
        if (stopping) return
        // Back off while it keeps dying; a child that lived a while starts the count again.
        if (Date.now() - bornAt >= STABLE_MS) delay = FIRST_DELAY_MS
        log.error({ pid: c.pid, code, signal, restartInMs: delay }, 'worker process exited; restarting it')
        timer = setTimeout(() => {
          timer = undefined
          if (stopping) return
          spawn().catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'worker process restart failed'))
        }, delay)
        delay = Math.min(MAX_DELAY_MS, delay * 2)
      })
      c.send(start)
    })

  // The first child starts while the parent finishes its own start-up (only the child loads the provisioners).
  const first = spawn().catch((err: unknown) => {
    // A child that cannot start at all is a configuration problem: `tenure serve` fails, it does not loop.
    stopping = true
    if (timer) clearTimeout(timer)
    child?.kill('SIGKILL')
    throw err
  })
  first.catch(() => undefined)

  return {
    started: first,
    pid: () => child?.pid,
    facts: () => facts,
    ready: () => isReady && child !== undefined && child.connected,
    restarts: () => Math.max(0, started - 1),
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
      stopping = true
      if (timer) clearTimeout(timer)
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
