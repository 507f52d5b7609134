/**
 * `npm run bench [-- --quick] [-- --scenario ingest|single|layoff|memory] [-- --limit-scale N]`
 *
 * Runs the benchmark scenarios against an in-process Tenure on PostgreSQL (DATABASE_URL, or an
 * embedded one in a temporary folder), writes bench/results/<timestamp>.json and appends a
 * summary with the targets to docs/benchmarks.md.
 */
import { spawnSync, execFileSync } from 'node:child_process'
import { appendFile, mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { destroyAgent, openBenchDatabase } from './harness.ts'
import { ingestScenario, layoffScenario, memoryScenario, singleScenario } from './scenarios.ts'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const args = process.argv.slice(2)

// The memory scenario needs a forced GC: re-run this script under --expose-gc.
if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), ...args], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const quick = args.includes('--quick')
const pick = (flag: string) => {
  const i = args.indexOf(flag)
  return i >= 0 ? args[i + 1] : undefined
}
// One scenario, or several separated by commas (`--scenario ingest,single`).
const only = pick('--scenario')?.split(',')
const SCENARIOS: readonly string[] = ['ingest', 'single', 'layoff', 'memory']
if (only && !only.every((s) => SCENARIOS.includes(s))) {
  console.error(`--scenario must be one or more of ${SCENARIOS.join('|')}`)
  process.exit(2)
}
const wanted = (s: string) => !only || only.includes(s)
const limitScale = Number(pick('--limit-scale') ?? (quick ? 10 : 1))

const db = await openBenchDatabase()
const results: Record<string, unknown> = {}
const started = new Date()
const log = (what: string, value: unknown) => console.log(`\n## ${what}\n${JSON.stringify(value, null, 2)}`)
try {
  if (wanted('ingest')) {
    results.ingest = await ingestScenario(db, quick ? { rates: [100, 200], secondsPerRate: 3, stepUpCap: 400, ceilingSeconds: 3, concurrency: 32 } : { rates: [100, 200, 500], secondsPerRate: 10, stepUpCap: 4000, ceilingSeconds: 10, concurrency: 32 })
    log('ingest', results.ingest)
  }
  if (wanted('single')) {
    results.single = await singleScenario(db, { leavers: quick ? 20 : 200 })
    log('single', results.single)
  }
  if (wanted('layoff')) {
    results.layoff = await layoffScenario(db, quick ? { leavers: 1000, limitScale, arrivalSeconds: 20, timeoutMs: 600_000 } : { leavers: 5000, limitScale, arrivalSeconds: 60, timeoutMs: 3_600_000 })
    log('layoff', results.layoff)
  }
  if (wanted('memory')) {
    results.memory = await memoryScenario(db, quick ? { deliveries: 200, leavers: 5 } : { deliveries: 2000, leavers: 20 })
    log('memory', results.memory)
  }
} finally {
  destroyAgent()
  await db.stop()
}

