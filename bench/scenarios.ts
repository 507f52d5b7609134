/**
 * The four benchmark scenarios of the "Benchmark suite" issue: ingest, single leaver, layoff,
 * memory. Each returns plain JSON; bench/run.ts prints, stores and summarises it. Sizes are
 * parameters so the smoke test runs the same code with tiny numbers and checks correctness only.
 */
import { performance } from 'node:perf_hooks'
import { randomUUID } from 'node:crypto'
import { SANDBOX_ENTRA_GROUPS } from '../src/sandbox/index.ts'
import express from 'express'
import pg from 'pg'
import type { AddressInfo } from 'node:net'
import { CUTOFF_STEPS, testCtx, type RateLimitSpec } from '../provisioners/types.ts'
import { rateLimitBuckets as GOOGLE_LIMITS, } from '../provisioners/google/provisioner.ts'
import { ENTRA_RATE_LIMITS } from '../provisioners/entra/limits.ts'
import { SLACK_RATE_LIMITS, EMULATOR_RATE_LIMITS as SLACK_EMULATOR_LIMITS } from '../provisioners/slack/limits.ts'
import { rateLimitBuckets as JIRA_LIMITS } from '../provisioners/jira/provisioner.ts'
import { rateLimitBuckets as SCIM_LIMITS } from '../provisioners/scim/provisioner.ts'
import { GOOGLE_EMULATOR_LIMITS } from '../provisioners/google/emulator.ts'
import { JIRA_EMULATOR_LIMITS } from '../provisioners/jira/emulator.ts'
import { SCIM_EMULATOR_LIMITS } from '../provisioners/scim/emulator.ts'
import { silentLogger } from '../src/log.ts'
import {
  BENCH_SYSTEMS,
  benchSettings,
  closedLoop,
  emulatorKits,
  hiredPayload,
  memoryPeak,
  cpuMsOf,
  openLoop,
  post,
  setRealisticLatency,
  signedDelivery,
  sleep,
  startBenchTenure,
  summarize,
  emulatorRequests,
  terminatedPayload,
  until,
  type BenchDatabase,
  type BenchSystem,
  type BenchTenure,
  type MemorySample,
  type Summary,
} from './harness.ts'
import { sealAudit } from '../src/audit/sealer.ts'
import type { EmulatorKit } from '../src/sandbox/emulator-kit.ts'
import { RateLimitedError } from '../provisioners/errors.ts'
import { HR_EVENT_QUEUE } from '../src/jobs/queues.ts'

const webhookUrl = (t: BenchTenure) => `${t.url}/webhooks/hr/generic`
const runId = () => Math.random().toString(36).slice(2, 8)

/** Tenure's limiter defaults per system (what the provisioners pace at). */
const TENURE_LIMITS: Record<BenchSystem, Record<string, RateLimitSpec>> = {
  google: GOOGLE_LIMITS,
  entra: ENTRA_RATE_LIMITS,
  slack: SLACK_RATE_LIMITS,
  jira: JIRA_LIMITS,
  'scim:sandbox': SCIM_LIMITS,
}
/** What each emulator enforces by default (the vendors' published limits). */
const EMULATOR_LIMITS: Record<BenchSystem, Record<string, RateLimitSpec>> = {
  google: GOOGLE_EMULATOR_LIMITS,
  entra: ENTRA_RATE_LIMITS,
  slack: SLACK_EMULATOR_LIMITS,
  jira: JIRA_EMULATOR_LIMITS,
  'scim:sandbox': SCIM_EMULATOR_LIMITS,
}

function scaled(limits: Record<string, RateLimitSpec>, factor: number | null): Record<string, RateLimitSpec | null> {
  return Object.fromEntries(Object.entries(limits).map(([k, v]) => [k, factor === null ? null : { ...v, perMinute: v.perMinute * factor }]))
}
/** An emulator's published limits ×factor (what the layoff and scale scenarios configure). */
export const scaledEmulatorLimits = (system: BenchSystem, factor: number) => scaled(EMULATOR_LIMITS[system], factor)
const UNLIMITED: RateLimitSpec = { perMinute: 600_000, burst: 10_000 }
export const unlimitedTenure = () => Object.fromEntries(BENCH_SYSTEMS.map((s) => [s, Object.fromEntries(Object.keys(TENURE_LIMITS[s]).map((b) => [b, UNLIMITED]))]))
export const scaledTenure = (factor: number) => Object.fromEntries(BENCH_SYSTEMS.map((s) => [s, scaled(TENURE_LIMITS[s], factor) as Record<string, RateLimitSpec>]))

async function inChunks<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn))
}

const count = async (t: BenchTenure, sql: string, params: unknown[] = []) => (await t.pool.query<{ n: number }>(sql, params)).rows[0]!.n

/** Hire `ids` through signed webhooks and wait until every one is active in every system. */
export async function hireAll(t: BenchTenure, ids: string[], timeoutMs: number): Promise<void> {
  await inChunks(ids, 20, async (id) => {
    const d = signedDelivery(hiredPayload(id), `hire_${id}`)
    const status = await post(webhookUrl(t), d.body, d.headers)
    if (status !== 202) throw new Error(`hiring ${id}: webhook answered ${status}`)
  })
  // Active in every system, not just "active": a failed account would make the leaver's cut-off trivially fast.
  await until(
    `${ids.length} joiners active in every system`,
    async () => {
      const failed = await t.pool.query<{ system: string; last_error: unknown }>(
        `SELECT a.system, a.last_error FROM employee_accounts a JOIN employees e ON e.id = a.employee_id WHERE e.external_id = ANY($1) AND a.status = 'failed' AND a.last_error->>'kind' IN ('Permanent', 'Conflict')`,
        [ids],
      )
      if (failed.rows.length > 0) throw new Error(`${failed.rows.length} joiner accounts failed to provision, e.g. ${JSON.stringify(failed.rows[0])}`)
      const active = await count(
        t,
        `SELECT count(*)::int AS n FROM employee_accounts a JOIN employees e ON e.id = a.employee_id WHERE e.external_id = ANY($1) AND e.state = 'active' AND a.status = 'active' AND a.system = ANY($2)`,
        [ids, [...BENCH_SYSTEMS]],
      )
      return active === ids.length * BENCH_SYSTEMS.length
    },
    timeoutMs,
    200,
  )
}

const slugOf = (id: string) => id.replace(/[^A-Za-z0-9]/g, '')

/**
 * Seed `ids` as active employees with an account in every system, fast: one template joiner
 * goes through the real pipeline (webhook, engine, every provisioner), then each leaver gets the
 * same accounts created straight in the emulators and a copy of the template's employee row and
 * account rows (its XState snapshot with the ids, logins and account ids swapped). Hiring 5,000
 * through the engine would take over an hour at the ~1.5 joiners/s it sustains on this machine
 * (hr.event runs 4 at a time, each joiner five provisioning jobs), and hiring is set-up here, not
 * the measurement: the layoff wave that follows is what is timed.
 */
