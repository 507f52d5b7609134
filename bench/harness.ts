/**
 * Benchmark harness: an in-process Tenure on real PostgreSQL with the vendor emulators on
 * 127.0.0.1, an open-loop load generator, and the percentile maths. The scenarios
 * (bench/scenarios.ts) and the smoke test (test/bench-smoke.test.ts) share this code so the
 * numbers in docs/benchmarks.md come from the same path the test checks for correctness.
 */
import { SERVE_HEAP_FLAGS, WORKER_HEAP_FLAGS } from '../src/jobs/heap.ts'
import http from 'node:http'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { startEmbedded } from '../src/db/embedded.ts'
import { validateConfig } from '../src/config/load.ts'
import type { ConfigInput } from '../src/config/index.ts'
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { buildRegistry, type Registry } from '../provisioners/registry.ts'
import { silentLogger } from '../src/log.ts'
import { startSandboxEmulators, SANDBOX_ENTRA_GROUPS, type SandboxEmulators } from '../src/sandbox/index.ts'
import { googleSandboxConfig } from '../provisioners/google/emulator.ts'
import { entraSandboxConfig } from '../provisioners/entra/emulator.ts'
import { slackSandboxConfig } from '../provisioners/slack/emulator.ts'
import { jiraSandboxConfig } from '../provisioners/jira/emulator.ts'
import { scimSandboxConfig } from '../provisioners/scim/emulator.ts'
import type { RateLimitSpec } from '../provisioners/types.ts'
import { signStandardWebhook } from '../src/hr/index.ts'
import { compiledIsFresh } from '../bin/compiled.js'

export const WEBHOOK_SECRET = `whsec_${Buffer.from('tenure-benchmark-webhook-secret!!').toString('base64')}`

/** The API-backed systems a benchmark leaver holds an account in (the case's systems). */
export const BENCH_SYSTEMS = ['google', 'entra', 'slack', 'jira', 'scim:sandbox'] as const
export type BenchSystem = (typeof BENCH_SYSTEMS)[number]

/** Realistic median vendor latency per system (log-normal, sigma 0.5), from the issue. */
export const LATENCY_MEDIAN_MS: Record<BenchSystem, number> = { google: 120, entra: 120, slack: 200, jira: 250, 'scim:sandbox': 150 }

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export interface BenchDatabase {
  /** Server URL (admin database). */
  url: string
  embedded: boolean
  version: string
  create(prefix: string): Promise<{ url: string; drop(): Promise<void> }>
  stop(): Promise<void>
}

/**
 * DATABASE_URL when set, else an embedded PostgreSQL in a temporary folder (like `npm test`).
 * `statements`: the embedded server loads pg_stat_statements (`--pg-statements`), so the engine
 * scenario can say where PostgreSQL's time goes; a DATABASE_URL server needs it in its own
 * shared_preload_libraries.
 */
export async function openBenchDatabase(options: { statements?: boolean } = {}): Promise<BenchDatabase> {
  let url = process.env.DATABASE_URL
  let stop = async () => {}
  let embedded = false
  if (!url) {
    const dir = await mkdtemp(path.join(tmpdir(), 'tenure-bench-'))
    const settings = options.statements ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'top' } : undefined
    const db = await startEmbedded({ dataDir: dir, log: silentLogger, ...(settings ? { settings } : {}) })
    url = db.url
    embedded = true
    let stopped = false
    stop = async () => {
      if (stopped) return
      stopped = true
      cleanups.delete(stop)
      await db.stop()
      await rm(dir, { recursive: true, force: true })
    }
    cleanups.add(stop)
  }
  const serverUrl = url
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  const version = ((await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? 'unknown').trim()
  await admin.end()
  return {
    url: serverUrl,
    embedded,
    version,
    create: async (prefix) => {
      const name = `tenure_bench_${prefix}_${randomBytes(4).toString('hex')}`
      const c = new pg.Client({ connectionString: serverUrl })
      await c.connect()
      await c.query(`CREATE DATABASE ${name}`)
      await c.end()
      const dbUrl = new URL(serverUrl)
      dbUrl.pathname = `/${name}`
      return {
        url: dbUrl.toString(),
        drop: async () => {
          const d = new pg.Client({ connectionString: serverUrl })
          await d.connect()
          await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
          await d.end()
        },
      }
    },
    stop,
  }
}

