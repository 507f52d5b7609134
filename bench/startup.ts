/**
 * `npm run bench:startup [-- --runs 3 --idle-seconds 20 --no-append]`: `tenure serve` started both
 * ways, compiled (dist/, `npm run build:server`) and from the TypeScript sources
 * (TENURE_FROM_SOURCE=1), on one PostgreSQL (DATABASE_URL or an embedded one): the time from spawn
 * to /readyz answering 200, and the RSS of the process after it has sat idle. Appends a table to
 * docs/benchmarks.md with the command that produced it.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { startEmbedded } from '../src/db/embedded.ts'
import { silentLogger } from '../src/log.ts'
import { ROOT } from '../src/paths.ts'

const { values } = parseArgs({
  allowNegative: true,
  options: { runs: { type: 'string', default: '3' }, 'idle-seconds': { type: 'string', default: '20' }, append: { type: 'boolean', default: true } },
})
const runs = Number(values.runs)
const idleSeconds = Number(values['idle-seconds'])
if (!existsSync(path.join(ROOT, 'dist', '.built'))) {
  console.error('dist/ is not built: run `npm run build:server` first')
  process.exit(2)
}

let databaseUrl = process.env.DATABASE_URL
let stopDb = async () => {}
let dataDir: string | undefined
if (!databaseUrl) {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenure-startup-'))
  const db = await startEmbedded({ dataDir, log: silentLogger })
  databaseUrl = db.url
  stopDb = db.stop
}

async function rssMB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0)
  return Math.round((kb / 1024) * 10) / 10
}

async function once(fromSource: boolean): Promise<{ readyMs: number; idleRssMB: number; runtime: string }> {
  const started = performance.now()
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tenure.js'), 'serve'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: '0', TENURE_FROM_SOURCE: fromSource ? '1' : '0', TENURE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (out += c.toString()))
  try {
    let url: string | undefined
    while (!url) {
      if (child.exitCode !== null) throw new Error(`tenure serve exited ${child.exitCode}:\n${out.slice(-2000)}`)
      url = /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1]
      if (!url) await new Promise((r) => setTimeout(r, 20))
    }
    while ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) !== 200) await new Promise((r) => setTimeout(r, 20))
    const readyMs = Math.round(performance.now() - started)
    await new Promise((r) => setTimeout(r, idleSeconds * 1000))
    const runtime = /"runtime":"([a-z]+)"/.exec(out)?.[1] ?? '?'
    return { readyMs, idleRssMB: await rssMB(child.pid!), runtime }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const rows: string[] = []
try {
  for (const fromSource of [false, true]) {
    const results = []
    for (let i = 0; i < runs; i++) results.push(await once(fromSource))
    const line = `| ${fromSource ? 'from source (type stripping)' : 'compiled (dist/)'} | ${results[0]!.runtime} | ${median(results.map((r) => r.readyMs))} ms (${results.map((r) => r.readyMs).join(', ')}) | ${median(results.map((r) => r.idleRssMB))} MB (${results.map((r) => r.idleRssMB).join(', ')}) |`
    console.log(line)
    rows.push(line)
  }
} finally {
  await stopDb()
  if (dataDir) await rm(dataDir, { recursive: true, force: true })
}
const table = [
  '',
  `### Start-up and idle memory, compiled or from source (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)})`,
  '',
  `\`npm run bench:startup -- --runs ${runs} --idle-seconds ${idleSeconds}\`: \`tenure serve\` (config/tenure.yaml, no sandbox) on one PostgreSQL; ready = spawn to /readyz 200; RSS of the process after ${idleSeconds} s idle. Median (each run).`,
  '',
  '| how it runs | runtime logged | ready | idle RSS |',
  '| --- | --- | --- | --- |',
  ...rows,
  '',
].join('\n')
if (values.append) await appendFile(path.join(ROOT, 'docs', 'benchmarks.md'), table)
console.log(table)
