/**
 * The what-if plan over real HTTP on a whole Tenure with the sandbox's emulators (Google, Graph,
 * SCIM …): a proposed move, termination and rehire answer what every system would do, in the
 * order its provisioner would do it, with the exceptions that apply and the resulting deadline,
 * and nothing is written (no audit row, no job, no change to the employee) and no target called.
 * Also `tenure employees plan --what-if` against the same server.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Command } from 'commander'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import type { Role } from '../../src/auth/roles.ts'
import { SANDBOX_ENTRA_GROUPS } from '../../src/sandbox/index.ts'
import { registerEmployeeCommands } from '../../src/api/employees-cli.ts'
import type { ConfigInput } from '../../src/config/index.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const ALL_STAFF = SANDBOX_ENTRA_GROUPS.allStaff.id

const policy: NonNullable<ConfigInput['policy']> = {
  rules: [
    {
      name: 'everyone',
      grant: {
        sandbox: { groups: ['staff'] },
        google: { groups: ['everyone@example.com'] },
        entra: { groups: [ALL_STAFF], licences: ['Microsoft 365 E3'] },
      },
    },
    { name: 'engineering', match: { department: 'Engineering' }, grant: { google: { groups: ['engineering@example.com'] }, 'scim:sandbox': { groups: ['engineering'] } } },
    { name: 'sales', match: { department: 'Sales' }, grant: { google: { groups: ['sales@example.com'] } } },
  ],
  systems: {
    google: { slaMinutes: 60, leaver: { transferData: true, leaversOrgUnit: '/Leavers' } },
    sandbox: { leaver: { delete: true } },
  },
}

type Steps = Array<{ step: string; unsupported?: string }>
interface PlanSystem {
  system: string
  kind: string | null
  account: string
  add: Record<string, string[]>
  remove: Record<string, string[]>
  kept: Record<string, string[]>
  rules: string[]
  jobs: Array<{ action: string; phase?: string; at: string; startAfter?: string }>
  cutoff: { at: string; startAfter?: string; steps: Steps; options: Record<string, unknown> } | null
  cleanup: { at: string; steps: Steps; options: Record<string, unknown> } | null
  exceptions: string[]
  deadlineAt: string | null
}
interface Plan {
  employeeId: string
  change: string
  state: { now: string; after: string; settled: string }
  effectiveAt: string | null
  deadline: { kind: string; at: string } | null
  systems: PlanSystem[]
  exceptions: Array<{ id: string; kind: string; system: string | null; applies: boolean; effect: string }>
  notes: string[]
  error?: { code: string; message: string }
}

const names = (steps: Steps | undefined) => steps?.map((s) => s.step)

describe('what-if plan (sandbox emulators, real engine, HTTP API and CLI)', () => {
  let t: TestTenure
  const tokens = {} as Record<'operator' | 'approver' | 'auditor', string>

  before(async () => {
    t = await startTestTenure({ sandbox: { enabled: true }, policy })
    for (const role of ['operator', 'approver', 'auditor'] as const satisfies readonly Role[]) {
      tokens[role] = (await createApiToken(t.running.pool, { name: `what-if-${role}`, role, expiresAt: null, createdBy: { type: 'system', id: 'test' }, now: new Date() })).token
    }
  })
  after(async () => {
    await t.stop()
  })

  async function api(method: string, path: string, who: keyof typeof tokens, body?: unknown): Promise<{ status: number; body: Plan }> {
    const res = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    return { status: res.status, body: (await res.json()) as Plan }
  }
  const whatIf = (employeeId: string, body: unknown, who: keyof typeof tokens = 'auditor') => api('POST', `/api/v1/employees/${employeeId}/plan/what-if`, who, body)

  /** Hired, every account provisioned and no job left for this person. */
  async function hire(externalId: string, department: string): Promise<string> {
    const profile = { employeeId: externalId, firstName: 'Wanda', lastName: `Whatif ${externalId}`, workEmail: `${externalId.toLowerCase()}@example.com`, department, managerEmail: 'boss@example.com' }
    const result = await applyHrEvent(t.running.engine, hrEvent('employee.hired', externalId, { profile, startDate: new Date().toISOString().slice(0, 10), preHire: false }), {
      actor: SYSTEM_ACTOR,
      correlationId: `hire-${externalId}`,
    })
    await settled(result.employeeId, 'active')
    return result.employeeId
  }

  async function settled(employeeId: string, state: string): Promise<void> {
    await t.until(`${employeeId} ${state} with no job in flight`, async () => {
      const { rows } = await t.running.pool.query<{ state: string }>('SELECT state FROM employees WHERE id = $1', [employeeId])
      if (rows[0]?.state !== state) return false
      const jobs = await t.running.pool.query(`SELECT 1 FROM ${t.running.config.queue.schema}.job WHERE data->>'employeeId' = $1 AND state IN ('created', 'retry', 'active')`, [employeeId])
      return jobs.rows.length === 0
    }, 60_000)
  }

  /**
   * Nothing due is left for this person: no job that mentions them (system jobs, notifications of
   * an exception's approval, which post to the Slack emulator and audit) is waiting to run now.
   * Jobs set for later (an exception's end) stay, and are counted the same before and after.
   */
  async function quiet(employeeId: string): Promise<void> {
    await t.until(`nothing due for ${employeeId}`, async () => {
      const { rows } = await t.running.pool.query(
        `SELECT 1 FROM ${t.running.config.queue.schema}.job WHERE state IN ('created', 'retry', 'active') AND start_after <= now() AND (data::text LIKE '%' || $1 || '%' OR name = 'notify')`,
        [employeeId],
      )
      return rows.length === 0
    }, 60_000)
  }

  /** Everything a what-if could have written or caused for this person, and every emulator's request count. */
  async function footprint(employeeId: string) {
    const q = async (sql: string) => (await sealedQuery(t.running.pool, sql, [employeeId])).rows
    const emulators = t.running.emulators!
    return {
      employee: await q('SELECT version, state, snapshot, profile FROM employees WHERE id = $1'),
      accounts: await q('SELECT system, status, desired, provisioned, updated_at FROM employee_accounts WHERE employee_id = $1 ORDER BY system'),
      audit: await q('SELECT count(*)::int AS n, max(seq) AS last FROM audit_events WHERE employee_id = $1'),
      cases: await q('SELECT id, status, deadline_at FROM cases WHERE employee_id = $1 ORDER BY id'),
      jobs: await q(`SELECT count(*)::int AS n FROM ${t.running.config.queue.schema}.job WHERE data->>'employeeId' = $1`),
      targets: Object.fromEntries((['google', 'entra', 'slack', 'jira', 'scim'] as const).map((name) => [name, { requests: emulators[name].kit.stats.requests, writes: emulators[name].kit.stats.writes }])),
    }
  }

  test('when a move to another department is proposed, then each system shows its grants and removals, a system the move loses gets its cut-off and clean-up in the provisioner\'s order, and nothing is written or sent', async () => {
    const id = await hire('WI-1', 'Engineering')
    const before = await footprint(id)
    const res = await whatIf(id, { change: 'move', profile: { department: 'Sales', title: 'Account Executive' } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const plan = res.body
    assert.deepEqual(plan.state, { now: 'active', after: 'active', settled: 'active' })
    assert.equal(plan.deadline, null, 'a move has no revocation SLA')
    const sys = (name: string) => plan.systems.find((s) => s.system === name)!
    assert.deepEqual(sys('google').add, { groups: ['sales@example.com'] })
    assert.deepEqual(sys('google').remove, { groups: ['engineering@example.com'] })
    assert.deepEqual(sys('google').rules, ['everyone', 'sales'])
    assert.deepEqual(sys('google').jobs.map((j) => j.action), ['update'])
    assert.equal(sys('google').kind, 'google')
    assert.equal(sys('entra').account, 'keep')
    assert.deepEqual(sys('entra').jobs, [], 'entra is unchanged by the move')
    const scim = sys('scim:sandbox')
    assert.equal(scim.account, 'remove')
    assert.deepEqual(scim.remove, { groups: ['engineering'] })
    assert.deepEqual(scim.jobs.map((j) => `${j.action}:${j.phase ?? ''}`), ['deprovision:cutoff', 'verify:', 'deprovision:cleanup'])
    assert.deepEqual(names(scim.cutoff?.steps), ['disable', 'revoke_sessions', 'revoke_tokens'])
    assert.match(scim.cutoff!.steps[1]!.unsupported ?? '', /SCIM 2\.0 has no session endpoint/, 'the SCIM provisioner says what it cannot do')
    assert.ok(names(scim.cleanup?.steps)?.includes('remove_groups'))
    assert.ok(!names(scim.cleanup?.steps)?.includes('delete'), 'a mover keeps the account unless the policy deletes')
    assert.ok(plan.notes.some((n) => /lower bound/.test(n)), 'removals are said to be a lower bound')

    assert.deepEqual(await footprint(id), before, 'no audit row, no job, no change to the employee, no request to any target')
    const current = await api('GET', `/api/v1/employees/${id}/plan`, 'auditor')
    assert.equal((current.body as unknown as { state: string }).state, 'active')
  })

  test('when a termination is proposed, then cut-off and clean-up steps come in each provisioner\'s order, a legal hold and a delay apply, the deadline is the earliest system SLA, and nothing is written or sent', async () => {
    const id = await hire('WI-2', 'Engineering')
    const request = async (kind: string, system: string, endsAt: Date, reason: string) => {
      const asked = await api('POST', '/api/v1/exceptions', 'operator', { kind, employeeId: id, system, endsAt: endsAt.toISOString(), reason })
      assert.equal(asked.status, 201, JSON.stringify(asked.body))
      const exceptionId = (asked.body as unknown as { id: string }).id
      const approved = await api('POST', `/api/v1/exceptions/${exceptionId}/approve`, 'approver', { reason: 'approved after review' })
      assert.equal((approved.body as unknown as { status: string }).status, 'active')
      return exceptionId
    }
    const effectiveAt = new Date(Math.ceil((Date.now() + 3 * 86_400_000) / 1000) * 1000)
    const hold = await request('legal_hold', 'entra', new Date(Date.now() + 30 * 86_400_000), 'litigation hold on the mailbox, case 2026-17')
    const delayUntil = new Date(effectiveAt.getTime() + 2 * 3_600_000)
    const delay = await request('delay_revocation', 'sandbox', delayUntil, 'hand-over of the sandbox reports to the team')
    await quiet(id)

    const before = await footprint(id)
    const res = await whatIf(id, { change: 'termination', effectiveAt: effectiveAt.toISOString() }, 'operator')
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const plan = res.body
    assert.deepEqual(plan.state, { now: 'active', after: 'terminationScheduled', settled: 'offboarded' })
    assert.equal(plan.effectiveAt, effectiveAt.toISOString())
    assert.deepEqual(plan.deadline, { kind: 'leaver_sla', at: new Date(effectiveAt.getTime() + 60 * 60_000).toISOString() }, "google's 60-minute SLA is the case's")
    const sys = (name: string) => plan.systems.find((s) => s.system === name)!

    const google = sys('google')
    assert.equal(google.account, 'remove')
    assert.deepEqual(google.remove, { groups: ['engineering@example.com', 'everyone@example.com'] })
    assert.deepEqual(names(google.cutoff?.steps), ['disable', 'revoke_sessions', 'revoke_tokens'])
    assert.equal(google.cutoff?.at, effectiveAt.toISOString(), 'the cut-off is queued at the effective moment')
    // Google's provisioner runs clean-up in its own fixed order (provisioners/google/provisioner.ts STEP_ORDER).
    assert.deepEqual(names(google.cleanup?.steps), ['remove_groups', 'remove_roles', 'remove_licences', 'remove_products', 'remove_channels', 'transfer_data', 'move_org_unit'])
    assert.deepEqual(google.cleanup?.options, { transferTo: { email: 'boss@example.com' }, leaversOrgUnit: '/Leavers' })
    assert.match(google.cleanup!.steps.find((s) => s.step === 'remove_licences')?.unsupported ?? '', /not managed by Tenure/, 'Google says which steps it does not do')
    assert.equal(google.deadlineAt, new Date(effectiveAt.getTime() + 60 * 60_000).toISOString())

    const entra = sys('entra')
    assert.equal(entra.cutoff?.options.legalHold, true)
    // Under the hold: the mailbox is kept, licences stay, nothing is deleted; Graph's order.
    assert.deepEqual(names(entra.cleanup?.steps), ['remove_roles', 'remove_groups', 'convert_mailbox', 'remove_products', 'remove_channels'])
    assert.match(entra.cleanup!.steps.find((s) => s.step === 'convert_mailbox')?.unsupported ?? '', /manual follow-up/, 'Graph cannot convert a mailbox: a person does')
    assert.deepEqual(entra.remove, { groups: [ALL_STAFF] })
    assert.deepEqual(entra.kept, { licences: ['Microsoft 365 E3'] }, 'the hold keeps the licence (and the mailbox with it) on the disabled account')
    assert.deepEqual(entra.exceptions, [hold])
    assert.equal(entra.deadlineAt, new Date(effectiveAt.getTime() + 240 * 60_000).toISOString())

    const sandbox = sys('sandbox')
    assert.equal(sandbox.cutoff?.startAfter, delayUntil.toISOString(), 'the approved delay holds the cut-off')
    assert.equal(names(sandbox.cleanup?.steps)?.at(-1), 'delete', 'the policy deletes sandbox accounts, last')
    assert.deepEqual(sandbox.kept, {}, 'a deleted account keeps nothing')

    const byId = Object.fromEntries(plan.exceptions.map((x) => [x.id, x]))
    assert.equal(byId[hold]?.applies, true)
    assert.match(byId[hold]!.effect, /no delete/)
    assert.equal(byId[delay]?.applies, true)
    assert.match(byId[delay]!.effect, /cut-off of sandbox waits until/)

    assert.deepEqual(await footprint(id), before, 'no audit row, no job, no case, no change to the employee, no request to any target')
  })

  test('when a rehire of a leaver is proposed, then deleted accounts are created, kept ones restored, the joiner deadline is day one, and nothing is written', async () => {
    const id = await hire('WI-3', 'Engineering')
    await applyHrEvent(t.running.engine, hrEvent('employee.terminated', 'WI-3', { immediate: true, effectiveAt: new Date().toISOString(), voluntary: 'voluntary' }), { actor: SYSTEM_ACTOR, correlationId: 'leave-WI-3' })
    await settled(id, 'offboarded')
    const before = await footprint(id)
    const startDate = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10)
    const res = await whatIf(id, { change: 'rehire', startDate, profile: { department: 'Sales' } }, 'approver')
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const plan = res.body
    assert.equal(plan.state.now, 'offboarded')
    assert.equal(plan.state.after, 'preHire')
    assert.equal(plan.state.settled, 'active')
    assert.equal(plan.deadline?.kind, 'joiner_day_one')
    assert.equal(plan.deadline?.at, `${startDate}T00:00:00.000Z`)
    const sys = (name: string) => plan.systems.find((s) => s.system === name)!
    assert.equal(sys('sandbox').account, 'create', 'the leaver policy deleted it: a new one')
    assert.equal(sys('google').account, 'restore', 'suspended, not deleted: brought back')
    assert.deepEqual(sys('google').add, { groups: ['everyone@example.com', 'sales@example.com'] })
    assert.equal(sys('scim:sandbox').account, 'none', 'Sales gets no SCIM app')
    assert.deepEqual(await footprint(id), before)

    const again = await whatIf(id, { change: 'termination', immediate: true })
    assert.equal(again.status, 409)
    assert.equal(again.body.error?.code, 'change_not_applicable')
    assert.match(again.body.error!.message, /ignore/)
  })

  test('when the employee is unknown or the change is not one of move, termination, rehire, then 404 and 400 with a code and a message', async () => {
    const missing = await whatIf(randomUUID(), { change: 'termination' })
    assert.equal(missing.status, 404)
    assert.equal(missing.body.error?.code, 'not_found')
    const id = await hire('WI-4', 'Sales')
    const bad = await whatIf(id, { change: 'promotion' })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.error?.code, 'validation_failed')
    assert.match(bad.body.error!.message, /move, termination, rehire/)
    const empty = await whatIf(id, { change: 'move', profile: {} })
    assert.equal(empty.status, 400)
    assert.match(empty.body.error!.message, /at least one attribute/)
    const unknownKey = await whatIf(id, { change: 'move', profile: { departmnet: 'Sales' } })
    assert.equal(unknownKey.status, 400, 'a misspelt attribute is refused, not ignored')
  })

  test('when `tenure employees plan <email> --what-if move --department Sales` runs, then it prints the grants and removals per system and changes nothing', async () => {
    const id = await hire('WI-5', 'Engineering')
    const email = (await t.running.pool.query<{ email: string | null; external_id: string }>('SELECT email, external_id FROM employees WHERE id = $1', [id])).rows[0]!
    const before = await footprint(id)
    const out: string[] = []
    const err: string[] = []
    let exitCode = 0
    const run = async (...args: string[]) => {
      const program = new Command().exitOverride()
      registerEmployeeCommands(program, { env: { TENURE_URL: t.url, TENURE_TOKEN: tokens.auditor }, stdout: (s) => void out.push(s), stderr: (s) => void err.push(s), exit: (c) => void (exitCode = c) })
      await program.parseAsync(['node', 'tenure', ...args])
    }
    await run('employees', 'plan', email.email ?? email.external_id, '--what-if', 'move', '--department', 'Sales')
    assert.equal(exitCode, 0, err.join(''))
    const text = out.join('')
    assert.match(text, /What if: move \(active → active\)/)
    assert.match(text, /google \[google\]: account keep \(rules: everyone, sales\)/)
    assert.match(text, /\+groups: sales@example\.com/)
    assert.match(text, /−groups: engineering@example\.com/)
    assert.match(text, /scim:sandbox \[scim\]: account remove/)
    assert.match(text, /cut-off: 1\. disable {2}2\. revoke_sessions \(not supported here\)/)
    assert.match(text, /Nothing was changed/)

    out.length = 0
    await run('employees', 'plan', id, '--what-if', 'termination', '--immediate', '--json')
    const json = JSON.parse(out.join('')) as Plan
    assert.equal(json.change, 'termination')
    assert.equal(json.deadline?.kind, 'leaver_sla')

    out.length = 0
    await run('employees', 'plan', email.external_id)
    assert.equal(exitCode, 0, err.join(''))
    assert.match(out.join(''), /Plan for the current profile \(active\):\n[^]*google: no change \(rules: everyone, engineering\)/)

    await run('employees', 'plan', id, '--department', 'Sales')
    assert.equal(exitCode, 1)
    assert.match(err.join(''), /add --what-if move/)

    exitCode = 0
    err.length = 0
    out.length = 0
    await run('employees', 'plan', 'nobody@example.com', '--what-if', 'rehire')
    assert.equal(exitCode, 1)
    assert.match(err.join(''), /no employee with email or HR id nobody@example\.com/)
    assert.deepEqual(await footprint(id), before)
  })
})
