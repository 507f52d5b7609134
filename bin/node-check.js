// Which Node runs Tenure, checked before anything else loads.
//
// Plain JavaScript, no top-level await, nothing newer than what Node 14 parses, on purpose: this file is what
// tells a Node too old for Tenure to step aside, so it must itself run there (Tenure's own
// sources are TypeScript, which Node strips only from 22.6 with a flag and from 22.18 / 23.6
// by default). Every entry point goes through it: `npm start` and `tenure …` (bin/tenure.js),
// `npm test` (node bin/node-check.js scripts/test.ts) and `npm install` (preinstall --warn).
//
//   node bin/node-check.js                 exit 1 with one line if this Node is too old
//   node bin/node-check.js --warn          print that line as a warning, exit 0 (npm install)
//   node bin/node-check.js FILE.ts [ARGS]  check, then run FILE.ts with type stripping on
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** The oldest Node that runs Tenure: require(esm) and stable type stripping behind a flag. */
export const NODE_NEEDED = '22.12.0'
/** What we test on and recommend. */
export const NODE_RECOMMENDED = '24'

function parse(version) {
  return String(version)
    .replace(/^v/, '')
    .split('.')
    .map((n) => Number.parseInt(n, 10) || 0)
}

function older(version, than) {
  const a = parse(version)
  const b = parse(than)
  for (let i = 0; i < 3; i++) {
    if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) < (b[i] || 0)
  }
  return false
}

/**
 * The one line to print when `version` cannot run Tenure, or undefined when it can. It names the
 * version found, the version needed and how to get one.
 */
export function nodeVersionProblem(version = process.versions.node, execPath = process.execPath) {
  if (!older(version, NODE_NEEDED)) return undefined
  return (
    `Tenure needs Node.js ${NODE_NEEDED} or newer (${NODE_RECOMMENDED} LTS recommended), but ${execPath} is Node.js ${String(version).replace(/^v/, '')}: ` +
    `install Node.js ${NODE_RECOMMENDED} from https://nodejs.org/en/download (or \`nvm install ${NODE_RECOMMENDED}\`, \`fnm install ${NODE_RECOMMENDED}\`, \`volta install node@${NODE_RECOMMENDED}\`) and run the command again.`
  )
}

/** Exit 1 with the one line when this Node is too old. */
export function requireSupportedNode() {
  const problem = nodeVersionProblem()
  if (problem) {
    process.stderr.write(`${problem}\n`)
    process.exit(1)
  }
}

/**
 * Run a TypeScript entry point in this process when Node strips types by default, else once
 * more with --experimental-strip-types (22.12 to 22.17, 23.0 to 23.5). The flag is passed on to
 * child processes through execArgv, which scripts/test.ts hands to the test runner.
 */
export async function runTypeScript(file, args) {
  requireSupportedNode()
  if (process.features && process.features.typescript) {
    process.argv = [process.argv[0], file, ...args]
    await import(pathToFileURL(file).href)
    return
  }
  const result = spawnSync(process.execPath, ['--experimental-strip-types', '--no-warnings', ...process.execArgv, file, ...args], { stdio: 'inherit' })
  process.exit(result.status === null ? 1 : result.status)
}

const invokedDirectly = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (invokedDirectly) {
  const args = process.argv.slice(2)
  if (args[0] === '--warn') {
    const problem = nodeVersionProblem()
    if (problem) process.stderr.write(`warning: ${problem}\n`)
  } else if (args.length > 0) {
    runTypeScript(path.resolve(args[0]), args.slice(1)).catch((err) => {
      process.stderr.write(`${(err && err.stack) || err}\n`)
      process.exit(1)
    })
  } else {
    requireSupportedNode()
  }
}
