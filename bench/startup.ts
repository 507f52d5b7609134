/**
 * `npm run bench:startup [-- --runs 3 --idle-seconds 20 --no-append --no-breakdown --only one-system --runtime compiled]`: `tenure serve`
 * started both ways, compiled (dist/, `npm run build:server`) and from the TypeScript sources
 * (TENURE_FROM_SOURCE=1), with two configurations: the sandbox (`serve --sandbox`, as `npm start`
 * runs it: every system, the emulators in the HTTP process) and one system (Jira only, no
 * notification channel). Each run gets a fresh database on one PostgreSQL (DATABASE_URL or an
 * embedded one). Measured: the time from spawn to /readyz answering 200; the RSS of the HTTP
 * process and of its worker process once start-up has settled (--idle-seconds), apart and together;
 * then, idle, the RSS of `tenure serve` once its worker process has stopped for lack of work
 * (workers.idleStopSeconds, its default 60 s; waited for up to 90 s more). Then, unless
 * --no-breakdown, what importing each part costs in a fresh process (compiled, after a forced GC):
 * where the memory goes. Appends the tables to docs/benchmarks.md with the command and load average.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { startEmbedded } from '../src/db/embedded.ts'
import { silentLogger } from '../src/log.ts'
import { ROOT } from '../src/paths.ts'
import { isAlive as alive } from '../src/util/process.ts'

const { values } = parseArgs({
  allowNegative: true,
  options: {
    runs: { type: 'string', default: '3' },
    'idle-seconds': { type: 'string', default: '20' },
    append: { type: 'boolean', default: true },
    breakdown: { type: 'boolean', default: true },
    // `--only sandbox|one-system`: one configuration; `--runtime compiled|source`: one way of running it.
    only: { type: 'string' },
    runtime: { type: 'string' },
  },
})
if (values.only !== undefined && !['sandbox', 'one-system'].includes(values.only)) {
  console.error('--only must be sandbox or one-system')
  process.exit(2)
}
if (values.runtime !== undefined && !['compiled', 'source'].includes(values.runtime)) {
  console.error('--runtime must be compiled or source')
  process.exit(2)
}
const runs = Number(values.runs)
const idleSeconds = Number(values['idle-seconds'])
if (!existsSync(path.join(ROOT, 'dist', '.built'))) {
  console.error('dist/ is not built: run `npm run build:server` first')
  process.exit(2)
}
const loadAtStart = os.loadavg()
const startedAt = new Date()

let databaseUrl = process.env.DATABASE_URL
let stopDb = async () => {}
const work = await mkdtemp(path.join(os.tmpdir(), 'tenure-startup-'))
if (!databaseUrl) {
  const db = await startEmbedded({ dataDir: path.join(work, 'pg'), log: silentLogger })
  databaseUrl = db.url
  stopDb = db.stop
}

/** A database of its own per run: the sandbox's seed and the migrations start from nothing each time. */
let databases = 0
async function freshDatabase(): Promise<string> {
  const name = `tenure_startup_${process.pid}_${++databases}`
  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(databaseUrl!)
  url.pathname = `/${name}`
  return url.toString()
}

// One system, as a deployment that uses Tenure for Jira alone configures it (no vendor is called at start).
const oneSystemFile = path.join(work, 'one-system.yaml')
await writeFile(oneSystemFile, 'systems: { jira: { host: "https://acme.atlassian.net", email: "tenure@acme.example", apiToken: { env: STARTUP_JIRA_TOKEN } } }\n')

interface Form {
  key: string
  label: string
  args: string[]
  env: Record<string, string>
}
const FORMS: Form[] = ([
  { key: 'sandbox', label: 'sandbox (`serve --sandbox`, every system)', args: ['serve', '--sandbox'], env: {} },
  { key: 'one-system', label: 'one system (Jira only)', args: ['serve'], env: { TENURE_CONFIG: oneSystemFile, STARTUP_JIRA_TOKEN: 'not-a-real-token' } },
] as Form[]).filter((f) => values.only === undefined || f.key === values.only)
const RUNTIMES = [false, true].filter((fromSource) => values.runtime === undefined || values.runtime === (fromSource ? 'source' : 'compiled'))

