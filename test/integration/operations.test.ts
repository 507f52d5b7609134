/**
 * The read and operations API over real HTTP, on a real engine: employees, the dry-run plan,
 * leaver cases, manual tasks closing a system with an attestation, and target reconciliation
 * finding an account re-enabled by hand after its revocation was verified.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, reconcileDeps, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import { reconcileSystem } from '../../src/jobs/target-reconcile.ts'
import { apiAs, type ApiCall } from '../helpers/api.ts'
import { Command } from 'commander'
import { registerDeadLetterCommands } from '../../src/api/jobs-cli.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const today = () => new Date().toISOString().slice(0, 10)

describe('operations API (real engine, sandbox target, manual badge system)', () => {
  let t: TestTenure
  const tokens: Record<string, string> = {}
  const call = async (role: string, path: string, init: RequestInit = {}) => {
    const res = await fetch(`${t.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${tokens[role]}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { items?: Array<Record<string, unknown>> } }
  }

  before(async () => {
    t = await startTestTenure({
      systems: { sandbox: { enabled: true }, manual: [{ name: 'badge', title: 'Office badge', ownerGroup: 'facilities' }] },
      policy: {
        rules: [
          { name: 'everyone', grant: { sandbox: { groups: ['staff'] }, 'manual:badge': {} } },
          { name: 'eng', match: { department: 'Engineering' }, grant: { sandbox: { groups: ['eng'] } } },
        ],
      },
    })
    for (const role of ['operator', 'approver', 'auditor'] as const) {
      tokens[role] = (await createApiToken(t.running.pool, { name: `test-${role}`, role, createdBy: { type: 'system', id: 'test' }, now: new Date() })).token
    }
  })
  after(async () => {
    await t.stop()
  })

  test('when an operator reads employees and the plan, then state, accounts and the policy diff are shown without changing anything', async () => {
    const profile = { employeeId: 'O1', firstName: 'Olga', lastName: 'Ops', department: 'Finance' }
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'O1', { profile, startDate: today(), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: 'h' })
    await t.until('O1 active', async () => (await t.employeeState('O1')) === 'active')
    const list = await call('operator', '/api/v1/employees?q=O1')
    assert.equal(list.status, 200)
    const employee = list.body.items![0]!
    assert.equal(employee.state, 'active')
    const detail = await call('operator', `/api/v1/employees/${employee.id}`)
    assert.equal(detail.status, 200)
    const accounts = detail.body.accounts as Array<{ system: string; status: string }>
    assert.deepEqual(accounts.map((a) => a.system).sort(), ['manual:badge', 'sandbox'])
    assert.ok((detail.body.timeline as unknown[]).length >= 3, 'the timeline has the HR event, transitions and target calls')
    // The profile changes in HR's record but no event was applied: the plan shows the difference.
    await t.running.pool.query(`UPDATE employees SET profile = profile || '{"department":"Engineering"}' WHERE external_id = 'O1'`)
    const plan = await call('operator', `/api/v1/employees/${employee.id}/plan`)
    assert.equal(plan.status, 200)
    const sandbox = (plan.body.systems as Array<{ system: string; add: Record<string, string[]>; rules: string[] }>).find((s) => s.system === 'sandbox')!
    assert.deepEqual(sandbox.add, { groups: ['eng'] })
    assert.deepEqual(sandbox.rules, ['everyone', 'eng'])
    const unchanged = await t.running.pool.query(`SELECT groups FROM sandbox_accounts WHERE employee_external_id = 'O1'`)
    assert.deepEqual(unchanged.rows[0].groups, ['staff'], 'a dry run changes nothing')
  })

  test('when a leaver has a system without an API, then the case waits for the task, and an approver attestation closes it', async () => {
    const profile = { employeeId: 'M1', firstName: 'Manu', lastName: 'Al' }
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'M1', { profile, startDate: today(), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: 'h2' })
    await t.until('M1 active', async () => (await t.employeeState('M1')) === 'active')
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'M1', { immediate: true, effectiveAt: new Date().toISOString(), voluntary: 'voluntary' }), {
      actor: SYSTEM_ACTOR,
      correlationId: 'l2',
    })
    const task = await t.until('the revocation task', async () => {
      const r = await call('approver', '/api/v1/tasks?status=open&system=manual:badge')
      return r.body.items?.find((i) => i.kind === 'revoke' && i.employeeExternalId === 'M1')
    })
    assert.ok(task.deadlineAt, 'the task carries the case deadline')
    const open = await call('operator', '/api/v1/cases?status=open')
    const kase = open.body.items!.find((c) => c.externalId === 'M1')!
    const systems = kase.systems as Array<{ system: string; verifiedAt: string | null }>
    await t.until('sandbox verified', async () => {
      const r = await call('operator', `/api/v1/cases/${kase.id}`)
      return (r.body.systems as Array<{ system: string; verifiedAt: string | null }>).find((s) => s.system === 'sandbox')?.verifiedAt
    })
    assert.equal(systems.find((s) => s.system === 'manual:badge')?.verifiedAt, null)
    assert.equal((await call('operator', `/api/v1/tasks/${task.id}/complete`, { method: 'POST', body: JSON.stringify({ note: 'x' }) })).status, 403, 'operators cannot attest')
    const done = await call('approver', `/api/v1/tasks/${task.id}/complete`, { method: 'POST', body: JSON.stringify({ note: 'Badge deactivated, card returned', evidenceRef: 'door-log-4711' }) })
    assert.equal(done.status, 200)
    assert.equal(done.body.status, 'completed')
    await t.until('the case to close', async () => (await call('operator', `/api/v1/cases/${kase.id}`)).body.status === 'closed')
    const again = await call('approver', `/api/v1/tasks/${task.id}/complete`, { method: 'POST', body: JSON.stringify({ note: 'twice' }) })
    assert.equal(again.status, 409)
    const audit = await sealedQuery(t.running.pool, `SELECT details FROM audit_events WHERE action = 'task.completed'`)
    assert.equal(audit.rows.length, 1)
    assert.equal(audit.rows[0].details.evidenceRef, 'door-log-4711')
  })

  test('when an account is re-enabled by hand after verified revocation, then reconciliation finds it and the case re-opens', async () => {
    const profile = { employeeId: 'R1', firstName: 'Re', lastName: 'Enabled' }
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'R1', { profile, startDate: today(), preHire: false }), { actor: SYSTEM_ACTOR, correlationId: 'h3' })
    await t.until('R1 active', async () => (await t.employeeState('R1')) === 'active')
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'R1', { immediate: true, effectiveAt: new Date().toISOString(), voluntary: 'involuntary' }), {
      actor: SYSTEM_ACTOR,
      correlationId: 'l3',
    })
    await t.until('sandbox revocation verified', async () => {
      const { rows } = await t.running.pool.query(
        `SELECT ea.verified_at, ea.status FROM employee_accounts ea JOIN employees e ON e.id = ea.employee_id WHERE e.external_id = 'R1' AND ea.system = 'sandbox'`,
      )
      return rows[0]?.verified_at && rows[0].status === 'done'
    })
    const badge = await t.until('the badge task', async () => {
      const r = await call('approver', '/api/v1/tasks?status=open&system=manual:badge')
      return r.body.items?.find((i) => i.kind === 'revoke' && i.employeeExternalId === 'R1')
    })
    await call('approver', `/api/v1/tasks/${badge.id}/complete`, { method: 'POST', body: JSON.stringify({ note: 'badge off' }) })
    const caseStatus = async () =>
      (await t.running.pool.query(`SELECT c.status, c.reopened_count FROM cases c JOIN employees e ON e.id = c.employee_id WHERE e.external_id = 'R1' AND c.kind = 'leaver'`)).rows[0]
    await t.until('the case to close', async () => (await caseStatus())?.status === 'closed')
    // An admin switches the account back on in the target system.
    await t.running.pool.query(`UPDATE sandbox_accounts SET active = true, deleted_at = NULL WHERE employee_external_id = 'R1'`)
    const deps = reconcileDeps(t)
    const summary = await reconcileSystem(deps, t.running.registry.get('sandbox')!, 'reconcile-test')
    assert.equal(summary.findings.active_after_revocation, 1)
    assert.equal(summary.reopened, 1)
    const findings = await call('auditor', '/api/v1/reconciliation/findings?kind=active_after_revocation')
    assert.equal(findings.status, 200)
    assert.equal(findings.body.items!.length, 1)
    await t.until('the account to be disabled again', async () => {
      const { rows } = await t.running.pool.query(`SELECT active FROM sandbox_accounts WHERE employee_external_id = 'R1'`)
      return rows[0]?.active === false
    })
    const reopened = await t.until('the case to be re-opened and closed again', async () => {
      const row = await caseStatus()
      return row?.reopened_count >= 1 && row.status === 'closed' ? row : undefined
    })
    assert.equal(reopened.reopened_count, 1, 'the leaver case was re-opened once')
    // The next run no longer sees it: the finding is resolved.
    await reconcileSystem(deps, t.running.registry.get('sandbox')!, 'reconcile-test-2')
    const open = await call('auditor', '/api/v1/reconciliation/findings?kind=active_after_revocation&status=open')
    assert.equal(open.body.items!.length, 0)
  })
})

describe('operator retry of a failed job (real engine, Slack emulator rejecting every SCIM call)', () => {
  let t: TestTenure
  let call: ApiCall
  before(async () => {
    t = await startTestTenure({
      sandbox: { enabled: true },
      policy: { rules: [{ name: 'everyone', grant: { slack: { channels: ['general'] } } }] },
      // Retries spent fast, so a leaver's cut-off reaches its never-give-up rounds within the test.
      queue: { retryLimit: 1, retryDelaySeconds: 0, retryDelayMaxSeconds: 1 },
    })
    call = await apiAs(t, ['operator'])
  })
  after(async () => {
    await t.stop()
  })

  const schema = () => t.running.config.queue.schema
  const slackRow = async (externalId: string) =>
    (
      await t.running.pool.query<{ status: string; attempts: number; case_attempts: number | null }>(
        `SELECT ea.status, ea.attempts, (SELECT cs.attempts FROM case_systems cs JOIN cases c ON c.id = cs.case_id WHERE c.employee_id = e.id AND cs.system = 'slack' ORDER BY c.opened_at DESC LIMIT 1) AS case_attempts
           FROM employee_accounts ea JOIN employees e ON e.id = ea.employee_id WHERE e.external_id = $1 AND ea.system = 'slack'`,
        [externalId],
      )
    ).rows[0]
  /** Slack jobs of this person still to run (created, retrying or active), outside the dead-letter queue. */
  const inFlight = async (externalId: string) =>
    (
      await t.running.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${schema()}.job WHERE data->>'externalId' = $1 AND data->'request'->>'system' = 'slack' AND name NOT LIKE 'dlq.%' AND state IN ('created', 'retry', 'active')`,
        [externalId],
      )
    ).rows[0]!.n
  const deadLetters = async (externalId: string) =>
    (await call<{ items: Array<{ id: string; externalId: string; employeeId: string }> }>('operator', '/api/v1/jobs/dead-letters?system=slack&limit=100')).body.items.filter((i) => i.externalId === externalId)

  test('when an operator clicks "Retry job" twice, then one retry runs, the dead letters do not multiply, attempts count what was tried, and a retry of a done system is a no-op with 409', async () => {
    const slack = t.running.emulators!.slack
    slack.kit.injectFault({ method: 'POST', pathIncludes: '/scim/', status: 400, times: Number.POSITIVE_INFINITY })
    try {
      await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'RT1', { profile: { employeeId: 'RT1', firstName: 'Re', lastName: 'Try' }, startDate: today(), preHire: false }), {
        actor: SYSTEM_ACTOR,
        correlationId: 'h-rt1',
      })
      await t.until('Slack to fail for good', async () => (await slackRow('RT1'))?.status === 'failed' && (await inFlight('RT1')) === 0)
      const first = await slackRow('RT1')
      assert.equal(first?.attempts, 1, 'the rejected provisioning was one attempt')
      assert.equal(first?.case_attempts, 1, 'the joiner case shows the attempt too')
      const [dead] = await deadLetters('RT1')
      assert.ok(dead)

      // A double click: two requests for the same dead letter at once.
      const clicks = await Promise.all(
        [1, 2].map(() => call<{ jobId?: string; error?: { code: string } }>('operator', `/api/v1/jobs/dead-letters/${dead.id}/redrive`, { method: 'POST', body: JSON.stringify({ reason: 'retry' }) })),
      )
      const statuses = clicks.map((c) => c.status).sort()
      assert.equal(statuses[0], 202, JSON.stringify(clicks.map((c) => c.body)))
      assert.ok([404, 409].includes(statuses[1]!), `the second click is refused: ${JSON.stringify(clicks.map((c) => c.body))}`)

      await t.until('the retry to fail again', async () => {
        const r = await slackRow('RT1')
        return r?.status === 'failed' && r.attempts === 2 && (await inFlight('RT1')) === 0 })
      const afterRetry = await deadLetters('RT1')
      assert.equal(afterRetry.length, 1, 'one retry ran and failed: one dead letter, not two')
      assert.equal((await slackRow('RT1'))?.case_attempts, 2)
      const redriven = await sealedQuery(t.running.pool, `SELECT details FROM audit_events WHERE action = 'job.redriven'`)
      assert.equal(redriven.rows.length, 1, 'one redrive on the audit trail')
    } finally {
      slack.kit.clearFaults()
    }

    // Fixed: the remaining dead letter is retried and Slack is provisioned.
    const [last] = await deadLetters('RT1')
    const stale = (await t.running.pool.query(`SELECT data FROM ${schema()}.job WHERE id = $1`, [last!.id])).rows[0]!.data as object
    const ok = await call<{ jobId: string | null; system: string }>('operator', `/api/v1/jobs/dead-letters/${last!.id}/redrive`, { method: 'POST', body: JSON.stringify({ reason: 'Slack SCIM fixed' }) })
    assert.equal(ok.status, 202)
    // The answer names the job the case queued in the same transaction (found through pg-boss's findJobs()).
    assert.ok(ok.body.jobId, `the redrive names the job it queued: ${JSON.stringify(ok.body)}`)
    const queued = (await t.running.pool.query(`SELECT name, data FROM ${schema()}.job WHERE id = $1`, [ok.body.jobId])).rows[0]
    assert.equal(queued?.name, 'system.slack')
    assert.equal(queued?.data.employeeId, (stale as { employeeId: string }).employeeId)
    await t.until('Slack provisioned', async () => ['active', 'provisioned'].includes((await slackRow('RT1'))?.status ?? '') && (await inFlight('RT1')) === 0)
    // Clicked again later: the dead letter was settled, and says so.
    const again = await call<{ error: { code: string; message: string } }>('operator', `/api/v1/jobs/dead-letters/${last!.id}/redrive`, { method: 'POST', body: JSON.stringify({ reason: 'again' }) })
    assert.equal(again.status, 409, JSON.stringify(again.body))
    assert.equal(again.body.error.code, 'dead_letter_settled')
    assert.match(again.body.error.message, /already redriven by /)

    // A dead letter left over for a system that is done: retrying it changes nothing.
    const leftover = await t.running.boss.send('dlq.slack', stale)
    const refused = await call<{ error: { code: string; message: string } }>('operator', `/api/v1/jobs/dead-letters/${leftover}/redrive`, { method: 'POST', body: JSON.stringify({ reason: 'again' }) })
    assert.equal(refused.status, 409)
    assert.equal(refused.body.error.code, 'nothing_to_retry')
    assert.match(refused.body.error.message, /not waiting for a retry \(status \w+\)/)
    assert.equal(await inFlight('RT1'), 0, 'nothing was queued')
  })

  test('when an operator accepts a failed provisioning with a reason, then the dead letter is settled once, the case stops waiting for it, and the decision is audited', async () => {
    const slack = t.running.emulators!.slack
    slack.kit.injectFault({ method: 'POST', pathIncludes: '/scim/', status: 400, times: Number.POSITIVE_INFINITY })
    let dead: { id: string; employeeId: string } | undefined
    try {
      await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'ST1', { profile: { employeeId: 'ST1', firstName: 'Set', lastName: 'Tle' }, startDate: today(), preHire: false }), {
        actor: SYSTEM_ACTOR,
        correlationId: 'h-st1',
      })
      await t.until('Slack to fail for good', async () => (await slackRow('ST1'))?.status === 'failed' && (await inFlight('ST1')) === 0)
      ;[dead] = await deadLetters('ST1')
      assert.ok(dead)
    } finally {
      slack.kit.clearFaults()
    }
    const mine = await call<{ items: Array<{ id: string }>; total: number }>('operator', `/api/v1/jobs/dead-letters?employeeId=${dead.employeeId}&limit=1`)
    assert.deepEqual([mine.body.total, mine.body.items.map((d) => d.id)], [1, [dead.id]], 'the dead letters of one person, with their total')
    const short = await call<{ error: { code: string } }>('operator', `/api/v1/jobs/dead-letters/${dead.id}/settle`, { method: 'POST', body: JSON.stringify({ outcome: 'accepted', reason: 'ok' }) })
    assert.equal(short.status, 400, 'a reason of a few characters is refused')
    const stale = (await t.running.pool.query(`SELECT data FROM ${schema()}.job WHERE id = $1`, [dead.id])).rows[0]!.data as object

    const accepted = await call<{ system: string; outcome: string; caseChanged: boolean }>('operator', `/api/v1/jobs/dead-letters/${dead.id}/settle`, {
      method: 'POST',
      body: JSON.stringify({ outcome: 'accepted', reason: 'Contractor works without Slack until the workspace seat frees up' }),
    })
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body))
    assert.deepEqual([accepted.body.system, accepted.body.outcome, accepted.body.caseChanged], ['slack', 'accepted', true])
    assert.equal((await deadLetters('ST1')).length, 0, 'the dead letter is settled')
    assert.notEqual((await slackRow('ST1'))?.status, 'failed', 'the system no longer waits for a person')
    assert.equal(await inFlight('ST1'), 0, 'accepting queues nothing')
    const audit = await t.running.pool.query<{ actor_type: string; details: { outcome: string; reason: string; deadLetterId: string } }>(
      `SELECT actor_type, details FROM audit_events WHERE action = 'job.settled' AND details->>'deadLetterId' = $1`,
      [dead.id],
    )
    assert.equal(audit.rows.length, 1)
    assert.equal(audit.rows[0]!.actor_type, 'api_token')
    assert.deepEqual([audit.rows[0]!.details.outcome, audit.rows[0]!.details.reason], ['accepted', 'Contractor works without Slack until the workspace seat frees up'])

    // A second click, as settle or as retry: refused, nothing done twice.
    for (const [verb, body] of [
      ['settle', { outcome: 'accepted', reason: 'clicked twice by mistake' }],
      ['redrive', { reason: 'clicked twice' }],
    ] as const) {
      const twice: { status: number; body: { error: { code: string; message: string } } } = await call<{ error: { code: string; message: string } }>('operator', `/api/v1/jobs/dead-letters/${dead.id}/${verb}`, { method: 'POST', body: JSON.stringify(body) })
      assert.equal(twice.status, 409, `${verb}: ${JSON.stringify(twice.body)}`)
      assert.equal(twice.body.error.code, 'dead_letter_settled')
      assert.match(twice.body.error.message, /already accepted by /)
    }
    assert.equal((await sealedQuery(t.running.pool, `SELECT 1 FROM audit_events WHERE action = 'job.settled' AND details->>'deadLetterId' = $1`, [dead.id])).rows.length, 1)

    // A leftover copy for a system that is not failed any more: there is no failure to accept, but it can be dismissed as resolved by hand.
    const leftover = await t.running.boss.send('dlq.slack', stale)
    const refused = await call<{ error: { code: string } }>('operator', `/api/v1/jobs/dead-letters/${leftover}/settle`, {
      method: 'POST',
      body: JSON.stringify({ outcome: 'accepted', reason: 'accepting a leftover copy' }),
    })
    assert.equal(refused.status, 409)
    assert.equal(refused.body.error.code, 'nothing_to_settle')
    const dismissed = await call<{ caseChanged: boolean }>('operator', `/api/v1/jobs/dead-letters/${leftover}/settle`, {
      method: 'POST',
      body: JSON.stringify({ outcome: 'resolved_by_hand', reason: 'duplicate of the failure accepted above' }),
    })
    assert.equal(dismissed.status, 200, JSON.stringify(dismissed.body))
    assert.equal(dismissed.body.caseChanged, false, 'the case is left as it is')
    assert.equal((await deadLetters('ST1')).length, 0)
  })

  test('when an operator uses the CLI, then `tenure jobs dead-letters` lists the failure and `tenure jobs settle` settles it once, a second time exits 1 with the code', async () => {
    const slack = t.running.emulators!.slack
    slack.kit.injectFault({ method: 'POST', pathIncludes: '/scim/', status: 400, times: 1 })
    try {
      await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'CL1', { profile: { employeeId: 'CL1', firstName: 'Cli', lastName: 'Ent' }, startDate: today(), preHire: false }), {
        actor: SYSTEM_ACTOR,
        correlationId: 'h-cl1',
      })
      await t.until('Slack to fail for good', async () => (await slackRow('CL1'))?.status === 'failed' && (await inFlight('CL1')) === 0)
    } finally {
      slack.kit.clearFaults()
    }
    const [dead] = await deadLetters('CL1')
    assert.ok(dead)
    const token = (await createApiToken(t.running.pool, { name: 'cli-operator', role: 'operator', createdBy: { type: 'system', id: 'test' }, now: new Date() })).token
    const out: string[] = []
    const exits: number[] = []
    const program = new Command().exitOverride()
    registerDeadLetterCommands(program.command('jobs'), { env: { TENURE_URL: t.url, TENURE_TOKEN: token }, stdout: (s) => out.push(s), stderr: (s) => out.push(s), exit: (c) => exits.push(c) })
    await program.parseAsync(['node', 'tenure', 'jobs', 'dead-letters', '--system', 'slack'])
    assert.match(out.join(''), new RegExp(`${dead.id}\\s+slack\\s+CL1\\s+provision`))
    out.length = 0
    await program.parseAsync(['node', 'tenure', 'jobs', 'settle', dead.id, '--outcome', 'resolved_by_hand', '--reason', 'Created the Slack user by hand in the admin UI'])
    assert.equal(out.join(''), 'slack: resolved by hand\n')
    assert.deepEqual(exits, [])
    out.length = 0
    await program.parseAsync(['node', 'tenure', 'jobs', 'retry', dead.id, '--reason', 'clicked again'])
    assert.match(out.join(''), /^409 dead_letter_settled: .*already resolved by hand by /)
    assert.deepEqual(exits, [1])
  })

  test('when a leaver cut-off keeps failing and never gives up, then the case counts the attempts made while it goes on', async () => {
    await applyHrEvent(t.running.engine, hrEvent('employee.hired', 'RT2', { profile: { employeeId: 'RT2', firstName: 'Le', lastName: 'Aver' }, startDate: today(), preHire: false }), {
      actor: SYSTEM_ACTOR,
      correlationId: 'h-rt2',
    })
    await t.until('Slack active', async () => (await slackRow('RT2'))?.status === 'active')
    const slack = t.running.emulators!.slack
    slack.kit.injectFault({ pathIncludes: '/scim/', status: 503, times: Number.POSITIVE_INFINITY })
    try {
      await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'RT2', { immediate: true, effectiveAt: new Date().toISOString(), voluntary: 'voluntary' }), {
        actor: SYSTEM_ACTOR,
        correlationId: 'l-rt2',
      })
      // retryLimit 1: two attempts per round; two rounds reported means at least 4 attempts.
      const row = await t.until('attempts counted while the cut-off goes on', async () => {
        const r = await slackRow('RT2')
        return r && r.case_attempts !== null && r.case_attempts >= 4 ? r : undefined
      })
      assert.notEqual(row.status, 'failed', 'a leaver cut-off does not give up')
      assert.equal((await deadLetters('RT2')).length, 0)
    } finally {
      slack.kit.clearFaults()
    }
    await t.until('the cut-off to be verified once Slack answers', async () => ['done', 'verified'].includes((await slackRow('RT2'))?.status ?? ''))
  })
})