// ---------------------------------------------------------------------------------------------
// Tenure + emulators

export interface BenchTenure {
  /** Tenure's API base URL. */
  url: string
  /** The Tenure server's process id (a child of the benchmark). */
  pid: number
  emulators: SandboxEmulators
  databaseUrl: string
  /** The benchmark's own pool on Tenure's database (reads only: counts, verified_at, accounts). */
  pool: pg.Pool
  /** Provisioners built from the same systems config, for the oracle (they call the emulators directly). */
  registry: Registry
  /** RSS and V8 heap of the Tenure server process (not the benchmark), after a forced GC when asked. */
  memory(gc?: boolean): Promise<MemorySample>
  /** Stop Tenure only (emulators and the database stay for a restart with other limits). */
  stopTenure(): Promise<void>
  /** Start Tenure again on the same database and emulators, with other rate limits. */
  restart(rateLimits: Record<string, Record<string, RateLimitSpec>>): Promise<void>
  close(): Promise<void>
  /** The pids of every Tenure process of this server: the serve process and its worker process (when it has one). */
  pids(): number[]
  /**
   * Start `n` more worker processes (what `tenure worker` runs: job workers and the engine, no HTTP)
   * on the same database, with the same config and data folder (the same audit key). Each is a
   * child process of its own; stop them with the returned `stop` (close() stops any left).
   */
  startWorkers(n: number): Promise<{ pids: number[]; stop(): Promise<void> }>
}

export interface BenchTenureOptions {
  db: BenchDatabase
  prefix: string
  /** Tenure's limiter pace per system and bucket (the emulators are set separately). */
  rateLimits?: Record<string, Record<string, RateLimitSpec>>
  concurrency?: number
  /** More `workers.*` keys for every Tenure process of this server (e.g. cleanupSettleSeconds). */
  workers?: Record<string, unknown>
  /** False: no hourly target reconciliation (its account listings would land between a pair's calls). */
  reconciliation?: boolean
}

/** Extra node flags for the Tenure process (bench/run.ts sets --cpu-prof here when asked). */
export const tenureProcess = { execArgv: [] as string[] }
/** Settings `bench/run.ts` chooses per run (quick mode shortens the clean-up settle window). */
export const benchSettings: { cleanupSettleSeconds?: number; hrEventConcurrency?: number; inProcessWorkers?: boolean; processNice?: number; systemConcurrency?: Record<string, number> } = {}

/** Everything a SIGTERM/SIGINT must take down: Tenure processes, emulators, databases. */
const cleanups = new Set<() => Promise<void>>()
export async function cleanUpEverything(): Promise<void> {
  const all = [...cleanups].reverse()
  cleanups.clear()
  for (const fn of all) await fn().catch(() => undefined)
}

export function benchPolicy() {
  return {
    rules: [
      {
        name: 'everyone',
        grant: {
          google: { groups: ['everyone@example.com'] },
          entra: { groups: [SANDBOX_ENTRA_GROUPS.allStaff.id] },
          slack: { channels: ['general'] },
          jira: { groups: ['engineering'] },
          // No SCIM group: concurrent joiners' PATCHes to one shared group race on its ETag (412)
          // and dead-letter the joiner (reported in docs/benchmarks.md); the account is what we measure.
          'scim:sandbox': {},
        },
      },
    ],
  }
}

export function benchSystemsConfig(urls: Record<string, string>, rateLimits: Record<string, Record<string, RateLimitSpec>> = {}) {
  return {
    google: googleSandboxConfig(urls.google!),
    entra: entraSandboxConfig(urls.entra!),
    slack: slackSandboxConfig(urls.slack!),
    jira: jiraSandboxConfig(urls.jira!),
    scim: [scimSandboxConfig(urls.scim!, 'sandbox')],
    rateLimits,
  }
}

interface TenureChild {
  child: ChildProcess
  url: string
  /** The serve process's worker process, when it started one. */
  workerPid: number | undefined
  request<T>(message: { type: string; gc?: boolean }, reply: string): Promise<T>
}

const COMPILED_ENTRY = fileURLToPath(new URL('../dist/bench/tenure-process.js', import.meta.url))

