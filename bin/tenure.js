#!/usr/bin/env node
// The `tenure` command. node-check.js first refuses a Node older than 22.12 in one line. Then:
// - compiled: `npm run build` (run by npm install) compiles the server to dist/; when dist/ is there
//   and newer than every source file, `tenure` runs that JavaScript (faster start, less memory);
// - from source: otherwise (a source edited since the build, or TENURE_FROM_SOURCE=1) it runs the
//   TypeScript sources with Node's type stripping, turned on where this Node does not by default.
// `tenure serve` and `tenure worker` run with V8 heap flags for their role (src/jobs/heap.ts says
// why): where they are not already given, this process replaces itself (process.execve: same pid,
// no second process) with one that has them, before anything is loaded.
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { compiledIsFresh, root } from './compiled.js'
import { requireSupportedNode, runTypeScript } from './node-check.js'

const compiled = path.join(root, 'dist', 'src', 'cli.js')

/**
 * The heap flags per command: src/jobs/heap.ts SERVE_HEAP_FLAGS and WORKER_HEAP_FLAGS (this file
 * is plain JavaScript and cannot import them; test/integration/serve-worker-process.test.ts and
 * test/integration/idle-memory.test.ts check that the running processes have them).
 */
const HEAP_FLAGS = {
  serve: ['--max-semi-space-size=4', '--heap-growing-percent=50'],
  worker: ['--max-semi-space-size=16', '--heap-growing-percent=25'],
}

/** The command: the first argument that is neither an option nor the value of `-c/--config`. */
function commandOf(args) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-c' || args[i] === '--config') i++
    else if (!args[i].startsWith('-')) return args[i]
  }
  return undefined
}

const flagName = (arg) => arg.replace(/^--/, '').split('=')[0].replaceAll('_', '-')

/**
 * Start again with the command's heap flags where some are missing. An operator's flag of the same
 * name (command line or NODE_OPTIONS) wins and is kept. TENURE_HEAP_FLAGS lists what was added: it
 * stops a second re-exec, and src/worker-process.ts keeps those flags from the worker process.
 * Nothing happens where process.execve is missing (Node before 22.15, Windows).
 */
function withHeapFlags(args) {
  const flags = HEAP_FLAGS[commandOf(args)]
  if (!flags || typeof process.execve !== 'function' || process.env.TENURE_HEAP_FLAGS !== undefined) return
  const given = new Set([...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName))
  const missing = flags.filter((f) => !given.has(flagName(f)))
  if (missing.length === 0) return
  process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    ...process.env,
    TENURE_HEAP_FLAGS: missing.join(' '),
  })
}

async function main() {
  requireSupportedNode()
  withHeapFlags(process.argv.slice(2))
  if (compiledIsFresh(compiled)) {
    process.argv = [process.argv[0], compiled, ...process.argv.slice(2)]
    await import(pathToFileURL(compiled).href)
    return
  }
  await runTypeScript(path.join(root, 'src', 'cli.ts'), process.argv.slice(2))
}

main().catch((err) => {
  process.stderr.write(`tenure: ${(err && err.stack) || err}\n`)
  process.exit(1)
})