export async function seedLeavers(t: BenchTenure, ids: string[], template: string): Promise<void> {
  await hireAll(t, [template], 120_000)
  const { rows: [employee] } = await t.pool.query<Record<string, unknown> & { id: string; snapshot: unknown }>(`SELECT * FROM employees WHERE external_id = $1`, [template])
  if (!employee) throw new Error('template joiner missing')
  const { rows: accounts } = await t.pool.query<Record<string, unknown> & { system: string; account_id: string }>(`SELECT * FROM employee_accounts WHERE employee_id = $1`, [employee.id])
  const e = t.emulators
  const tSlug = slugOf(template)
  for (let offset = 0; offset < ids.length; offset += 500) {
    const chunk = ids.slice(offset, offset + 500)
    const employees: unknown[] = []
    const accountRows: unknown[] = []
    for (const id of chunk) {
      const slug = slugOf(id)
      const lower = slug.toLowerCase()
      const email = `bench.${lower}@example.com`
      const familyName = `Person${slug}`
      const newAccountIds: Record<string, string> = {
        google: e.google.seedUser({ primaryEmail: email, givenName: 'Bench', familyName, employeeId: id }),
        entra: e.entra.seedUser({ userPrincipalName: `bench.person${lower}@tenure.example`, displayName: `Bench ${familyName}`, employeeId: id }),
        slack: e.slack.seedUser({ userName: email, email, externalId: id, givenName: 'Bench', familyName }),
        jira: e.jira.seedUser({ email, displayName: `Bench ${familyName}`, groups: ['engineering'], products: ['jira-software'], scim: { externalId: id } }),
        'scim:sandbox': e.scim.seedUser({ userName: email, externalId: id, name: { givenName: 'Bench', familyName }, emails: [{ value: email, primary: true }], active: true }),
      }
      e.google.addMember('everyone@example.com', email)
      e.entra.addMember(SANDBOX_ENTRA_GROUPS.allStaff.id, newAccountIds.entra!)
      const swaps: Array<[string, string]> = [
        [employee.id, randomUUID()],
        [template, id],
        [tSlug, slug],
        [tSlug.toLowerCase(), lower],
        ...accounts.map((a) => [a.account_id, newAccountIds[a.system]!] as [string, string]),
      ]
      const swap = (value: unknown) => {
        let text = JSON.stringify(value)
        for (const [from, to] of swaps) text = text.replaceAll(from, to)
        return JSON.parse(text) as Record<string, unknown>
      }
      employees.push(swap(employee))
      for (const a of accounts) accountRows.push(swap(a))
    }
    await t.pool.query(`INSERT INTO employees SELECT * FROM json_populate_recordset(NULL::employees, $1::json)`, [JSON.stringify(employees)])
    await t.pool.query(`INSERT INTO employee_accounts SELECT * FROM json_populate_recordset(NULL::employee_accounts, $1::json)`, [JSON.stringify(accountRows)])
  }
}

/** Per leaver: verified_at per system of the leaver case, when all BENCH_SYSTEMS are verified. */
async function verifiedAt(t: BenchTenure, ids: string[]): Promise<Map<string, Date[]>> {
  const { rows } = await t.pool.query<{ id: string; verified: Date[] }>(
    `SELECT e.external_id AS id, array_agg(cs.verified_at) AS verified
       FROM employees e JOIN cases c ON c.employee_id = e.id AND c.kind = 'leaver' JOIN case_systems cs ON cs.case_id = c.id
      WHERE e.external_id = ANY($1) AND cs.system = ANY($2)
      GROUP BY e.external_id
     HAVING count(cs.verified_at) = $3`,
    [ids, [...BENCH_SYSTEMS], BENCH_SYSTEMS.length],
  )
  return new Map(rows.map((r) => [r.id, r.verified]))
}

/**
 * Where a leaver's time goes, per system, from pg-boss's job rows and the audit trail's record of
 * every vendor call (development measurement, printed with the layoff's figures). Per job key (one
 * cut-off or verification, across its hand-backs): `e2eMs` from the first row created to the last
 * completed, `queuedMs` the part no worker ran it (queue wait, and the delay of a hand-back),
 * `runMs` the handler's time, `httpMs` the vendor calls' own time (the limiter is asked before the
 * clock starts, provisioners/kit/call.ts), `otherMs` = run − http: limiter waits, SDK, Tenure's
 * database work. Plus the intake (delivery sent → leaver case opened), cut-off job completed →
 * verification job created, and verification completed → verified_at. Limiter waits and
 * hand-backs from Tenure's /metrics.
 */
