/**
 * `npm test`: runs every *.test.ts with node's built-in test runner on real PostgreSQL.
 * When DATABASE_URL is unset, one embedded PostgreSQL is started for the whole run in a
 * temporary folder; each test file creates its own database on it (test/helpers/db.ts), so files
 * run in parallel without seeing each other's rows.
 *
 * `npm test` runs it through bin/node-check.js, which refuses a Node older than 22.12 in one line.
 *
 *   npm test                      every test
 *   npm test -- provisioners/slack  only files under that path (or matching that substring)
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startEmbedded } from '../src/db/embedded.ts'
import { createLogger } from '../src/log.ts'

const ROOTS = ['state-machines', 'provisioners', 'src', 'test']

async function findTests(dir: string): Promise<string[]> {
  const out: string[] = []
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return out
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory() && entry.name !== 'node_modules') out.push(...(await findTests(full)))
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(full)
  }
  return out
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('--'))
// Longest first (the whole-pipeline folders, then the rest alphabetically): with files run
// `--test-concurrency` at a time, a long file started last would end the run alone.
const LONG_FIRST = ['test/chaos/', 'test/bench-smoke', 'test/invariants/', 'test/integration/', 'test/e2e/']
const rank = (f: string) => {
  const i = LONG_FIRST.findIndex((p) => f.includes(`${path.sep}${p}`) || f.startsWith(p))
  return i < 0 ? LONG_FIRST.length : i
}
let files = (await Promise.all(ROOTS.map(findTests)))
  .flat()
  .sort()
  .sort((a, b) => rank(a) - rank(b))
if (filters.length > 0) files = files.filter((f) => filters.some((p) => f.includes(p)))
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`)
  process.exit(1)
}

const log = createLogger({ level: process.env.TEST_PG_LOG ?? 'warn' })
let stop = async () => {}
let tempDir: string | undefined
let clusterDir: string | undefined
const env = { ...process.env }
if (!env.DATABASE_URL) {
  tempDir = await mkdtemp(path.join(tmpdir(), 'tenure-test-'))
  // A throwaway cluster: no fsync and no full-page images. PostgreSQL crashing or being killed
  // (the chaos and outage tests) still loses nothing, since its writes are in the kernel's page
  // cache; only the machine crashing would, and the cluster is deleted at the end of the run.
  // Commits still wait for their WAL write (synchronous_commit stays on), as in production.
  const db = await startEmbedded({ dataDir: tempDir, log, settings: { fsync: 'off', full_page_writes: 'off' } })
  env.DATABASE_URL = db.url
  stop = db.stop
  // As root with a private TMPDIR the cluster lives outside the temporary folder (embedded.ts).
  if (!db.pgDir.startsWith(tempDir + path.sep)) clusterDir = path.dirname(db.pgDir)
}
env.TENURE_TEST = '1'
// Node's module compile cache (https://nodejs.org/api/module.html#module-compile-cache): the
// stripped TypeScript and V8's code cache of every module, kept between the ~170 test processes
// and the Tenure processes they start (importing src/main.ts: 0.73 s of CPU without, 0.42 s with).
env.NODE_COMPILE_CACHE ??= path.join(tmpdir(), 'tenure-test-compile-cache')
env.LOG_LEVEL ??= 'silent'

// Three files at a time on the 2-core machine: the files wait on timers, polls and the emulators'
// latency much of the time (CPU 131 % busy at 2 files at a time). Measured on one machine, whole
// suite, compile cache and the settings above: 648 s at 2, 542 s at 3 (CPU 150 %); at 4, without
// them, no better than 3.
const concurrency = process.env.TEST_CONCURRENCY ?? '3'
const child = spawn(
  process.execPath,
  // execArgv carries --experimental-strip-types where bin/node-check.js had to add it.
  [...process.execArgv, '--test', `--test-concurrency=${concurrency}`, '--test-timeout=180000', '--test-reporter=spec', ...passthrough, ...files],
  { stdio: 'inherit', env },
)
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
await stop()
if (tempDir) await rm(tempDir, { recursive: true, force: true })
if (clusterDir) await rm(clusterDir, { recursive: true, force: true })
process.exit(code)
