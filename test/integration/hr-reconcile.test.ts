/**
 * A leaver whose webhook is lost must still lose access: the reconciliation poll reads the HR
 * roster (here HiBob's API, answered by its emulator), finds what no webhook delivered, and the
 * four-hour clock runs from the HR effective moment, not from when the poll noticed.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { startHrEmulators, type HrEmulators } from '../../src/hr/emulators/index.ts'
import { reconcileSource } from '../../src/jobs/hr-reconcile.ts'
import { silentLogger } from '../../src/log.ts'

describe('HR reconciliation poll (HiBob emulator, no webhooks)', () => {
  let t: TestTenure
  let hr: HrEmulators
  before(async () => {
    hr = await startHrEmulators({ employees: [] })
    t = await startTestTenure({
      hr: { hibob: hr.config.hibob },
      systems: { sandbox: { enabled: true } },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }] },
    })
  })
  after(async () => {
    await t.stop()
    await hr.close()
  })

  const poll = () =>
    reconcileSource({ pool: t.running.pool, boss: t.running.boss, log: silentLogger, sources: t.running.hrSources, now: () => new Date() }, 'hibob', 'poll-test')

  test('when a termination never arrives by webhook, then the poll finds it and the deadline counts from the HR effective moment', async () => {
    const today = new Date().toISOString().slice(0, 10)
    hr.hibob.upsertEmployee({ id: 'HB-1', firstName: 'Nora', lastName: 'Poll', startDate: '2025-01-06', status: 'active', timeZone: 'Europe/Berlin' })
    const first = await poll()
    assert.equal(first.byType['employee.hired'], 1, 'a joiner no webhook announced is found too')
    await t.until('the joiner to be active', async () => (await t.employeeState('HB-1', 'hibob')) === 'active')
    assert.equal((await poll()).events, 0, 'a second poll of the same roster finds nothing new')

    // HR records the termination (effective yesterday, the webhook was lost).
    const yesterday = new Date(Date.now() - 24 * 3600_000).toISOString().slice(0, 10)
    hr.hibob.terminate('HB-1', yesterday, { type: 'involuntary' })
    const found = await poll()
    assert.equal(found.byType['employee.terminated'], 1)
    await t.until('the leaver to be offboarded', async () => (await t.employeeState('HB-1', 'hibob')) === 'offboarded')
    const events = await t.running.pool.query(`SELECT type, found_by FROM hr_events WHERE employee_external_id = 'HB-1' ORDER BY received_at`)
    assert.deepEqual(
      events.rows.map((r) => `${r.type}:${r.found_by}`),
      ['employee.hired:reconciliation', 'employee.terminated:reconciliation'],
    )
    const kase = await t.running.pool.query(`SELECT effective_at, deadline_at, late_by_hr_seconds FROM cases WHERE kind = 'leaver'`)
    const effective = kase.rows[0].effective_at as Date
    // Date-only termination: the end of that day in the employee's zone (Berlin), long before now.
    assert.ok(effective.getTime() < Date.now(), 'the clock started at the HR moment, in the past')
    assert.ok(effective.toISOString().startsWith(yesterday) || effective.toISOString().startsWith(today))
    assert.equal(kase.rows[0].deadline_at.getTime() - effective.getTime(), 4 * 3600_000)
    assert.ok(kase.rows[0].late_by_hr_seconds > 0, 'the lateness is recorded')
    const account = await t.running.pool.query(`SELECT active FROM sandbox_accounts WHERE employee_external_id = 'HB-1'`)
    assert.equal(account.rows[0].active, false)
  })
})