async function pipelineBreakdown(t: BenchTenure, ids: string[], sentAt: Map<string, number>): Promise<Record<string, unknown>> {
  const pct = (col: string) => `round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ${col}))::int AS ${col}_p50, round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ${col}))::int AS ${col}_p99`
  const ms = (a: string, b: string) => `extract(epoch FROM (${a} - ${b})) * 1000`
  const jobs = await t.pool.query<Record<string, number | string>>(
    `WITH rows AS (
       SELECT j.name, j.data->'request'->>'key' AS key, j.data->'request'->>'action' AS action, j.created_on, j.started_on, j.completed_on
         FROM pgboss.job j
        WHERE j.name LIKE 'system.%' AND j.data->'request'->>'action' IN ('deprovision', 'verify') AND j.state = 'completed'),
     calls AS (
       SELECT details->>'jobKey' AS key, count(*)::int AS calls, sum((details->>'durationMs')::numeric) AS http_ms
         FROM audit_events WHERE action = 'target.api_called' GROUP BY 1),
     per_key AS (
       SELECT r.name, r.action, r.key, count(*)::int AS rows_n,
              ${ms('max(r.completed_on)', 'min(r.created_on)')} AS e2e,
              sum(${ms('r.completed_on', 'r.started_on')}) AS run,
              coalesce(max(c.http_ms), 0) AS http, coalesce(max(c.calls), 0) AS calls
         FROM rows r LEFT JOIN calls c USING (key) GROUP BY r.name, r.action, r.key),
     k AS (SELECT *, e2e - run AS queued, run - http AS other FROM per_key)
     SELECT name, action, count(*)::int AS jobs, sum(rows_n - 1)::int AS hand_backs, round(avg(calls), 2)::float AS calls_per_job,
            ${pct('e2e')}, ${pct('queued')}, ${pct('run')}, ${pct('http')}, ${pct('other')}
       FROM k GROUP BY name, action ORDER BY name, action`,
  )
  const opened = await t.pool.query<{ id: string; opened: Date }>(
    `SELECT e.external_id AS id, c.opened_at AS opened FROM employees e JOIN cases c ON c.employee_id = e.id AND c.kind = 'leaver' WHERE e.external_id = ANY($1)`,
    [ids],
  )
  const intake = summarize(opened.rows.filter((r) => sentAt.has(r.id)).map((r) => r.opened.getTime() - sentAt.get(r.id)!))
  const gaps = await t.pool.query<Record<string, number | string>>(
    `WITH cut AS (SELECT name, data->>'employeeId' AS emp, max(completed_on) AS done FROM pgboss.job
                   WHERE name LIKE 'system.%' AND data->'request'->>'action' = 'deprovision' AND state = 'completed' GROUP BY 1, 2),
          ver AS (SELECT name, data->>'employeeId' AS emp, min(created_on) AS created, max(completed_on) AS done FROM pgboss.job
                   WHERE name LIKE 'system.%' AND data->'request'->>'action' = 'verify' AND state = 'completed' GROUP BY 1, 2),
          g AS (SELECT cut.name, ${ms('ver.created', 'cut.done')} AS cut_to_verify_job, ${ms('cs.verified_at', 'ver.done')} AS verify_job_to_verified
                  FROM cut JOIN ver USING (name, emp)
                  JOIN cases c ON c.employee_id = cut.emp::uuid AND c.kind = 'leaver'
                  JOIN case_systems cs ON cs.case_id = c.id AND 'system.' || replace(cs.system, ':', '/') = cut.name)
     SELECT name, ${pct('cut_to_verify_job')}, ${pct('verify_job_to_verified')} FROM g GROUP BY name ORDER BY name`,
  )
  // Vendor calls per operation made by cut-off and verification jobs (cut-off phase), per system.
  const operations = await t.pool.query<{ system: string; action: string; operation: string; calls: number }>(
    `SELECT system, substring(details->>'jobKey' FROM ':(deprovision|verify):') AS action, details->>'operation' AS operation, count(*)::int AS calls
       FROM audit_events WHERE action = 'target.api_called' AND details->>'jobKey' NOT LIKE '%:cleanup:%'
        AND details->>'jobKey' ~ ':(deprovision|verify):' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
  )
  const callsPerLeaver: Record<string, Record<string, number>> = {}
  for (const r of operations.rows) (callsPerLeaver[r.system] ??= {})[`${r.action} ${r.operation}`] = Math.round((r.calls / ids.length) * 100) / 100
  const metrics = await fetch(`${t.url}/metrics`).then((r) => r.text()).catch((err: unknown) => `# ${String(err)}`)
  const labels = (raw: string) => Object.fromEntries([...raw.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
  const limiter: Record<string, Record<string, number>> = {}
  const handedBack: Record<string, number> = {}
  for (const m of metrics.matchAll(/^(tenure_limiter_wait_seconds_sum|tenure_limiter_wait_seconds_count|tenure_target_rate_limited_total)\{([^}]*)\} (\S+)$/gm)) {
    const l = labels(m[2]!)
    if (m[1] === 'tenure_target_rate_limited_total') handedBack[`${l.system}/${l.source}`] = Number(m[3])
    else limiter[`${l.system}/${l.bucket}`] = { ...limiter[`${l.system}/${l.bucket}`], [m[1]!.endsWith('_sum') ? 'waitSeconds' : 'waits']: Math.round(Number(m[3]) * 10) / 10 }
  }
  return {
    intakeMs: { p50: intake.p50, p99: intake.p99 },
    jobs: jobs.rows,
    gaps: gaps.rows,
    cutoffPhaseCallsPerLeaver: callsPerLeaver,
    limiterWaits: limiter,
    rateLimitedHandBacks: handedBack,
    ...(Object.keys(limiter).length === 0 ? { metricsHead: metrics.slice(0, 300) } : {}),
  }
}

// ---------------------------------------------------------------------------------------------
// (a) ingest

export interface IngestOptions {
  rates: number[]
  secondsPerRate: number
  /** Keep stepping up by doubling past the last rate while p99 ≤ 50 ms, up to this rate. */
  stepUpCap: number
  ceilingSeconds: number
  concurrency: number
  /** workers.idleStopSeconds for this run; unset: the default (60 s), as `npm run bench` measures idle. The smoke test shortens it. */
  idleStopSeconds?: number
}

export async function ingestScenario(db: BenchDatabase, o: IngestOptions) {
  const t = await startBenchTenure({ db, prefix: 'ingest', ...(o.idleStopSeconds !== undefined ? { workers: { idleStopSeconds: o.idleStopSeconds } } : {}) })
  try {
    // Idle means settled, not just started: V8's memory reducer gives the start-up heap back
    // about 8 s after the full collection that ends start-up (src/jobs/heap.ts); 1 s after ready
    // measured start-up's garbage (HTTP process 139 MB where it idles at 107, compiled).
    // Settling pauses are left out when a test shortens the idle stop (it measures no memory).
    const settle = (ms: number) => (o.idleStopSeconds === undefined ? sleep(ms) : Promise.resolve())
    await settle(12_000)
    // Just started: serve and its worker process, settled (the pair: nothing hidden).
    const justStarted = await t.memory()
    // Idle: with nothing to do the worker process stops after workers.idleStopSeconds (the default,
    // 60 s, src/worker-process.ts) and `tenure serve` is one process until work comes. Up to 90 s.
    const idleBy = Date.now() + 90_000
    let idle = justStarted
    while (idle.workerState !== undefined && idle.workerState !== 'stopped' && Date.now() < idleBy) {
      await sleep(o.idleStopSeconds === undefined ? 2_000 : 250)
      idle = await t.memory()
    }
    if (idle.workerState === 'stopped') {
      // Its exit's garbage in the serve process (the IPC channel, the child's handles) settles too.
      await settle(5_000)
      idle = await t.memory()
      // The rate steps measure acknowledgements beside a running worker process, as before it
      // stopped when idle: one delivery starts it, and the steps begin once it runs (its start-up
      // would otherwise share the CPU with the first step's acknowledgements).
      const warm = signedDelivery({ type: 'employee.updated', timestamp: new Date().toISOString(), data: { employeeId: `ING-WARM-${randomUUID()}`, changes: { title: 'Bench' } } }, `msg_warm_${randomUUID()}`)
      await post(webhookUrl(t), warm.body, warm.headers)
      const runningBy = Date.now() + 60_000
      while ((await t.memory()).workerState !== 'running' && Date.now() < runningBy) await sleep(250)
      await settle(3_000)
    }
    const peak = memoryPeak(t)
    const run = runId()
    const acknowledged: string[] = []
    const steps: Array<{ rate: number; achievedRate: number; sent: number; statuses: Record<string, number>; errors: number; latencyMs: Summary; p99Within50: boolean }> = []
    const rates = [...o.rates]
    for (let k = 0; k < rates.length; k++) {
      const rate = rates[k]!
      const r = await openLoop({
        rate,
        count: Math.max(1, Math.round(rate * o.secondsPerRate)),
        prepare: (i) => signedDelivery({ type: 'employee.updated', timestamp: new Date().toISOString(), data: { employeeId: `ING-${run}-${rate}-${i}`, changes: { title: 'Bench' } } }, `msg_${run}_${rate}_${i}`),
        send: (d) => post(webhookUrl(t), d.body, d.headers),
        idOf: (d) => d.id,
      })
      acknowledged.push(...r.acknowledged)
      const latencyMs = summarize(r.latencies)
      const ok = latencyMs.p99 <= 50 && r.errors === 0 && (r.statuses['202'] ?? 0) === r.sent
      steps.push({ rate, achievedRate: Math.round(r.achievedRate), sent: r.sent, statuses: r.statuses, errors: r.errors, latencyMs, p99Within50: ok })
      if (k === rates.length - 1 && ok && rate * 2 <= o.stepUpCap) rates.push(rate * 2)
      await sleep(500)
    }
    const duringIngest = await peak.stop()
    const sustained = Math.max(0, ...steps.filter((s) => s.p99Within50).map((s) => s.rate))

    // Exactly once: each acknowledged webhook-id has one inbox row.
    const { rows } = await t.pool.query<{ dedupe_key: string }>(`SELECT dedupe_key FROM hr_inbox WHERE dedupe_key LIKE $1`, [`%msg_${run}_%`])
    const stored = new Map<string, number>()
    for (const r of rows) {
      const id = /msg_[a-z0-9]+_\d+_\d+/.exec(r.dedupe_key)?.[0]
      if (id) stored.set(id, (stored.get(id) ?? 0) + 1)
    }
    const missing = acknowledged.filter((id) => !stored.has(id)).length
    const duplicated = [...stored.values()].filter((n) => n > 1).length

    // Ceilings at the same concurrency: Tenure itself, a bare express 5 handler, a bare pg commit loop.
    const tenureCeiling = await closedLoop(o.concurrency, o.ceilingSeconds * 1000, (i) => {
      const d = signedDelivery({ type: 'employee.updated', timestamp: new Date().toISOString(), data: { employeeId: `CEIL-${run}-${i}`, changes: { title: 'x' } } }, `ceil_${run}_${i}`)
      return post(webhookUrl(t), d.body, d.headers)
    })
    const framework = await expressCeiling(o.concurrency, o.ceilingSeconds)
    const commit = await commitCeiling(t.databaseUrl, o.concurrency, o.ceilingSeconds)
    const lower = Math.min(framework.perSecond, commit.perSecond)
    return {
      steps,
      sustainedRateP99Within50ms: sustained,
      exactlyOnce: { acknowledged: acknowledged.length, stored: rows.length, missing, duplicated, ok: missing === 0 && duplicated === 0 && rows.length === acknowledged.length },
      ceilings: {
        concurrency: o.concurrency,
        tenurePerSecond: Math.round(tenureCeiling.perSecond),
        expressPerSecond: Math.round(framework.perSecond),
        pgCommitPerSecond: Math.round(commit.perSecond),
        efficiencyAgainstLower: Math.round((tenureCeiling.perSecond / lower) * 100) / 100,
      },
      memory: { idle, justStarted, duringIngest },
    }
  } finally {
    await t.close()
  }
}

async function expressCeiling(concurrency: number, seconds: number) {
  const app = express()
  app.post('/webhooks/hr/generic', express.raw({ type: 'application/json', limit: '1mb' }), (_req, res) => {
    res.status(202).json({ status: 'accepted' })
  })
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/hr/generic`
  try {
    return await closedLoop(concurrency, seconds * 1000, (i) => {
      const d = signedDelivery({ type: 'employee.updated', timestamp: new Date().toISOString(), data: { employeeId: `X${i}`, changes: { title: 'x' } } }, `bare_${i}`)
      return post(url, d.body, d.headers)
    })
  } finally {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

async function commitCeiling(url: string, concurrency: number, seconds: number) {
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  pool.on('error', () => undefined) // an idle client's backend gone: the query that needs one fails instead
  try {
    await pool.query(`CREATE TABLE IF NOT EXISTS bench_scratch (id bigserial PRIMARY KEY, webhook_id text UNIQUE NOT NULL, body jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())`)
    return await closedLoop(concurrency, seconds * 1000, async (i) => {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        await client.query('INSERT INTO bench_scratch (webhook_id, body) VALUES ($1, $2)', [`w_${i}_${Math.random()}`, JSON.stringify({ type: 'employee.updated', data: { employeeId: `X${i}` } })])
        await client.query('COMMIT')
      } finally {
        client.release()
      }
    })
  } finally {
    await pool.end()
  }
}

// ---------------------------------------------------------------------------------------------
// (b) single leaver vs the oracle

/** A request line with its ids (any path or query part holding a digit) replaced by `:x`, so two leavers' calls compare. */
const requestShape = (line: string) => line.replace(/[^/?&=\s]*\d[^/?&=\s]*/g, ':x')

/** The request shapes each side made more often than the other (a multiset difference). */
export function requestShapeDifference(tenure: readonly string[], oracle: readonly string[]): { tenureOnly: string[]; oracleOnly: string[] } {
  const count = new Map<string, number>()
  for (const line of tenure) count.set(requestShape(line), (count.get(requestShape(line)) ?? 0) + 1)
  for (const line of oracle) count.set(requestShape(line), (count.get(requestShape(line)) ?? 0) - 1)
  const tenureOnly: string[] = []
  const oracleOnly: string[] = []
  for (const [shape, n] of [...count].sort(([a], [b]) => a.localeCompare(b))) {
    for (let i = 0; i < Math.abs(n); i++) (n > 0 ? tenureOnly : oracleOnly).push(shape)
  }
  return { tenureOnly, oracleOnly }
}

/**
 * Where each single leaver's time went, along its critical path (the system verified last): the
 * webhook's answer, the notice stored → its `hr.event` job started (the worker's wake-up and
 * fetch), → leaver case opened (the engine), then for that system the cut-off job's queue wait and
 * run, and the verification job's queue wait and run (to verified_at), with the vendor calls' own
 * time in those two jobs (the audit trail's `target.api_called` durations). `tenureMs` is the
 * total less the vendor calls: what Tenure itself added on the critical path. Timestamps are
 * PostgreSQL's (transaction start for now() defaults) and this process's clock, one machine.
 */
export async function singleLeaverHops(
  pool: pg.Pool,
  sent: Map<string, { at: number; ackMs: number }>,
  /** Filled with the leavers of the largest `tenureMs`, slowest first: every hop of each, to tell a tail's cause. */
  slowest?: Array<Record<string, number | string>>,
): Promise<Record<string, Summary>> {
  const ids = [...sent.keys()]
  await sealAudit(pool)
  const { rows } = await pool.query<{
    ext: string; system: string; received: Date; hr_started: Date | null; opened: Date; cut_created: Date | null; cut_started: Date | null
    cutoff_at: Date | null; ver_created: Date | null; ver_started: Date | null; verified_at: Date; http_ms: number | null
  }>(
    `WITH lv AS (
       SELECT e.id AS emp, e.external_id AS ext, c.id AS case_id, c.opened_at FROM employees e
         JOIN cases c ON c.employee_id = e.id AND c.kind = 'leaver' WHERE e.external_id = ANY($1)),
     inbox AS (
       SELECT DISTINCT ON (i.employee_external_id) i.employee_external_id AS ext, i.id::text AS id, i.received_at
         FROM hr_inbox i WHERE i.employee_external_id = ANY($1) ORDER BY i.employee_external_id, i.received_at DESC),
     hr AS (
       SELECT j.data->>'inboxId' AS inbox_id, min(j.started_on) AS started FROM pgboss.job j
        WHERE j.name = $3 AND j.data->>'inboxId' IN (SELECT id FROM inbox) GROUP BY 1),
     crit AS (
       SELECT DISTINCT ON (lv.emp) lv.emp, cs.system, cs.cutoff_at, cs.verified_at FROM lv
         JOIN case_systems cs ON cs.case_id = lv.case_id WHERE cs.system = ANY($2) ORDER BY lv.emp, cs.verified_at DESC),
     jobs AS (
       SELECT j.data->>'employeeId' AS emp, j.data->'request'->>'system' AS system, j.data->'request'->>'action' AS action,
              min(j.created_on) AS created, min(j.started_on) AS started
         FROM pgboss.job j
        WHERE j.name LIKE 'system.%' AND j.data->'request'->>'action' IN ('deprovision', 'verify')
          AND j.data->>'employeeId' IN (SELECT emp::text FROM lv) GROUP BY 1, 2, 3),
     http AS (
       SELECT a.employee_id AS emp, a.system, sum((a.details->>'durationMs')::numeric)::float AS ms FROM audit_events a
        WHERE a.action = 'target.api_called' AND a.employee_id IN (SELECT emp::text FROM lv)
          AND a.details->>'jobKey' ~ ':(deprovision|verify):' AND a.details->>'jobKey' NOT LIKE '%:cleanup:%' GROUP BY 1, 2)
     SELECT lv.ext, crit.system, inbox.received_at AS received, hr.started AS hr_started, lv.opened_at AS opened,
            d.created AS cut_created, d.started AS cut_started, crit.cutoff_at, v.created AS ver_created, v.started AS ver_started,
            crit.verified_at, http.ms AS http_ms
       FROM lv JOIN inbox ON inbox.ext = lv.ext JOIN crit ON crit.emp = lv.emp LEFT JOIN hr ON hr.inbox_id = inbox.id
       LEFT JOIN jobs d ON d.emp = lv.emp::text AND d.system = crit.system AND d.action = 'deprovision'
       LEFT JOIN jobs v ON v.emp = lv.emp::text AND v.system = crit.system AND v.action = 'verify'
       LEFT JOIN http ON http.emp = lv.emp::text AND http.system = crit.system`,
    [ids, [...BENCH_SYSTEMS], HR_EVENT_QUEUE],
  )
  const hops: Record<string, number[]> = { ack: [], toWorker: [], open: [], openToCutoffJob: [], cutoffQueued: [], cutoffRun: [], cutoffToVerifyJob: [], verifyQueued: [], verifyRun: [], vendorCalls: [], inJobs: [], tenure: [], total: [] }
  const ms = (a: Date | null, b: Date | null) => (a && b ? a.getTime() - b.getTime() : undefined)
  const firstAt = Math.min(...[...sent.values()].map((v) => v.at))
  const leavers: Array<Record<string, number | string>> = []
  for (const r of rows) {
    const s = sent.get(r.ext)!
    const leaver: Record<string, number | string> = { leaver: r.ext, system: r.system, sentAtS: Math.round((s.at - firstAt) / 100) / 10 }
    leavers.push(leaver)
    const add = (hop: string, v: number | undefined) => {
      if (v === undefined) return
      hops[hop]!.push(v)
      leaver[hop] = Math.round(v * 10) / 10
    }
    add('ack', s.ackMs)
    add('toWorker', ms(r.hr_started, r.received))
    add('open', ms(r.opened, r.hr_started))
    add('openToCutoffJob', ms(r.cut_created, r.opened))
    add('cutoffQueued', ms(r.cut_started, r.cut_created))
    add('cutoffRun', ms(r.cutoff_at, r.cut_started))
    add('cutoffToVerifyJob', ms(r.ver_created, r.cutoff_at))
    add('verifyQueued', ms(r.ver_started, r.ver_created))
    add('verifyRun', ms(r.verified_at, r.ver_started))
    const total = r.verified_at.getTime() - s.at
    add('total', total)
    if (r.http_ms !== null) {
      add('vendorCalls', r.http_ms)
      // Tenure's own time inside the two jobs: their runs less the vendor calls made in them.
      const runs = ms(r.cutoff_at, r.cut_started)
      const verifyRun = ms(r.verified_at, r.ver_started)
      if (runs !== undefined && verifyRun !== undefined) add('inJobs', runs + verifyRun - r.http_ms)
      add('tenure', total - r.http_ms)
    }
  }
  if (slowest) slowest.push(...leavers.sort((a, b) => Number(b.tenure ?? 0) - Number(a.tenure ?? 0)).slice(0, 8))
  const out: Record<string, Summary> = {}
  for (const [hop, values] of Object.entries(hops)) if (values.length > 0) out[`${hop}Ms`] = summarize(values)
  return out
}

export async function singleScenario(db: BenchDatabase, o: { leavers: number }) {
  // Clean-ups wait for a settle window after a system's last cut-off: at least 10 s here, longer
  // than the gap between two leavers, so they run after the last one and draw no latency between
  // the pairs (below). The default (30 s) is kept where it is longer.
  // No target reconciliation: at the top of an hour it lists every account of every system in
  // Tenure's process (3–4 requests per system, and their CPU), which the oracle does not, so the
  // pair it lands in meets other latency draws and both sides no longer make the same calls.
  const t = await startBenchTenure({ db, prefix: 'single', reconciliation: false, workers: { cleanupSettleSeconds: Math.max(10, benchSettings.cleanupSettleSeconds ?? 30) } })
  try {
    const run = runId()
    const tenureIds = Array.from({ length: o.leavers }, (_, i) => `S-${run}-${i}`)
    const oracleIds = Array.from({ length: o.leavers }, (_, i) => `O-${run}-${i}`)
    setRealisticLatency(t.emulators, false)
    await seedLeavers(t, [...tenureIds, ...oracleIds], `ST-${run}`)
    // Paired: Tenure's i-th leaver and the oracle's i-th meet the same vendor latencies, request by
    // request, in every system (each emulator's draws are seeded by i and the system before each
    // leaver). Tenure − oracle per pair is then Tenure's own time; the p99 of two independent sets
    // of 200 draws each moved by hundreds of ms from run to run (−110 to 353 ms), the vendors' tail,
    // not Tenure's. The pairing holds while Tenure makes the same calls as the oracle: the requests
    // per leaver and system are counted on both sides. Clean-ups do not draw in between (above).
    const tenureMs: number[] = []
    const kits = Object.entries(emulatorKits(t.emulators)) as [BenchSystem, EmulatorKit][]
    for (const [, kit] of kits) kit.recordRequests(true)
    const logMark = () => Object.fromEntries(kits.map(([system, kit]) => [system, kit.requests().length])) as Record<BenchSystem, number>
    const tenureLogFrom = logMark()
    const tenureRequestsBefore = emulatorRequests(t.emulators)
    const sent = new Map<string, { at: number; ackMs: number }>()
    for (const [i, id] of tenureIds.entries()) {
      setRealisticLatency(t.emulators, true, i)
      const d = signedDelivery(terminatedPayload(id), `leave_${id}`)
      const t0 = Date.now()
      const status = await post(webhookUrl(t), d.body, d.headers)
      if (status !== 202) throw new Error(`leaver ${id}: webhook answered ${status}`)
      sent.set(id, { at: t0, ackMs: Date.now() - t0 })
      // 10 ms DB polling; the figure is the verified_at the engine recorded, not the poll time.
      const verified = await until(`${id} verified everywhere`, async () => (await verifiedAt(t, [id])).get(id), 60_000, 10)
      tenureMs.push(Math.max(...verified.map((v) => v.getTime())) - t0)
    }
    const tenureRequests = emulatorRequests(t.emulators)
    const tenureLogTo = logMark()

    // The oracle gets the vendors to itself: Tenure's clean-ups of the leavers above (which may use
    // a system's whole published budget) end before it starts, or its calls would meet their 429s.
    const closedBy = Date.now() + 5 * 60_000
    let openCases = Infinity
    while (Date.now() < closedBy) {
      const { rows: [c] } = await t.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM cases c JOIN employees e ON e.id = c.employee_id
          WHERE e.external_id = ANY($1) AND c.kind = 'leaver' AND c.status = 'open'`,
        [tenureIds],
      )
      openCases = c?.n ?? 0
      if (openCases === 0) break
      await new Promise((resolve) => setTimeout(resolve, 500))
    }

    const slowestLeavers: Array<Record<string, number | string>> = []
    const hops = await singleLeaverHops(t.pool, sent, slowestLeavers).catch((err: unknown) => ({ error: String(err) }))

    // The oracle: the minimal cut-off calls, in parallel per system, no queue, no state machine.
    // A 429 (only possible if a clean-up outlived the wait above) is waited out as the vendor asks
    // and counted, rather than ending the run.
    let oracle429s = 0
    const honouring429 = async <T>(call: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await call()
        } catch (err) {
          if (!(err instanceof RateLimitedError)) throw err
          oracle429s += 1
          await new Promise((resolve) => setTimeout(resolve, err.retryAfterMs))
        }
      }
    }
    const oracleMs: number[] = []
    const { rows } = await t.pool.query<{ id: string; system: string; account_id: string; login: string | null }>(
      `SELECT e.external_id AS id, a.system, a.account_id, a.login FROM employee_accounts a JOIN employees e ON e.id = a.employee_id WHERE e.external_id = ANY($1) AND a.system = ANY($2)`,
      [oracleIds, [...BENCH_SYSTEMS]],
    )
    let notRevoked = 0
    // Warm the oracle's clients as Tenure's worker process is warm (it provisioned the template
    // joiner): tokens fetched, SCIM discovery read. One read of the first oracle account per
    // system, without latency and before the count, so the first pair draws for its own calls.
    setRealisticLatency(t.emulators, false)
    await Promise.all(
      rows
        .filter((r) => r.id === oracleIds[0])
        .map((a) => t.registry.get(a.system)!.verify(testCtx(silentLogger, [], `oracle-warm-${a.system}`), { system: a.system, accountId: a.account_id, employeeId: a.id }, {})),
    )
    const oracleRequestsBefore = emulatorRequests(t.emulators)
    const oracleLogFrom = logMark()
    for (const [i, id] of oracleIds.entries()) {
      setRealisticLatency(t.emulators, true, i)
      const accounts = rows.filter((r) => r.id === id)
      const t0 = performance.now()
      await Promise.all(
        accounts.map(async (a) => {
          const p = t.registry.get(a.system)
          if (!p) throw new Error(`no provisioner for ${a.system}`)
          // The same reference the system worker builds (src/jobs/system-worker.ts resolveRef).
          const ref = { system: a.system, accountId: a.account_id, employeeId: id }
          const ctx = testCtx(silentLogger, [], `oracle-${id}-${a.system}`)
          const revokedAt = new Date().toISOString()
          await honouring429(() => p.deprovision(ctx, ref, { phase: 'cutoff', steps: [...CUTOFF_STEPS], options: {} }))
          const state = await honouring429(() => p.verify(ctx, ref, { revokedAt }))
          if (!state.revoked) notRevoked += 1
        }),
      )
      oracleMs.push(performance.now() - t0)
    }
    const oracleRequests = emulatorRequests(t.emulators)
    // Where the two sides' calls differ, which ones: the pairing needs the same calls, and a
    // difference (seen once under load: Entra 7.67 against 6 per leaver) must say what it was.
    const requestDifference: Record<string, { tenureOnly: string[]; oracleOnly: string[] }> = {}
    for (const [system, kit] of kits) {
      const log = kit.requests()
      const diff = requestShapeDifference(log.slice(tenureLogFrom[system], tenureLogTo[system]), log.slice(oracleLogFrom[system]))
      if (diff.tenureOnly.length + diff.oracleOnly.length > 0) requestDifference[system] = diff
      kit.recordRequests(false)
    }
    const perLeaver = (after: Record<string, number>, before: Record<string, number>) =>
      Object.fromEntries(BENCH_SYSTEMS.map((s) => [s, Math.round(((after[s]! - before[s]!) / o.leavers) * 100) / 100]))
    const tenure = summarize(tenureMs)
    const oracle = summarize(oracleMs)
    const paired = summarize(tenureMs.map((ms, i) => ms - oracleMs[i]!))
    return {
      leavers: o.leavers,
      systems: [...BENCH_SYSTEMS],
      timeToVerifiedMs: tenure,
      oracleMs: oracle,
      // Judged: the per-pair difference (same vendor latencies on both sides).
      overheadMs: { p50: Math.round(paired.p50), p99: Math.round(paired.p99), max: Math.round(paired.max) },
      // As measured before the pairing: the difference of the two sets' percentiles.
      overheadOfPercentilesMs: { p50: Math.round(tenure.p50 - oracle.p50), p99: Math.round(tenure.p99 - oracle.p99) },
      // Requests per leaver and system: equal on both sides when the pairing is exact.
      requestsPerLeaver: { tenure: perLeaver(tenureRequests, tenureRequestsBefore), oracle: perLeaver(oracleRequests, oracleRequestsBefore) },
      // Per system whose calls differ: the request shapes (ids replaced by :x) one side made more often.
      requestDifference,
      // Tenure's leavers, along the critical path (the system verified last): p50/p99 per hop.
      hops,
      // The 8 Tenure leavers with the most time of Tenure's own, every hop of each (sentAtS: seconds into the run).
      slowestLeavers,
      oracleNotRevoked: notRevoked,
      oracle429s,
      tenureCasesOpenWhenOracleStarted: openCases === Infinity ? null : openCases,
      allRevoked: tenureMs.length === o.leavers,
    }
  } finally {
    await t.close()
  }
}

