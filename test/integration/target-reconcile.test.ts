/**
 * Target reconciliation against the Jira emulator over real HTTP. Without a SCIM record Jira is
 * cut off by removing product access, and the Atlassian account stays active: Jira's user list then
 * shows the leaver as active. Reconciliation must judge the account by the rule verify used (read
 * it back) rather than re-open every such case; and it must still catch access granted again by hand.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, reconcileDeps, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { reconcileSystem, type TargetReconcileDeps } from '../../src/jobs/target-reconcile.ts'
import { createQueues, TARGET_RECONCILE_EXPIRE_SECONDS, TARGET_RECONCILE_QUEUE } from '../../src/jobs/queues.ts'
import { JIRA_SANDBOX_CREDENTIALS, JiraEmulator, jiraSandboxConfig } from '../../provisioners/jira/emulator.ts'

const today = () => new Date().toISOString().slice(0, 10)

describe('target reconciliation: Jira without SCIM (cut off by product access)', () => {
  let t: TestTenure
  let jira: JiraEmulator
  let deps: TargetReconcileDeps

  before(async () => {
    jira = new JiraEmulator({ scim: null })
    jira.seedGroup('engineering')
    const { scim: _scim, ...config } = jiraSandboxConfig(await jira.start())
    t = await startTestTenure({
      systems: { sandbox: { enabled: true }, jira: config },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] }, jira: { groups: ['engineering'] } } }] },
    })
    // The API token's own account is the integration user, not an employee.
    deps = reconcileDeps(t, [JIRA_SANDBOX_CREDENTIALS.email])
  })
  after(async () => {
    await t.stop()
    await jira.close()
  })

  const caseRow = async (id: string) =>
    (await t.running.pool.query(`SELECT c.status, c.reopened_count FROM cases c JOIN employees e ON e.id = c.employee_id WHERE e.external_id = $1 AND c.kind = 'leaver'`, [id])).rows[0] as
      | { status: string; reopened_count: number }
      | undefined

  test('when leavers were cut off by product access, then reconciliation finds nothing; when access is granted again by hand, it re-opens that case', async () => {
    // Several leavers, so the run reads back more accounts than it does at once (CONFIRM_CONCURRENCY).
    const ids = Array.from({ length: 12 }, (_, i) => `JR${i}`)
    const accounts = new Map<string, string>()
    await Promise.all(
      ids.map(async (id) => {
        const profile = { employeeId: id, firstName: 'Jira', lastName: `Leaver${id}`, workEmail: `jira.leaver.${id.toLowerCase()}@example.com` }
        await applyHrEvent(t.running.engine, hrEvent('employee.hired', id, { profile, startDate: today(), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: `h-${id}` })
        accounts.set(
          id,
          await t.until(`${id}'s Jira account with product access`, async () => {
            const { rows } = await t.running.pool.query<{ account_id: string | null }>(
              `SELECT ea.account_id FROM employee_accounts ea JOIN employees e ON e.id = ea.employee_id WHERE e.external_id = $1 AND ea.system = 'jira'`,
              [id],
            )
            const accountId = rows[0]?.account_id
            return accountId && (jira.getUser(accountId)?.products.length ?? 0) > 0 && (await t.employeeState(id)) === 'active' ? accountId : undefined
          }, 60_000),
        )
        await applyHrEvent(t.running.engine, hrEvent('employee.terminated', id, { immediate: true, effectiveAt: new Date().toISOString(), voluntary: 'involuntary' }), {
          actor: SYSTEM_ACTOR,
          correlationId: `l-${id}`,
        })
      }),
    )
    await t.until('every leaver case to close', async () => (await Promise.all(ids.map(caseRow))).every((r) => r?.status === 'closed'), 90_000)
    for (const accountId of accounts.values()) {
      const after = jira.getUser(accountId)!
      assert.equal(after.active, true, "without SCIM the Atlassian account stays active: the user list can't show the cut-off")
      assert.deepEqual(after.products, [], 'product access was removed')
    }

    const quiet = await reconcileSystem(deps, t.running.registry.get('jira')!, 'reconcile-jr')
    assert.ok(quiet.accounts >= ids.length, 'the listing saw every account')
    assert.deepEqual(quiet.findings, {}, 'a verified cut-off is not reported as active')
    assert.equal(quiet.reopened, 0)
    for (const id of ids) assert.equal((await caseRow(id))?.reopened_count, 0)

    // An admin gives one leaver Jira Software again, outside Tenure.
    const accountId = accounts.get('JR1')!
    jira.addToGroup(accountId, 'jira-software-users')
    const found = await reconcileSystem(deps, t.running.registry.get('jira')!, 'reconcile-jr-2')
    assert.equal(found.findings.active_after_revocation, 1)
    assert.equal(found.reopened, 1)
    const { rows: findings } = await t.running.pool.query<{ details: { confirmedBy: string; failedChecks: Array<{ name: string }> } }>(
      `SELECT details FROM reconciliation_findings WHERE system = 'jira' AND kind = 'active_after_revocation' AND account_id = $1`,
      [accountId],
    )
    assert.equal(findings.length, 1)
    assert.equal(findings[0]!.details.confirmedBy, 'verify')
    assert.deepEqual(
      findings[0]!.details.failedChecks.map((c) => c.name),
      ['deactivated_or_no_product_access', 'no_groups'],
    )
    await t.until('the case to re-open, cut off again and close', async () => {
      const row = await caseRow('JR1')
      return row && row.reopened_count === 1 && row.status === 'closed' && jira.getUser(accountId)!.products.length === 0
    }, 60_000)
    for (const id of ids.filter((x) => x !== 'JR1')) assert.equal((await caseRow(id))?.reopened_count, 0, `${id} stays closed`)
  })

  test('a reconciliation run may take hours after a layoff: its jobs do not expire after queue.expireInSeconds, also in an existing database', async () => {
    const queue = await t.running.boss.getQueue(TARGET_RECONCILE_QUEUE)
    assert.equal(queue?.expireInSeconds, TARGET_RECONCILE_EXPIRE_SECONDS)
    // A database whose queue was created by an earlier release, with the five-minute expiry:
    await t.running.boss.updateQueue(TARGET_RECONCILE_QUEUE, { expireInSeconds: 300 })
    await createQueues(t.running.boss, t.running.config, t.running.registry.enabledIds())
    assert.equal((await t.running.boss.getQueue(TARGET_RECONCILE_QUEUE))?.expireInSeconds, TARGET_RECONCILE_EXPIRE_SECONDS)
  })
})
