/**
 * `NODE_OPTIONS=--import <this file>` with TENURE_LOADED_PACKAGES_DIR set: every process that
 * inherits the environment (`tenure serve` and the worker process it forks) writes, when it exits,
 * the npm packages it loaded and Tenure's own modules (src/…, provisioners/…, without the .ts/.js
 * extension, from the sources or dist/ alike) to `<dir>/<pid>.json`. A module hook sees `import`
 * and `require` alike (module.registerHooks), where `require.cache` would miss packages loaded as
 * ES modules.
 */
import { registerHooks } from 'node:module'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = process.env.TENURE_LOADED_PACKAGES_DIR
/** The project root (this file is test/helpers/loaded-packages.ts). */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
if (dir) {
  const packages = new Set<string>()
  const modules = new Set<string>()
  registerHooks({
    load(url, context, nextLoad) {
      const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
      if (m) packages.add(m[1]!)
      else if (url.startsWith('file:')) {
        const relative = path.relative(root, fileURLToPath(url)).split(path.sep).join('/')
        const own = /^(?:dist\/)?((?:src|provisioners|state-machines)\/.+)\.(?:ts|js)$/.exec(relative)
        if (own) modules.add(own[1]!)
      }
      return nextLoad(url, context)
    },
  })
  process.on('exit', () => {
    const role = process.argv.some((a) => a.includes('worker-entry')) ? 'worker' : 'serve'
    writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ pid: process.pid, role, packages: [...packages].sort(), modules: [...modules].sort() }))
  })
}
