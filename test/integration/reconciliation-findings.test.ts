/**
 * Target reconciliation against the Slack emulator over real HTTP, and the findings lifecycle over
 * the API on a real engine and PostgreSQL: a policy-granted user group is not excess access (the
 * listing reports user groups by id under `groups`, the policy names them by handle under
 * `userGroups`), a group added by hand is; findings are acknowledged (and raised again when the
 * access changes), orphan accounts linked to employees, and a leaver's linked account cut off.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, reconcileDeps, type TestTenure } from '../helpers/tenure.ts'
import { apiAs, type ApiCall } from '../helpers/api.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { reconcileSystem, type TargetReconcileDeps } from '../../src/jobs/target-reconcile.ts'
import { SlackEmulator, slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import { TransientError } from '../../provisioners/errors.ts'
import type { Provisioner } from '../../provisioners/types.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const today = () => new Date().toISOString().slice(0, 10)

interface FindingBody {
  id: string
  kind: string
  accountId: string
  employeeId: string | null
  status: string
  details: { beyondPolicy?: Record<string, string[]> }
  acknowledgement: { by: string; reason: string } | null
  raisedAgainAt: string | null
  link: { employeeId: string } | null
  cutoff: { by: string; reason: string } | null
}
interface ErrorBody {
  error: { code: string; message: string }
}

describe('reconciliation findings: Slack user groups, acknowledge, link, cut off', () => {
  let t: TestTenure
  let slack: SlackEmulator
  let deps: TargetReconcileDeps
  let call: ApiCall
  let engId: string
  let e1Account: string
  let excessFinding: FindingBody

  const run = (label: string) => reconcileSystem(deps, t.running.registry.get('slack')!, label)
  const findings = async (query: string) => (await call<{ items: FindingBody[] }>('auditor', `/api/v1/reconciliation/findings?${query}`)).body.items
  const post = <T = FindingBody>(id: string, action: string, body: unknown, role: 'operator' | 'auditor' = 'operator') =>
    call<T>(role, `/api/v1/reconciliation/findings/${id}/${action}`, { method: 'POST', body: JSON.stringify(body) })
  const auditCount = async (action: string, findingId: string) =>
    (await sealedQuery(t.running.pool, `SELECT 1 FROM audit_events WHERE action = $1 AND details->>'findingId' = $2`, [action, findingId])).rowCount
  const employeeId = async (externalId: string) =>
    (await t.running.pool.query<{ id: string }>(`SELECT id FROM employees WHERE external_id = $1`, [externalId])).rows[0]!.id

  before(async () => {
    slack = new SlackEmulator()
    engId = slack.seedUserGroup({ handle: 'eng', name: 'Engineering' })
    const url = await slack.start()
    t = await startTestTenure({
      systems: { sandbox: { enabled: true }, slack: slackSandboxConfig(url) },
      policy: {
        rules: [
          { name: 'everyone', grant: { sandbox: { groups: ['staff'] } } },
          // By handle, as people write policies: the listing shows the group's id.
          { name: 'engineering', match: { department: 'Engineering' }, grant: { slack: { userGroups: ['@eng'] } } },
        ],
      },
    })
    // The workspace's primary owner installed the SCIM app; not an employee.
    deps = reconcileDeps(t, ['owner@example.com'])
    call = await apiAs(t, ['operator', 'auditor'])

    const profile = { employeeId: 'E1', firstName: 'Eng', lastName: 'One', department: 'Engineering', workEmail: 'eng.one@example.com' }
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'E1', { profile, startDate: today(), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: 'h-e1' })
    e1Account = await t.until('E1 in the policy-granted user group', async () => {
      const { rows } = await t.running.pool.query<{ account_id: string | null }>(
        `SELECT ea.account_id FROM employee_accounts ea JOIN employees e ON e.id = ea.employee_id WHERE e.external_id = 'E1' AND ea.system = 'slack'`,
      )
      const id = rows[0]?.account_id
      return id && slack.userGroupMembers(engId).includes(id) && (await t.employeeState('E1')) === 'active' ? id : undefined
    }, 60_000)
  })
  after(async () => {
    await t.stop()
    await slack.close()
  })

  test('when a joiner is in a user group the policy grants, then reconciliation records no excess access; when a group is added by hand, then exactly one finding', async () => {
    const quiet = await run('slack-1')
    assert.equal(quiet.findings.excess_access, undefined, 'a policy-granted user group is not access beyond policy')
    assert.deepEqual(await findings('kind=excess_access&status=all'), [])

    const adminsId = slack.seedUserGroup({ handle: 'admins', users: [e1Account] })
    const found = await run('slack-2')
    assert.equal(found.findings.excess_access, 1)
    const open = await findings('kind=excess_access')
    assert.equal(open.length, 1)
    const counted = await call<{ total: number; nextCursor: string | null }>('auditor', '/api/v1/reconciliation/findings?kind=excess_access&limit=1')
    assert.deepEqual([counted.body.total, counted.body.nextCursor], [1, null], 'the page says how many there are in all')
    excessFinding = open[0]!
    assert.equal(excessFinding.accountId, e1Account)
    assert.equal(excessFinding.employeeId, await employeeId('E1'))
    assert.deepEqual(excessFinding.details.beyondPolicy, { groups: [adminsId] }, 'only the group added by hand, by the id the listing shows')
  })

  test('when an operator acknowledges a finding with a reason, then it is acknowledged once, stays quiet while the access is unchanged, and is raised again when it changes', async () => {
    assert.ok(excessFinding, 'the previous test found the excess access')
    const id = excessFinding.id
    assert.equal((await post(id, 'acknowledge', { reason: 'admins group approved by the CTO' }, 'auditor')).status, 403, 'auditors read, they do not act')
    const short = await post<ErrorBody>(id, 'acknowledge', { reason: '  too short ' })
    assert.equal(short.status, 400, 'the reason is trimmed and needs 10 characters, as the schema says')

    const ack = await post(id, 'acknowledge', { reason: 'admins group approved by the CTO, ticket SEC-42' })
    assert.equal(ack.status, 200)
    assert.equal(ack.body.status, 'acknowledged')
    assert.equal(ack.body.acknowledgement?.reason, 'admins group approved by the CTO, ticket SEC-42')
    const again = await post<ErrorBody>(id, 'acknowledge', { reason: 'admins group approved by the CTO, ticket SEC-42' })
    assert.equal(again.status, 409)
    assert.equal(again.body.error.code, 'already_acknowledged')
    assert.equal(await auditCount('reconciliation.finding_acknowledged', id), 1, 'a second acknowledge writes no second audit entry')
    const [entry] = (await sealedQuery(t.running.pool, `SELECT actor_type, actor_id FROM audit_events WHERE action = 'reconciliation.finding_acknowledged'`)).rows
    assert.equal(entry.actor_type, 'api_token', 'audited with the person who acted')

    // The next run sees the same access: the finding stays acknowledged and out of the open list.
    await run('slack-3')
    assert.deepEqual(await findings('kind=excess_access'), [])
    const acknowledged = await findings('kind=excess_access&status=acknowledged')
    assert.equal(acknowledged.length, 1)
    assert.equal(acknowledged[0]!.id, id)
    assert.equal(await auditCount('reconciliation.finding_raised_again', id), 0)

    // Someone adds a further group by hand: the acknowledgement no longer covers it.
    slack.seedUserGroup({ handle: 'ops', users: [e1Account] })
    await run('slack-4')
    const raised = await findings('kind=excess_access')
    assert.equal(raised.length, 1)
    assert.equal(raised[0]!.id, id, 'the same finding, raised again')
    assert.ok(raised[0]!.raisedAgainAt)
    assert.equal(raised[0]!.details.beyondPolicy?.groups?.length, 2)
    assert.equal(await auditCount('reconciliation.finding_raised_again', id), 1)

    // Two operators acknowledge the raised finding at the same moment: one wins, one is told.
    const both = await Promise.all([
      post(id, 'acknowledge', { reason: 'ops group is the on-call rota, SEC-43' }),
      post(id, 'acknowledge', { reason: 'ops group is the on-call rota, SEC-43' }),
    ])
    assert.deepEqual(both.map((r) => r.status).sort(), [200, 409])
    assert.equal(await auditCount('reconciliation.finding_acknowledged', id), 2, 'the first acknowledgement and this one, not three')
  })

  test('when the policy cannot be put in the listing\'s vocabulary, then the run still judges the rest and keeps open excess findings instead of resolving them', async () => {
    await t.running.pool.query(`UPDATE sandbox_accounts SET groups = array_append(groups, 'finance') WHERE employee_external_id = 'E1'`)
    const sandbox = t.running.registry.get('sandbox')!
    const seen = await reconcileSystem(deps, sandbox, 'sandbox-1')
    assert.equal(seen.findings.excess_access, 1)
    // The translation fails (in Slack: usergroups.list refused): unknown, not "no excess".
    const blind: Provisioner = {
      ...sandbox,
      listedAccess: async () => {
        throw new TransientError('usergroups.list failed', { system: 'sandbox', operation: 'usergroups.list' })
      },
    }
    const unjudged = await reconcileSystem(deps, blind, 'sandbox-2')
    assert.ok(unjudged.accessUnjudged >= 1)
    const open = (await findings('kind=excess_access&system=sandbox'))
    assert.equal(open.length, 1, 'the excess finding stays open')
    assert.deepEqual(open[0]!.details.beyondPolicy, { groups: ['finance'] })
  })

  test('when an orphan account is linked to an active employee, then it is linked once and the next run maps the account to them', async () => {
    const second = slack.seedUser({ userName: 'eng.one.2', email: 'eng.one.2@example.com', givenName: 'Eng', familyName: 'One' })
    await run('slack-5')
    const orphan = (await findings('kind=orphan_account')).find((f) => f.accountId === second)
    assert.ok(orphan, 'a hand-made account is an orphan')
    assert.equal(orphan.employeeId, null)

    const e1 = await employeeId('E1')
    assert.equal((await post(orphan.id, 'link', { employeeId: e1, reason: ' 2nd login ' })).status, 400, 'a reason of 10 characters at least')
    const linked = await post(orphan.id, 'link', { employeeId: e1, reason: 'second login for the on-call rota' })
    assert.equal(linked.status, 200)
    assert.equal(linked.body.link?.employeeId, e1)
    assert.equal(linked.body.employeeId, e1)
    const again = await post<ErrorBody>(orphan.id, 'link', { employeeId: e1, reason: 'second login for the on-call rota' })
    assert.equal(again.status, 409)
    assert.equal(again.body.error.code, 'already_linked')
    assert.equal(await auditCount('reconciliation.account_linked', orphan.id), 1)
    const notOrphan = await post<ErrorBody>(excessFinding.id, 'link', { employeeId: e1, reason: 'second login for the on-call rota' })
    assert.equal(notOrphan.body.error.code, 'not_an_orphan')

    // E1 is active and the account holds nothing beyond E1's policy: no finding any more.
    const next = await run('slack-6')
    assert.equal(next.findings.orphan_account ?? 0, 0)
    assert.deepEqual(await findings(`status=unresolved&employeeId=${e1}&kind=orphan_account`), [])
    const resolved = (await findings('status=resolved&kind=orphan_account')).find((f) => f.id === orphan.id)
    assert.ok(resolved, 'the orphan finding is resolved')
  })

  test("when an orphan linked to a leaver is cut off, then the leaver's lifecycle deactivates it, once; other findings are refused with the reason", async () => {
    const profile = { employeeId: 'L1', firstName: 'Lea', lastName: 'Ver', workEmail: 'lea.ver@example.com' }
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'L1', { profile, startDate: today(), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: 'h-l1' })
    await t.until('L1 active', async () => (await t.employeeState('L1')) === 'active', 60_000)
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'L1', { immediate: true, effectiveAt: new Date().toISOString(), voluntary: 'involuntary' }), {
      actor: SYSTEM_ACTOR,
      correlationId: 'l-l1',
    })
    const caseRow = async () =>
      (await t.running.pool.query(`SELECT c.status, c.reopened_count FROM cases c JOIN employees e ON e.id = c.employee_id WHERE e.external_id = 'L1' AND c.kind = 'leaver'`)).rows[0] as
        | { status: string; reopened_count: number }
        | undefined
    await t.until('the leaver case to close', async () => (await caseRow())?.status === 'closed', 60_000)

    // A Slack account someone made by hand for L1, outside Tenure (the policy gives L1 no Slack).
    const handMade = slack.seedUser({ userName: 'lea.ver', email: 'lea.ver.slack@example.com', givenName: 'Lea', familyName: 'Ver' })
    await run('slack-7')
    const orphan = (await findings('kind=orphan_account')).find((f) => f.accountId === handMade)!
    assert.ok(orphan)
    const unlinked = await post<ErrorBody>(orphan.id, 'cutoff', { reason: 'leaver account made by hand' })
    assert.equal(unlinked.status, 409)
    assert.equal(unlinked.body.error.code, 'not_linked')
    const l1 = await employeeId('L1')
    assert.equal((await post(orphan.id, 'link', { employeeId: l1, reason: 'made by hand for the offsite' })).status, 200)

    // The next run maps it to the leaver: still a finding, now with its owner.
    await run('slack-8')
    const owned = (await findings('kind=orphan_account')).find((f) => f.accountId === handMade)!
    assert.equal(owned.id, orphan.id)
    assert.equal(owned.employeeId, l1)

    const notLeaver = await post<ErrorBody>(excessFinding.id, 'cutoff', { reason: 'remove the admins group now' })
    assert.equal(notLeaver.status, 409)
    assert.equal(notLeaver.body.error.code, 'not_a_leaver')
    assert.equal(await auditCount('reconciliation.cutoff_requested', excessFinding.id), 0)

    const cut = await post(orphan.id, 'cutoff', { reason: 'leaver still has a Slack login' })
    assert.equal(cut.status, 200, JSON.stringify(cut.body))
    assert.equal(cut.body.cutoff?.reason, 'leaver still has a Slack login')
    const again = await post<ErrorBody>(orphan.id, 'cutoff', { reason: 'leaver still has a Slack login' })
    assert.equal(again.status, 409)
    assert.equal(again.body.error.code, 'cutoff_already_requested')
    assert.equal(await auditCount('reconciliation.cutoff_requested', orphan.id), 1)

    await t.until('the hand-made account to be deactivated by the leaver lifecycle', async () => slack.getUser(handMade)?.active === false, 60_000)
    await t.until('the case to re-open and close again', async () => {
      const row = await caseRow()
      return row && row.reopened_count === 1 && row.status === 'closed'
    }, 60_000)
    await run('slack-9')
    assert.ok((await findings('status=resolved&kind=orphan_account')).some((f) => f.id === orphan.id), 'the next run no longer sees it active')
  })
})