/**
 * Tenure runs as production runs it: the compiled JavaScript of `npm run build` (dist/) when it is
 * newer than every source, as bin/tenure.js decides (bin/compiled.js); otherwise, or with
 * TENURE_FROM_SOURCE=1, the TypeScript sources. From source costs about 30 MB more per process
 * (Node's type stripper and the sources' text) and a slower start; the run's header says which ran.
 */
export const tenureForm: 'compiled' | 'source' = compiledIsFresh(COMPILED_ENTRY) ? 'compiled' : 'source'
const TENURE_ENTRY = tenureForm === 'compiled' ? COMPILED_ENTRY : fileURLToPath(new URL('./tenure-process.ts', import.meta.url))

async function forkTenure(input: ConfigInput, mode: 'serve' | 'worker' = 'serve'): Promise<TenureChild> {
  // The heap flags bin/tenure.js gives `tenure serve` and `tenure worker` (src/jobs/heap.ts): the
  // memory measured is that of the processes as they run in production.
  const heapFlags = [...(mode === 'serve' ? SERVE_HEAP_FLAGS : WORKER_HEAP_FLAGS)]
  // TENURE_BENCH_HEAP_LOG=<folder>: both processes write their heap spaces there (bench/heap-sampler.ts).
  const sampler = process.env.TENURE_BENCH_HEAP_LOG ? [`--import=${new URL('./heap-sampler.ts', import.meta.url).href}`] : []
  const child = fork(TENURE_ENTRY, [], {
    execArgv: ['--expose-gc', ...heapFlags, ...sampler, ...tenureProcess.execArgv],
    env: { ...process.env, TENURE_BENCH_CONFIG: JSON.stringify(input), TENURE_BENCH_MODE: mode, TENURE_HEAP_FLAGS: heapFlags.join(' ') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const { url, workerPid } = await new Promise<{ url: string; workerPid: number | undefined }>((resolve, reject) => {
    const onMessage = (raw: unknown) => {
      const m = raw as { type: string; url?: string; message?: string; workerPid?: number }
      if (m.type === 'ready') resolve({ url: m.url ?? '', workerPid: m.workerPid })
      if (m.type === 'failed') reject(new Error(`Tenure did not start: ${m.message}`))
    }
    child.on('message', onMessage)
    child.once('exit', (code) => reject(new Error(`Tenure exited with ${code} before it was ready`)))
  })
  return {
    child,
    url,
    workerPid,
    request: <T>(message: { type: string; gc?: boolean }, reply: string) =>
      new Promise<T>((resolve, reject) => {
        const onMessage = (raw: unknown) => {
          const m = raw as { type: string; sample?: unknown }
          if (m.type !== reply) return
          child.off('message', onMessage)
          resolve((m.sample ?? m) as T)
        }
        child.on('message', onMessage)
        child.send(message, (err) => err && reject(err))
      }),
  }
}

async function stopChild(c: TenureChild): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => c.child.once('exit', () => resolve()))
  if (c.child.connected) c.child.send({ type: 'stop' })
  else c.child.kill('SIGTERM')
  const timer = setTimeout(() => c.child.kill('SIGKILL'), 60_000)
  await exited
  clearTimeout(timer)
}

export async function startBenchTenure(options: BenchTenureOptions): Promise<BenchTenure> {
  const database = await options.db.create(options.prefix)
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tenure-bench-data-'))
  const emulators = await startSandboxEmulators({ log: silentLogger })
  const inputFor = (rateLimits: Record<string, Record<string, RateLimitSpec>>): ConfigInput =>
    ({
      server: { port: 0, host: '127.0.0.1' },
      database: { dataDir, url: database.url },
      queue: { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1, retryDelaySeconds: 1 },
      log: { level: 'silent' },
      auth: { rateLimit: { enabled: false } },
      hr: { generic: { secrets: [WEBHOOK_SECRET], trustedForBulk: true } },
      systems: benchSystemsConfig(emulators.urls, rateLimits),
      policy: benchPolicy(),
      ...(options.reconciliation === false ? { reconciliation: { enabled: false } } : {}),
      workers: {
        concurrency: options.concurrency ?? 8,
        ...(benchSettings.cleanupSettleSeconds !== undefined ? { cleanupSettleSeconds: benchSettings.cleanupSettleSeconds } : {}),
        ...(benchSettings.hrEventConcurrency !== undefined ? { hrEventConcurrency: benchSettings.hrEventConcurrency } : {}),
        ...(benchSettings.systemConcurrency !== undefined ? { systemConcurrency: benchSettings.systemConcurrency } : {}),
        // `tenure serve` runs the engine in its worker process; --in-process-workers measures the one-event-loop form.
        ...(benchSettings.inProcessWorkers ? { inProcess: true } : {}),
        ...(benchSettings.processNice !== undefined ? { processNice: benchSettings.processNice } : {}),
        ...options.workers,
      },
    }) as ConfigInput
  let current: TenureChild | undefined
  let currentLimits = options.rateLimits ?? {}
  const extraWorkers = new Set<TenureChild>()
  const pool = new pg.Pool({ connectionString: database.url, max: 4 })
  // An idle client whose backend goes away (a PostgreSQL restart, the server stopped while the pool
  // closes) emits 'error' on the pool; without a listener that ends the benchmark process.
  pool.on('error', () => undefined)
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    cleanups.delete(close)
    await Promise.all([...extraWorkers].map((w) => stopChild(w)))
    if (current) await stopChild(current)
    await pool.end().catch(() => undefined)
    await emulators.close()
    await database.drop()
    await rm(dataDir, { recursive: true, force: true })
  }
  cleanups.add(close)
  current = await forkTenure(inputFor(options.rateLimits ?? {}))
  const registry = await buildRegistry(validateConfig(inputFor(options.rateLimits ?? {})).systems, { db: pool })
  const bench: BenchTenure = {
    url: current.url,
    pid: current.child.pid ?? 0,
    emulators,
    databaseUrl: database.url,
    pool,
    registry,
    memory: async (gc = false) => {
      if (!current) throw new Error('Tenure is not running')
      return memorySampleOf(await current.request<TenureMemoryReply>({ type: 'memory', gc }, 'memory'))
    },
    stopTenure: async () => {
      if (current) await stopChild(current)
      current = undefined
    },
    restart: async (rateLimits) => {
      await bench.stopTenure()
      currentLimits = rateLimits
      current = await forkTenure(inputFor(rateLimits))
      bench.url = current.url
      bench.pid = current.child.pid ?? 0
    },
    close,
    pids: () => [current?.child.pid, current?.workerPid].filter((p): p is number => p !== undefined),
    startWorkers: async (n) => {
      // Started together: each migrates (a no-op, under the migration lock) and registers its queues.
      const started = await Promise.allSettled(Array.from({ length: n }, () => forkTenure(inputFor(currentLimits), 'worker')))
      const children = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      for (const c of children) extraWorkers.add(c)
      const stop = async () => {
        await Promise.all(children.map(async (c) => {
          await stopChild(c)
          extraWorkers.delete(c)
        }))
      }
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) {
        await stop()
        throw failed.reason
      }
      return { pids: children.map((c) => c.child.pid ?? 0), stop }
    },
  }
  return bench
}

