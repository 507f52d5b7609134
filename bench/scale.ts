/**
 * The scaling table (issue #21, "How cost grows with work"): N seeded leavers terminated at once
 * with every vendor limit ×100 (so the vendors do not bind), worked by W Tenure worker processes on
 * one PostgreSQL: the `tenure serve` process's own worker process counts as one, and W − 1 more
 * processes run what `tenure worker` runs (bench/tenure-process.ts in worker mode).
 *
 * Measured per run: time from the first webhook to every cut-off verified (case_systems.verified_at)
 * and to every leaver case closed (clean-ups included); peak RSS of the Tenure processes (each one's
 * /proc/<pid>/status VmRSS every 250 ms: the peak of their sum and each one's own peak); CPU seconds
 * of the Tenure processes, of PostgreSQL (the postmaster and its backends, when it runs on this
 * host) and of the benchmark process (generator and emulators); rows written (pg_stat_user_tables
 * n_tup_ins + n_tup_upd + n_tup_del, Tenure's tables and pg-boss's apart), audit rows, WAL bytes
 * (pg_wal_lsn_diff) and table + index growth (pg_total_relation_size) per leaver; 429 share; dead
 * letters. Rows and bytes cover the whole of each leaver's work: cut-off, verification and
 * clean-up, until every case is closed and the queues are quiet.
 */
import { readFileSync, readdirSync } from 'node:fs'
import os from 'node:os'
import type pg from 'pg'
import {
  BENCH_SYSTEMS,
  emulatorKits,
  post,
  setRealisticLatency,
  signedDelivery,
  sleep,
  startBenchTenure,
  terminatedPayload,
  until,
  type BenchDatabase,
  type BenchTenure,
} from './harness.ts'
import { scaledEmulatorLimits, scaledTenure, seedLeavers } from './scenarios.ts'
import { pgStatementTotals, statementsSince, stepOf, type StatementTotals } from './engine.ts'

export interface ScaleOptions {
  leavers: number
  /** Tenure worker processes: the serve process's own worker process plus workers − 1 `tenure worker` processes. */
  workers: number
  /** Every published limit ×this, in the emulators and in Tenure's limiter (default 100). */
  limitScale?: number
  /** Budget for the wave, from the first webhook: a run that cannot finish reports how far it got. */
  timeoutMs: number
  /** Terminations posted at once (closed loop: the wave goes as fast as the intake takes it). */
  senders?: number
  /** workers.cleanupSettleSeconds (default 5: every leaver arrives within seconds, not over the 30 s default's window). */
  cleanupSettleSeconds?: number
  /**
   * Wait before each reading of the statistics (default 11 s): a busy backend sends its counts at
   * most once a second, an idle one within 10 s (PostgreSQL's PGSTAT_MIN_INTERVAL and
   * PGSTAT_IDLE_INTERVAL). The smoke test waits less and checks only that rows were counted.
   */
  statsSettleMs?: number
}

const TICKS_PER_SECOND = 100 // getconf CLK_TCK on Linux; /proc/<pid>/stat counts CPU time in these
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits

/** VmRSS of a process in bytes, or undefined once it is gone. */
function rssOf(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb ? Number(kb) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** /proc/<pid>/stat fields after the command name: [state, ppid, …]; utime and stime are fields 14 and 15 of the whole line. */
function statOf(pid: number): { ppid: number; cpuTicks: number; childrenTicks: number } | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = line.slice(line.lastIndexOf(')') + 2).split(' ')
    // f[0] is field 3 (state): field n is f[n - 3].
    return { ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]), childrenTicks: Number(f[13]) + Number(f[14]) }
  } catch {
    return undefined
  }
}

/**
 * Time the main threads (the JavaScript) of the given processes have run and have waited on a run
 * queue, ready but without a CPU, so far (/proc/<pid>/schedstat, nanoseconds). A high wait share
 * says the machine's CPU, not Tenure, set the pace.
 */
function schedOf(pids: number[]): { runNs: number; waitNs: number } {
  let runNs = 0
  let waitNs = 0
  for (const pid of pids) {
    try {
      const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number)
      runNs += run ?? 0
      waitNs += wait ?? 0
    } catch {
      // gone
    }
  }
  return { runNs, waitNs }
}

/** CPU seconds of the given processes so far. */
function cpuSeconds(pids: number[]): number {
  return pids.reduce((a, pid) => a + (statOf(pid)?.cpuTicks ?? 0), 0) / TICKS_PER_SECOND
}

