// Whether the compiled server in dist/ may run: `npm run build` compiled it (dist/.built) after the
// last change to any TypeScript source it compiles, and TENURE_FROM_SOURCE=1 does not ask for the
// sources. Shared by bin/tenure.js and the benchmark (bench/harness.ts), so both run what
// production runs. Plain JavaScript: bin/tenure.js runs before type stripping is known to work.
import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('..', import.meta.url))
const stamp = path.join(root, 'dist', '.built')

/** The newest modification time of a TypeScript source the build compiles (tsconfig.build.json's include). */
function newestSource() {
  let newest = 0
  for (const dir of ['src', 'provisioners', 'state-machines', 'bench']) {
    for (const entry of readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue
      if (dir === 'bench' && entry.name !== 'tenure-process.ts') continue
      newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs)
    }
  }
  return newest
}

/** True when `file` (a path under dist/) exists and dist/ is newer than every source. */
export function compiledIsFresh(file) {
  if (process.env.TENURE_FROM_SOURCE === '1' || !existsSync(file) || !existsSync(stamp)) return false
  return statSync(stamp).mtimeMs >= newestSource()
}
