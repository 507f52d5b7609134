/**
 * Joiner cases: every hire gets a case that is open until every account the policy grants exists,
 * with the start of day one as its deadline. A provisioning that fails for good leaves the person
 * `active` (the other systems work) but keeps the case open and at risk until someone acts.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { apiAs, type ApiCall } from '../helpers/api.ts'

const today = () => new Date().toISOString().slice(0, 10)
const inDays = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10)

interface CaseOut {
  id: string
  kind: string
  externalId: string
  status: string
  health: string
  deadlineAt: string | null
  closedAt: string | null
  systems: Array<{ system: string; status: string; provisionedAt: string | null; atRisk: boolean; lastError: { kind: string } | null }>
}

describe('joiner cases (real engine, sandbox + Slack emulator + manual badge)', () => {
  let t: TestTenure
  let call: ApiCall
  const joinerCase = async (externalId: string): Promise<CaseOut | undefined> => {
    for (const status of ['open', 'closed', 'scheduled', 'cancelled']) {
      const page = await call<{ items: CaseOut[] }>('operator', `/api/v1/cases?kind=joiner&status=${status}&limit=100`)
      const found = page.body.items.find((c) => c.externalId === externalId)
      if (found) return found
    }
    return undefined
  }
  const hire = (id: string, startDate: string, preHire: boolean) =>
    applyHrEvent(t.running.engine, hrEvent('employee.hired', id, { profile: { employeeId: id, firstName: 'Jo', lastName: id }, startDate, preHire }), {
      actor: SYSTEM_ACTOR,
      correlationId: `hire-${id}`,
    })

  before(async () => {
    t = await startTestTenure({
      sandbox: { enabled: true },
      systems: { manual: [{ name: 'badge', title: 'Office badge', ownerGroup: 'facilities' }] },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] }, slack: { channels: ['general'] }, 'manual:badge': {} } }] },
    })
    call = await apiAs(t, ['operator', 'approver'])
  })
  after(async () => {
    await t.stop()
  })

  test('when every account is created and the badge task is attested, then the joiner case closes with each system provisioned', async () => {
    await hire('J1', today(), false)
    await t.until('J1 active', async () => (await t.employeeState('J1')) === 'active')
    // The API systems are done, but nobody has handed out the badge yet.
    const waiting = await t.until('the joiner case with sandbox and Slack ready', async () => {
      const c = await joinerCase('J1')
      return c?.systems.filter((s) => s.provisionedAt).length === 2 ? c : undefined
    })
    assert.equal(waiting.status, 'open')
    assert.deepEqual(waiting.systems.map((s) => s.system), ['manual:badge', 'sandbox', 'slack'])
    assert.equal(waiting.systems.find((s) => s.system === 'manual:badge')?.provisionedAt, null)

    const tasks = await call<{ items: Array<{ id: string; kind: string; employeeExternalId: string }> }>('operator', '/api/v1/tasks?status=open&system=manual:badge')
    const task = tasks.body.items.find((x) => x.employeeExternalId === 'J1' && x.kind === 'provision')
    assert.ok(task, 'a badge task was created for the joiner')
    const done = await call('approver', `/api/v1/tasks/${task.id}/complete`, { method: 'POST', body: JSON.stringify({ note: 'badge 4711 handed over' }) })
    assert.equal(done.status, 200)

    const closed = await joinerCase('J1')
    assert.equal(closed?.status, 'closed')
    assert.equal(closed?.health, 'closed')
    assert.ok(closed?.closedAt)
    assert.ok(closed?.systems.every((s) => s.provisionedAt !== null && !s.atRisk))
    // Its deadline is day one, not a four-hour budget.
    assert.equal(closed?.deadlineAt?.slice(0, 10), today())
  })

  test('when Slack rejects joiners for good, then their joiner cases stay open (at risk before day one, breached after it) until an operator redrives the job', async () => {
    const slack = t.running.emulators!.slack
    slack.kit.injectFault({ method: 'POST', pathIncludes: '/scim/', status: 400, times: Number.POSITIVE_INFINITY })
    const slackOf = (c: CaseOut | undefined) => c?.systems.find((s) => s.system === 'slack')
    try {
      // J2 starts in two days (accounts are created now, within the lead time); J4 started today.
      await hire('J2', inDays(2), true)
      await hire('J4', today(), false)
      const early = await t.until('Slack to fail for good for J2', async () => {
        const c = await joinerCase('J2')
        return slackOf(c)?.status === 'failed' ? c : undefined
      })
      assert.equal(early.status, 'open')
      assert.equal(early.health, 'at_risk', 'a failed provisioning needs a person now, even with day one two days away')
      assert.equal(slackOf(early)?.atRisk, true)
      assert.equal(slackOf(early)?.provisionedAt, null)
      assert.equal(slackOf(early)?.lastError?.kind, 'Permanent')

      // The accounts that work are enabled; one failure does not hold the person back.
      await t.until('J4 active', async () => (await t.employeeState('J4')) === 'active')
      const late = await t.until('Slack to fail for good for J4', async () => {
        const c = await joinerCase('J4')
        return slackOf(c)?.status === 'failed' ? c : undefined
      })
      assert.equal(late.status, 'open')
      assert.equal(late.health, 'breached', 'day one has begun without a Slack account')
      const atRisk = await call<{ items: CaseOut[] }>('operator', '/api/v1/cases?kind=joiner&status=at_risk')
      assert.deepEqual(atRisk.body.items.map((c) => c.externalId), ['J2'])
    } finally {
      slack.kit.clearFaults()
    }

    const dead = await call<{ items: Array<{ id: string; system: string; externalId?: string; data?: unknown }> }>('operator', '/api/v1/jobs/dead-letters?system=slack')
    // The sandbox's own seeded HR people were read at start and met the same fault: only this test's joiners count here.
    const mine = dead.body.items.filter((j) => j.externalId === 'J2' || j.externalId === 'J4')
    assert.equal(mine.length, 2, 'both failed provisionings are in the Slack dead-letter queue')
    for (const job of mine) {
      const redriven = await call('operator', `/api/v1/jobs/dead-letters/${job.id}/redrive`, { method: 'POST', body: JSON.stringify({ reason: 'Slack SCIM fixed' }) })
      assert.equal(redriven.status, 202)
    }
    for (const id of ['J2', 'J4']) {
      const recovered = await t.until(`Slack provisioned for ${id} after the redrive`, async () => {
        const c = await joinerCase(id)
        return slackOf(c)?.provisionedAt ? c : undefined
      })
      assert.equal(slackOf(recovered)?.atRisk, false)
      // The badge is still to be handed out, so onboarding is not finished.
      assert.equal(recovered.status, 'open')
    }
  })

  test('when a future joiner is cancelled before the start, then the joiner case goes from scheduled to cancelled', async () => {
    await hire('J3', inDays(30), true)
    const scheduled = await t.until('J3 scheduled', async () => joinerCase('J3'))
    assert.equal(scheduled.status, 'scheduled')
    assert.equal(scheduled.health, 'scheduled')
    await applyHrEvent(t.running.engine, hrEvent('employee.hire_cancelled', 'J3', {}), { actor: SYSTEM_ACTOR, correlationId: 'cancel-J3' })
    const cancelled = await joinerCase('J3')
    assert.equal(cancelled?.status, 'cancelled')
    // Leaver cases are the default kind and are not mixed with joiners.
    const leavers = await call<{ items: CaseOut[] }>('operator', '/api/v1/cases')
    assert.ok(leavers.body.items.every((c) => c.kind === 'leaver'))
  })
})