/** Every emulator by the system id Tenure knows it under. */
export function emulatorKits(e: SandboxEmulators) {
  return { google: e.google.kit, entra: e.entra.kit, slack: e.slack.kit, jira: e.jira.kit, 'scim:sandbox': e.scim.kit } as const
}

/**
 * The realistic vendor latency on every emulator, or none. With `pair`, each emulator draws from a
 * sequence seeded by the pair and the system: two leavers given the same pair meet the same
 * latencies, request by request, in every system (the single scenario's paired measure).
 */
export function setRealisticLatency(e: SandboxEmulators, on: boolean, pair?: number): void {
  for (const [system, kit] of Object.entries(emulatorKits(e))) {
    const seed = pair === undefined ? {} : { seed: pair * BENCH_SYSTEMS.length + BENCH_SYSTEMS.indexOf(system as BenchSystem) }
    kit.setLatency(on ? { medianMs: LATENCY_MEDIAN_MS[system as BenchSystem], sigma: 0.5, ...seed } : null)
  }
}

/** Requests each emulator has answered so far, per system. */
export function emulatorRequests(e: SandboxEmulators): Record<BenchSystem, number> {
  return Object.fromEntries(Object.entries(emulatorKits(e)).map(([system, kit]) => [system, kit.stats.requests])) as Record<BenchSystem, number>
}

// ---------------------------------------------------------------------------------------------
// HR deliveries

export interface Delivery {
  id: string
  body: Buffer
  headers: Record<string, string>
}