const git = (a: string[]) => {
  try {
    return execFileSync('git', a, { cwd: root }).toString().trim()
  } catch {
    return 'unknown'
  }
}
const machine = {
  cores: os.cpus().length,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  memoryGB: Math.round(os.totalmem() / 1073741824),
  loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  node: process.version,
  postgres: `${db.version}${db.embedded ? ' (embedded)' : ''}`,
}
const commit = `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain']) ? ' (uncommitted changes)' : ''}`
const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`
const record = { startedAt: started.toISOString(), finishedAt: new Date().toISOString(), command, commit, machine, quick, limitScale, results }
await mkdir(path.join(here, 'results'), { recursive: true })
const file = path.join(here, 'results', `${started.toISOString().replace(/[:.]/g, '-')}.json`)
await writeFile(file, JSON.stringify(record, null, 2))
await appendFile(path.join(root, 'docs', 'benchmarks.md'), summaryMarkdown(record))
console.log(`\nresults: ${path.relative(root, file)}; summary appended to docs/benchmarks.md`)

// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>
function summaryMarkdown(r: typeof record): string {
  const mark = (ok: boolean | undefined) => (ok === undefined ? 'not run' : ok ? '**met**' : '**not met**')
  const ingest = r.results.ingest as Json | undefined
  const single = r.results.single as Json | undefined
  const layoff = r.results.layoff as Json | undefined
  const memory = r.results.memory as Json | undefined
  const lines: string[] = []
  lines.push('', `## ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC — ${r.quick ? 'quick' : 'full'} run`, '')
  lines.push(`- Command: \`${r.command}\``)
  lines.push(`- Commit: ${r.commit}`)
  lines.push(`- Machine: ${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memoryGB} GB, Node ${r.machine.node}, PostgreSQL ${r.machine.postgres}; load average at the end ${r.machine.loadAverage.join(' / ')} (shared machine)`)
  lines.push('')
  const targets: string[] = []
  if (ingest) {
    const steps = ingest.steps as Array<{ rate: number; achievedRate: number; latencyMs: { p50: number; p90: number; p99: number; max: number }; p99Within50: boolean }>
    lines.push('| ingest rate (req/s) | achieved | p50 ms | p90 ms | p99 ms | max ms | p99 ≤ 50 ms |', '|---|---|---|---|---|---|---|')
    for (const s of steps) lines.push(`| ${s.rate} | ${s.achievedRate} | ${s.latencyMs.p50} | ${s.latencyMs.p90} | ${s.latencyMs.p99} | ${s.latencyMs.max} | ${s.p99Within50 ? 'yes' : 'no'} |`)
    const c = ingest.ceilings as Json
    const e = ingest.exactlyOnce as Json
    lines.push('', `Highest sustained rate with p99 ≤ 50 ms: ${String(ingest.sustainedRateP99Within50ms)} req/s. Closed-loop ceilings at concurrency ${String(c.concurrency)}: Tenure ${String(c.tenurePerSecond)}/s, bare express 5 ${String(c.expressPerSecond)}/s, bare pg INSERT+COMMIT ${String(c.pgCommitPerSecond)}/s → efficiency ${String(c.efficiencyAgainstLower)} against the lower. Exactly once: ${String(e.acknowledged)} acknowledged, ${String(e.stored)} stored, ${String(e.missing)} missing, ${String(e.duplicated)} duplicated.`, '')
    const at200 = steps.find((s) => s.rate === 200)
    targets.push(`| ack p99 ≤ 15 ms at 200 req/s | ${at200 ? `${at200.latencyMs.p99} ms` : 'n/a'} | ${mark(at200 ? at200.latencyMs.p99 <= 15 : undefined)} |`)
  }
  if (single) {
    const tt = single.timeToVerifiedMs as Json
    const or = single.oracleMs as Json
    const ov = single.overheadMs as { p50: number; p99: number }
    lines.push(`Single leaver (${String(single.leavers)} in sequence, realistic latency): webhook → last system verified p50 ${String(tt.p50)} ms, p99 ${String(tt.p99)} ms, max ${String(tt.max)} ms; oracle (direct provisioner cut-off + verify) p50 ${String(or.p50)} ms, p99 ${String(or.p99)} ms; overhead p50 ${ov.p50} ms, p99 ${ov.p99} ms.`, '')
    targets.push(`| single-leaver p99 ≤ 3 s | ${String(tt.p99)} ms | ${mark(Number(tt.p99) <= 3000)} |`)
    targets.push(`| overhead over the oracle ≤ 250 ms p99 | ${ov.p99} ms | ${mark(ov.p99 <= 250)} |`)
  }
  if (layoff) {
    lines.push(`Layoff: ${String(layoff.leavers)} leavers arriving over ${String(layoff.arrivalSeconds)} s, limits ×${String(layoff.limitScale)} of the published ones (emulators and Tenure's limiter alike). Every cut-off verified after ${String(layoff.allCutOffVerifiedSeconds)} s; last leaver's time-to-revoke ${String(layoff.lastLeaverTimeToRevokeSeconds)} s; 429 share ${String(layoff.share429)}; dead-lettered ${String(layoff.deadLettered)}; cases closed ${String(layoff.casesClosed)}; overall efficiency ${String(layoff.overallEfficiency)}.`, '')
    lines.push('| system | binding bucket | calls/leaver | minimum s | measured s | efficiency | 429 share |', '|---|---|---|---|---|---|---|')
    const per = layoff.perSystem as Record<string, Json>
    let bindingOk = true
    let othersOk = true
    const worst = Object.entries(per).reduce((a, b) => (Number(b[1].minimumSeconds) > Number(a[1].minimumSeconds) ? b : a))
    for (const [s, v] of Object.entries(per)) {
      lines.push(`| ${s} | ${String(v.bindingBucket)} | ${JSON.stringify(v.callsPerLeaver).replaceAll('"', '')} | ${String(v.minimumSeconds)} | ${String(v.measuredSeconds)} | ${String(v.efficiency)} | ${String(v.share429)} |`)
      const eff = Number(v.efficiency)
      if (s === worst[0]) bindingOk = eff >= 0.95
      else othersOk &&= eff >= 0.9
    }
    lines.push('')
    targets.push(`| layoff efficiency ≥ 0.95 on the binding system (${worst[0]}) | ${String(worst[1].efficiency)} | ${mark(bindingOk)} |`)
    targets.push(`| layoff efficiency ≥ 0.9 on the others | see table | ${mark(othersOk)} |`)
    targets.push(`| 429s ≤ 1 % | ${String(layoff.share429)} | ${mark(Number(layoff.share429) <= 0.01)} |`)
    targets.push(`| no leaver dead-lettered | ${String(layoff.deadLettered)} | ${mark(layoff.deadLettered === 0)} |`)
  }
  if (ingest) {
    const m = ingest.memory as { idle: { rssMB: number; heapUsedMB: number }; duringIngest: { rssMB: number; heapUsedMB: number } }
    lines.push(`Memory (whole bench process, emulators included): idle RSS ${m.idle.rssMB} MB / heap ${m.idle.heapUsedMB} MB; peak during ingest RSS ${m.duringIngest.rssMB} MB / heap ${m.duringIngest.heapUsedMB} MB.`)
    targets.push(`| idle RSS ≤ 120 MB | ${m.idle.rssMB} MB | ${mark(m.idle.rssMB <= 120)} |`)
  }
  if (layoff) {
    const m = layoff.memory as { peak: { rssMB: number; heapUsedMB: number }; leaversInFlightPeak: number }
    lines.push(`Peak during the layoff (${m.leaversInFlightPeak} leavers in flight at most): RSS ${m.peak.rssMB} MB / heap ${m.peak.heapUsedMB} MB. 10,000 leavers in flight were not run.`)
    targets.push(`| RSS ≤ 256 MB with 10,000 leavers in flight | ${m.peak.rssMB} MB with ${m.leaversInFlightPeak} in flight | not run at 10,000 |`)
  }
  if (memory) {
    const runs = memory.afterRuns as Array<{ rssMB: number; heapUsedMB: number }>
    lines.push(`After forced GC across three runs of a small scenario: heap ${runs.map((x) => x.heapUsedMB).join(' → ')} MB, RSS ${runs.map((x) => x.rssMB).join(' → ')} MB; growth ${String(memory.heapGrowthMB)} MB${memory.growthFlagged ? ' — **flagged as beyond noise**' : ' (within noise)'}.`)
  }
  lines.push('', '| target | measured | |', '|---|---|---|', ...targets, '')
  return lines.join('\n')
}
