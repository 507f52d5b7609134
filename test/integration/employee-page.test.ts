/**
 * The employee page's API and "people, not ids" over real HTTP on a real engine: the summary
 * (manager, current case, accounts with a readable last error and what they wait on), the
 * timeline paged and filtered in SQL, and every actor by name (API tokens, SSO users, HR, Tenure).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestTenure, hrEvent, type TestTenure } from '../helpers/tenure.ts'
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc.ts'
import { applyHrEvent, SYSTEM_ACTOR } from '../../src/lifecycle/engine.ts'
import { createApiToken } from '../../src/auth/tokens.ts'
import { markHrEvent, recordHrEvent } from '../../src/db/hr-inbox.ts'
import type { CanonicalEvent } from '../../state-machines/events.ts'

const today = () => new Date().toISOString().slice(0, 10)

type Json = Record<string, unknown>
interface Item {
  at: string
  kind: string
  action: string
  seq: number | null
  system: string | null
  actor: string
  actorType: string
  actorId: string
  actorName: string | null
}
interface TimelinePage {
  items: Item[]
  nextCursor: string | null
  total: number
  systems: string[]
  actions: string[]
}

describe('employee page API and names (real engine, sandbox target, manual badge system)', () => {
  let t: TestTenure
  let idp: OidcIssuer
  const tokens: Record<string, { token: string; id: string }> = {}
  const call = async <T = Json>(who: string, path: string, init: RequestInit = {}) => {
    const bearer = tokens[who]?.token ?? who
    const res = await fetch(`${t.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    })
    return { status: res.status, body: (await res.json()) as T }
  }
  let employeeId = ''

  before(async () => {
    idp = await startOidcIssuer()
    t = await startTestTenure({
      systems: { sandbox: { enabled: true }, manual: [{ name: 'badge', title: 'Office badge', ownerGroup: 'facilities' }] },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] }, 'manual:badge': {} } }] },
      auth: { oidc: { issuer: idp.issuer, audience: idp.audience, roleMapping: { auditor: ['compliance'] }, jwksCooldownSeconds: 0 }, rateLimit: { enabled: false } },
    })
    for (const [name, role] of [
      ['Olga Operator', 'operator'],
      ['Ada Approver', 'approver'],
      ['Aud Itor', 'auditor'],
      ['Root Admin', 'admin'],
    ] as const) {
      const created = await createApiToken(t.running.pool, { name, role, createdBy: { type: 'system', id: 'test' }, now: new Date() })
      tokens[role] = { token: created.token, id: created.apiToken.id }
    }
    // The manager first, then a report of theirs, who leaves at once (a case, a badge task).
    // Stored as the HR inbox stores them (hr_events), then applied: the timeline shows both.
    const apply = async (event: CanonicalEvent) => {
      await recordHrEvent(t.running.pool, null, event)
      await applyHrEvent(t.running.engine, event, { actor: SYSTEM_ACTOR, correlationId: event.eventId })
      const { rows } = await t.running.pool.query<{ id: string }>(`SELECT id FROM employees WHERE source = 'generic' AND external_id = $1`, [event.employeeId])
      await markHrEvent(t.running.pool, event.eventId, rows[0]!.id, 'applied')
    }
    const boss = { employeeId: 'B1', firstName: 'Beatrix', lastName: 'Boss', department: 'Finance' }
    await apply(hrEvent('employee.hired', 'B1', { profile: boss, startDate: today(), preHire: false }))
    const profile = { employeeId: 'P1', firstName: 'Pia', lastName: 'Page', department: 'Finance', managerId: 'B1' }
    await apply(hrEvent('employee.hired', 'P1', { profile, startDate: today(), preHire: false }))
    await t.until('P1 active', async () => (await t.employeeState('P1')) === 'active')
    await apply(hrEvent('employee.terminated', 'P1', { immediate: true, effectiveAt: new Date().toISOString(), voluntary: 'voluntary' }))
    const list = await call<{ items: Json[] }>('operator', '/api/v1/employees?q=P1')
    employeeId = String(list.body.items.find((e) => e.externalId === 'P1')!.id)
    // The sandbox's part of the leaver case settles first: the engine rewrites the account's row on
    // each of its transitions, which would overwrite the error the first test plants (a CI run did).
    await t.until('the sandbox account cleaned up', async () => {
      const { rows } = await t.running.pool.query<{ cleanup_at: Date | null }>(
        `SELECT cs.cleanup_at FROM case_systems cs JOIN cases c ON c.id = cs.case_id WHERE c.employee_id = $1 AND c.kind = 'leaver' AND cs.system = 'sandbox'`,
        [employeeId],
      )
      return rows[0]?.cleanup_at
    })
  })
  after(async () => {
    await t?.stop()
    await idp?.close()
  })

  test('when an operator opens an employee, then the summary names the manager, the open case with its deadline, and each account with readable errors', async () => {
    // A failure as the lifecycle records it, and a wait on an exception: both readable, not JSON or a bare id.
    await t.running.pool.query(
      `UPDATE employee_accounts SET last_error = '{"action":"deprovision","kind":"rate_limited","message":"Slack said 429, retry in 30 s","at":"2026-01-01T00:00:00.000Z"}'::jsonb
        WHERE employee_id = $1 AND system = 'sandbox'`,
      [employeeId],
    )
    const detail = await call<Json & { accounts: Json[]; manager: Json; currentCase: Json | null; timeline: Item[] }>('operator', `/api/v1/employees/${employeeId}`)
    assert.equal(detail.status, 200)
    assert.equal(detail.body.displayName, 'Pia Page')
    assert.deepEqual({ ...detail.body.manager, id: typeof detail.body.manager.id }, { id: 'string', externalId: 'B1', name: 'Beatrix Boss' })
    assert.ok(detail.body.currentCase, 'the leaver case is in the summary')
    assert.equal(detail.body.currentCase.kind, 'leaver')
    assert.ok(detail.body.currentCase.deadlineAt, 'with the deadline the countdown runs to')
    const sandbox = detail.body.accounts.find((a) => a.system === 'sandbox')!
    assert.deepEqual(sandbox.lastErrorSummary, { code: 'rate_limited', message: 'Slack said 429, retry in 30 s', action: 'deprovision', at: '2026-01-01T00:00:00.000Z' })
    assert.ok(detail.body.timeline.length > 0 && detail.body.timeline.length <= 20, 'the detail carries only the newest rows; the rest are paged')
    const ats = detail.body.timeline.map((i) => i.at)
    assert.deepEqual(ats, [...ats].sort().reverse(), 'newest first')
    const hired = detail.body.timeline.concat((await call<TimelinePage>('operator', `/api/v1/employees/${employeeId}/timeline?kind=hr_event`)).body.items).find((i) => i.action === 'employee.hired')!
    assert.equal(hired.actorName, 'HR: generic', 'an HR event names its source')
    const transition = (await call<TimelinePage>('operator', `/api/v1/employees/${employeeId}/timeline?action=lifecycle.transitioned&limit=1`)).body.items[0]!
    assert.equal(transition.actorName, 'Tenure', 'Tenure itself is named, not system:tenure')
  })

  test('when the timeline is paged, then every row comes once, newest first, and the total counts them all', async () => {
    const all: Item[] = []
    let cursor: string | null = null
    let total = -1
    let pages = 0
    do {
      const page: { status: number; body: TimelinePage } = await call<TimelinePage>('auditor', `/api/v1/employees/${employeeId}/timeline?limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      assert.equal(page.status, 200)
      assert.ok(page.body.items.length <= 3)
      if (total === -1) total = page.body.total
      all.push(...page.body.items)
      cursor = page.body.nextCursor
      pages += 1
    } while (cursor && pages < 200)
    assert.ok(total > 6, `a leaver has a long timeline (${total})`)
    assert.equal(all.length, total, 'paging reaches every row')
    const keys = all.map((i) => `${i.kind}:${i.seq ?? i.at}:${i.action}`)
    assert.equal(new Set(keys).size, keys.length, 'no row twice')
    const ats = all.map((i) => i.at)
    assert.deepEqual(ats, [...ats].sort().reverse(), 'newest first across pages')
  })

  test('when the timeline is filtered by kind, action, system and period, then only matching rows come back, counted', async () => {
    const url = (q: string) => `/api/v1/employees/${employeeId}/timeline?limit=200&${q}`
    const hr = (await call<TimelinePage>('operator', url('kind=hr_event'))).body
    assert.ok(hr.items.length >= 2 && hr.items.every((i) => i.kind === 'hr_event'), 'hired and terminated')
    assert.equal(hr.total, hr.items.length)
    const target = (await call<TimelinePage>('operator', url('action=target.*'))).body
    assert.ok(target.items.length > 0 && target.items.every((i) => i.action.startsWith('target.')))
    const two = (await call<TimelinePage>('operator', url('action=employee.hired,employee.terminated'))).body
    assert.deepEqual([...new Set(two.items.map((i) => i.action))].sort(), ['employee.hired', 'employee.terminated'])
    const sandbox = (await call<TimelinePage>('operator', url('system=sandbox'))).body
    assert.ok(sandbox.items.length > 0 && sandbox.items.every((i) => i.system === 'sandbox'))
    assert.ok(sandbox.systems.includes('sandbox') && sandbox.systems.includes('manual:badge'), 'the choices list every system of the timeline')
    assert.ok(sandbox.actions.includes('employee.hired') && sandbox.actions.includes('target.api_called'))
    const future = new Date(Date.now() + 86_400_000).toISOString()
    const none = (await call<TimelinePage>('operator', url(`from=${encodeURIComponent(future)}`))).body
    assert.deepEqual([none.items.length, none.total], [0, 0])
    const past = (await call<TimelinePage>('operator', url(`to=${encodeURIComponent(future)}&kind=audit`))).body
    assert.ok(past.items.length > 0 && past.items.every((i) => i.kind === 'audit'))
    const bad = await call('operator', url('action=DROP TABLE'))
    assert.equal(bad.status, 400, 'an action is a dotted name')
  })

  test('when a person completes a task, then the task, the timeline, the audit log and the case show their name with the id kept', async () => {
    const task = await t.until('the badge task', async () => {
      const r = await call<{ items: Json[] }>('approver', '/api/v1/tasks?status=open&system=manual:badge')
      return r.body.items.find((i) => i.kind === 'revoke' && i.employeeExternalId === 'P1')
    })
    const done = await call<Json>('approver', `/api/v1/tasks/${String(task.id)}/complete`, { method: 'POST', body: JSON.stringify({ note: 'Badge deactivated at the desk' }) })
    assert.equal(done.status, 200)
    assert.deepEqual([done.body.completedBy, done.body.completedByName], [tokens.approver!.id, 'Ada Approver'])
    const listed = await call<{ items: Json[] }>('operator', '/api/v1/tasks?status=completed&system=manual:badge')
    assert.equal(listed.body.items.find((i) => i.id === task.id)?.completedByName, 'Ada Approver')

    const row = (await call<TimelinePage>('operator', `/api/v1/employees/${employeeId}/timeline?action=task.completed`)).body.items[0]!
    assert.deepEqual([row.actorType, row.actorId, row.actorName], ['api_token', tokens.approver!.id, 'Ada Approver'])

    const audit = await call<{ events: Array<{ actor: { type: string; id: string }; subject: { employee_id: string | null } }>; actorNames: Record<string, string | null>; employeeNames: Record<string, string | null> }>(
      'auditor',
      `/api/v1/audit/events?action=task.completed&limit=10`,
    )
    assert.equal(audit.status, 200)
    assert.equal(audit.body.actorNames[`api_token:${tokens.approver!.id}`], 'Ada Approver')
    assert.equal(audit.body.employeeNames[employeeId], 'Pia Page')
  })

  test('when an SSO user calls the API, then their name is remembered, and actors are looked up by name, unknown ones as null', async () => {
    const jwt = await idp.sign({ sub: 'sso-77', name: 'Sam Single', email: 'sam@example.com', roles: ['compliance'] })
    assert.equal((await call('', '/api/v1/whoami', { headers: { authorization: `Bearer ${jwt}` } })).status, 200)
    const q = ['oidc:sso-77', `api_token:${tokens.operator!.id}`, 'system:tenure', 'hr_source:bamboohr', 'oidc:never-seen', tokens.admin!.id]
    const res = await call<{ names: Record<string, string | null> }>('operator', `/api/v1/audit/actors?${q.map((a) => `actor=${encodeURIComponent(a)}`).join('&')}`)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.names, {
      'oidc:sso-77': 'Sam Single',
      [`api_token:${tokens.operator!.id}`]: 'Olga Operator',
      'system:tenure': 'Tenure',
      'hr_source:bamboohr': 'HR: bamboohr',
      'oidc:never-seen': null,
      [tokens.admin!.id]: 'Root Admin',
    })
  })

  test('when an admin lists API tokens, then who issued each is named', async () => {
    const created = await call<{ apiToken: Json }>('admin', '/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'ci-bot', role: 'auditor' }) })
    assert.equal(created.status, 201)
    assert.deepEqual([created.body.apiToken.createdBy, created.body.apiToken.createdByName], [`api_token:${tokens.admin!.id}`, 'Root Admin'])
    const list = await call<{ items: Json[] }>('admin', '/api/v1/tokens')
    assert.equal(list.body.items.find((i) => i.name === 'Olga Operator')?.createdByName, 'Tenure (test)')
  })
})