/**
 * CPU seconds of a local PostgreSQL so far: the postmaster, its reaped children (cutime/cstime:
 * backends that ended) and its live children. Undefined when it does not run on this host.
 */
function postgresCpuSeconds(postmaster: number | undefined): number | undefined {
  if (postmaster === undefined) return undefined
  const self = statOf(postmaster)
  if (!self) return undefined
  let ticks = self.cpuTicks + self.childrenTicks
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const s = statOf(Number(name))
    if (s?.ppid === postmaster) ticks += s.cpuTicks
  }
  return ticks / TICKS_PER_SECOND
}

/** The postmaster's pid: the parent of one of our backends, if that backend is a process on this host running postgres. */
async function findPostmaster(pool: pg.Pool): Promise<number | undefined> {
  const backend = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
  try {
    if (!readFileSync(`/proc/${backend}/cmdline`, 'utf8').includes('postgres')) return undefined
  } catch {
    return undefined
  }
  return statOf(backend)?.ppid
}

interface DbCounters {
  /** n_tup_ins + n_tup_upd + n_tup_del per schema (public: Tenure's tables; pgboss: the queue). */
  rowsBySchema: Record<string, number>
  auditRows: number
  /** The chain's head seq (audit rows by action are counted above it). */
  auditHeadSeq: string
  walLsn: string
  tableBytes: number
}

