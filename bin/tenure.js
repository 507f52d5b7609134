#!/usr/bin/env node
// The `tenure` command. node-check.js first refuses a Node older than 22.12 in one line. Then:
// - compiled: `npm run build` (run by npm install) compiles the server to dist/; when dist/ is there
//   and newer than every source file, `tenure` runs that JavaScript (faster start, less memory);
// - from source: otherwise (a source edited since the build, or TENURE_FROM_SOURCE=1) it runs the
//   TypeScript sources with Node's type stripping, turned on where this Node does not by default.
import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { requireSupportedNode, runTypeScript } from './node-check.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const compiled = path.join(root, 'dist', 'src', 'cli.js')
const stamp = path.join(root, 'dist', '.built')

/** The newest modification time of a TypeScript source the build compiles. */
function newestSource() {
  let newest = 0
  for (const dir of ['src', 'provisioners', 'state-machines']) {
    for (const entry of readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue
      newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs)
    }
  }
  return newest
}

function useCompiled() {
  if (process.env.TENURE_FROM_SOURCE === '1' || !existsSync(compiled) || !existsSync(stamp)) return false
  return statSync(stamp).mtimeMs >= newestSource()
}

async function main() {
  requireSupportedNode()
  if (useCompiled()) {
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