async function rssMB(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN)
  return Math.round((kb / 1024) * 10) / 10
}

interface Result {
  readyMs: number
  httpMB: number
  workerMB: number
  /** `tenure serve` once its worker process stopped for idleness (or, if it did not, both processes). */
  idleMB: number
  /** Whether the worker process had stopped when idleMB was read. */
  workerStopped: boolean
  runtime: string
}

async function once(form: Form, fromSource: boolean): Promise<Result> {
  const dataDir = await mkdtemp(path.join(work, 'data-'))
  const started = performance.now()
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tenure.js'), ...form.args], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...form.env,
      DATABASE_URL: await freshDatabase(),
      TENURE_DATA_DIR: dataDir,
      PORT: '0',
      TENURE_FROM_SOURCE: fromSource ? '1' : '0',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (out += c.toString()))
  try {
    let url: string | undefined
    while (!url) {
      if (child.exitCode !== null) throw new Error(`tenure ${form.args.join(' ')} exited ${child.exitCode}:\n${out.slice(-2000)}`)
      url = /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1]
      if (!url) await new Promise((r) => setTimeout(r, 20))
    }
    while ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) !== 200) await new Promise((r) => setTimeout(r, 20))
    const readyMs = Math.round(performance.now() - started)
    await new Promise((r) => setTimeout(r, idleSeconds * 1000))
    const runtime = /"runtime":"([a-z]+)"/.exec(out)?.[1] ?? '?'
    // src/worker-process.ts logs the child's pid when it is ready.
    const workerPid = Number(/"pid":(\d+),"restarts":0[^\n]*"worker process ready"/.exec(out)?.[1] ?? Number.NaN)
    const [httpMB, workerMB] = await Promise.all([rssMB(child.pid), rssMB(Number.isNaN(workerPid) ? undefined : workerPid)])
    // Idle: the worker process stops after workers.idleStopSeconds (default 60 s) with nothing to do.
    const idleBy = Date.now() + 90_000
    const stopped = () => out.includes('"worker process stopped for idleness') && !Number.isNaN(workerPid) && !alive(workerPid)
    while (!stopped() && Date.now() < idleBy) await new Promise((r) => setTimeout(r, 500))
    const workerStopped = stopped()
    // What its exit left in the serve process settles too.
    if (workerStopped) await new Promise((r) => setTimeout(r, 5000))
    const idleMB = (await rssMB(child.pid)) + (workerStopped ? 0 : await rssMB(workerPid))
    return { readyMs, httpMB, workerMB, idleMB, workerStopped, runtime }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    await rm(dataDir, { recursive: true, force: true })
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const round = (x: number) => Math.round(x * 10) / 10
const cell = (xs: number[], unit: string) => `${round(median(xs))} ${unit} (${xs.map(round).join(', ')})`

/** What importing `module` costs in a fresh process after a forced GC (compiled: dist/). */
async function importCost(module: string | undefined): Promise<{ rssMB: number; heapMB: number }> {
  const script = [
    module ? `await import(${JSON.stringify(module)})` : '',
    'for (let i = 0; i < 3; i++) globalThis.gc()',
    'await new Promise((r) => setTimeout(r, 200))',
    'globalThis.gc()',
    'const u = process.memoryUsage()',
    'console.log(JSON.stringify({ rssMB: u.rss / 1048576, heapMB: u.heapUsed / 1048576 }))',
    'process.exit(0)',
  ].join('\n')
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  await new Promise((r) => child.once('exit', r))
  return JSON.parse(out.trim().split('\n').pop()!) as { rssMB: number; heapMB: number }
}

