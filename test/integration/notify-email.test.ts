/**
 * Every notification kind reaches e-mail, routed per kind (notify.routes): exception requests to
 * the approver group, decisions back to the requester, lifecycle alerts to the failing system's
 * owners and the leaver's manager. Real workers, the notify queue, nodemailer and a local SMTP
 * server (smtp-server) over real SMTP.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { withTransaction } from '../../src/db/pool.ts'
import { exceptionsConfigSchema } from '../../src/exceptions/config.ts'
import { exceptionView } from '../../src/exceptions/routes.ts'
import { decideException, requestException, type Caller, type ExceptionDeps } from '../../src/exceptions/service.ts'
import { holdNotification } from '../../src/hr/bulk-hold.ts'
import { enqueueNotification } from '../../src/notify/index.ts'
import { startSmtpSink, type SmtpSink, type SunkMessage } from '../../src/notify/smtp-sink.ts'

const REQUESTER: Caller = { type: 'oidc', id: 'sub-olga', name: 'Olga Operator', email: 'Olga@example.com', roles: ['operator'] }
const TOKEN_REQUESTER: Caller = { type: 'api_token', id: 'tok-ops', name: 'it-ops', roles: ['operator'] }
const APPROVER: Caller = { type: 'oidc', id: 'sub-bob', name: 'Bob', email: 'bob@example.com', roles: ['approver'] }

describe('notifications by e-mail, routed per kind', () => {
  let t: TestTenure
  let smtp: SmtpSink
  let deps: ExceptionDeps
  let n = 0

  before(async () => {
    smtp = await startSmtpSink()
    t = await startTestTenure({
      systems: { sandbox: { enabled: true } },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }] },
      notify: {
        email: {
          host: '127.0.0.1',
          port: smtp.port,
          requireTLS: false,
          from: 'Tenure <tenure@example.com>',
          approvers: ['approvers@example.com'],
          admins: ['admins@example.com'],
          owners: { sandbox: ['sandbox-owner@example.com'] },
          fallback: ['it-oncall@example.com'],
        },
      },
    })
    deps = { engine: t.running.engine, config: exceptionsConfigSchema.parse({}), notify: () => t.running.config.notify }
  })
  after(async () => {
    await t.stop()
    await smtp.close()
  })

  async function hire(externalId: string, managerEmail?: string): Promise<string> {
    const profile = { employeeId: externalId, firstName: 'Ada', lastName: externalId, ...(managerEmail ? { managerEmail } : {}) }
    const hired = await applyHrEvent(t.running.engine, hrEvent('employee.hired', externalId, { profile, startDate: new Date().toISOString().slice(0, 10), preHire: false }), {
      actor: SYSTEM_ACTOR,
      correlationId: `hire-${externalId}`,
    })
    await t.until(`${externalId} to be active`, async () => (await t.employeeState(externalId)) === 'active')
    return hired.employeeId
  }
  const mail = (what: string, match: (m: SunkMessage) => boolean) =>
    t.until(what, async () => smtp.messages.find(match)).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; received: ${JSON.stringify(smtp.messages.map((m) => [m.subject, m.to]))}`)
    })
  const request = (employeeId: string, caller: Caller) =>
    requestException(deps, caller, { kind: 'delay_revocation', employeeId, system: 'sandbox', endsAt: new Date(Date.now() + 2 * 86_400_000).toISOString(), reason: 'mailbox hand-over to the manager' }, { correlationId: `req-${++n}` })

  test('when an exception is requested and approved, then the approver group gets the request and the requester the decision, once each', async () => {
    const employeeId = await hire('M1')
    const { record } = await request(employeeId, REQUESTER)
    assert.equal(record.details.requesterEmail, 'Olga@example.com', 'kept to route the decision back')
    assert.equal('requesterEmail' in (exceptionView(record).details as object), false, 'but not shown by the API')
    const asked = await mail('the request mail', (m) => /Approval needed: .* for Ada M1$/.test(m.subject ?? ''))
    assert.deepEqual(asked.to, ['approvers@example.com'])
    await decideException(deps, APPROVER, record.id, 'approve', 'hand-over agreed with HR', { correlationId: `dec-${++n}` })
    const decided = await mail('the decision mail', (m) => /Approved.* for Ada M1$/.test(m.subject ?? ''))
    assert.deepEqual(decided.to, ['olga@example.com'])
    // The notify jobs are done; nothing about this exception was mailed twice.
    const forIt = smtp.messages.filter((m) => / for Ada M1$/.test(m.subject ?? ''))
    assert.equal(forIt.length, 2)
    assert.equal(new Set(forIt.map((m) => m.messageId)).size, forIt.length)
  })

  test('when the requester used an API token, then the decision goes to the fallback and the delivery says the requester is unknown', async () => {
    const employeeId = await hire('M2')
    const { record } = await request(employeeId, TOKEN_REQUESTER)
    await decideException(deps, APPROVER, record.id, 'reject', 'use the incident runbook instead', { correlationId: `dec-${++n}` })
    const decided = await mail('the rejection mail', (m) => /Rejected: .* for Ada M2$/.test(m.subject ?? ''))
    assert.deepEqual(decided.to, ['it-oncall@example.com'])
    // The job completes just after the server accepted the message.
    const rows = await t.until('the delivery to be recorded', async () => {
      const { rows } = await t.running.pool.query<{ output: { routing?: string[] } }>(
        `SELECT output FROM ${t.running.config.queue.schema}.job WHERE name = 'notify' AND data->>'channel' = 'email' AND data->'notification'->>'kind' = 'exception.decided' AND data->'notification'->'subject'->>'exceptionId' = $1 AND state = 'completed'`,
        [record.id],
      )
      return rows.length > 0 ? rows : undefined
    })
    assert.match(rows[0]?.output.routing?.join('; ') ?? '', /requester unknown/)
  })

  test("when the lifecycle machine reports a reopened case, then the failing system's owner and the leaver's manager get one mail", async () => {
    const employeeId = await hire('M3', 'grace@example.com')
    const notify = () =>
      withTransaction(t.running.pool, (client) =>
        t.running.engine.onNotify!(client, { kind: 'case_reopened', system: 'sandbox', message: 'account found active', employeeId, externalId: 'M3', displayName: 'Ada M3', correlationId: 'reopen-M3' }),
      )
    await notify()
    const reopened = await mail('the reopened-case mail', (m) => /Leaver case reopened: .*Ada M3/.test(m.subject ?? ''))
    assert.deepEqual(reopened.to, ['grace@example.com', 'sandbox-owner@example.com'])
    // The same effect raised again (a restored snapshot re-running it) is the same notification: no second mail.
    await notify()
    await t.until('the notify queue to drain', async () => {
      const { rows } = await t.running.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.running.config.queue.schema}.job WHERE name = 'notify' AND state IN ('created', 'retry', 'active')`)
      return rows[0]!.n === 0
    })
    assert.equal(smtp.messages.filter((m) => /Leaver case reopened: .*Ada M3/.test(m.subject ?? '')).length, 1)
  })

  test('when a job fails for good, then only the owner of the failing system is mailed', async () => {
    const employeeId = await hire('M4', 'grace@example.com')
    await withTransaction(t.running.pool, (client) =>
      t.running.engine.onNotify!(client, { kind: 'job_failed', system: 'sandbox', message: 'provision.sandbox failed 5 times', employeeId, externalId: 'M4', displayName: 'Ada M4', correlationId: 'fail-M4' }),
    )
    const failed = await mail('the job-failed mail', (m) => /failed for good: Ada M4/.test(m.subject ?? ''))
    assert.deepEqual(failed.to, ['sandbox-owner@example.com'])
  })

  test('when a mass-termination hold opens, then the approver group and the admins are mailed, nobody else', async () => {
    const now = new Date()
    const hold = {
      id: '6f1c2a44-0000-4000-8000-000000000001',
      source: 'generic',
      status: 'open' as const,
      threshold_per_hour: 5,
      held_count: 6,
      first_held_at: now,
      last_held_at: now,
      earliest_effective_at: now,
      correlation_id: 'hold-1',
      decided_by: null,
      decided_by_type: null,
      decided_at: null,
      reason: null,
    }
    await withTransaction(t.running.pool, (client) => enqueueNotification(client, t.running.boss, holdNotification(hold, 'opened', now), { config: t.running.config.notify, correlationId: 'hold-1' }))
    const opened = await mail('the hold mail', (m) => /Mass-termination hold: generic/.test(m.subject ?? ''))
    assert.deepEqual(opened.to, ['admins@example.com', 'approvers@example.com'])
  })
})
