/**
 * `npm run check:invariants -- --runs N --seed S [--path P] [--no-shrink] [--crashes] [--commands M]`:
 * randomized whole-pipeline scenarios, then the access invariant from the targets' side
 * (test/invariants/). On a violation it shrinks the scenario (each try replays it through the
 * whole pipeline; `--no-shrink` skips that), prints the smallest failing one and the command that
 * replays exactly it (`--scenario '<as printed>'`), and exits 1. `--seed S --path P` reruns
 * fast-check's unshrunk run. Starts an embedded PostgreSQL unless DATABASE_URL is set.
 */
import { parseArgs } from 'node:util'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startEmbedded } from '../src/db/embedded.ts'
import { createLogger } from '../src/log.ts'

const { values } = parseArgs({
  allowNegative: true,
  options: {
    runs: { type: 'string', default: '20' },
    seed: { type: 'string' },
    path: { type: 'string' },
    shrink: { type: 'boolean', default: true },
    crashes: { type: 'boolean', default: false },
    commands: { type: 'string', default: '14' },
    scenario: { type: 'string' },
  },
})
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31)
let stop = async () => {}
let tempDir: string | undefined
if (!process.env.DATABASE_URL) {
  tempDir = await mkdtemp(path.join(tmpdir(), 'tenure-inv-pg-'))
  const db = await startEmbedded({ dataDir: tempDir, log: createLogger({ level: 'warn' }) })
  process.env.DATABASE_URL = db.url
  stop = db.stop
}
const { runInvariantCheck, replayScenario } = await import('../test/invariants/run.ts')
const started = Date.now()
let code = 0
try {
  if (values.scenario !== undefined) {
    // Replay one printed scenario as it is (a shrunk one too), --runs times.
    const result = await replayScenario(values.scenario, { times: Number(values.runs), log: (line) => console.log(line) })
    const seconds = Math.round((Date.now() - started) / 1000)
    console.log(`\n${result.runs} replays, ${seconds} s`)
    if (result.violations.length > 0) {
      code = 1
      for (const v of result.violations) console.log(`  ${v.rule} ${v.system} ${v.person}: ${v.detail}`)
    } else console.log('0 violations')
  } else {
    const result = await runInvariantCheck({
      seed,
      runs: Number(values.runs),
      ...(values.path ? { path: values.path } : {}),
      shrink: values.shrink,
      crashes: values.crashes,
      maxCommands: Number(values.commands),
      log: (line) => console.log(line),
    })
    const seconds = Math.round((Date.now() - started) / 1000)
    console.log(`\n${result.runs} scenarios, ${result.commands} commands, ${result.kills} kill -9, seed ${seed}, ${seconds} s`)
    if (result.failure) {
      code = 1
      console.log(`VIOLATED: seed ${result.failure.seed} path ${result.failure.path ?? '-'}`)
      console.log(`scenario: ${result.failure.scenario}`)
      for (const v of result.failure.violations) console.log(`  ${v.rule} ${v.system} ${v.person}: ${v.detail}`)
      console.log(`replay: npm run check:invariants -- --runs 1 --scenario '${result.failure.scenario}'`)
    } else console.log('0 violations')
  }
} finally {
  await stop()
  if (tempDir) await rm(tempDir, { recursive: true, force: true })
}
process.exit(code)
