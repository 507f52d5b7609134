/**
 * Run the real `tenure` command as a child process, the way an operator would, and wait on
 * what it prints rather than on timers.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { createTestDatabase } from './db.ts'
import { signStandardWebhook } from '../../src/hr/index.ts'

export const BIN = fileURLToPath(new URL('../../bin/tenure.js', import.meta.url))
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Spawned {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the first match of `pattern` in stdout+stderr, rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export function runTenure(args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  const listeners = new Set<() => void>()
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString()
    for (const l of listeners) l()
  })
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString()
    for (const l of listeners) l()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      for (const l of listeners) l()
      resolve({ code, signal })
    }),
  )
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = (out + err).match(pattern)
          if (match) {
            cleanup()
            resolve(match)
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup()
            reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${out}\n${err}`))
          }
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}:\n${out}\n${err}`))
        }, timeoutMs)
        const cleanup = () => {
          clearTimeout(timer)
          listeners.delete(check)
        }
        listeners.add(check)
        check()
      }),
  }
}

/** PostgreSQL server processes whose command line names this data folder. */
export function postgresProcessesFor(dataDir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (cmd[0]?.endsWith('/postgres') && cmd.some((part) => part.startsWith(dataDir))) pids.push(Number(entry))
    } catch {
      /* process ended while we looked */
    }
  }
  return pids
}

/**
 * `tenure serve` as a newcomer runs it, on a database and a data folder of its own: a sandbox
 * system, a generic HR source signing with `secret`, and a queue quick enough for a test. Every
 * serve started here is killed (if still running) and the database and folder removed by `cleanup`.
 */
export interface ServeSetup {
  env: NodeJS.ProcessEnv
  pool: pg.Pool
  /** `tenure serve`, started and remembered for cleanup. */
  serve(): Spawned
  /** POST a signed `employee.hired` for `id` to the running server at `url`; resolves with the HTTP status. */
  hire(url: string, id: string, profile: { firstName: string; lastName: string }, messageId: string): Promise<number>
  cleanup(): Promise<void>
}

export async function prepareServe(name: string, secret: string): Promise<ServeSetup> {
  const db = await createTestDatabase(name)
  const dir = await mkdtemp(path.join(tmpdir(), `tenure-${name}-`))
  const configFile = path.join(dir, 'tenure.yaml')
  await writeFile(
    configFile,
    [
      'server: { port: 0 }',
      'queue: { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1, retryDelaySeconds: 1, expireInSeconds: 30, superviseIntervalSeconds: 2 }',
      `hr: { generic: { secrets: ['${secret}'] } }`,
      'systems: { sandbox: { enabled: true } }',
      'policy: { rules: [ { name: everyone, grant: { sandbox: { groups: [staff] } } } ] }',
      '',
    ].join('\n'),
  )
  const env = { DATABASE_URL: db.url, TENURE_CONFIG: configFile, TENURE_DATA_DIR: dir, PORT: '0' }
  const pool = new pg.Pool({ connectionString: db.url })
  const runs: Spawned[] = []
  return {
    env,
    pool,
    serve: () => {
      const run = runTenure(['serve'], env)
      runs.push(run)
      return run
    },
    hire: async (url, id, profile, messageId) => {
      const body = Buffer.from(JSON.stringify({ type: 'employee.hired', timestamp: new Date().toISOString(), data: { employeeId: id, profile, startDate: new Date().toISOString().slice(0, 10) } }))
      const res = await fetch(`${url}/webhooks/hr/generic`, { method: 'POST', headers: { 'content-type': 'application/json', ...signStandardWebhook(body, secret, new Date(), messageId) }, body })
      return res.status
    },
    cleanup: async () => {
      for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL')
      await pool.end()
      await db.drop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
