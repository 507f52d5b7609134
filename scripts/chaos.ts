/**
 * `npm run chaos [-- --leavers 500 --joiners 200 --workers 2 --kills 10 --pg-restarts 2 --fault-minutes 2 --seed S]`:
 * the full chaos run (test/chaos/run.ts). Prints its progress and the figures docs/reliability.md
 * records; exits 1 when a check fails.
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { runChaos } from '../test/chaos/run.ts'

const { values } = parseArgs({
  options: {
    leavers: { type: 'string', default: '500' },
    joiners: { type: 'string', default: '200' },
    workers: { type: 'string', default: '2' },
    kills: { type: 'string', default: '10' },
    'pg-restarts': { type: 'string', default: '2' },
    'fault-minutes': { type: 'string', default: '2' },
    'wave-seconds': { type: 'string', default: '120' },
    seed: { type: 'string' },
  },
})
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31)
const r = await runChaos({
  leavers: Number(values.leavers),
  joiners: Number(values.joiners),
  workers: Number(values.workers),
  kills: Number(values.kills),
  pgRestarts: Number(values['pg-restarts']),
  faultWindowMs: Number(values['fault-minutes']) * 60_000,
  waveMs: Number(values['wave-seconds']) * 1000,
  seed,
  log: (line) => console.log(line),
})
// Every violation goes to a file (a failed run has dozens); the console gets the first 20 and the
// counts per rule and system, so a reader sees the whole shape of a failure.
const file = path.resolve(`chaos-violations-${seed}.json`)
await writeFile(file, JSON.stringify(r.violations, null, 2))
const byRule: Record<string, number> = {}
for (const v of r.violations) byRule[`${v.rule} ${v.system}`] = (byRule[`${v.rule} ${v.system}`] ?? 0) + 1
console.log(JSON.stringify({ seed, ...r, violations: r.violations.slice(0, 20), violationCount: r.violations.length, violationsByRuleAndSystem: byRule, violationsFile: file }, null, 2))
const ok = r.violations.length === 0 && r.duplicateEnqueues === 0 && r.duplicateRevocations === 0 && r.deadLetters === 0 && r.auditVerify.code === 0
console.log(ok ? 'chaos: every check passed' : 'chaos: FAILED')
process.exit(ok ? 0 : 1)
