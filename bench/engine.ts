/**
 * (e) engine: the lifecycle engine alone, with no vendor in the way (issue #21, "the engine is not
 * the bottleneck"). `npm run bench -- --scenario engine [--leavers N] [--limit-scale N]`.
 *
 * An in-process Tenure (workers off) on its own database. A driver stands in for the job workers:
 * it takes the jobs and timers each transition enqueued (the real pg-boss inserts happen, in the
 * transaction; the driver only sees a copy) and answers each with the outcome a healthy target
 * gives (provisioned, enabled, revoked, verified), through `applyEvent` as the system worker does,
 * with a target.* audit row like the worker's. Each job also takes one token from the shared
 * limiter (limits ×`limitScale` of Tenure's published ones), as a vendor call would.
 *
 * Every statement the engine's transactions send is counted by kind (its SQL text: lock/restore,
 * persist, project, enqueue, audit, transaction control), per transition, in three phases:
 *   hire  — N joiners hired with a start date in the past, driven until active everywhere;
 *   open  — N immediate terminations applied (leaver cases opened per second);
 *   drain — every cut-off, verification and clean-up outcome of those N leavers (transitions/s).
 * Employees run `concurrency` at a time, one transition at a time per employee (as the HR lanes
 * and per-employee locks allow).
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type pg from 'pg'
import { validateConfig } from '../src/config/load.ts'
import type { ConfigInput } from '../src/config/index.ts'
import { startTenure } from '../src/main.ts'
import { silentLogger } from '../src/log.ts'
import { createPool } from '../src/db/pool.ts'
import { applyEvent, applyHrEvent, SYSTEM_ACTOR, type EngineDeps } from '../src/lifecycle/engine.ts'
import { createLimiter } from '../src/jobs/limiter.ts'
import { TIMER_QUEUE } from '../src/jobs/queues.ts'
import { startSandboxEmulators } from '../src/sandbox/index.ts'
import type { CanonicalEvent } from '../state-machines/events.ts'
import type { LifecycleEvent } from '../state-machines/lifecycle-types.ts'
import type { SystemJobData, TimerJobData } from '../src/jobs/payloads.ts'
import type { AuditEntryInput } from '../src/audit/index.ts'
import { verifyAudit } from '../src/audit/verify.ts'
import { sealerOf } from '../src/audit/sealer.ts'
import { takeWroteAudit } from '../src/audit/writer.ts'
import { benchPolicy, benchSystemsConfig, WEBHOOK_SECRET, type BenchDatabase } from './harness.ts'
import { scaledTenure } from './scenarios.ts'

export const STEPS = ['begin/commit', 'lock+restore', 'persist', 'project', 'enqueue', 'audit', 'other'] as const
type Step = (typeof STEPS)[number]

/** Which step of applyLocked a statement belongs to, from its text. */
export function stepOf(sql: string): Step {
  const s = sql.replace(/\s+/g, ' ').trim()
  if (/^(BEGIN|COMMIT|ROLLBACK|SET )/i.test(s)) return 'begin/commit'
  if (/audit_chain_head|audit_events|audit_pending|audit_seal_pending/i.test(s)) return 'audit'
  if (/pgboss|case_escalations/i.test(s)) return 'enqueue'
  if (/UPDATE employees SET/i.test(s)) return 'persist'
  if (/FROM employees|INTO employees/i.test(s) && !/employee_accounts/i.test(s)) return 'lock+restore'
  if (/cases|case_systems|employee_accounts|manual_tasks/i.test(s)) return 'project'
  return 'other'
}

interface Phase {
  transitions: number
  statements: Map<Step, number>
  texts: Map<string, number>
  ms: number
  /** CPU time of this process (user + system), µs: what a transition costs in Node, waiting aside. */
  cpuMicros: number
  /** CPU time of the PostgreSQL backends on this database (user + system), µs; undefined where /proc is not readable. */
  pgCpuMicros?: number
  /** What pg_stat_statements counted over the phase, per statement (only with `--pg-statements`). */
  pgStatements?: StatementTotals
}
const newPhase = (): Phase => ({ transitions: 0, statements: new Map(), texts: new Map(), ms: 0, cpuMicros: 0 })

