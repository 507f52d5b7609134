/**
 * Two HR sources that both have an employee 1002 (a BambooHR employee and a contractor sent in the
 * generic format). Before job, timer and account keys carried the source, the contractor's jobs
 * took the ids of the employee's (pg-boss swallowed them as duplicates): the contractor stayed in
 * provisioning, and when the employee left, every system stayed "revoking" with no job queued while
 * the Slack account stayed active. Checked here from Slack's side (the emulator's own users).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { SlackEmulator, slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import type { CanonicalEvent } from '../../state-machines/events.ts'

const today = () => new Date().toISOString().slice(0, 10)

describe('two HR sources sharing an employee id', () => {
  let t: TestTenure
  let slack: SlackEmulator

  before(async () => {
    slack = new SlackEmulator()
    const url = await slack.start()
    t = await startTestTenure({
      systems: { sandbox: { enabled: true }, slack: slackSandboxConfig(url) },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] }, slack: {} } }] },
    })
  })
  after(async () => {
    await t.stop()
    await slack.close()
  })

  const apply = (event: CanonicalEvent) => applyHrEvent(t.running.engine, event, { actor: SYSTEM_ACTOR, correlationId: `${event.source}-${event.type}` })
  const slackUser = (email: string) => slack.findUserByEmail(email)
  const keys = async (source: string) =>
    (
      await t.running.pool.query<{ account_key: string }>(`SELECT account_key FROM employees WHERE source = $1 AND external_id = '1002'`, [source])
    ).rows[0]?.account_key

  test('when BambooHR 1002 and generic 1002 are hired and leave, then each has its own account and each leaver is cut off in Slack', async () => {
    const employee = { employeeId: '1002', firstName: 'Bea', lastName: 'Bamboo', workEmail: 'bea.bamboo@example.com' }
    const contractor = { employeeId: '1002', firstName: 'Gene', lastName: 'Generic', workEmail: 'gene.generic@example.com' }
    await apply({ ...hrEvent('employee.hired', '1002', { profile: employee, startDate: today(), preHire: false }), source: 'bamboohr' })
    await t.until('BambooHR 1002 active', async () => (await t.employeeState('1002', 'bamboohr')) === 'active')

    await apply(hrEvent('employee.hired', '1002', { profile: contractor, startDate: today(), preHire: false }))
    await t.until('generic 1002 active', async () => (await t.employeeState('1002', 'generic')) === 'active')
    assert.equal(await keys('bamboohr'), '1002', 'the first employee with the id keeps it in the targets')
    assert.equal(await keys('generic'), 'generic:1002', 'the second is qualified by its source')
    const bea = slackUser('bea.bamboo@example.com')
    const gene = slackUser('gene.generic@example.com')
    assert.ok(bea && gene && bea.id !== gene.id, 'two people, two Slack accounts')
    assert.equal(bea.externalId, '1002')
    assert.equal(gene.externalId, 'generic:1002')

    await apply(hrEvent('employee.terminated', '1002', { effectiveAt: new Date().toISOString(), immediate: true, voluntary: 'involuntary' }))
    await t.until('generic 1002 offboarded', async () => (await t.employeeState('1002', 'generic')) === 'offboarded', 60_000)
    assert.equal(slackUser('gene.generic@example.com')?.active, false, "the contractor's account is cut off")
    assert.equal(slackUser('bea.bamboo@example.com')?.active, true, "the employee's account is untouched")

    await apply({ ...hrEvent('employee.terminated', '1002', { effectiveAt: new Date().toISOString(), immediate: true, voluntary: 'involuntary' }), source: 'bamboohr' })
    await t.until('BambooHR 1002 offboarded', async () => (await t.employeeState('1002', 'bamboohr')) === 'offboarded', 60_000)
    assert.equal(slackUser('bea.bamboo@example.com')?.active, false, "the employee's account is cut off")
    const open = await t.running.pool.query(`SELECT count(*)::int AS n FROM cases WHERE kind = 'leaver' AND status <> 'closed'`)
    assert.equal(open.rows[0].n, 0)
  })
})
