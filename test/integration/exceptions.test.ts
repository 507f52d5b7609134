/**
 * Exceptions end to end: a whole Tenure with the sandbox's emulators (Microsoft Graph, Slack …),
 * real workers and timers, driven over HTTP with API tokens and through the `tenure exceptions`
 * CLI. Each test uses its own employee, so they run concurrently.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { Command } from 'commander'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import type { Role } from '../../src/auth/roles.ts'
import { SANDBOX_ENTRA_GROUPS } from '../../src/sandbox/index.ts'
import { SANDBOX_SLACK_CHANNELS } from '../../src/notify/sandbox.ts'
import { registerExceptionCommands } from '../../src/exceptions/cli.ts'

const REQUEST_EXPIRY_MS = 8_000

const policy = {
  rules: [
    {
      name: 'everyone',
      grant: {
        sandbox: { groups: ['staff'] },
        entra: { groups: [SANDBOX_ENTRA_GROUPS.allStaff.id], licences: ['Microsoft 365 E3'] },
      },
    },
  ],
  systems: { sandbox: { leaver: { delete: true } } },
}

interface ApiResult {
  status: number
  body: {
    id: string
    status: string
    approvals: { actorId: string }[]
    details: Record<string, unknown>
    error?: { code: string; message: string }
  }
}

describe('exceptions end to end (sandbox emulators, real workers, HTTP API and CLI)', { concurrency: true }, () => {
  let t: TestTenure
  let receiver: Server
  const webhooks: { type: string; data: { kind: string; subject: { exceptionId?: string } } }[] = []
  const tokens = {} as Record<'operator' | 'approverA' | 'approverB' | 'adminC' | 'adminD', { token: string; id: string }>

  before(async () => {
    receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString('utf8')))
      req.on('end', () => {
        webhooks.push(JSON.parse(body) as (typeof webhooks)[number])
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const port = (receiver.address() as AddressInfo).port
    t = await startTestTenure({
      sandbox: { enabled: true },
      policy,
      exceptions: { requestExpiry: `${REQUEST_EXPIRY_MS / 1000}s` },
      notify: { webhooks: [{ name: 'approvals-bridge', url: `http://127.0.0.1:${port}/hook`, secret: `whsec_${randomBytes(32).toString('base64')}`, events: ['exception.*'] }] },
    })
    const make = async (name: keyof typeof tokens, role: Role) => {
      const created = await createApiToken(t.running.pool, { name, role, expiresAt: null, createdBy: { type: 'system', id: 'test' }, now: new Date() })
      tokens[name] = { token: created.token, id: created.apiToken.id }
    }
    await make('operator', 'operator')
    await make('approverA', 'approver')
    await make('approverB', 'approver')
    await make('adminC', 'admin')
    await make('adminD', 'admin')
  })
  after(async () => {
    await t.stop()
    await new Promise<void>((resolve) => {
      receiver.close(() => resolve())
      // The notify worker's fetch keeps its connection alive; close() would wait for it forever.
      receiver.closeAllConnections()
    })
  })

  async function api(method: string, path: string, who: keyof typeof tokens, body?: unknown): Promise<ApiResult> {
    const res = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who].token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    return { status: res.status, body: (await res.json()) as ApiResult['body'] }
  }

  const decide = (id: string, decision: 'approve' | 'reject' | 'revoke', who: keyof typeof tokens, reason = `${decision}d after review`) =>
    api('POST', `/api/v1/exceptions/${id}/${decision}`, who, { reason })

  async function hire(externalId: string, lastName: string): Promise<string> {
    const profile = { employeeId: externalId, firstName: 'Grace', lastName, department: 'Finance' }
    const result = await applyHrEvent(
      t.running.engine,
      hrEvent('employee.hired', externalId, { profile, startDate: new Date().toISOString().slice(0, 10), preHire: false }),
      { actor: SYSTEM_ACTOR, correlationId: `hire-${externalId}` },
    )
    await t.until(`${externalId} to be active`, async () => (await t.employeeState(externalId)) === 'active')
    return result.employeeId
  }

  async function terminate(externalId: string, effectiveAt = new Date()): Promise<void> {
    await applyHrEvent(
      t.running.engine,
      hrEvent('employee.terminated', externalId, { immediate: effectiveAt.getTime() <= Date.now(), voluntary: 'voluntary', effectiveAt: effectiveAt.toISOString() }),
      { actor: SYSTEM_ACTOR, correlationId: `leave-${externalId}` },
    )
  }

  async function account(employeeId: string, system: string) {
    const { rows } = await t.running.pool.query<{ account_id: string; status: string; waiting_on: string | null }>(
      'SELECT account_id, status, waiting_on FROM employee_accounts WHERE employee_id = $1 AND system = $2',
      [employeeId, system],
    )
    return rows[0]
  }

  const exceptionStatus = async (id: string) => (await t.running.pool.query<{ status: string }>('SELECT status FROM exceptions WHERE id = $1', [id])).rows[0]?.status

  test('when the requester approves their own request, then 403 four_eyes; an sla_waiver stays pending after one approval and a second, distinct admin activates it', async () => {
    const employeeId = await hire('X100', 'Hopper')
    const effectiveAt = new Date(Date.now() + 3_600_000)
    await terminate('X100', effectiveAt)
    const deadline = effectiveAt.getTime() + 4 * 3_600_000
    const endsAt = new Date(Date.now() + 24 * 3_600_000).toISOString()

    const requested = await api('POST', '/api/v1/exceptions', 'approverA', { kind: 'sla_waiver', employeeId, system: 'entra', endsAt, reason: 'Graph tenant migration freezes user changes' })
    assert.equal(requested.status, 201)
    const id = requested.body.id
    const self = await decide(id, 'approve', 'approverA')
    assert.equal(self.status, 403)
    assert.equal(self.body.error?.code, 'four_eyes')
    assert.match(self.body.error!.message, /someone else must approve/)

    const first = await decide(id, 'approve', 'approverB')
    assert.equal(first.status, 200)
    assert.equal(first.body.status, 'awaiting_second_approval')
    assert.equal((await decide(id, 'approve', 'approverB')).status, 409, 'approving twice is refused, not counted')
    const plainApprover = await decide(id, 'approve', 'operator')
    assert.equal(plainApprover.status, 403)
    const second = await decide(id, 'approve', 'adminC')
    assert.equal(second.status, 200)
    assert.equal(second.body.status, 'active')
    assert.deepEqual(second.body.approvals.map((a) => a.actorId), [tokens.approverB.id, tokens.adminC.id])

    const { rows } = await t.running.pool.query<{ deadline_at: Date }>(
      `SELECT cs.deadline_at FROM case_systems cs JOIN cases c ON c.id = cs.case_id WHERE c.employee_id = $1 AND c.kind = 'leaver' AND cs.system = 'entra'`,
      [employeeId],
    )
    assert.equal(rows[0]!.deadline_at.toISOString(), endsAt, 'the waiver moved the entra deadline')
    assert.equal(second.body.details.originalDeadlineAt, new Date(deadline).toISOString())

    // Approvers heard about it in the Slack approvals channel and on the webhook, with the why and the deadline.
    await t.until('the approvals channel to hear the request', async () =>
      t.running.emulators!.slack.messages(SANDBOX_SLACK_CHANNELS.approvals).find((m) => m.text?.includes('Approval needed') && m.text.includes('Graph tenant migration')),
    )
    const asked = t.running.emulators!.slack.messages(SANDBOX_SLACK_CHANNELS.approvals).find((m) => m.text?.includes('Approval needed') && m.text.includes(id))
    assert.match(asked?.text ?? '', /Moves the revocation deadline of entra/)
    await t.until('the webhook to get the decision', async () => webhooks.some((w) => w.data.subject.exceptionId === id && w.data.kind === 'exception.decided'))
    assert.ok(webhooks.some((w) => w.data.subject.exceptionId === id && w.data.kind === 'exception.requested'))
  })

  test('when a mailbox delay on entra is approved, then Microsoft access stays until it ends and is revoked within minutes after', async () => {
    const employeeId = await hire('X200', 'Lamarr')
    const until = new Date(Date.now() + 12_000)
    const requested = await api('POST', '/api/v1/exceptions', 'operator', {
      kind: 'delay_revocation',
      employeeId,
      system: 'entra',
      endsAt: until.toISOString(),
      reason: 'manager reads the mailbox for open customer orders',
    })
    assert.equal(requested.status, 201)
    const approved = await decide(requested.body.id, 'approve', 'approverA')
    assert.equal(approved.body.status, 'active')

    await terminate('X200')
    await t.until('the other system to be revoked', async () => (await account(employeeId, 'sandbox'))?.status !== 'active' || undefined)
    const entra = (await account(employeeId, 'entra'))!
    assert.equal(entra.status, 'waiting_exception')
    assert.equal(entra.waiting_on, requested.body.id)
    const user = () => t.running.emulators!.entra.getUser(entra.account_id)
    assert.equal(user()?.accountEnabled, true, 'the mailbox stays reachable during the delay')
    assert.ok(user()!.licences.length > 0)

    const seen = await t.until('entra to be revoked', async () => (user()?.accountEnabled === false ? Date.now() : undefined), 90_000)
    assert.ok(seen >= until.getTime(), `revoked ${until.getTime() - seen} ms before the delay ended`)
    assert.ok(seen - until.getTime() < 60_000, `revoked ${seen - until.getTime()} ms after the delay ended`)
    await t.until('the exception to be expired', async () => (await exceptionStatus(requested.body.id)) === 'expired')
  })

  test('when a legal hold is in force, then the account is disabled on time but never deleted', async () => {
    const employeeId = await hire('X300', 'Johnson')
    const requested = await api('POST', '/api/v1/exceptions', 'operator', {
      kind: 'legal_hold',
      employeeId,
      system: 'sandbox',
      endsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      reason: 'litigation hold requested by legal (case 2025-117)',
    })
    assert.equal((await decide(requested.body.id, 'approve', 'approverB')).body.status, 'active')
    const terminatedAt = Date.now()
    await terminate('X300')
    await t.until('the leaver to be offboarded', async () => (await t.employeeState('X300')) === 'offboarded', 60_000)
    const { rows } = await t.running.pool.query<{ active: boolean; deleted_at: Date | null; sessions_valid_from: Date | null }>(
      'SELECT active, deleted_at, sessions_valid_from FROM sandbox_accounts WHERE employee_external_id = $1',
      ['X300'],
    )
    assert.equal(rows[0]!.active, false, 'disabled')
    assert.ok(rows[0]!.sessions_valid_from && rows[0]!.sessions_valid_from.getTime() - terminatedAt < 30_000, 'on time')
    assert.equal(rows[0]!.deleted_at, null, 'the policy deletes sandbox accounts, the legal hold prevents it')
  })

  test('when nobody answers a request in time, then it lapses and the default applies: revocation is not delayed', async () => {
    const employeeId = await hire('X400', 'Meitner')
    const requested = await api('POST', '/api/v1/exceptions', 'operator', {
      kind: 'delay_revocation',
      employeeId,
      system: 'entra',
      endsAt: new Date(Date.now() + 86_400_000).toISOString(),
      reason: 'hand-over of shared mailboxes next week',
    })
    const requestedAt = Date.now()
    await t.until('the request to lapse', async () => (await exceptionStatus(requested.body.id)) === 'lapsed', REQUEST_EXPIRY_MS + 30_000)
    assert.ok(Date.now() - requestedAt >= REQUEST_EXPIRY_MS - 1_000)
    const late = await decide(requested.body.id, 'approve', 'approverA')
    assert.equal(late.status, 409)

    await terminate('X400')
    const entra = await t.until('entra to be revoked', async () => {
      const a = await account(employeeId, 'entra')
      return a && t.running.emulators!.entra.getUser(a.account_id)?.accountEnabled === false ? a : undefined
    })
    assert.equal(entra.waiting_on, null)
    await t.until('the requester to hear it lapsed', async () =>
      t.running.emulators!.slack.messages(SANDBOX_SLACK_CHANNELS.approvals).some((m) => m.text?.includes('Lapsed unanswered: delay_revocation on entra for Grace Meitner')),
    )
  })

  test('when the CLI is used with TENURE_URL and TENURE_TOKEN, then request, show, list, approve and revoke go through the API with the caller\'s rights', async () => {
    const employeeId = await hire('X500', 'Franklin')
    const run = async (who: keyof typeof tokens, args: string[]) => {
      let stdout = ''
      let stderr = ''
      let code = 0
      const program = new Command().exitOverride()
      registerExceptionCommands(program, {
        env: { TENURE_URL: t.url, TENURE_TOKEN: tokens[who].token },
        stdout: (s) => (stdout += s),
        stderr: (s) => (stderr += s),
        exit: (c) => (code = c),
      })
      await program.parseAsync(['node', 'tenure', 'exceptions', ...args])
      return { stdout, stderr, code }
    }
    const req = await run('operator', ['request', '--employee', employeeId, '--kind', 'extra_access', '--system', 'sandbox', '--until', '+2d', '--reason', 'covers payroll approvals this month', '--grant', '{"groups":["payroll"]}', '--json'])
    assert.equal(req.code, 0, req.stderr)
    const id = (JSON.parse(req.stdout) as { id: string }).id

    const self = await run('operator', ['approve', id, '--reason', 'approving my own request'])
    assert.equal(self.code, 1)
    assert.match(self.stderr, /^403 forbidden/, 'an operator may not approve at all')
    const shown = await run('approverA', ['show', id])
    assert.match(shown.stdout, /status\s+requested/)
    assert.match(shown.stdout, /approvals\s+0 of 1/)
    const listed = await run('adminD', ['list', '--employee', employeeId])
    assert.match(listed.stdout, new RegExp(`${id}\\s+extra_access\\s+requested`))

    const approved = await run('approverA', ['approve', id, '--reason', 'payroll lead confirmed'])
    assert.equal(approved.code, 0, approved.stderr)
    assert.match(approved.stdout, /status\s+active/)
    await t.until('the extra group on the sandbox account', async () => {
      const { rows } = await t.running.pool.query<{ groups: string[] }>('SELECT groups FROM sandbox_accounts WHERE employee_external_id = $1', ['X500'])
      return rows[0]?.groups.includes('payroll')
    })

    const notTheirs = await run('approverB', ['revoke', id, '--reason', 'not mine to end'])
    assert.equal(notTheirs.code, 1)
    assert.match(notTheirs.stderr, /^403 not_requester/)
    const revoked = await run('adminD', ['revoke', id, '--reason', 'payroll run finished early', '--json'])
    assert.equal((JSON.parse(revoked.stdout) as { status: string }).status, 'revoked')
    await t.until('the extra group to be removed again', async () => {
      const { rows } = await t.running.pool.query<{ groups: string[] }>('SELECT groups FROM sandbox_accounts WHERE employee_external_id = $1', ['X500'])
      return rows[0] && !rows[0].groups.includes('payroll')
    })
    const missing = await run('adminD', ['request', '--employee', employeeId, '--kind', 'delay_revocation', '--until', '+30d', '--reason', 'far too long a delay'])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /400 validation_failed.*\n {2}body\.(system|endsAt)/)
  })
})