export function signedDelivery(payload: unknown, id: string): Delivery {
  const body = Buffer.from(JSON.stringify(payload))
  const headers = signStandardWebhook(body, WEBHOOK_SECRET, new Date(), id)
  return { id, body, headers: { 'content-type': 'application/json', ...headers } }
}

const slug = (id: string) => id.replace(/[^A-Za-z0-9]/g, '')

export const hiredPayload = (employeeId: string) => ({
  type: 'employee.hired',
  timestamp: new Date().toISOString(),
  data: {
    employeeId,
    profile: { firstName: 'Bench', lastName: `Person${slug(employeeId)}`, workEmail: `bench.${slug(employeeId).toLowerCase()}@example.com`, department: 'Engineering' },
    startDate: new Date().toISOString().slice(0, 10) },
})

export const terminatedPayload = (employeeId: string) => ({
  type: 'employee.terminated',
  timestamp: new Date().toISOString(),
  data: { employeeId, effectiveAt: new Date().toISOString(), voluntary: 'involuntary', immediate: true },
})

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 })

/** POST over a keep-alive agent; resolves with the status when the whole response has arrived. */
export function post(url: string, body: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

export function destroyAgent(): void {
  agent.destroy()
}

// ---------------------------------------------------------------------------------------------
// Open-loop load

export interface OpenLoopResult {
  rate: number
  seconds: number
  sent: number
  /** Latency per request from its *planned* send time (no coordinated omission), ms. */
  latencies: number[]
  statuses: Record<string, number>
  errors: number
  /** Deliveries answered 202, by webhook-id. */
  acknowledged: string[]
  achievedRate: number
}

/**
 * Fire `send(i)` at a fixed arrival rate whatever the responses do: request i is due at
 * start + i/rate, and its latency is counted from that moment, so a stalled server shows up as
 * latency instead of a slower generator (coordinated omission).
 */
export async function openLoop<T>(opts: { rate: number; count: number; prepare: (i: number) => T; send: (item: T) => Promise<number>; idOf?: (item: T) => string }): Promise<OpenLoopResult> {
  const items = Array.from({ length: opts.count }, (_, i) => opts.prepare(i))
  const latencies: number[] = []
  const statuses: Record<string, number> = {}
  const acknowledged: string[] = []
  let errors = 0
  const interval = 1000 / opts.rate
  const started = performance.now()
  const inflight: Promise<void>[] = []
  let next = 0
  while (next < items.length) {
    const now = performance.now()
    while (next < items.length && started + next * interval <= now) {
      const planned = started + next * interval
      const item = items[next]!
      inflight.push(
        opts.send(item).then(
          (status) => {
            latencies.push(performance.now() - planned)
            statuses[status] = (statuses[status] ?? 0) + 1
            if (status === 202 && opts.idOf) acknowledged.push(opts.idOf(item))
          },
          () => {
            latencies.push(performance.now() - planned)
            errors += 1
          },
        ),
      )
      next += 1
    }
    const wait = started + next * interval - performance.now()
    // setTimeout has ~1 ms granularity; the due-list above catches up any lateness.
    await sleep(Math.max(0, Math.min(wait, 5)))
  }
  await Promise.all(inflight)
  const seconds = (performance.now() - started) / 1000
  return { rate: opts.rate, seconds, sent: items.length, latencies, statuses, errors, acknowledged, achievedRate: items.length / seconds }
}

/** Closed loop: `concurrency` workers back to back for `ms`; the throughput ceiling. */
export async function closedLoop(concurrency: number, ms: number, op: (i: number) => Promise<unknown>): Promise<{ perSecond: number; latencies: number[] }> {
  const end = performance.now() + ms
  let i = 0
  const latencies: number[] = []
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now()
        await op(i++)
        latencies.push(performance.now() - t)
      }
    }),
  )
  return { perSecond: latencies.length / ((performance.now() - started) / 1000), latencies }
}

// ---------------------------------------------------------------------------------------------
// Statistics

export interface Summary {
  n: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!
}

export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 100) / 100
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
    mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
  }
}