const rows: string[] = []
const breakdown: string[] = []
try {
  for (const form of FORMS) {
    for (const fromSource of RUNTIMES) {
      const results: Result[] = []
      for (let i = 0; i < runs; i++) results.push(await once(form, fromSource))
      const line = `| ${form.label} | ${fromSource ? 'from source (type stripping)' : 'compiled (dist/)'} | ${results[0]!.runtime} | ${cell(
        results.map((r) => r.readyMs),
        'ms',
      )} | ${cell(
        results.map((r) => r.httpMB),
        'MB',
      )} | ${cell(
        results.map((r) => r.workerMB),
        'MB',
      )} | ${cell(
        results.map((r) => r.httpMB + r.workerMB),
        'MB',
      )} | ${cell(
        results.map((r) => r.idleMB),
        'MB',
      )} | ${results.map((r) => (r.workerStopped ? 'stopped' : 'still running')).join(', ')} |`
      console.log(line)
      rows.push(line)
    }
  }
  if (values.breakdown) {
    const dist = (p: string) => path.join(ROOT, 'dist', p)
    const parts: Array<[string, string | undefined]> = [
      ['node alone', undefined],
      ['express', 'express'],
      ['pg-boss', 'pg-boss'],
      ['zod', 'zod'],
      ['prom-client', 'prom-client'],
      ['pino', 'pino'],
      ['src/http/app.js (express app, middleware)', dist('src/http/app.js')],
      ['src/http/api-routes.js (every API route and what it imports)', dist('src/http/api-routes.js')],
      ['src/lifecycle/engine.js', dist('src/lifecycle/engine.js')],
      ['src/main.js (what both processes import before their half)', dist('src/main.js')],
      ['src/worker-entry.js (the worker process before its half)', dist('src/worker-entry.js')],
      ['src/jobs/system-worker.js (a job worker and what it imports)', dist('src/jobs/system-worker.js')],
      ['provisioners/jira/provisioner.js', dist('provisioners/jira/provisioner.js')],
      ['provisioners/google/provisioner.js', dist('provisioners/google/provisioner.js')],
      ['provisioners/entra/provisioner.js', dist('provisioners/entra/provisioner.js')],
      ['provisioners/slack/provisioner.js', dist('provisioners/slack/provisioner.js')],
      ['provisioners/scim/provisioner.js', dist('provisioners/scim/provisioner.js')],
    ]
    for (const [label, module] of parts) {
      const costs = []
      for (let i = 0; i < 3; i++) costs.push(await importCost(module))
      const line = `| ${label} | ${round(median(costs.map((c) => c.rssMB)))} MB | ${round(median(costs.map((c) => c.heapMB)))} MB |`
      console.log(line)
      breakdown.push(line)
    }
  }
} finally {
  await stopDb()
  await rm(work, { recursive: true, force: true })
}
const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ')
const table = [
  '',
  `### Start-up and idle memory of \`tenure serve\`, per process (${startedAt.toISOString().slice(0, 16).replace('T', ' ')}–${new Date().toISOString().slice(11, 16)} UTC, ${os.cpus().length} cores, load average 1/5/15 min ${load(loadAtStart)} at start, ${load(os.loadavg())} at end)`,
  '',
  `\`${process.env.NODE_OPTIONS ? `NODE_OPTIONS='${process.env.NODE_OPTIONS}' ` : ''}npm run bench:startup -- --runs ${runs} --idle-seconds ${idleSeconds}${values.only ? ` --only ${values.only}` : ''}${values.runtime ? ` --runtime ${values.runtime}` : ''}\`: each run on a fresh database; ready = spawn to /readyz 200; RSS (VmRSS) of the HTTP process and of the worker process it starts, ${idleSeconds} s after ready (just started); idle = RSS of \`tenure serve\` once its worker process has stopped for lack of work (workers.idleStopSeconds, default 60 s; waited for up to 90 s: "still running" = it had not, and idle counts both). Median (each run). Target: idle RSS of \`tenure serve\` ≤ 120 MB.`,
  '',
  '| configuration | how it runs | runtime logged | ready | just started: HTTP process RSS | worker process RSS | together | idle: `tenure serve` RSS | worker process when idle |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
  ...(breakdown.length > 0
    ? [
        'What importing each part costs on its own, in a fresh Node process after a forced GC (compiled; median of 3). Parts share dependencies, so they do not add up.',
        '',
        '| imported | RSS | V8 heap used |',
        '| --- | --- | --- |',
        ...breakdown,
        '',
      ]
    : []),
].join('\n')
if (values.append) await appendFile(path.join(ROOT, 'docs', 'benchmarks.md'), table)
console.log(table)