/**
 * CPU time (µs) of every PostgreSQL backend connected to this database, from /proc (Linux, the
 * server on this machine): the other half of a transition's cost. A backend that closed between two
 * readings is missed (the pools keep theirs for 30 s idle, longer than any pause here).
 */
async function pgBackendCpu(pool: pg.Pool): Promise<Map<number, number> | undefined> {
  const { rows } = await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()')
  const out = new Map<number, number>()
  for (const { pid } of rows) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
    if (!stat) return undefined
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of /proc/PID/stat (clock ticks, 100 per second on Linux).
    out.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / 100)
  }
  return out
}
function pgCpuSince(before: Map<number, number> | undefined, after: Map<number, number> | undefined): number | undefined {
  if (!before || !after) return undefined
  let total = 0
  for (const [pid, t] of after) total += t - (before.get(pid) ?? 0)
  return total
}
/** pg_stat_statements' totals per statement of this database: execution (and planning) ms, calls, WAL bytes. */
export type StatementTotals = Map<string, { query: string; calls: number; ms: number; walBytes: number }>

/**
 * A reading of pg_stat_statements for this database's top-level statements (every client: the
 * engine's transactions, the sealer, the driver), or undefined where the server does not load the
 * extension (`--pg-statements` loads it into the embedded server). The readings' own statements
 * and /proc's pg_stat_activity look-up are left out.
 */
export async function pgStatementTotals(pool: pg.Pool): Promise<StatementTotals | undefined> {
  try {
    const loaded = await pool.query<{ libs: string }>("SELECT current_setting('shared_preload_libraries') AS libs")
    if (!/\bpg_stat_statements\b/.test(loaded.rows[0]?.libs ?? '')) return undefined
    await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
    const { rows } = await pool.query<{ id: string; query: string; calls: string; ms: number; wal: string }>(
      `SELECT queryid::text AS id, query, calls::text, total_exec_time + total_plan_time AS ms, wal_bytes::text AS wal
         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel
          AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%pg_stat_activity%'`,
    )
    return new Map(rows.map((r) => [r.id, { query: r.query, calls: Number(r.calls), ms: r.ms, walBytes: Number(r.wal) }]))
  } catch {
    return undefined
  }
}
export function statementsSince(before: StatementTotals | undefined, after: StatementTotals | undefined): StatementTotals | undefined {
  if (!before || !after) return undefined
  const out: StatementTotals = new Map()
  for (const [id, a] of after) {
    const b = before.get(id)
    const d = { query: a.query, calls: a.calls - (b?.calls ?? 0), ms: a.ms - (b?.ms ?? 0), walBytes: a.walBytes - (b?.walBytes ?? 0) }
    if (d.calls > 0) out.set(id, d)
  }
  return out
}

/** Per transition: PostgreSQL's execution ms and WAL bytes by step, and the costliest statements. */
export type StatementProfile = ReturnType<typeof statementProfile>
export function statementProfile(totals: StatementTotals, transitions: number) {
  const ms = new Map<Step, number>()
  const wal = new Map<Step, number>()
  for (const t of totals.values()) {
    const step = stepOf(t.query)
    ms.set(step, (ms.get(step) ?? 0) + t.ms)
    wal.set(step, (wal.get(step) ?? 0) + t.walBytes)
  }
  const r2 = (n: number) => Math.round(n * 100) / 100
  const r3 = (n: number) => Math.round(n * 1000) / 1000
  const sum = (m: Map<Step, number>) => [...m.values()].reduce((a, b) => a + b, 0)
  return {
    execMsPerTransition: r3(sum(ms) / transitions),
    walBytesPerTransition: Math.round(sum(wal) / transitions),
    execMsByStep: Object.fromEntries(STEPS.map((s) => [s, r3((ms.get(s) ?? 0) / transitions)])),
    walBytesByStep: Object.fromEntries(STEPS.map((s) => [s, Math.round((wal.get(s) ?? 0) / transitions)])),
    top: [...totals.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 8)
      .map((t) => ({
        step: stepOf(t.query),
        execMsPerTransition: r3(t.ms / transitions),
        callsPerTransition: r2(t.calls / transitions),
        msPerCall: r3(t.ms / t.calls),
        walBytesPerCall: Math.round(t.walBytes / t.calls),
        text: t.query.replace(/\s+/g, ' ').trim().slice(0, 90),
      })),
  }
}