/**
 * What one process takes from the machine, in MB, from /proc/<pid>/status and
 * /proc/<pid>/smaps_rollup (Linux). VmRSS counts every resident page the process maps, including
 * file-backed pages other processes map too: Node's own binary (about 53 MB resident) is the same
 * physical pages in every Node process, so summing two processes' RSS counts those pages twice.
 * PSS (proportional set size, what `smem` reports) divides each shared page by the number of
 * processes mapping it, so a sum of PSS counts it once, but spread over every mapper on the
 * machine: the benchmark's own process and any other Node process take their share of Node's
 * binary out of Tenure's PSS. `anonMB` (RssAnon: heap, malloc, stacks; private to the process,
 * Tenure's processes are not forked copies of each other) and `fileMB` (RssFile: mapped files)
 * give the pair as if alone on the machine: see `pairMemory`.
 */
export interface ProcessMemory {
  pid: number
  rssMB: number
  anonMB: number
  fileMB: number
  pssMB: number
  pssAnonMB: number
  pssFileMB: number
  sharedCleanMB: number
  privateMB: number
}

export interface MemorySample {
  /** The Tenure deployment's RSS: VmRSS of the serve process plus that of its worker process when it has one. */
  rssMB: number
  /** Sum of the processes' PSS (smaps_rollup Pss): shared pages divided among every process mapping them. */
  pssMB?: number
  /**
   * The processes' anonymous memory plus the file-backed pages counted once (the larger of their
   * file-backed resident sets: both map the same Node binary and libraries), i.e. what they would
   * take together were they the only Node processes on the machine. The in-flight target is judged
   * on this: not on the RSS sum (which counts Node's binary twice), nor on the PSS sum (which
   * lends part of it to the benchmark's own process and to whatever else runs Node here).
   */
  onceMB?: number
  /** The serve process's V8 heap (its worker process's is not sampled here). */
  heapUsedMB: number
  heapTotalMB: number
  arrayBuffersMB?: number
  heapSpacesMB?: Record<string, number>
  /** With a worker process: the two parts of rssMB. */
  serveRssMB?: number
  workerRssMB?: number
  /** With a worker process: where it is (stopped while idle, src/worker-process.ts). */
  workerState?: string
  /** Per process, when /proc could be read. */
  serve?: ProcessMemory
  worker?: ProcessMemory
}

/** What bench/tenure-process.ts answers to { type: 'memory' }: its own figures and the pids to read. */
export interface TenureMemoryReply {
  pid: number
  workerPid?: number
  workerState?: string
  rssMB: number
  heapUsedMB: number
  heapTotalMB: number
  arrayBuffersMB?: number
  externalMB?: number
  /** The serve process's V8 heap spaces, committed MB (new_space, old_space, large_object_space...). */
  heapSpacesMB?: Record<string, number>
}

/**
 * A sample of the whole deployment from the serve process's reply: /proc is read here, in the
 * benchmark's process, so the reading costs Tenure nothing, for the serve process and for the
 * worker process it has now (the pid comes with the reply: the worker can be restarted).
 */
export function memorySampleOf(r: TenureMemoryReply): MemorySample {
  const heap = { ...(r.workerState !== undefined ? { workerState: r.workerState } : {}), heapUsedMB: r.heapUsedMB, heapTotalMB: r.heapTotalMB, ...(r.arrayBuffersMB !== undefined ? { arrayBuffersMB: r.arrayBuffersMB } : {}), ...(r.heapSpacesMB ? { heapSpacesMB: r.heapSpacesMB } : {}) }
  const serve = readProcessMemory(r.pid)
  if (!serve) return { rssMB: r.rssMB, ...heap }
  const worker = readProcessMemory(r.workerPid)
  const sums = pairMemory(worker ? [serve, worker] : [serve])
  return { ...sums, ...heap, serve, ...(worker ? { worker, serveRssMB: serve.rssMB, workerRssMB: worker.rssMB } : {}) }
}

const mbOfKb = (kb: number | undefined) => (kb === undefined || Number.isNaN(kb) ? Number.NaN : Math.round((kb / 1024) * 10) / 10)

/**
 * The `Key:   N kB` lines of /proc/<pid>/status or /proc/<pid>/smaps_rollup, in kB. Other lines
 * (the rollup's address-range header, status's `Name:`, `Threads:` and the like) are skipped.
 */
export function parseProcKb(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][\w()]*):\s+(\d+) kB$/.exec(line.trim())
    if (m) out[m[1]!] = Number(m[2])
  }
  return out
}