// ---------------------------------------------------------------------------------------------
// (c) layoff

export async function layoffScenario(db: BenchDatabase, o: { leavers: number; limitScale: number; arrivalSeconds: number; timeoutMs: number; cutoffOnly?: boolean }) {
  const t = await startBenchTenure({ db, prefix: 'layoff', rateLimits: unlimitedTenure(), concurrency: 16 })
  const kits = emulatorKits(t.emulators)
  try {
    const run = runId()
    const ids = Array.from({ length: o.leavers }, (_, i) => `L-${run}-${i}`)
    // Hiring is set-up, not the measurement: no limits, no latency.
    for (const s of BENCH_SYSTEMS) kits[s].configureLimits(scaled(EMULATOR_LIMITS[s], null))
    setRealisticLatency(t.emulators, false)
    const hireStart = Date.now()
    await seedLeavers(t, ids, `LT-${run}`)
    const hireSeconds = (Date.now() - hireStart) / 1000

    // The layoff: published limits (scaled by the same factor) in the emulators and Tenure's limiter.
    await t.restart(scaledTenure(o.limitScale))
    for (const s of BENCH_SYSTEMS) {
      kits[s].configureLimits(scaled(EMULATOR_LIMITS[s], o.limitScale))
      kits[s].resetStats()
    }
    setRealisticLatency(t.emulators, true)
    const lastCall: Record<string, number> = {}
    const seen: Record<string, number> = {}
    // Calls per bucket over time (a sample whenever a system's count moved, every 100 ms), so the
    // cut-off phase can be judged on the calls made until that system's last cut-off was verified.
    const samples: Record<string, Array<{ at: number; byBucket: Record<string, number> }>> = Object.fromEntries(BENCH_SYSTEMS.map((s) => [s, []]))
    const start = Date.now()
    const sampler = setInterval(() => {
      for (const s of BENCH_SYSTEMS) {
        if (kits[s].stats.requests !== seen[s]) {
          lastCall[s] = Date.now()
          samples[s]!.push({ at: lastCall[s], byBucket: { ...kits[s].stats.byBucket } })
        }
        seen[s] = kits[s].stats.requests
      }
    }, 100)
    const peak = memoryPeak(t)
    const sentAt = new Map<string, number>()
    const arrivals = await openLoop({
      rate: o.leavers / o.arrivalSeconds,
      count: o.leavers,
      prepare: (i) => ids[i]!,
      send: (id) => {
        const d = signedDelivery(terminatedPayload(id), `layoff_${id}`)
        sentAt.set(id, Date.now())
        return post(webhookUrl(t), d.body, d.headers)
      },
      idOf: (id) => id,
    })
    let inFlightPeak = 0
    let verified = new Map<string, Date[]>()
    // The wave is bounded by o.timeoutMs from its start: a run that cannot finish still reports how
    // far it got (leavers verified, calls made, efficiency over the time it ran) instead of nothing.
    const deadline = start + o.timeoutMs
    const timedOut = await until(
      'every leaver cut off and verified in every system',
      async () => {
        verified = await verifiedAt(t, ids)
        inFlightPeak = Math.max(inFlightPeak, sentAt.size - verified.size)
        return verified.size === ids.length
      },
      Math.max(1000, deadline - Date.now()),
      500,
    ).then(
      () => false,
      () => true,
    )
    const cutOffDoneAt = Math.max(...[...verified.values()].flat().map((d) => d.getTime()))
    const allCutOffSeconds = timedOut ? null : (cutOffDoneAt - start) / 1000
    // Clean-up continues after the cut-off; wait for it so calls per leaver are complete.
    // `cutoffOnly` (development runs): the whole-wave figures then stop short of the clean-ups.
    if (!timedOut && !o.cutoffOnly) await until('every leaver case closed', async () => (await count(t, `SELECT count(*)::int AS n FROM cases WHERE kind = 'leaver' AND status = 'closed'`)) === ids.length, Math.max(1000, deadline - Date.now()), 500).catch(() => undefined)
    await sleep(1500)
    clearInterval(sampler)
    const endedAt = Date.now()
    const memory = await peak.stop()
    const lastId = ids[ids.length - 1]!
    const lastVerified = verified.get(lastId)
    const lastLeaverSeconds = lastVerified ? (Math.max(...lastVerified.map((d) => d.getTime())) - (sentAt.get(lastId) ?? start)) / 1000 : null
    const deadRows = await t.pool.query<{ name: string; n: number; sample: unknown }>(
      `SELECT name, count(*)::int AS n, (array_agg(output))[1] AS sample FROM pgboss.job WHERE name LIKE 'dlq.%' GROUP BY name`,
    )
    const dead = deadRows.rows.reduce((a, r) => a + r.n, 0)
    const closed = await count(t, `SELECT count(*)::int AS n FROM cases WHERE kind = 'leaver' AND status = 'closed'`)
    const pipeline = await pipelineBreakdown(t, ids, sentAt).catch((err: unknown) => ({ error: String(err) }))
    // Cut-off before clean-up, per system, from the audit trail's record of every vendor call: the
    // last cut-off call, the first clean-up call, and how many cut-off calls came after that first
    // clean-up call (a leaver who arrived after the system had caught up and started cleaning).
    // Every committed audit entry chained first (the sealer runs moments behind the writers).
    await sealAudit(t.pool)
    const order = await t.pool.query<{ system: string; last_cutoff: Date | null; first_cleanup: Date | null; cutoff_after: number }>(
      `WITH calls AS (
         SELECT system, occurred_at, details->>'jobKey' LIKE '%:deprovision:cleanup:%' AS cleanup
           FROM audit_events WHERE action = 'target.api_called' AND details->>'jobKey' LIKE '%:deprovision:%'),
       firsts AS (SELECT system, min(occurred_at) AS first_cleanup FROM calls WHERE cleanup GROUP BY system)
       SELECT calls.system, max(occurred_at) FILTER (WHERE NOT cleanup) AS last_cutoff, min(firsts.first_cleanup) AS first_cleanup,
              count(*) FILTER (WHERE NOT cleanup AND occurred_at > firsts.first_cleanup)::int AS cutoff_after
         FROM calls LEFT JOIN firsts USING (system) GROUP BY calls.system ORDER BY calls.system`,
    )
    const cutoffBeforeCleanup = Object.fromEntries(
      order.rows.map((r) => [
        r.system,
        {
          lastCutoffSeconds: r.last_cutoff ? Math.round((r.last_cutoff.getTime() - start) / 100) / 10 : null,
          firstCleanupSeconds: r.first_cleanup ? Math.round((r.first_cleanup.getTime() - start) / 100) / 10 : null,
          cutoffCallsAfterFirstCleanup: r.cutoff_after,
        },
      ]),
    )

    // When each system's last cut-off of these leavers was verified (the end of its cut-off phase).
    const cutoffEnds = await t.pool.query<{ system: string; done: Date | null }>(
      `SELECT cs.system, max(cs.verified_at) AS done
         FROM employees e JOIN cases c ON c.employee_id = e.id AND c.kind = 'leaver' JOIN case_systems cs ON cs.case_id = c.id
        WHERE e.external_id = ANY($1) AND cs.system = ANY($2) GROUP BY cs.system`,
      [ids, [...BENCH_SYSTEMS]],
    )
    const cutoffEnd = new Map(cutoffEnds.rows.map((r) => [r.system, r.done?.getTime()]))

    const perSystem: Record<string, unknown> = {}
    const phases = { wave: { minimum: 0, measured: 0 }, cutoff: { minimum: 0, measured: 0 } }
    let total429 = 0
    let totalRequests = 0
    for (const s of BENCH_SYSTEMS) {
      const stats = kits[s].stats
      const limits = scaled(EMULATOR_LIMITS[s], o.limitScale)
      // Theoretical minimum for the calls made: the slowest bucket at its (scaled) published rate
      // after its burst, and never before the last leaver has arrived. A sliding minute (the
      // emulator's own model, read from its limits) from idle: a minute's worth at once, and each
      // further minute's worth only once the first calls have left the window.
      const judge = (byBucket: Record<string, number>, measured: number) => {
        let minimum = o.arrivalSeconds
        let binding = 'arrivals'
        for (const [bucket, calls] of Object.entries(byBucket)) {
          const spec = limits[bucket]
          if (!spec) continue
          const seconds =
            spec.window === 'sliding-minute' ? Math.max(0, Math.ceil(calls / spec.perMinute) - 1) * 60 : Math.max(0, calls - spec.burst) / (spec.perMinute / 60)
          if (seconds > minimum) {
            minimum = seconds
            binding = bucket
          }
        }
        return {
          bindingBucket: binding,
          minimumSeconds: Math.round(minimum * 10) / 10,
          measuredSeconds: Math.round(measured * 10) / 10,
          efficiency: measured > 0 ? Math.round((minimum / measured) * 100) / 100 : null,
          minimum,
          measured,
        }
      }
      const callsPerLeaver = Object.fromEntries(Object.entries(stats.byBucket).map(([bucket, calls]) => [bucket, Math.round((calls / o.leavers) * 100) / 100]))
      // The whole wave, clean-up included: until the system's last call (still calling when the wave
      // was cut short: it was busy for the whole time it ran). Clean-ups wait for every cut-off and
      // a settle window (workers.cleanupSettleSeconds), which this measure includes.
      const { minimum, measured, ...wave } = judge(stats.byBucket, ((timedOut ? endedAt : (lastCall[s] ?? start)) - start) / 1000)
      // The cut-off phase, what the SLA is about: until the system's last cut-off was verified, on
      // the calls made by then (the sample taken at that moment).
      const end = cutoffEnd.get(s)
      const atEnd = end === undefined || timedOut ? undefined : samples[s]!.findLast((x) => x.at <= end + 100)
      const cutoff = atEnd && end !== undefined ? judge(atEnd.byBucket, (end - start) / 1000) : undefined
      phases.wave.minimum = Math.max(phases.wave.minimum, minimum)
      phases.wave.measured = Math.max(phases.wave.measured, measured)
      if (cutoff) {
        phases.cutoff.minimum = Math.max(phases.cutoff.minimum, cutoff.minimum)
        phases.cutoff.measured = Math.max(phases.cutoff.measured, cutoff.measured)
      }
      total429 += stats.rateLimited
      totalRequests += stats.requests
      perSystem[s] = {
        requests: stats.requests,
        rateLimited: stats.rateLimited,
        share429: Math.round((stats.rateLimited / Math.max(1, stats.requests)) * 10000) / 10000,
        callsPerLeaver,
        ...wave,
        cutoff: cutoff ? { bindingBucket: cutoff.bindingBucket, minimumSeconds: cutoff.minimumSeconds, measuredSeconds: cutoff.measuredSeconds, efficiency: cutoff.efficiency } : null,
      }
    }
    const ratio = (p: { minimum: number; measured: number }) => (p.measured > 0 ? Math.round((p.minimum / p.measured) * 100) / 100 : null)
    return {
      leavers: o.leavers,
      limitScale: o.limitScale,
      arrivalSeconds: o.arrivalSeconds,
      seedSeconds: Math.round(hireSeconds),
      acknowledged: arrivals.acknowledged.length,
      timedOut,
      waveSeconds: Math.round((endedAt - start) / 100) / 10,
      leaversVerified: verified.size,
      allCutOffVerifiedSeconds: allCutOffSeconds === null ? null : Math.round(allCutOffSeconds * 10) / 10,
      lastLeaverTimeToRevokeSeconds: lastLeaverSeconds === null ? null : Math.round(lastLeaverSeconds * 10) / 10,
      casesClosed: closed,
      cutoffBeforeCleanup,
      deadLettered: dead,
      deadLetterQueues: deadRows.rows,
      share429: Math.round((total429 / Math.max(1, totalRequests)) * 10000) / 10000,
      overallEfficiency: ratio(phases.wave),
      overallCutoffEfficiency: ratio(phases.cutoff),
      perSystem,
      memory: { peak: memory, leaversInFlightPeak: inFlightPeak },
      pipeline,
    }
  } finally {
    await t.close()
  }
}

