/**
 * The four-hour SLA with a controllable clock: pg-boss's TestClock moves time for the queue (in
 * JavaScript and in PostgreSQL) and the engine reads the same clock, so four hours pass in seconds.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { TestClock } from 'pg-boss'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { SANDBOX_SLACK_CHANNELS } from '../../src/notify/sandbox.ts'
import { startSmtpSink, type SmtpSink } from '../../src/notify/smtp-sink.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const HOUR = 3600_000

describe('four-hour revocation SLA (controllable clock, Slack emulator down)', () => {
  let t: TestTenure
  let clock: TestClock
  let smtp: SmtpSink
  const T0 = Date.parse('2026-03-02T09:00:00.000Z')

  before(async () => {
    clock = new TestClock(T0)
    smtp = await startSmtpSink()
    t = await startTestTenure(
      {
        sandbox: { enabled: true },
        notify: {
          email: {
            host: '127.0.0.1',
            port: smtp.port,
            requireTLS: false,
            from: 'Tenure <tenure@example.com>',
            approvers: ['approvers@example.com'],
            owners: { slack: ['slack-admins@example.com'] },
            fallback: ['it-oncall@example.com'],
          },
        },
        policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] }, slack: { channels: ['general'] } } }] },
      },
      { clock },
    )
  })
  after(async () => {
    await t.stop()
    await smtp.close()
  })

  /** Jump the clock and let every timer that the jump passed fire once (polls, delayed jobs). */
  async function advanceTo(at: number): Promise<void> {
    await clock.setTime(at)
    await clock.tick(1500)
  }

  const escalationSteps = async () =>
    (
      await t.running.pool.query<{ step: string }>(
        `SELECT ce.step FROM case_escalations ce JOIN cases c ON c.id = ce.case_id JOIN employees e ON e.id = c.employee_id WHERE e.external_id = 'S1' ORDER BY ce.due_at`,
      )
    ).rows.map((r) => r.step)

  test('when Slack is down for a leaver, then 50% and 75% escalate on time, 100% is a breach, and the case closes when Slack recovers', async () => {
    const slack = t.running.emulators!.slack
    const profile = { employeeId: 'S1', firstName: 'Sla', lastName: 'Leaver', managerEmail: 'grace@example.com' }
    await applyHrEvent(
      t.running.engine,
      hrEvent('employee.hired', 'S1', { profile, startDate: '2026-03-02', preHire: false, occurredAt: new Date(T0 - HOUR).toISOString() }),
      { actor: SYSTEM_ACTOR, correlationId: 'hire' },
    )
    await t.until('the joiner to be active', async () => {
      await clock.tick(200)
      return (await t.employeeState('S1')) === 'active'
    })

    // Slack's SCIM API answers 503 to everything from now on.
    slack.kit.injectFault({ pathIncludes: '/scim/', status: 503, times: Number.POSITIVE_INFINITY })
    await applyHrEvent(
      t.running.engine,
      hrEvent('employee.terminated', 'S1', { effectiveAt: new Date(T0).toISOString(), immediate: true, voluntary: 'involuntary' }),
      { actor: SYSTEM_ACTOR, correlationId: 'leave' },
    )
    await t.until('the sandbox system to be verified while Slack fails', async () => {
      await clock.tick(200)
      const { rows } = await t.running.pool.query(
        `SELECT cs.system, cs.verified_at FROM case_systems cs JOIN cases c ON c.id = cs.case_id JOIN employees e ON e.id = c.employee_id WHERE e.external_id = 'S1' AND c.kind = 'leaver'`,
      )
      return rows.find((r) => r.system === 'sandbox')?.verified_at && rows.find((r) => r.system === 'slack') ? rows : undefined
    })
    assert.deepEqual(await escalationSteps(), [], 'nothing escalates before half the budget')

    await advanceTo(T0 + 2 * HOUR + 1000)
    await t.until('the 50% escalation', async () => (await escalationSteps()).length >= 1 || (await clock.tick(200), false))
    assert.deepEqual(await escalationSteps(), ['notify'])
    await advanceTo(T0 + 3 * HOUR + 1000)
    await t.until('the 75% escalation', async () => (await escalationSteps()).length >= 2 || (await clock.tick(200), false))
    assert.deepEqual(await escalationSteps(), ['notify', 'page'])
    const breachedBefore = await t.running.pool.query(`SELECT c.breached_at FROM cases c JOIN employees e ON e.id = c.employee_id WHERE e.external_id = 'S1' AND c.kind = 'leaver'`)
    assert.equal(breachedBefore.rows[0].breached_at, null)
    await advanceTo(T0 + 4 * HOUR + 1000)
    await t.until('the breach', async () => (await escalationSteps()).length >= 3 || (await clock.tick(200), false))
    assert.deepEqual(await escalationSteps(), ['notify', 'page', 'breach'])
    const kase = await t.running.pool.query(`SELECT c.status, c.breached_at FROM cases c JOIN employees e ON e.id = c.employee_id WHERE e.external_id = 'S1' AND c.kind = 'leaver'`)
    assert.equal(kase.rows[0].status, 'open', 'the work goes on after a breach')
    assert.ok(kase.rows[0].breached_at, 'the breach is recorded on the case')
    const audit = await sealedQuery(t.running.pool,
      `SELECT action FROM audit_events WHERE action IN ('sla.escalated', 'sla.breached') AND employee_id = (SELECT id::text FROM employees WHERE external_id = 'S1') ORDER BY seq`,
    )
    assert.deepEqual(
      audit.rows.map((r) => r.action),
      ['sla.escalated', 'sla.escalated', 'sla.breached'],
    )
    await t.until('the Slack messages', async () => {
      await clock.tick(200)
      return slack.messages(SANDBOX_SLACK_CHANNELS.escalations).length >= 3
    })
    // Email, routed per step: owners of the failing system at 50%, + the manager at 75%, + the approver group at the breach.
    await t.until('the three escalation emails', async () => {
      await clock.tick(200)
      return smtp.messages.length >= 3
    })
    const mails = [...smtp.messages].sort((a, b) => a.to.length - b.to.length)
    assert.deepEqual(
      mails.map((m) => m.to.sort()),
      [['slack-admins@example.com'], ['grace@example.com', 'slack-admins@example.com'], ['approvers@example.com', 'grace@example.com', 'slack-admins@example.com']],
    )
    assert.match(mails[2]!.subject ?? '', /missed its 4-hour deadline: Sla Leaver/)
    assert.match(mails[2]!.raw, /slack: /)
    assert.equal(new Set(smtp.messages.map((m) => m.messageId)).size, 3, 'one Message-ID per step')
    // Every accepted Message-ID is recorded, so a notify job that runs again sends nothing.
    await t.until('the email deliveries to be recorded', async () => {
      const { rows } = await t.running.pool.query<{ message_id: string }>('SELECT message_id FROM notify_email_deliveries')
      const recorded = new Set(rows.map((r) => r.message_id))
      return smtp.messages.every((m) => m.messageId && recorded.has(m.messageId))
    })

    // Slack recovers: the retried cut-off goes through, is verified, and the case closes.
    slack.kit.clearFaults()
    await t.until(
      'the case to close',
      async () => {
        await advanceTo(clock.now() + 11 * 60_000)
        return (await t.running.pool.query(`SELECT c.status FROM cases c JOIN employees e ON e.id = c.employee_id WHERE e.external_id = 'S1' AND c.kind = 'leaver'`)).rows[0].status === 'closed'
      },
      // A deadline for a busy machine (npm test now runs the chaos and invariant runs beside it).
      150_000,
    )
    const user = (
      await t.running.pool.query(
        `SELECT ea.account_id FROM employee_accounts ea JOIN employees e ON e.id = ea.employee_id WHERE ea.system = 'slack' AND e.external_id = 'S1'`,
      )
    ).rows[0].account_id
    assert.equal(slack.getUser(user)?.active, false, 'the Slack account reads back deactivated')
    assert.deepEqual(await escalationSteps(), ['notify', 'page', 'breach'], 'no step was sent twice')
    assert.equal(smtp.messages.length, 3, 'no email was sent twice')
  })
})
