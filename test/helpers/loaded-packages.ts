/**
 * `NODE_OPTIONS=--import <this file>` with TENURE_LOADED_PACKAGES_DIR set: every process that
 * inherits the environment (`tenure serve` and the worker process it forks) writes, when it exits,
 * the npm packages it loaded to `<dir>/<pid>.json`. A module hook sees `import` and `require`
 * alike (module.registerHooks), where `require.cache` would miss packages loaded as ES modules.
 */
import { registerHooks } from 'node:module'
import { writeFileSync } from 'node:fs'
import path from 'node:path'

const dir = process.env.TENURE_LOADED_PACKAGES_DIR
if (dir) {
  const packages = new Set<string>()
  registerHooks({
    load(url, context, nextLoad) {
      const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
      if (m) packages.add(m[1]!)
      return nextLoad(url, context)
    },
  })
  process.on('exit', () => {
    const role = process.argv.some((a) => a.includes('worker-entry')) ? 'worker' : 'serve'
    writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ pid: process.pid, role, packages: [...packages].sort() }))
  })
}