const cpuNow = () => {
  const c = process.cpuUsage()
  return c.user + c.system
}

/**
 * A pool whose every statement is counted into `current()` by step and by text. The engine's
 * statement texts are a few dozen constants: each is classified once (running the regexes on every
 * statement cost this process ~0.1 ms of the Node CPU per transition the scenario reports).
 */
function countingPool(url: string, max: number, current: () => Phase | undefined): pg.Pool {
  const classified = new Map<string, { step: Step; key: string }>()
  const pool = createPool({ url, max, log: silentLogger, statementTimeoutMs: 30_000, applicationName: 'tenure-bench-engine' })
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...a: unknown[]) => unknown
    ;(client as { query: unknown }).query = (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string }).text ?? '')
      const p = current()
      if (p) {
        let c = classified.get(text)
        if (!c) {
          c = { step: stepOf(text), key: text.replace(/\s+/g, ' ').trim().slice(0, 90) }
          if (classified.size < 10_000) classified.set(text, c)
        }
        p.statements.set(c.step, (p.statements.get(c.step) ?? 0) + 1)
        p.texts.set(c.key, (p.texts.get(c.key) ?? 0) + 1)
      }
      return query(...args)
    }
  })
  return pool
}

type Work = { event: LifecycleEvent; audit?: AuditEntryInput[] } | { at: number; event: LifecycleEvent; audit?: AuditEntryInput[] }

/** The outcome a healthy target reports for a system job. */
function outcomeOf(data: SystemJobData, now: string): { event: LifecycleEvent; audit?: AuditEntryInput[] } {
  const r = data.request
  const subject = { employeeId: data.employeeId, system: r.system }
  switch (r.action) {
    case 'provision':
    case 'restore':
      return { event: { type: 'account.provisioned', system: r.system, accountId: `acct-${r.system}-${data.externalId}`, now } }
    case 'update':
      return { event: { type: 'account.updated', system: r.system, now } }
    case 'enable':
      return { event: { type: 'account.enabled', system: r.system, now } }
    case 'suspend':
      return { event: { type: 'account.suspended', system: r.system, now } }
    case 'deprovision': {
      const phase = r.phase ?? r.plan?.phase ?? 'cutoff'
      return {
        event: { type: 'account.revoked', system: r.system, phase, residual: [], ...(phase === 'cleanup' ? { deleted: true } : {}), now },
        audit: [{ actor: SYSTEM_ACTOR, action: 'target.revoked', subject, correlationId: data.correlationId, details: { phase, steps: [] } }],
      }
    }
    case 'verify':
      return {
        event: { type: 'account.verified', system: r.system, revoked: true, checks: [{ name: 'account_disabled', ok: true }], now },
        audit: [{ actor: SYSTEM_ACTOR, action: 'target.verified', subject, correlationId: data.correlationId, details: { revoked: true } }],
      }
  }
}

function hrEvent(type: CanonicalEvent['type'], employeeId: string, fields: Record<string, unknown>): CanonicalEvent {
  const now = new Date().toISOString()
  return { eventId: randomUUID(), source: 'generic', sourceEventId: `evt-${randomUUID()}`, employeeId, occurredAt: now, receivedAt: now, foundBy: 'webhook', ...fields, type } as unknown as CanonicalEvent
}

async function inParallel<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!)
    }),
  )
}

/**
 * `limiterBlock`: the limiter's token blocks (default: production's, 8 tokens held at most 1 s).
 * The suite's smoke test holds them longer, so that its statement budget counts the mechanism and
 * not how fast a loaded machine reaches the next call (a block not used within its hold expires).
 */
