/**
 * workers.systemConcurrency: one system's queue runs as many jobs at once as configured for it,
 * not workers.concurrency. Counted where it shows: pg-boss's active jobs of the queue while the
 * app answers slowly.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { ScimEmulator, scimSandboxConfig } from '../../provisioners/scim/emulator.ts'

const JOINERS = 8
const today = () => new Date().toISOString().slice(0, 10)

let t: TestTenure
let emu: ScimEmulator
before(async () => {
  emu = new ScimEmulator({ rateLimits: { requests: null } })
  const url = await emu.start()
  // Every request takes about 400 ms: a provision (a few calls in a row) holds its worker for a second or more.
  emu.kit.setLatency({ medianMs: 400, sigma: 0.01 })
  t = await startTestTenure({
    systems: { scim: [scimSandboxConfig(url, 'app')] },
    policy: { rules: [{ name: 'everyone', grant: { 'scim:app': {} } }] },
    workers: { concurrency: 1, systemConcurrency: { 'scim:app': 4 } },
  })
})
after(async () => {
  await t.stop()
  await emu.close()
})

test("when workers.systemConcurrency names a system, then its queue runs that many jobs at once, not workers.concurrency", async () => {
  const ids = Array.from({ length: JOINERS }, (_, i) => `SC${String(i).padStart(3, '0')}`)
  await Promise.all(
    ids.map((id) =>
      applyHrEvent(t.running.engine, hrEvent('employee.hired', id, { profile: { employeeId: id, firstName: 'Con', lastName: `Current${id}`, workEmail: `${id.toLowerCase()}@example.com` }, startDate: today(), preHire: false }), {
        actor: SYSTEM_ACTOR,
        correlationId: `hire-${id}`,
      }),
    ),
  )
  let most = 0
  await t.until(
    'every joiner active',
    async () => {
      const active = await t.running.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'system.scim/app' AND state = 'active'`)
      most = Math.max(most, active.rows[0]!.n)
      const done = await t.running.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM employees WHERE state = 'active'`)
      return done.rows[0]!.n === JOINERS
    },
    120_000,
  )
  assert.ok(most > 1, `at most ${most} job(s) of the queue ran at once`)
  assert.ok(most <= 4, `${most} jobs ran at once, more than the 4 configured`)
})
