/**
 * Stale tasks close themselves: a leaver's open provision task, and a rescinded termination's
 * revocation task, are cancelled in the transaction that made them stale, with the reason on the
 * task and on the audit trail.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { apiAs, type ApiCall } from '../helpers/api.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const today = () => new Date().toISOString().slice(0, 10)

interface Task {
  id: string
  kind: string
  status: string
  employeeExternalId: string
  attestation: { cancelled?: string } | null
}

describe('stale manual tasks close themselves (office badge without an API)', () => {
  let t: TestTenure
  let call: ApiCall
  before(async () => {
    t = await startTestTenure({
      systems: { sandbox: { enabled: true }, manual: [{ name: 'badge', title: 'Office badge', ownerGroup: 'facilities' }] },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] }, 'manual:badge': {} } }] },
    })
    call = await apiAs(t, ['approver'])
  })
  after(async () => {
    await t.stop()
  })

  const badgeTasks = async (externalId: string) =>
    (await call<{ items: Task[] }>('approver', '/api/v1/tasks?system=manual:badge&limit=200')).body.items.filter((x) => x.employeeExternalId === externalId)
  const opts = (c: string) => ({ actor: SYSTEM_ACTOR, correlationId: c })
  const hire = async (id: string) => {
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', id, { profile: { employeeId: id, firstName: 'Sta', lastName: 'Le' }, startDate: today(), preHire: false }), opts(`h-${id}`))
  }
  const terminate = async (id: string) => {
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', id, { immediate: true, effectiveAt: new Date().toISOString(), voluntary: 'voluntary' }), opts(`l-${id}`))
  }
  const cancelledOnAudit = async (taskId: string) =>
    (await sealedQuery<{ details: { reason: string } }>(t.running.pool, `SELECT details FROM audit_events WHERE action = 'task.cancelled' AND details->>'taskId' = $1`, [taskId])).rows

  test("when a joiner leaves before anyone issued their badge, then the open provision task is cancelled with the reason and only the revocation task stays open", async () => {
    await hire('SK1')
    const provision = await t.until('the badge provision task', async () => (await badgeTasks('SK1')).find((x) => x.kind === 'provision' && x.status === 'open'))
    await terminate('SK1')
    const revoke = await t.until('the badge revocation task', async () => (await badgeTasks('SK1')).find((x) => x.kind === 'revoke' && x.status === 'open'))
    assert.ok(revoke)
    const after = (await badgeTasks('SK1')).find((x) => x.id === provision.id)!
    assert.equal(after.status, 'cancelled', 'nobody should issue a badge to a leaver')
    assert.match(after.attestation?.cancelled ?? '', /leaving/)
    const audit = await cancelledOnAudit(provision.id)
    assert.equal(audit.length, 1)
    assert.match(audit[0]!.details.reason, /revocation supersedes it/)
  })

  test('when a termination is rescinded after its badge revocation task was created, then that task is cancelled', async () => {
    await hire('SK2')
    await t.until('SK2 active', async () => (await t.employeeState('SK2')) === 'active')
    await terminate('SK2')
    const revoke = await t.until('the badge revocation task', async () => (await badgeTasks('SK2')).find((x) => x.kind === 'revoke' && x.status === 'open'))
    await applyHrEvent(t.running.engine, hrEvent('employee.termination_rescinded', 'SK2', {}), opts('r-SK2'))
    const after = await t.until('the revocation task to close', async () => {
      const task = (await badgeTasks('SK2')).find((x) => x.id === revoke.id)
      return task?.status === 'cancelled' ? task : undefined
    })
    assert.match(after.attestation?.cancelled ?? '', /rescinded/)
    assert.equal((await cancelledOnAudit(revoke.id)).length, 1)
  })
})