// ---------------------------------------------------------------------------------------------
// (d) memory: growth across three consecutive runs of a small scenario, after a forced GC

export async function memoryScenario(db: BenchDatabase, o: { deliveries: number; leavers: number }) {
  const t = await startBenchTenure({ db, prefix: 'memory' })
  try {
    const afterRuns: MemorySample[] = []
    for (let round = 0; round < 3; round++) {
      const run = runId()
      // Seed first: the template joiner's hr.event must not queue behind the round's deliveries.
      const ids = Array.from({ length: o.leavers }, (_, i) => `ML-${run}-${i}`)
      await seedLeavers(t, ids, `MT-${run}`)
      await openLoop({
        rate: 100,
        count: o.deliveries,
        prepare: (i) => signedDelivery({ type: 'employee.updated', timestamp: new Date().toISOString(), data: { employeeId: `M-${run}-${i}`, changes: { title: 'x' } } }, `mem_${run}_${i}`),
        send: (d) => post(webhookUrl(t), d.body, d.headers),
      })
      for (const id of ids) {
        const d = signedDelivery(terminatedPayload(id), `mleave_${id}`)
        await post(webhookUrl(t), d.body, d.headers)
      }
      await until('memory round leavers verified', async () => (await verifiedAt(t, ids)).size === ids.length, 600_000, 200)
      await until('hr inbox drained', async () => (await count(t, `SELECT count(*)::int AS n FROM hr_inbox WHERE status <> 'processed'`)) === 0, 600_000, 200).catch(() => undefined)
      afterRuns.push(await t.memory(true))
    }
    const first = afterRuns[0]!
    const last = afterRuns[afterRuns.length - 1]!
    const growthMB = Math.round((last.heapUsedMB - first.heapUsedMB) * 10) / 10
    // Noise on a loaded 2-core box is a few MB; more than 5 MB and 10 % across runs is flagged.
    const flagged = growthMB > 5 && growthMB > first.heapUsedMB * 0.1
    return { forcedGc: true, afterRuns, heapGrowthMB: growthMB, growthFlagged: flagged }
  } finally {
    await t.close()
  }
}

