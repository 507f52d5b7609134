/**
 * Timers through pg-boss delayed jobs, with pg-boss's TestClock (which moves PostgreSQL's idea of
 * now for the queue) and the engine reading the same clock: a future joiner is provisioned the
 * lead time before day one, created disabled, enabled on the start date in their zone; a
 * future-dated termination waits for its moment, a changed date reschedules it.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { TestClock } from 'pg-boss'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'


describe('scheduled joiners and leavers (controllable clock)', () => {
  let t: TestTenure
  let clock: TestClock
  const T0 = Date.parse('2026-06-01T08:00:00.000Z') // a Monday

  before(async () => {
    clock = new TestClock(T0)
    t = await startTestTenure(
      {
        systems: { sandbox: { enabled: true } },
        policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }] },
        lifecycle: { provisionLeadDays: 3, defaultTimeZone: 'Europe/Berlin' },
      },
      { clock },
    )
  })
  after(async () => {
    await t.stop()
  })

  const jump = async (at: number) => {
    await clock.setTime(at)
    await clock.tick(1500)
  }
  const settle = (what: string, check: () => Promise<boolean>) =>
    t.until(what, async () => {
      await clock.tick(200)
      return check()
    })
  const account = async () => (await t.running.pool.query(`SELECT active FROM sandbox_accounts WHERE employee_external_id = 'F1'`)).rows[0]

  test('when a joiner starts in ten days and leaves later, then every step happens at its moment and not before', async () => {
    const profile = { employeeId: 'F1', firstName: 'Fu', lastName: 'Ture', timeZone: 'Europe/Berlin' }
    // Starts 2026-06-11 (Berlin): provisioned 2026-06-08 00:00 Berlin, enabled 2026-06-11 00:00 Berlin.
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'F1', { profile, startDate: '2026-06-11', preHire: true, occurredAt: new Date(T0).toISOString() }), {
      actor: SYSTEM_ACTOR,
      correlationId: 'hire',
    })
    assert.equal(await t.employeeState('F1'), 'preHire')
    await jump(Date.parse('2026-06-07T21:00:00.000Z')) // 23:00 Berlin, the evening before the lead time
    assert.equal(await t.employeeState('F1'), 'preHire', 'nothing before the provisioning moment')
    assert.equal(await account(), undefined)

    await jump(Date.parse('2026-06-07T22:00:30.000Z')) // 00:00:30 Berlin on 2026-06-08
    await settle('the account to be created, disabled', async () => (await account())?.active === false)
    assert.equal(await t.employeeState('F1'), 'ready')

    await jump(Date.parse('2026-06-10T22:00:30.000Z')) // day one has begun in Berlin
    await settle('the joiner to be enabled on day one', async () => (await t.employeeState('F1')) === 'active')
    assert.equal((await account())?.active, true)

    // HR records a termination effective at the end of 2026-06-30 (date only, Berlin) ...
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'F1', { effectiveDate: '2026-06-30', immediate: false, voluntary: 'voluntary', occurredAt: new Date(clock.now()).toISOString() }), {
      actor: SYSTEM_ACTOR,
      correlationId: 'leave-1',
    })
    assert.equal(await t.employeeState('F1'), 'terminationScheduled')
    // ... then moves it earlier, to the end of 2026-06-20: the timer is rescheduled.
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'F1', { effectiveDate: '2026-06-20', immediate: false, voluntary: 'voluntary', occurredAt: new Date(clock.now() + 1000).toISOString() }), {
      actor: SYSTEM_ACTOR,
      correlationId: 'leave-2',
    })
    await jump(Date.parse('2026-06-20T21:00:00.000Z')) // 23:00 Berlin on the last day: still works
    assert.equal(await t.employeeState('F1'), 'terminationScheduled')
    assert.equal((await account())?.active, true)
    await jump(Date.parse('2026-06-20T22:00:30.000Z')) // midnight after the last day
    await settle('the leaver to be offboarded', async () => (await t.employeeState('F1')) === 'offboarded')
    assert.equal((await account())?.active, false)
    const kase = await t.running.pool.query(`SELECT effective_at, deadline_at FROM cases WHERE kind = 'leaver'`)
    assert.equal(kase.rows[0].effective_at.toISOString(), '2026-06-20T22:00:00.000Z', 'end of the day in Berlin')
    assert.equal(kase.rows.length, 1, 'the first date did not leave a second case')
  })
})
