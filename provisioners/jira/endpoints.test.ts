/**
 * The endpoint functions come from jira.js's own modules, not from the `jira.js/cloud` entry point
 * (which loads the whole platform API; see ./endpoints.ts).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import * as nodeModule from 'node:module'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import * as endpoints from './endpoints.ts'
import { JIRA_ENDPOINT_MODULES } from './endpoints.ts'

const run = promisify(execFile)

describe('jira.js endpoint modules', () => {
  // module.registerHooks is Node ≥ 22.15 / 23.5; package.json allows 22.12.
  const noHooks = typeof (nodeModule as { registerHooks?: unknown }).registerHooks !== 'function' && 'needs module.registerHooks'
  test('when the provisioner is imported, then jira.js/cloud and its model index are not loaded', { skip: noHooks }, async () => {
    // A fresh process, so nothing this test process loaded counts. The hook sees every module load.
    const probe = `
      import { registerHooks } from 'node:module'
      const urls = []
      registerHooks({ load(url, context, next) { urls.push(url); return next(url, context) } })
      await import(${JSON.stringify(new URL('./provisioner.ts', import.meta.url).href)})
      console.log(JSON.stringify(urls.filter((u) => u.includes('/node_modules/jira.js/'))))
    `
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: fileURLToPath(new URL('../..', import.meta.url)) })
    const loaded = (JSON.parse(stdout) as string[]).map((url) => url.replace(/^.*\/node_modules\/jira\.js\//, ''))
    for (const { path } of Object.values(JIRA_ENDPOINT_MODULES)) {
      assert.ok(loaded.includes(`dist/cloud/${path.replace('./', '')}`), `${path} not loaded: ${loaded.join(' ')}`)
    }
    assert.ok(!loaded.includes('dist/cloud/index.js'), 'jira.js/cloud entry point loaded')
    assert.ok(!loaded.includes('dist/cloud/api/index.js'), 'jira.js/cloud endpoint index loaded')
    assert.ok(!loaded.includes('dist/cloud/models/index.js'), 'jira.js/cloud model index loaded')
    // The models the three endpoint modules import, not the ~1,000 of the platform API.
    assert.ok(loaded.length < 150, `${loaded.length} jira.js modules loaded`)
  })

  test('when the endpoint functions are compared with jira.js/cloud exports, then they are the same functions', async () => {
    const cloud = (await import('jira.js/cloud')) as unknown as Record<string, unknown>
    const ours = endpoints as unknown as Record<string, unknown>
    const names = Object.values(JIRA_ENDPOINT_MODULES).flatMap((m) => m.functions)
    assert.equal(names.length, 8)
    for (const name of names) {
      assert.equal(typeof ours[name], 'function', name)
      assert.equal(ours[name], cloud[name], `${name} is not jira.js/cloud's ${name}`)
    }
  })
})