// ---------------------------------------------------------------------------------------------
// (d) memory with N leavers in flight: every termination acknowledged, the targets paused

/**
 * Seed `leavers` employees, pause every target (Tenure's limiter at one call per minute per
 * bucket, so system jobs wait and retry instead of finishing), send every termination, and
 * sample the Tenure process's RSS and heap while the intake and the engine work through them.
 * "In flight" = acknowledged and not yet cut off anywhere: all of them, for the whole window.
 */
export async function inFlightMemoryScenario(db: BenchDatabase, o: { leavers: number; holdSeconds: number }) {
  const t = await startBenchTenure({ db, prefix: 'inflight', rateLimits: unlimitedTenure() })
  try {
    const run = runId()
    const ids = Array.from({ length: o.leavers }, (_, i) => `F-${run}-${i}`)
    setRealisticLatency(t.emulators, false)
    await seedLeavers(t, ids, `FT-${run}`)
    const paused = Object.fromEntries(BENCH_SYSTEMS.map((s) => [s, Object.fromEntries(Object.keys(TENURE_LIMITS[s]).map((b) => [b, { perMinute: 1, burst: 1 }]))]))
    await t.restart(paused)
    await sleep(2000)
    const before = await t.memory(true)
    const peak = memoryPeak(t, 250)
    // CPU of each process over the wave: what a heap or allocator setting costs (fewer, smaller
    // spaces mean more collections). Per acknowledged leaver for the HTTP process; the worker
    // process's depends on how many cases it opened in the hold, so it is given per case too.
    const pids = { serve: before.serve?.pid, worker: before.worker?.pid }
    const cpuBefore = { serve: cpuMsOf(pids.serve), worker: cpuMsOf(pids.worker) }
    const started = Date.now()
    let next = 0
    let refused = 0
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!
          const d = signedDelivery(terminatedPayload(id), `inflight_${id}`)
          if ((await post(webhookUrl(t), d.body, d.headers)) !== 202) refused += 1
        }
      }),
    )
    const sentSeconds = (Date.now() - started) / 1000
    // Hold: the hr.event jobs turn notices into leaver cases and queue the cut-off jobs.
    await sleep(o.holdSeconds * 1000)
    const during = await peak.stop()
    const cpuMs = (which: 'serve' | 'worker') => {
      const [a, b] = [cpuBefore[which], cpuMsOf(pids[which])]
      return a === undefined || b === undefined ? null : b - a
    }
    const cpu = { serveMs: cpuMs('serve'), workerMs: cpuMs('worker') }
    const cases = await count(t, `SELECT count(*)::int AS n FROM cases WHERE kind = 'leaver'`)
    const verifiedAny = await count(t, `SELECT count(DISTINCT c.employee_id)::int AS n FROM cases c JOIN case_systems cs ON cs.case_id = c.id WHERE c.kind = 'leaver' AND cs.verified_at IS NOT NULL`)
    const queued = await count(t, `SELECT count(*)::int AS n FROM pgboss.job WHERE state IN ('created', 'retry', 'active')`)
    return {
      leavers: o.leavers,
      acknowledged: o.leavers - refused,
      sentSeconds: Math.round(sentSeconds * 10) / 10,
      holdSeconds: o.holdSeconds,
      leaverCasesOpened: cases,
      leaversWithAnySystemVerified: verifiedAny,
      jobsQueuedAtEnd: queued,
      memory: { beforeAfterGc: before, peak: during },
      cpu: {
        ...cpu,
        serveMsPerLeaver: cpu.serveMs === null ? null : Math.round((cpu.serveMs / Math.max(1, o.leavers - refused)) * 100) / 100,
        workerMsPerCaseOpened: cpu.workerMs === null || cases === 0 ? null : Math.round((cpu.workerMs / cases) * 10) / 10,
      },
    }
  } finally {
    await t.close()
  }
}
