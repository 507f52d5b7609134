import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildRegistry, catalogFromFacts, systemsConfigSchema, type SystemFacts } from './registry.ts'
import { sandboxSystems } from '../src/sandbox/index.ts'
import { createPool } from '../src/db/pool.ts'
import { silentLogger } from '../src/log.ts'

// Every system kind configured (the sandbox's form), one switched off, one limit overridden, one manual system.
const configured = systemsConfigSchema.parse({
  manual: [{ name: 'badges', title: 'Office badge', ownerGroup: 'facilities' }],
  disabled: ['entra'],
  rateLimits: { jira: { rest: { perMinute: 30, burst: 3 } } },
})
const urls = Object.fromEntries(['google', 'entra', 'slack', 'jira', 'scim'].map((s) => [s, `http://127.0.0.1:9/${s}`]))
const config = sandboxSystems(urls, configured)

test('when the HTTP process builds its catalog from the worker process’s facts, then it lists the same systems, facts and limits as the registry the worker built', async () => {
  // Never connected: building the registry makes no query.
  const pool = createPool({ url: 'postgres://nobody@127.0.0.1:9/none', max: 1, statementTimeoutMs: 1000, log: silentLogger })
  try {
    const registry = await buildRegistry(config, { db: pool })
    // Over IPC: plain data, as structured clone / JSON would carry it.
    const wire = JSON.parse(JSON.stringify(registry.facts())) as SystemFacts[]
    const catalog = catalogFromFacts(config, () => wire)
    assert.deepEqual(catalog.systems, registry.systems)
    assert.deepEqual(catalog.enabledIds(), registry.enabledIds())
    assert.ok(!catalog.enabledIds().includes('entra'), 'a disabled system is listed, not enabled')
    for (const system of registry.enabledIds()) {
      const p = registry.get(system)!
      assert.deepEqual(catalog.get(system), JSON.parse(JSON.stringify({ system: p.system, kind: p.kind, rateLimitBuckets: p.rateLimitBuckets, revocationOrder: p.revocationOrder, unsupportedSteps: p.unsupportedSteps })))
      for (const bucket of [...Object.keys(p.rateLimitBuckets), 'no-such-bucket']) assert.deepEqual(catalog.limitFor(system, bucket), registry.limitFor(system, bucket), `${system}/${bucket}`)
    }
    assert.deepEqual(catalog.limitFor('jira', 'rest'), { perMinute: 30, burst: 3 }, 'a configured limit wins')
  } finally {
    await pool.end()
  }
})

test('when the worker process has not yet reported its facts, then the catalog lists the configured systems and knows no facts', () => {
  const catalog = catalogFromFacts(config, () => undefined)
  assert.deepEqual(catalog.enabledIds(), ['sandbox', 'google', 'slack', 'jira', 'scim:sandbox', 'manual:badges'])
  assert.equal(catalog.get('google'), undefined)
  assert.deepEqual(catalog.facts(), [])
})

test('when a bucket is a sliding minute, then its paced limit stays one, under the headroom and under a configured override alike', () => {
  const google: SystemFacts[] = [{ system: 'google', kind: 'google', rateLimitBuckets: { directory: { perMinute: 2400, burst: 2400, window: 'sliding-minute' }, token: { perMinute: 60, burst: 10 } } }]
  const published = catalogFromFacts(config, () => google)
  assert.deepEqual(published.limitFor('google', 'directory'), { window: 'sliding-minute', perMinute: 2400 * 0.95, burst: 2280 })
  assert.deepEqual(published.limitFor('google', 'token'), { perMinute: 60 * 0.95, burst: 9 })
  const raised = systemsConfigSchema.parse({ rateLimits: { google: { directory: { perMinute: 4800, burst: 4800 } } } })
  assert.deepEqual(catalogFromFacts(sandboxSystems(urls, raised), () => google).limitFor('google', 'directory'), { window: 'sliding-minute', perMinute: 4800, burst: 4800 })
  const bucket = systemsConfigSchema.parse({ rateLimits: { google: { directory: { perMinute: 2400, burst: 100, window: 'token-bucket' } } } })
  assert.deepEqual(catalogFromFacts(sandboxSystems(urls, bucket), () => google).limitFor('google', 'directory'), { window: 'token-bucket', perMinute: 2400, burst: 100 })
})