export async function engineScenario(db: BenchDatabase, o: { leavers: number; concurrency: number; limitScale: number; limiterBlock?: { maxTokens: number; maxHoldMs: number } }) {
  const database = await db.create('engine')
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tenure-bench-engine-'))
  const emulators = await startSandboxEmulators({ log: silentLogger })
  const rateLimits = scaledTenure(o.limitScale)
  const config = validateConfig({
    server: { port: 0, host: '127.0.0.1' },
    database: { dataDir, url: database.url },
    log: { level: 'silent' },
    auth: { rateLimit: { enabled: false } },
    hr: { generic: { secrets: [WEBHOOK_SECRET], trustedForBulk: true } },
    systems: benchSystemsConfig(emulators.urls, rateLimits),
    policy: benchPolicy(),
    workers: { enabled: false },
  } as ConfigInput)
  const running = await startTenure({ config, mode: 'serve', log: silentLogger })
  let phase: Phase | undefined
  const enginePool = countingPool(database.url, o.concurrency + 2, () => phase)
  // As in a running process: a transaction that queued audit entries kicks the process's sealer
  // (src/audit/sealer.ts) when its client goes back to the pool. The sealer seals through the app's
  // pool, so its statements are not counted as the engine's.
  const sealer = sealerOf(running.pool)
  enginePool.on('release', (_err: Error | undefined, client: pg.PoolClient) => {
    if (takeWroteAudit(client)) sealer?.kickQuietly('commit')
  })
  const limiterPhase = newPhase()
  let limiterOn = false
  const limiterPool = countingPool(database.url, 4, () => (limiterOn ? limiterPhase : undefined))
  const limiter = createLimiter(limiterPool, { maxWaitMs: 5_000, ...(o.limiterBlock ? { block: o.limiterBlock } : {}) })

  // The jobs each transition enqueued, per employee (a copy; the real insert runs in the transaction).
  const queued = new Map<string, Work[]>()
  const push = (employeeId: string, w: Work) => {
    const list = queued.get(employeeId) ?? []
    list.push(w)
    queued.set(employeeId, list)
  }
  const record = (name: string, data: unknown, options: { startAfter?: Date | string | number } | undefined) => {
    const now = new Date().toISOString()
    const at = options?.startAfter ? new Date(options.startAfter).getTime() : 0
    if (name === TIMER_QUEUE) {
      const t = data as TimerJobData
      push(t.employeeId, { at, event: { type: 'timer.fired', timerId: t.timerId, timer: t.timer, now } as LifecycleEvent })
    } else if ((data as SystemJobData).request) {
      const d = data as SystemJobData
      push(d.employeeId, { at, ...outcomeOf(d, now) })
      takes.push({ system: d.request.system })
    }
  }
  const takes: Array<{ system: string }> = []
  const boss = running.boss
  const recordingBoss = new Proxy(boss, {
    get(target, prop, receiver) {
      if (prop === 'send') {
        return async (name: string, data: unknown, options?: { startAfter?: Date }) => {
          const id = await target.send(name, data as object, options as never)
          if (id) record(name, data, options)
          return id
        }
      }
      if (prop === 'insert') {
        return async (name: string, jobs: Array<{ data?: unknown; startAfter?: Date }>, options?: unknown) => {
          const out = await (target.insert as (...a: unknown[]) => Promise<unknown>)(name, jobs, options)
          for (const j of jobs) record(name, j.data, j)
          return out
        }
      }
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
  const engine: EngineDeps = { ...running.engine, pool: enginePool, boss: recordingBoss }
  const opts = { actor: SYSTEM_ACTOR, correlationId: 'bench-engine' }

  /** Apply every due job of one employee, one at a time, until none is due. */
  const drainEmployee = async (employeeId: string, p: Phase) => {
    for (;;) {
      const list = queued.get(employeeId) ?? []
      const i = list.findIndex((w) => !('at' in w) || w.at <= Date.now())
      if (i < 0) return
      const [w] = list.splice(i, 1)
      const result = await applyEvent(engine, employeeId, w!.event, { ...opts, ...(w!.audit ? { audit: w!.audit } : {}) })
      if (result.applied || result.from !== result.to) p.transitions += 1
    }
  }
  const spendTokens = async () => {
    limiterOn = true
    const all = takes.splice(0)
    await inParallel(all, o.concurrency, async (t) => {
      const bucket = Object.entries(rateLimits[t.system] ?? {})[0]
      if (bucket) await limiter.take(t.system, bucket[0], bucket[1])
    })
    limiterOn = false
    return all.length
  }

  // The end of a phase: the audit entries its transactions queued are sealed (the sealer runs
  // behind the writers), so the phase's PostgreSQL figures include the sealing it caused.
  const settle = async () => {
    await sealer?.kick()
  }

  const run = `${Date.now().toString(36)}`
  const ids = Array.from({ length: o.leavers }, (_, i) => `EN-${run}-${i}`)
  const internal = new Map<string, string>()
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)
  const phases: Record<string, Phase> = { hire: newPhase(), open: newPhase(), drain: newPhase() }
  let limiterCalls = 0
  let limiterMs = 0
  try {
    // hire
    phase = phases.hire!
    let t0 = performance.now()
    let st0 = await pgStatementTotals(running.pool)
    let pg0 = await pgBackendCpu(running.pool)
    let c0 = cpuNow()
    await inParallel(ids, o.concurrency, async (id) => {
      const profile = { employeeId: id, firstName: 'Bench', lastName: id, department: 'Engineering', workEmail: `${id.toLowerCase()}@example.com`, timeZone: 'Europe/London' }
      const r = await applyHrEvent(engine, hrEvent('employee.hired', id, { profile, startDate: yesterday, preHire: false }), opts)
      phases.hire!.transitions += 1
      internal.set(id, r.employeeId)
      await drainEmployee(r.employeeId, phases.hire!)
    })
    phases.hire!.ms = performance.now() - t0
    phases.hire!.cpuMicros = cpuNow() - c0
    await settle()
    phases.hire!.pgCpuMicros = pgCpuSince(pg0, await pgBackendCpu(running.pool))
    phases.hire!.pgStatements = statementsSince(st0, await pgStatementTotals(running.pool))
    phase = undefined
    const active = await running.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM employees WHERE external_id = ANY($1) AND state = 'active'`, [ids])
    if (active.rows[0]!.n !== ids.length) throw new Error(`${active.rows[0]!.n} of ${ids.length} joiners active after the hire phase`)
    t0 = performance.now()
    limiterCalls += await spendTokens()
    limiterMs += performance.now() - t0

    // open: the terminations alone
    phase = phases.open!
    t0 = performance.now()
    st0 = await pgStatementTotals(running.pool)
    pg0 = await pgBackendCpu(running.pool)
    c0 = cpuNow()
    await inParallel(ids, o.concurrency, async (id) => {
      const effectiveAt = new Date().toISOString()
      await applyHrEvent(engine, hrEvent('employee.terminated', id, { immediate: true, voluntary: 'involuntary', effectiveAt }), opts)
      phases.open!.transitions += 1
    })
    phases.open!.ms = performance.now() - t0
    phases.open!.cpuMicros = cpuNow() - c0
    await settle()
    phases.open!.pgCpuMicros = pgCpuSince(pg0, await pgBackendCpu(running.pool))
    phases.open!.pgStatements = statementsSince(st0, await pgStatementTotals(running.pool))

    // drain: every outcome of the leavers
    phase = phases.drain!
    t0 = performance.now()
    st0 = await pgStatementTotals(running.pool)
    pg0 = await pgBackendCpu(running.pool)
    c0 = cpuNow()
    await inParallel(ids, o.concurrency, (id) => drainEmployee(internal.get(id)!, phases.drain!))
    phases.drain!.ms = performance.now() - t0
    phases.drain!.cpuMicros = cpuNow() - c0
    await settle()
    phases.drain!.pgCpuMicros = pgCpuSince(pg0, await pgBackendCpu(running.pool))
    phases.drain!.pgStatements = statementsSince(st0, await pgStatementTotals(running.pool))
    phase = undefined
    t0 = performance.now()
    limiterCalls += await spendTokens()
    limiterMs += performance.now() - t0

    const cases = await running.pool.query<{ status: string; n: number }>(
      `SELECT c.status, count(*)::int AS n FROM cases c JOIN employees e ON e.id = c.employee_id WHERE c.kind = 'leaver' AND e.external_id = ANY($1) GROUP BY c.status`,
      [ids],
    )
    // What each transition writes and reads back: the stored snapshot (text) and its accounts.
    const sizes = await running.pool.query<{ text: number; stored: number; accounts: number }>(
      `SELECT avg(length(e.snapshot::text))::int AS text, avg(pg_column_size(e.snapshot))::int AS stored,
              (SELECT count(*) FROM employee_accounts a JOIN employees x ON x.id = a.employee_id WHERE x.external_id = ANY($1))::int AS accounts
         FROM employees e WHERE e.external_id = ANY($1)`,
      [ids],
    )
    const leftOver = [...queued.values()].reduce((n, l) => n + l.length, 0)
    // The chain the batched transitions appended must verify (no checkpoint exists here: any key).
    const verified = await verifyAudit(running.pool, { publicKey: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString() })
    const per = (p: Phase) => {
      const total = [...p.statements.values()].reduce((a, b) => a + b, 0)
      return {
        transitions: p.transitions,
        seconds: Math.round(p.ms) / 1000,
        transitionsPerSecond: Math.round((p.transitions / p.ms) * 100_000) / 100,
        statementsPerTransition: Math.round((total / p.transitions) * 100) / 100,
        cpuMsPerTransition: Math.round(p.cpuMicros / p.transitions / 10) / 100,
        ...(p.pgCpuMicros !== undefined ? { pgCpuMsPerTransition: Math.round(p.pgCpuMicros / p.transitions / 10) / 100 } : {}),
        ...(p.pgStatements ? { pgStatements: statementProfile(p.pgStatements, p.transitions) } : {}),
        perStep: Object.fromEntries(STEPS.map((s) => [s, Math.round(((p.statements.get(s) ?? 0) / p.transitions) * 100) / 100])),
        topStatements: [...p.texts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([text, n]) => ({ perTransition: Math.round((n / p.transitions) * 100) / 100, text })),
      }
    }
    const drainDone = phases.drain!
    const totalLeave = phases.open!.transitions + drainDone.transitions
    const leaveMs = phases.open!.ms + drainDone.ms
    return {
      leavers: o.leavers,
      concurrency: o.concurrency,
      limitScale: o.limitScale,
      leaverCasesOpenedPerSecond: Math.round((phases.open!.transitions / phases.open!.ms) * 100_000) / 100,
      leaverTransitionsPerSecond: Math.round((totalLeave / leaveMs) * 100_000) / 100,
      transitionsPerLeaver: Math.round((totalLeave / o.leavers) * 100) / 100,
      snapshotBytes: { text: sizes.rows[0]!.text, stored: sizes.rows[0]!.stored, accountsPerEmployee: Math.round((sizes.rows[0]!.accounts / o.leavers) * 100) / 100 },
      leaverCases: Object.fromEntries(cases.rows.map((r) => [r.status, r.n])),
      jobsNotDue: leftOver,
      auditChain: verified.ok ? { ok: true } : { ok: false, reason: verified.reason, firstBadSeq: verified.firstBadSeq },
      phases: { hire: per(phases.hire!), open: per(phases.open!), drain: per(drainDone) },
      limiter: {
        calls: limiterCalls,
        statementsPerCall: Math.round(([...limiterPhase.statements.values()].reduce((a, b) => a + b, 0) / Math.max(1, limiterCalls)) * 100) / 100,
        callsPerSecond: Math.round((limiterCalls / limiterMs) * 100_000) / 100,
      },
    }
  } finally {
    phase = undefined
    await enginePool.end().catch(() => undefined)
    await limiterPool.end().catch(() => undefined)
    await running.stop('benchmark done').catch(() => undefined)
    await emulators.close()
    await database.drop()
    await rm(dataDir, { recursive: true, force: true })
  }
}