/** One process's figures from the texts of its /proc/<pid>/status and /proc/<pid>/smaps_rollup. */
export function processMemoryOf(pid: number, statusText: string, smapsRollupText: string): ProcessMemory {
  const status = parseProcKb(statusText)
  const rollup = parseProcKb(smapsRollupText)
  return {
    pid,
    rssMB: mbOfKb(status.VmRSS),
    anonMB: mbOfKb(status.RssAnon),
    fileMB: mbOfKb(status.RssFile),
    pssMB: mbOfKb(rollup.Pss),
    pssAnonMB: mbOfKb(rollup.Pss_Anon),
    pssFileMB: mbOfKb(rollup.Pss_File),
    sharedCleanMB: mbOfKb(rollup.Shared_Clean),
    privateMB: mbOfKb((rollup.Private_Clean ?? Number.NaN) + (rollup.Private_Dirty ?? Number.NaN)),
  }
}

/** A process's memory now, or undefined when it is gone or /proc is not there (not Linux). */
export function readProcessMemory(pid: number | undefined): ProcessMemory | undefined {
  if (!pid) return undefined
  try {
    return processMemoryOf(pid, readFileSync(`/proc/${pid}/status`, 'utf8'), readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))
  } catch {
    return undefined
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10

/**
 * CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat (utime and
 * stime, fields 14 and 15, in clock ticks of 10 ms); undefined when it is gone or not Linux.
 */
export function cpuMsOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined
  try {
    const line = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = line.slice(line.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 10
  } catch {
    return undefined
  }
}

/** The sums over a deployment's processes: RSS, PSS, and anonymous plus file-backed counted once. */
export function pairMemory(processes: readonly ProcessMemory[]): { rssMB: number; pssMB: number; onceMB: number } {
  const sum = (f: (p: ProcessMemory) => number) => round1(processes.reduce((a, p) => a + f(p), 0))
  return { rssMB: sum((p) => p.rssMB), pssMB: sum((p) => p.pssMB), onceMB: round1(sum((p) => p.anonMB) + Math.max(0, ...processes.map((p) => p.fileMB))) }
}

export function memoryNow(): MemorySample {
  const m = process.memoryUsage()
  const mb = (x: number) => Math.round((x / 1048576) * 10) / 10
  return { rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed), heapTotalMB: mb(m.heapTotal) }
}

/**
 * Sample the Tenure process's memory every `everyMs` until stopped; returns the peak of each figure,
 * and with `atPeak` the whole sample (per process) at which the judged figure (`onceMB`, else the
 * RSS sum) was highest.
 */
export function memoryPeak(t: Pick<BenchTenure, 'memory'>, everyMs = 200): { stop(): Promise<MemorySample & { atPeak?: MemorySample; samples: number }> } {
  const peak: MemorySample & { atPeak?: MemorySample; samples: number } = { rssMB: 0, heapUsedMB: 0, heapTotalMB: 0, samples: 0 }
  let pending: Promise<void> = Promise.resolve()
  const judged = (m: MemorySample) => m.onceMB ?? m.rssMB
  const sample = () =>
    t.memory().then(
      (m) => {
        peak.samples += 1
        if (!peak.atPeak || judged(m) > judged(peak.atPeak)) peak.atPeak = m
        peak.rssMB = Math.max(peak.rssMB, m.rssMB)
        if (m.pssMB !== undefined) peak.pssMB = Math.max(peak.pssMB ?? 0, m.pssMB)
        if (m.onceMB !== undefined) peak.onceMB = Math.max(peak.onceMB ?? 0, m.onceMB)
        if (m.serveRssMB !== undefined) peak.serveRssMB = Math.max(peak.serveRssMB ?? 0, m.serveRssMB)
        if (m.workerRssMB !== undefined) peak.workerRssMB = Math.max(peak.workerRssMB ?? 0, m.workerRssMB)
        peak.heapUsedMB = Math.max(peak.heapUsedMB, m.heapUsedMB)
        peak.heapTotalMB = Math.max(peak.heapTotalMB, m.heapTotalMB)
      },
      () => undefined,
    )
  const timer = setInterval(() => {
    pending = pending.then(sample)
  }, everyMs)
  return {
    stop: async () => {
      clearInterval(timer)
      await pending
      return peak
    },
  }
}

/** Re-check `check` every `everyMs` until it returns truthy or `timeoutMs` passes. */
export async function until<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}