async function dbCounters(pool: pg.Pool): Promise<DbCounters> {
  const client = await pool.connect()
  try {
    // Statistics are read from a snapshot taken at the first access in a transaction: clear it so
    // this read sees what the server has now.
    await client.query('SELECT pg_stat_clear_snapshot()')
    const rows = await client.query<{ schema: string; n: string }>(
      `SELECT schemaname AS schema, sum(n_tup_ins + n_tup_upd + n_tup_del)::text AS n FROM pg_stat_user_tables GROUP BY schemaname`,
    )
    const audit = await client.query<{ n: string; head: string }>('SELECT count(*)::text AS n, coalesce(max(seq), 0)::text AS head FROM audit_events')
    const wal = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
    const size = await client.query<{ bytes: string }>(
      `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::text AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
    )
    return {
      rowsBySchema: Object.fromEntries(rows.rows.map((r) => [r.schema, Number(r.n)])),
      auditRows: Number(audit.rows[0]!.n),
      auditHeadSeq: audit.rows[0]!.head,
      walLsn: wal.rows[0]!.lsn,
      tableBytes: Number(size.rows[0]!.bytes),
    }
  } finally {
    client.release()
  }
}

/** RSS of every Tenure process every `everyMs`: the peak of the sum and each process's own peak. */
function rssPeaks(pids: () => number[], everyMs = 250) {
  const perProcess = new Map<number, number>()
  let sumPeak = 0
  const sample = () => {
    let sum = 0
    for (const pid of pids()) {
      const rss = rssOf(pid)
      if (rss === undefined) continue
      sum += rss
      perProcess.set(pid, Math.max(perProcess.get(pid) ?? 0, rss))
    }
    sumPeak = Math.max(sumPeak, sum)
  }
  sample()
  const timer = setInterval(sample, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return { sumMB: mb(sumPeak), maxPerProcessMB: mb(Math.max(0, ...perProcess.values())), perProcessMB: [...perProcess.values()].map(mb) }
    },
  }
}

export async function scaleScenario(db: BenchDatabase, o: ScaleOptions) {
  if (!Number.isInteger(o.workers) || o.workers < 1) throw new Error('workers must be a positive whole number')
  const limitScale = o.limitScale ?? 100
  const t: BenchTenure = await startBenchTenure({
    db,
    prefix: 'scale',
    rateLimits: scaledTenure(limitScale),
    // idleStopSeconds 0: CPU is read per process id, so serve's worker process must not stop (and
    // come back under another id) while the leavers are seeded.
    workers: { cleanupSettleSeconds: o.cleanupSettleSeconds ?? 5, idleStopSeconds: 0 },
  })
  let extra: { pids: number[]; stop(): Promise<void> } | undefined
  try {
    const kits = emulatorKits(t.emulators)
    for (const s of BENCH_SYSTEMS) kits[s].configureLimits(scaledEmulatorLimits(s, limitScale))
    const run = Math.random().toString(36).slice(2, 8)
    const ids = Array.from({ length: o.leavers }, (_, i) => `K-${run}-${i}`)
    // Seeding is set-up, not the measurement (docs/benchmarks.md "Seeding"): no vendor latency.
    setRealisticLatency(t.emulators, false)
    const seedStart = Date.now()
    // The extra worker processes start while the leavers are seeded (both are set-up).
    const starting = o.workers > 1 ? t.startWorkers(o.workers - 1) : undefined
    const seeded = await Promise.allSettled([seedLeavers(t, ids, `KT-${run}`), starting])
    if (seeded[1].status === 'fulfilled') extra = seeded[1].value
    for (const r of seeded) if (r.status === 'rejected') throw r.reason
    const seedSeconds = (Date.now() - seedStart) / 1000
    // The template joiner's jobs must not fall into the wave.
    await until('the template joiner settled', async () => (await queuedJobs(t)) === 0, 60_000, 250).catch(() => undefined)
    const tenurePids = () => [...t.pids(), ...(extra?.pids ?? [])]
    const tenureProcesses = tenurePids().length
    for (const s of BENCH_SYSTEMS) kits[s].resetStats()
    setRealisticLatency(t.emulators, true)
    const postmaster = await findPostmaster(t.pool)
    // Let every process's pending statistics reach the server before the baseline (a backend
    // flushes them at most once a second while busy, and within 10 s once idle).
    await sleep(o.statsSettleMs ?? 11_000)
    const before = await dbCounters(t.pool)
    const perProcessBefore = tenurePids().map((pid) => cpuSeconds([pid]))
    const cpuBefore = { tenure: cpuSeconds(tenurePids()), postgres: postgresCpuSeconds(postmaster), bench: process.cpuUsage(), sched: schedOf(tenurePids()) }
    const rss = rssPeaks(tenurePids)
    // `--pg-statements`: what PostgreSQL spent its time on, per leaver, over the whole run.
    const statementsBefore = await pgStatementTotals(t.pool)

    // The wave: every termination posted as fast as the intake takes it (`senders` at once).
    const start = Date.now()
    let next = 0
    let refused = 0
    await Promise.all(
      Array.from({ length: o.senders ?? 32 }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!
          const d = signedDelivery(terminatedPayload(id), `scale_${id}`)
          if ((await post(`${t.url}/webhooks/hr/generic`, d.body, d.headers)) !== 202) refused += 1
        }
      }),
    )
    const sentSeconds = (Date.now() - start) / 1000
    const deadline = start + o.timeoutMs
    // Polled once a second (the poll must stay cheap next to the work it watches); toy sizes finish in seconds.
    const pollMs = o.leavers < 100 ? 250 : 1000
    const wanted = ids.length * BENCH_SYSTEMS.length
    // A count, not a per-leaver list.
    const verifiedRows = () =>
      count(t, `SELECT count(*)::int AS n FROM case_systems cs JOIN cases c ON c.id = cs.case_id WHERE c.kind = 'leaver' AND cs.verified_at IS NOT NULL AND cs.system = ANY($1)`, [[...BENCH_SYSTEMS]])
    const verifiedDone = await until('every cut-off verified', async () => (await verifiedRows()) >= wanted, Math.max(1000, deadline - Date.now()), pollMs).then(
      () => true,
      () => false,
    )
    const verifiedWallAt = Date.now()
    const cpuAtVerified = { tenure: cpuSeconds(tenurePids()), postgres: postgresCpuSeconds(postmaster) }
    const closedCount = () => count(t, `SELECT count(*)::int AS n FROM cases WHERE kind = 'leaver' AND status = 'closed'`)
    const closedDone =
      verifiedDone &&
      (await until('every leaver case closed and the queues quiet', async () => (await closedCount()) === ids.length && (await queuedJobs(t)) === 0, Math.max(1000, deadline - Date.now()), pollMs).then(
        () => true,
        () => false,
      ))
    const endWallAt = Date.now()
    const perProcessAtEnd = tenurePids().map((pid) => cpuSeconds([pid]))
    const cpuAtEnd = { tenure: cpuSeconds(tenurePids()), postgres: postgresCpuSeconds(postmaster), bench: process.cpuUsage(cpuBefore.bench), sched: schedOf(tenurePids()) }
    const peak = rss.stop()

    const verifiedByLeaver = await t.pool.query<{ n: number; last: Date | null; closed_last: Date | null }>(
      `SELECT count(*) FILTER (WHERE v = $1)::int AS n, max(last) AS last, (SELECT max(closed_at) FROM cases WHERE kind = 'leaver') AS closed_last
         FROM (SELECT c.id, count(cs.verified_at)::int AS v, max(cs.verified_at) AS last
                 FROM cases c JOIN case_systems cs ON cs.case_id = c.id AND cs.system = ANY($2)
                WHERE c.kind = 'leaver' GROUP BY c.id) per_case`,
      [BENCH_SYSTEMS.length, [...BENCH_SYSTEMS]],
    )
    const { n: leaversVerified, last, closed_last: closedLast } = verifiedByLeaver.rows[0]!
    const dead = await count(t, `SELECT count(*)::int AS n FROM pgboss.job WHERE name LIKE 'dlq.%'`)
    const closed = await closedCount()
    let requests = 0
    let rateLimited = 0
    const requestsPerConnection: Record<string, number> = {}
    for (const s of BENCH_SYSTEMS) {
      requestsPerConnection[s] = round(kits[s].stats.requests / Math.max(1, kits[s].stats.connections), 1)
      requests += kits[s].stats.requests
      rateLimited += kits[s].stats.rateLimited
    }

    // Stop the extra workers first (cleanly: running jobs finish), then let the last statistics land.
    await extra?.stop()
    extra = undefined
    // Per-leaver figures only from a run whose every case closed: a run cut short has work half
    // done for some leavers and none for others, so its counts divided by N would mean nothing.
    let statements: StatementTotals | undefined
    let auditByAction: Record<string, number> | undefined
    let perLeaver: { rows: number; rowsBySchema: Record<string, number>; audit: number; wal: number; table: number } | undefined
    if (closedDone) {
      await sleep(o.statsSettleMs ?? 11_000)
      const after = await dbCounters(t.pool)
      statements = statementsSince(statementsBefore, await pgStatementTotals(t.pool))
      const byAction = await t.pool.query<{ action: string; n: number }>('SELECT action, count(*)::int AS n FROM audit_events WHERE seq > $1 GROUP BY action ORDER BY n DESC, action', [before.auditHeadSeq])
      auditByAction = Object.fromEntries(byAction.rows.map((r) => [r.action, round(r.n / o.leavers, 2)]))
      const walBytes = Number((await t.pool.query<{ d: string }>('SELECT pg_wal_lsn_diff($1, $2)::text AS d', [after.walLsn, before.walLsn])).rows[0]!.d)
      const rowsBySchema = Object.fromEntries(Object.keys({ ...before.rowsBySchema, ...after.rowsBySchema }).map((s) => [s, (after.rowsBySchema[s] ?? 0) - (before.rowsBySchema[s] ?? 0)]))
      perLeaver = {
        rows: Object.values(rowsBySchema).reduce((a, b) => a + b, 0),
        rowsBySchema,
        audit: after.auditRows - before.auditRows,
        wal: walBytes,
        table: after.tableBytes - before.tableBytes,
      }
    }
    const per = (x: number) => round(x / o.leavers, 1)
    const cutOffSeconds = verifiedDone && last ? (last.getTime() - start) / 1000 : null
    const closedSeconds = closedDone && closedLast ? (closedLast.getTime() - start) / 1000 : null
    const cpuMs = (x: number | undefined, done: boolean) => (x === undefined || !done ? null : round((x * 1000) / o.leavers, 1))
    const pgCpu = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a - b)
    return {
      leavers: o.leavers,
      workerProcesses: o.workers,
      tenureProcesses,
      limitScale,
      seedSeconds: round(seedSeconds, 1),
      acknowledged: o.leavers - refused,
      sentSeconds: round(sentSeconds, 1),
      timedOut: !verifiedDone,
      closedWithinBudget: closedDone,
      leaversVerified,
      casesClosed: closed,
      allCutOffVerifiedSeconds: cutOffSeconds === null ? null : round(cutOffSeconds, 1),
      allClosedSeconds: closedSeconds === null ? null : round(closedSeconds, 1),
      // How far a cut-short run got, over the time it ran.
      leaversVerifiedPerSecond: round(leaversVerified / (cutOffSeconds ?? (verifiedWallAt - start) / 1000), 2),
      peakRss: peak,
      cpu: {
        // Until every cut-off was verified (the time in the table), and for the whole window.
        tenureMsPerLeaverToVerified: cpuMs(cpuAtVerified.tenure - cpuBefore.tenure, verifiedDone),
        postgresMsPerLeaverToVerified: cpuMs(pgCpu(cpuAtVerified.postgres, cpuBefore.postgres), verifiedDone),
        tenureMsPerLeaver: cpuMs(cpuAtEnd.tenure - cpuBefore.tenure, closedDone),
        postgresMsPerLeaver: cpuMs(pgCpu(cpuAtEnd.postgres, cpuBefore.postgres), closedDone),
        benchMsPerLeaver: cpuMs((cpuAtEnd.bench.user + cpuAtEnd.bench.system) / 1e6, closedDone),
        // The serve process (the intake), its worker process, then each `tenure worker` process.
        tenureMsPerLeaverByProcess: perProcessAtEnd.map((x, i) => cpuMs(x - (perProcessBefore[i] ?? 0), closedDone)),
        // Share of the machine's cores busy with this run (Tenure + PostgreSQL + the benchmark) over the whole window.
        coresBusy: (() => {
          const total = cpuAtEnd.tenure - cpuBefore.tenure + (pgCpu(cpuAtEnd.postgres, cpuBefore.postgres) ?? 0) + (cpuAtEnd.bench.user + cpuAtEnd.bench.system) / 1e6
          return round(total / ((endWallAt - start) / 1000), 2)
        })(),
        cores: os.cpus().length,
        // The Tenure processes' main threads: share of their ready time spent waiting for a CPU.
        tenureRunQueueWaitShare: (() => {
          const run = cpuAtEnd.sched.runNs - cpuBefore.sched.runNs
          const wait = cpuAtEnd.sched.waitNs - cpuBefore.sched.waitNs
          return run + wait > 0 ? round(wait / (run + wait)) : null
        })(),
      },
      rowsPerLeaver: perLeaver ? per(perLeaver.rows) : null,
      rowsPerLeaverBySchema: perLeaver ? Object.fromEntries(Object.entries(perLeaver.rowsBySchema).map(([s, n]) => [s, per(n)])) : null,
      auditRowsPerLeaver: perLeaver ? per(perLeaver.audit) : null,
      // Which entries they are, per leaver (the whole run's: the wave's leavers and nothing else).
      auditRowsPerLeaverByAction: auditByAction ?? null,
      walBytesPerLeaver: perLeaver ? Math.round(perLeaver.wal / o.leavers) : null,
      tableBytesPerLeaver: perLeaver ? Math.round(perLeaver.table / o.leavers) : null,
      requests,
      share429: round(rateLimited / Math.max(1, requests), 4),
      // Per system: how many requests each TCP connection to the emulator carried (the Tenure
      // processes' HTTP clients reuse their connections, or open one per call).
      requestsPerConnection,
      deadLettered: dead,
      ...(statements ? { pgStatements: leaverStatementProfile(statements, o.leavers) } : {}),
    }
  } finally {
    await extra?.stop().catch(() => undefined)
    await t.close()
  }
}

const count = async (t: BenchTenure, sql: string, params: unknown[] = []) => (await t.pool.query<{ n: number }>(sql, params)).rows[0]!.n

/** Jobs due or running (not the scheduled ones waiting for a later time: cron, timers). */
const queuedJobs = (t: BenchTenure) =>
  count(t, `SELECT count(*)::int AS n FROM pgboss.job WHERE state IN ('created', 'retry', 'active') AND start_after <= now() AND name NOT LIKE 'dlq.%'`)

/**
 * PostgreSQL's execution time per leaver by statement (pg_stat_statements, top-level statements of
 * every client on the database: the intake, the engine, the workers, pg-boss's maintenance and the
 * benchmark's own polls), costliest first, with the engine scenario's step of each.
 */
function leaverStatementProfile(totals: StatementTotals, leavers: number, top = 15) {
  const all = [...totals.values()]
  const ms = all.reduce((a, t) => a + t.ms, 0)
  const r3 = (n: number) => Math.round(n * 1000) / 1000
  return {
    execMsPerLeaver: r3(ms / leavers),
    callsPerLeaver: r3(all.reduce((a, t) => a + t.calls, 0) / leavers),
    walBytesPerLeaver: Math.round(all.reduce((a, t) => a + t.walBytes, 0) / leavers),
    top: all
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((t) => ({
        step: stepOf(t.query),
        execMsPerLeaver: r3(t.ms / leavers),
        share: r3(t.ms / ms),
        callsPerLeaver: r3(t.calls / leavers),
        msPerCall: r3(t.ms / t.calls),
        text: t.query.replace(/\s+/g, ' ').trim().slice(0, 120),
      })),
  }
}
