/**
 * Emergency off-boarding end to end: a whole Tenure with the sandbox's emulators, real workers,
 * the HTTP API with API tokens and the `tenure employees terminate` CLI. One Tenure cuts off at
 * once (the default), a second one requires a second approver (four-eyes).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Command } from 'commander'
import { startTestTenure, hrEvent } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import type { Role } from '../../src/auth/roles.ts'
import { SANDBOX_ENTRA_GROUPS } from '../../src/sandbox/index.ts'
import { registerEmergencyCommands } from '../../src/offboarding/cli.ts'
import { startHrEmulators, type HrEmulators } from '../../src/hr/emulators/index.ts'
import { reconcileSource } from '../../src/jobs/hr-reconcile.ts'
import { silentLogger } from '../../src/log.ts'
import { EMERGENCY_EXPIRY_QUEUE } from '../../src/offboarding/expiry.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

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
}

interface Answer {
  status: number
  body: {
    outcome?: string
    state?: string
    employeeId?: string
    jobsEnqueued?: number
    request?: { id: string; status: string; hrStatus: string; reason: string; requestedBy: string; decidedBy: string | null; caseId: string | null; discrepancyTaskId: string | null } | null
    case?: { id: string; status: string; effectiveAt: string | null; deadlineAt: string | null } | null
    error?: { code: string; message: string; details?: { issues?: { path: string }[] } }
  }
}

type Who = 'adminA' | 'adminB' | 'operator'

async function harness(config: Parameters<typeof startTestTenure>[0]) {
  const t = await startTestTenure({ sandbox: { enabled: true }, policy, ...config })
  const tokens = {} as Record<Who, { token: string; id: string }>
  const make = async (name: Who, role: Role) => {
    const created = await createApiToken(t.running.pool, { name, role, expiresAt: null, createdBy: { type: 'system', id: 'test' }, now: new Date() })
    tokens[name] = { token: created.token, id: created.apiToken.id }
  }
  await make('adminA', 'admin')
  await make('adminB', 'admin')
  await make('operator', 'operator')
  const api = async (method: string, path: string, who: Who, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who].token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    return { status: res.status, body: (await res.json()) as Answer['body'] }
  }
  const hire = async (externalId: string, lastName: string): Promise<string> => {
    const profile = { employeeId: externalId, firstName: 'Eve', lastName, department: 'Finance', workEmail: `${externalId.toLowerCase()}@example.com` }
    const result = await applyHrEvent(t.running.engine, hrEvent('employee.hired', externalId, { profile, startDate: new Date().toISOString().slice(0, 10), preHire: false }), {
      actor: SYSTEM_ACTOR,
      correlationId: `hire-${externalId}`,
    })
    await t.until(`${externalId} to be active with accounts`, async () => (await t.employeeState(externalId)) === 'active')
    return result.employeeId
  }
  const auditCount = async (employeeId: string, action: string) =>
    (await sealedQuery<{ n: number }>(t.running.pool, 'SELECT count(*)::int AS n FROM audit_events WHERE employee_id = $1 AND action = $2', [employeeId, action])).rows[0]!.n
  const auditDetails = async (employeeId: string, action: string) =>
    (await sealedQuery<{ details: Record<string, unknown>; actor_id: string }>(t.running.pool, 'SELECT details, actor_id FROM audit_events WHERE employee_id = $1 AND action = $2 ORDER BY seq', [employeeId, action])).rows
  return { t, tokens, api, hire, auditCount, auditDetails }
}

describe('emergency off-boarding, cut off at once (default config)', { concurrency: true }, () => {
  let h: Awaited<ReturnType<typeof harness>>
  before(async () => {
    h = await harness({})
  })
  after(async () => h.t.stop())

  test('when an admin cuts a person off now, then the leaver case opens with the SLA deadline, revocation runs and is verified, and the audit says emergency with the reason; a repeat changes nothing', async () => {
    const { t, api, hire, auditCount, auditDetails, tokens } = h
    const employeeId = await hire('E100', 'Mallory')
    const before = Date.now()
    const cut = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Credential theft suspected, SOC ticket 4711' })
    assert.equal(cut.status, 202, JSON.stringify(cut.body))
    assert.equal(cut.body.outcome, 'terminated')
    assert.equal(cut.body.state, 'deprovisioning')
    assert.ok((cut.body.jobsEnqueued ?? 0) > 0, 'revocation jobs were queued')
    assert.equal(cut.body.request?.status, 'applied')
    assert.equal(cut.body.request?.hrStatus, 'unconfirmed')
    assert.equal(cut.body.request?.requestedBy, tokens.adminA.id)
    const kase = cut.body.case!
    assert.equal(kase.status, 'open')
    assert.equal(cut.body.request?.caseId, kase.id)
    const effective = Date.parse(kase.effectiveAt!)
    assert.ok(effective >= before - 1000 && effective <= Date.now(), 'effective now')
    assert.equal(Date.parse(kase.deadlineAt!) - effective, 240 * 60_000, 'the same 4-hour SLA as an HR termination')

    // The same revocation and evidence as an HR termination: every system verified, the case closed.
    await t.until('the case to close', async () => (await t.employeeState('E100')) === 'offboarded', 60_000)
    assert.ok((await auditCount(employeeId, 'target.verified')) >= 2, 'each system read back')
    const [row] = await auditDetails(employeeId, 'offboarding.emergency_terminated')
    assert.equal(row!.actor_id, tokens.adminA.id)
    assert.equal(row!.details.source, 'emergency')
    assert.equal(row!.details.reason, 'Credential theft suspected, SOC ticket 4711')
    assert.equal(row!.details.caseId, kase.id)
    const transition = (await auditDetails(employeeId, 'lifecycle.transitioned')).find((r) => r.details.to === 'deprovisioning')!
    assert.equal(transition.details.event, 'employee.terminated', 'the same machine event as HR')
    assert.match(String(transition.details.sourceEventId), /^emergency:/)

    const again = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminB', { reason: 'Second click from another admin' })
    assert.equal(again.status, 200)
    assert.equal(again.body.outcome, 'already_leaving')
    assert.equal(again.body.request?.id, cut.body.request?.id)
    assert.equal(await auditCount(employeeId, 'offboarding.emergency_terminated'), 1, 'no second audit entry')
    const cases = await t.running.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM cases WHERE employee_id = $1 AND kind = 'leaver'`, [employeeId])
    assert.equal(cases.rows[0]!.n, 1, 'no second case')
  })

  test('when the reason is short or missing, then 400 validation_failed naming body.reason; an operator (not in requestRoles) gets 403; nothing is cut', async () => {
    const { t, api, hire } = h
    const employeeId = await hire('E101', 'Short')
    const short = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: '  because  ' })
    assert.equal(short.status, 400)
    assert.equal(short.body.error?.code, 'validation_failed')
    assert.equal(short.body.error?.details?.issues?.[0]?.path, 'body.reason')
    const missing = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', {})
    assert.equal(missing.status, 400)
    const operator = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'operator', { reason: 'Operators may not do this by default' })
    assert.equal(operator.status, 403)
    assert.equal(operator.body.error?.code, 'forbidden')
    assert.equal(await t.employeeState('E101'), 'active')
  })

  test('when HR later sends its own termination, then the emergency termination is confirmed by HR (audited)', async () => {
    const { t, api, hire, auditDetails } = h
    const employeeId = await hire('E102', 'Confirmed')
    const cut = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Walked out, HR paperwork follows' })
    assert.equal(cut.status, 202)
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'E102', { effectiveDate: new Date().toISOString().slice(0, 10), voluntary: 'involuntary', immediate: false }), {
      actor: { type: 'hr_source', id: 'generic' },
      correlationId: 'hr-confirms-E102',
    })
    const shown = await api('GET', `/api/v1/emergency-terminations/${cut.body.request!.id}`, 'operator')
    assert.equal((shown.body as unknown as { hrStatus: string }).hrStatus, 'confirmed')
    const [confirmed] = await auditDetails(employeeId, 'offboarding.emergency_confirmed_by_hr')
    assert.equal(confirmed!.actor_id, 'generic')
    assert.equal(confirmed!.details.emergencyTerminationId, cut.body.request!.id)
  })

  test('when HR says the person still works (an update, then a rescind), then a discrepancy task is open for a person, the rescind is not applied and access stays cut; HR confirming later cancels the task', async () => {
    const { t, api, hire, auditCount } = h
    const employeeId = await hire('E103', 'Disputed')
    const cut = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Insider risk alert from DLP tooling' })
    assert.equal(cut.status, 202)
    await t.until('the case to close', async () => (await t.employeeState('E103')) === 'offboarded', 60_000)

    await applyHrEvent(t.running.engine, hrEvent('employee.updated', 'E103', { changes: { title: 'Senior Analyst' } }), { actor: { type: 'hr_source', id: 'generic' }, correlationId: 'hr-update-E103' })
    const request = (await api('GET', `/api/v1/emergency-terminations/${cut.body.request!.id}`, 'operator')).body as unknown as { hrStatus: string; discrepancyTaskId: string }
    assert.equal(request.hrStatus, 'discrepancy')
    const tasks = await api('GET', `/api/v1/tasks?status=open`, 'operator')
    const task = (tasks.body as unknown as { items: { id: string; kind: string; employeeId: string | null; title: string }[] }).items.find((x) => x.id === request.discrepancyTaskId)
    assert.ok(task, 'the discrepancy task is listed for a person')
    assert.equal(task.kind, 'hr_discrepancy')
    assert.match(task.title, /HR still shows/)

    const rescind = await applyHrEvent(t.running.engine, hrEvent('employee.termination_rescinded', 'E103', {}), { actor: { type: 'hr_source', id: 'generic' }, correlationId: 'hr-rescind-E103' })
    assert.equal(rescind.applied, false)
    assert.match(rescind.ignoredReason ?? '', /^emergency_discrepancy/)
    assert.equal(await t.employeeState('E103'), 'offboarded', 'never a silent re-enable')
    const accounts = await t.running.pool.query<{ status: string }>('SELECT status FROM employee_accounts WHERE employee_id = $1', [employeeId])
    assert.ok(accounts.rows.every((a) => a.status !== 'active' && a.status !== 'provisioned'), JSON.stringify(accounts.rows))
    assert.equal(await auditCount(employeeId, 'offboarding.hr_discrepancy'), 2, 'the update and the held rescind')

    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'E103', { immediate: true, voluntary: 'involuntary' }), { actor: { type: 'hr_source', id: 'generic' }, correlationId: 'hr-term-E103' })
    const status = await t.running.pool.query<{ status: string }>('SELECT status FROM manual_tasks WHERE id = $1', [request.discrepancyTaskId])
    assert.equal(status.rows[0]!.status, 'cancelled', 'HR confirmed: nothing left to decide')
  })

  test('when HR had already scheduled the termination for later, then the cut brings it forward and counts as confirmed by HR', async () => {
    const { t, api, hire, auditCount } = h
    const employeeId = await hire('E106', 'Scheduled')
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'E106', { effectiveAt: new Date(Date.now() + 7 * 86_400_000).toISOString(), voluntary: 'voluntary', immediate: false }), {
      actor: { type: 'hr_source', id: 'generic' },
      correlationId: 'hr-schedules-E106',
    })
    assert.equal(await t.employeeState('E106'), 'terminationScheduled')
    const cut = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Notice period cut short: data exfiltration' })
    assert.equal(cut.status, 202)
    assert.equal(cut.body.state, 'deprovisioning')
    assert.equal(cut.body.request?.hrStatus, 'confirmed')
    assert.ok(Date.parse(cut.body.case!.effectiveAt!) <= Date.now(), 'effective now, not next week')
    assert.equal(await auditCount(employeeId, 'offboarding.emergency_confirmed_by_hr'), 1)
  })

  test('when `tenure employees terminate <email> --reason` runs, then the person is cut off through the API and a second run says already leaving', async () => {
    const { t, hire, tokens } = h
    await hire('E105', 'Cli')
    const out: string[] = []
    const err: string[] = []
    const codes: number[] = []
    const cli = async (...args: string[]) => {
      const program = new Command().exitOverride()
      registerEmergencyCommands(program, { env: { TENURE_URL: t.url, TENURE_TOKEN: tokens.adminA.token }, stdout: (s) => out.push(s), stderr: (s) => err.push(s), exit: (c) => codes.push(c) })
      await program.parseAsync(['node', 'tenure', ...args])
    }
    await cli('employees', 'terminate', 'e105@example.com', '--reason', 'Laptop stolen with an open session')
    assert.deepEqual(codes, [], err.join(''))
    assert.match(out.join(''), /access is being cut now/)
    assert.match(out.join(''), /deadline/)
    assert.equal(await t.employeeState('E105'), 'deprovisioning')
    out.length = 0
    await cli('employees', 'terminate', 'e105@example.com', '--reason', 'Laptop stolen with an open session', '--json')
    assert.equal((JSON.parse(out.join('')) as { outcome: string }).outcome, 'already_leaving')
    await cli('employees', 'terminate', 'e105@example.com', '--reason', 'short')
    assert.deepEqual(codes, [1])
    assert.match(err.join(''), /400 validation_failed/)
  })
})

describe('emergency off-boarding with a second approver (four-eyes)', { concurrency: true }, () => {
  let h: Awaited<ReturnType<typeof harness>>
  before(async () => {
    h = await harness({ offboarding: { emergency: { requireSecondApprover: true } } })
  })
  after(async () => h.t.stop())

  test('when an admin requests a cut, then it waits; the requester cannot approve it (four_eyes), a repeat returns the same request, and a different admin approving cuts access now', async () => {
    const { t, api, hire, tokens, auditDetails, auditCount } = h
    const employeeId = await hire('F200', 'Pending')
    const asked = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Account takeover confirmed by SOC' })
    assert.equal(asked.status, 202)
    assert.equal(asked.body.outcome, 'pending_approval')
    assert.equal(asked.body.request?.status, 'pending')
    assert.equal(asked.body.case, null)
    assert.equal(await t.employeeState('F200'), 'active', 'nothing is cut before the second approval')

    const self = await api('POST', `/api/v1/emergency-terminations/${asked.body.request!.id}/approve`, 'adminA', {})
    assert.equal(self.status, 403)
    assert.equal(self.body.error?.code, 'four_eyes')
    const operator = await api('POST', `/api/v1/emergency-terminations/${asked.body.request!.id}/approve`, 'operator', {})
    assert.equal(operator.status, 403)
    assert.equal(operator.body.error?.code, 'forbidden')

    const repeat = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminB', { reason: 'Account takeover confirmed by SOC' })
    assert.equal(repeat.status, 200)
    assert.equal(repeat.body.outcome, 'already_requested')
    assert.equal(repeat.body.request?.id, asked.body.request?.id)
    assert.equal(await auditCount(employeeId, 'offboarding.emergency_requested'), 1)
    const told = await t.running.pool.query<{ channel: string }>(
      `SELECT data->>'channel' AS channel FROM pgboss.job WHERE name = 'notify' AND data->'notification'->>'kind' = 'offboarding.emergency_requested' AND data->'notification'->'details'->>'emergencyTerminationId' = $1`,
      [asked.body.request!.id],
    )
    assert.ok(told.rows.some((r) => r.channel === 'slack'), `approvers are told in Slack: ${JSON.stringify(told.rows)}`)

    const pending = await api('GET', '/api/v1/emergency-terminations?status=pending', 'operator')
    assert.ok((pending.body as unknown as { items: { id: string }[] }).items.some((x) => x.id === asked.body.request!.id))

    const approved = await api('POST', `/api/v1/emergency-terminations/${asked.body.request!.id}/approve`, 'adminB', { reason: 'Checked the SOC ticket myself' })
    assert.equal(approved.status, 200, JSON.stringify(approved.body))
    assert.equal(approved.body.outcome, 'terminated')
    assert.equal(approved.body.state, 'deprovisioning')
    assert.equal(approved.body.request?.decidedBy, tokens.adminB.id)
    assert.ok(approved.body.case?.deadlineAt)
    const [row] = await auditDetails(employeeId, 'offboarding.emergency_terminated')
    assert.equal(row!.actor_id, tokens.adminB.id)
    assert.equal(row!.details.requestedBy, tokens.adminA.id)
    assert.equal(row!.details.approvedBy, tokens.adminB.id)
    const twice = await api('POST', `/api/v1/emergency-terminations/${asked.body.request!.id}/approve`, 'adminB', {})
    assert.equal(twice.status, 409)
    assert.equal(twice.body.error?.code, 'not_pending')
    assert.equal((await auditDetails(employeeId, 'offboarding.emergency_refused')).length, 3, 'each refusal is audited')
  })

  test('when nobody approves in time, then the request expires, nothing is cut and approving it is refused (409 expired)', async () => {
    const { t, api, hire } = h
    const employeeId = await hire('F201', 'Expired')
    const asked = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Suspicious login from abroad' })
    assert.equal(asked.status, 202)
    // Moving the clock: the request's expiry is set in the past (requestExpiry is at least a minute).
    await t.running.pool.query(`UPDATE emergency_terminations SET expires_at = now() - interval '1 second' WHERE id = $1`, [asked.body.request!.id])
    const late = await api('POST', `/api/v1/emergency-terminations/${asked.body.request!.id}/approve`, 'adminB', {})
    assert.equal(late.status, 409)
    assert.equal(late.body.error?.code, 'expired')
    assert.equal(await t.employeeState('F201'), 'active')
    const rejectedOwn = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Suspicious login from abroad again' })
    assert.equal(rejectedOwn.body.outcome, 'pending_approval', 'a new request after the expired one')
    const withdrawn = await api('POST', `/api/v1/emergency-terminations/${rejectedOwn.body.request!.id}/reject`, 'adminA', { reason: 'False positive, VPN exit node' })
    assert.equal(withdrawn.status, 200)
    assert.equal(withdrawn.body.outcome, 'rejected')
    assert.equal(await t.employeeState('F201'), 'active')
  })
})

describe('what waits for approvers: the pending count and the expiry sweep (four-eyes)', () => {
  let h: Awaited<ReturnType<typeof harness>>
  before(async () => {
    h = await harness({ offboarding: { emergency: { requireSecondApprover: true } } })
  })
  after(async () => h.t.stop())

  test('when adminA asks to cut someone off and for an exception, then the pending count shows both to adminB and neither to adminA (four-eyes), none to an operator, and drops once adminB decides', async () => {
    const { api, hire } = h
    const count = async (who: Who) => {
      const r = await api('GET', '/api/v1/approvals/pending-count', who)
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return r.body as unknown as { total: number; byKind: { exceptions: number; emergencyTerminations: number; massTerminationHolds: number } }
    }
    const [a0, b0] = [await count('adminA'), await count('adminB')]
    const employeeId = await hire('F203', 'Counted')
    const asked = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Badge cloned, SOC ticket 9001' })
    assert.equal(asked.body.outcome, 'pending_approval')
    const exception = await api('POST', '/api/v1/exceptions', 'adminA', {
      kind: 'legal_hold',
      employeeId,
      system: 'sandbox',
      endsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      reason: 'litigation hold requested by legal (case 2026-042)',
    })
    assert.equal(exception.status, 201, JSON.stringify(exception.body))

    const b1 = await count('adminB')
    assert.equal(b1.byKind.emergencyTerminations - b0.byKind.emergencyTerminations, 1, 'adminB may approve the cut')
    assert.equal(b1.byKind.exceptions - b0.byKind.exceptions, 1, 'adminB may decide the exception')
    assert.equal(b1.total, b1.byKind.exceptions + b1.byKind.emergencyTerminations + b1.byKind.massTerminationHolds)
    const a1 = await count('adminA')
    assert.deepEqual(a1.byKind, a0.byKind, 'their own requests are not counted for the requester')
    assert.deepEqual(await count('operator'), { total: 0, byKind: { exceptions: 0, emergencyTerminations: 0, massTerminationHolds: 0 } }, 'an operator decides neither (default approverRoles: admin)')

    const approved = await api('POST', `/api/v1/emergency-terminations/${asked.body.request!.id}/approve`, 'adminB', { reason: 'Checked the SOC ticket myself' })
    assert.equal(approved.body.outcome, 'terminated')
    const b2 = await count('adminB')
    assert.equal(b2.byKind.emergencyTerminations - b0.byKind.emergencyTerminations, 0, 'decided: no longer waiting')
  })

  test('when a pending request passes its expiry and nobody reads it, then the sweep expires it, audits it once (a second sweep and two racing sweeps add nothing) and tells the requester', async () => {
    const { t, api, hire, auditCount, auditDetails } = h
    const employeeId = await hire('F204', 'Unanswered')
    const asked = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Phishing compromise, awaiting confirmation' })
    assert.equal(asked.body.outcome, 'pending_approval')
    const id = asked.body.request!.id
    // Moving the clock: the request's expiry is set in the past (requestExpiry is at least a minute).
    await t.running.pool.query(`UPDATE emergency_terminations SET expires_at = now() - interval '1 second' WHERE id = $1`, [id])
    const statusOf = async () => (await t.running.pool.query<{ status: string }>('SELECT status FROM emergency_terminations WHERE id = $1', [id])).rows[0]!.status
    assert.equal(await statusOf(), 'pending', 'nothing expires it before the sweep (no read happens here)')

    // What the every-minute schedule sends: one sweep job on the queue, taken by the running worker.
    const sweep = async () => {
      const jobId = await t.running.boss.send(EMERGENCY_EXPIRY_QUEUE, {})
      return t.until('the sweep job to complete', async () => {
        const job = await t.running.boss.getJobById(EMERGENCY_EXPIRY_QUEUE, jobId!)
        return job?.state === 'completed' ? (job.output as { expired: number }) : undefined
      })
    }
    // 1, unless the every-minute schedule of this running Tenure swept in the milliseconds since the UPDATE.
    assert.ok((await sweep()).expired <= 1)
    assert.equal(await statusOf(), 'expired', 'expired by the sweep alone')
    assert.equal(await t.employeeState('F204'), 'active', 'nothing was cut')
    assert.deepEqual(await sweep(), { expired: 0 }, 'a second sweep finds nothing')
    await Promise.all([sweep(), sweep()])
    assert.equal(await auditCount(employeeId, 'offboarding.emergency_expired'), 1, 'one audit entry per request')
    const [audited] = await auditDetails(employeeId, 'offboarding.emergency_expired')
    assert.equal(audited!.details.emergencyTerminationId, id)
    assert.equal(audited!.details.outcome, 'nothing was cut')

    const told = await t.running.pool.query<{ channel: string; text: string }>(
      `SELECT data->>'channel' AS channel, data->'notification'->>'text' AS text FROM pgboss.job
        WHERE name = 'notify' AND data->'notification'->>'kind' = 'offboarding.emergency_expired' AND data->'notification'->'details'->>'emergencyTerminationId' = $1`,
      [id],
    )
    assert.ok(told.rows.some((r) => r.channel === 'slack'), `the requester hears of it where the request was announced: ${JSON.stringify(told.rows)}`)
    assert.equal(new Set(told.rows.map((r) => r.channel)).size, told.rows.length, 'once per channel, however many sweeps ran')
    assert.match(told.rows[0]!.text, /^adminA: your request to cut .* expired/)
    const late = await api('POST', `/api/v1/emergency-terminations/${id}/approve`, 'adminB', {})
    assert.equal(late.body.error?.code, 'expired')
  })
})

describe('emergency off-boarding against the HR roster (HiBob emulator, reconciliation polls)', () => {
  let h: Awaited<ReturnType<typeof harness>>
  let hr: HrEmulators
  before(async () => {
    hr = await startHrEmulators({ employees: [] })
    h = await harness({ hr: { hibob: hr.config.hibob } })
  })
  after(async () => {
    await h.t.stop()
    await hr.close()
  })

  test('when reconciliation finds the cut-off person still active in HR, then a discrepancy task is raised once; when HR then records the termination, the poll confirms the cut and the task is cancelled', async () => {
    const { t, api, auditCount } = h
    const poll = () => reconcileSource({ pool: t.running.pool, boss: t.running.boss, log: silentLogger, sources: t.running.hrSources, now: () => new Date() }, 'hibob', 'poll-emergency')
    hr.hibob.upsertEmployee({ id: 'HB-9', firstName: 'Rita', lastName: 'Roster', startDate: '2025-01-06', status: 'active', timeZone: 'Europe/Berlin' })
    await poll()
    await t.until('the joiner to be active', async () => (await t.employeeState('HB-9', 'hibob')) === 'active')
    const employeeId = (await t.running.pool.query<{ id: string }>(`SELECT id FROM employees WHERE source = 'hibob' AND external_id = 'HB-9'`)).rows[0]!.id

    const cut = await api('POST', `/api/v1/employees/${employeeId}/terminate`, 'adminA', { reason: 'Contractor access abused, per CISO' })
    assert.equal(cut.status, 202)
    await poll()
    await poll()
    assert.equal(await auditCount(employeeId, 'offboarding.hr_discrepancy'), 1, 'raised once, not at every poll')
    const shown = (await api('GET', `/api/v1/emergency-terminations/${cut.body.request!.id}`, 'operator')).body as unknown as { hrStatus: string; discrepancyTaskId: string }
    assert.equal(shown.hrStatus, 'discrepancy')
    const task = await t.running.pool.query<{ status: string; owner_group: string }>('SELECT status, owner_group FROM manual_tasks WHERE id = $1', [shown.discrepancyTaskId])
    assert.deepEqual(task.rows[0], { status: 'open', owner_group: 'it-security' })

    hr.hibob.terminate('HB-9', new Date().toISOString().slice(0, 10), { type: 'involuntary' })
    await poll()
    await t.until('HR to confirm the cut', async () => {
      const r = (await api('GET', `/api/v1/emergency-terminations/${cut.body.request!.id}`, 'operator')).body as unknown as { hrStatus: string }
      return r.hrStatus === 'confirmed'
    })
    const after = await t.running.pool.query<{ status: string }>('SELECT status FROM manual_tasks WHERE id = $1', [shown.discrepancyTaskId])
    assert.equal(after.rows[0]!.status, 'cancelled')
    assert.equal(await auditCount(employeeId, 'offboarding.emergency_confirmed_by_hr'), 1)
  })
})
