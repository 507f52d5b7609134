/**
 * The mass-termination hold end to end (issue #9): signed HR webhooks in, real hr.event workers
 * (two processes on one database), the sandbox target, the notify queue to a loopback webhook
 * receiver, the HTTP API and the `tenure hr holds` CLI. The tests share one source's hourly
 * window, so they run in order.
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
import { signStandardWebhook } from '../../src/hr/index.ts'
import { storeNotices } from '../../src/db/hr-inbox.ts'
import { withTransaction } from '../../src/db/pool.ts'
import { startTenure, type Running } from '../../src/main.ts'
import { silentLogger } from '../../src/log.ts'
import { registerHoldCommands } from '../../src/hr/holds-cli.ts'
import type { CanonicalEvent, HrSource } from '../../state-machines/events.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const SECRET = `whsec_${Buffer.from('bulk-hold-test-secret-of-32-bytes').toString('base64')}`
const THRESHOLD = 5
const today = () => new Date().toISOString().slice(0, 10)
const inDays = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10)

interface Hold {
  id: string
  source: string
  status: string
  heldCount: number
  earliestEffectiveAt: string | null
  decidedBy: string | null
  notices?: number
}
interface Item {
  hrEmployeeId: string
  eventTypes: string[] | null
  effectiveAt: string | null
  why: string
  status: string
  seq: number
}
/** What the hold endpoints answer: a hold, a page of holds (items: Hold[]) or of its notices (items: Item[]), or an error. */
type Answer = Hold & { items: Array<Hold & Item>; error?: { code: string }; byKind: Record<string, number> }

describe('mass-termination hold (threshold per hour per untrusted HR source)', () => {
  let t: TestTenure
  let second: Running
  let receiver: Server
  const notifications: { type: string; data: { details: { holdId: string; heldCount: number } } }[] = []
  const tokens = {} as Record<'approver' | 'operator', { token: string; id: string }>

  // Sealed first: the audit entries of an action are chained moments after its commit.
  const q = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => (await sealedQuery<T>(t.running.pool, sql, params)).rows
  const api = async (method: string, path: string, who: keyof typeof tokens, body?: unknown) => {
    const res = await fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who].token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    return { status: res.status, body: (await res.json()) as Answer }
  }
  const send = async (payload: unknown) => {
    const body = Buffer.from(JSON.stringify(payload))
    const res = await fetch(`${t.url}/webhooks/hr/generic`, { method: 'POST', headers: { 'content-type': 'application/json', ...signStandardWebhook(body, SECRET, new Date()) }, body })
    assert.equal(res.status, 202)
  }
  const terminate = (id: string, data: Record<string, unknown> = { effectiveAt: new Date().toISOString(), immediate: true, voluntary: 'involuntary' }) =>
    send({ type: 'employee.terminated', timestamp: new Date().toISOString(), data: { employeeId: id, ...data } })
  /** Which of these people still have an active account in the sandbox target (ids are unique across sources here). */
  const sandboxActive = async (ids: string[]) =>
    (await q<{ id: string }>(`SELECT employee_external_id AS id FROM sandbox_accounts WHERE active AND employee_external_id = ANY($1) ORDER BY 1`, [ids])).map((r) => r.id)
  const leaverCases = async (source: string, ids: string[]) =>
    (await q<{ id: string; status: string }>(`SELECT e.external_id AS id, c.status FROM cases c JOIN employees e ON e.id = c.employee_id WHERE c.kind = 'leaver' AND e.source = $1 AND e.external_id = ANY($2) ORDER BY 1`, [source, ids]))
  const inboxByStatus = async (source: string) =>
    Object.fromEntries((await q<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM hr_inbox WHERE source = $1 GROUP BY status`, [source])).map((r) => [r.status, r.n]))

  async function hire(source: HrSource, ids: string[]): Promise<void> {
    await Promise.all(
      ids.map((id) =>
        applyHrEvent(t.running.engine, { ...hrEvent('employee.hired', id, { profile: { employeeId: id, firstName: 'Bulk', lastName: id }, startDate: today(), preHire: false }), source } as CanonicalEvent, {
          actor: SYSTEM_ACTOR,
          correlationId: `hire-${source}-${id}`,
        }),
      ),
    )
  }

  /** Terminations found by reconciliation: the same hr.event path, already canonical. */
  async function storeTerminations(source: HrSource, ids: string[]): Promise<void> {
    const now = new Date()
    await withTransaction(t.running.pool, (client) =>
      storeNotices(client, t.running.boss, {
        source,
        foundBy: 'reconciliation',
        body: Buffer.from('roster'),
        contentType: 'application/json',
        headers: {},
        receivedAt: now,
        correlationId: `reconcile-${source}`,
        actor: { type: 'system', id: 'test' },
        notices: ids.map((id) => ({
          dedupeKey: `reconcile:${id}`,
          employeeId: id,
          vendorEventType: 'roster.terminated',
          occurredAt: now.toISOString(),
          notice: [{ ...hrEvent('employee.terminated', id, { effectiveAt: now.toISOString(), immediate: true, voluntary: 'involuntary', reason: undefined }), source, foundBy: 'reconciliation' }],
        })),
      }),
    )
  }

  const A = Array.from({ length: 8 }, (_, i) => `A${i}`)
  const B = Array.from({ length: 7 }, (_, i) => `B${i}`)
  const P = Array.from({ length: 8 }, (_, i) => `P${i}`)
  const C = Array.from({ length: 16 }, (_, i) => `C${i}`)

  before(async () => {
    receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString('utf8')))
      req.on('end', () => {
        notifications.push(JSON.parse(body) as (typeof notifications)[number])
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const port = (receiver.address() as AddressInfo).port
    const dummy = ['not-used-in-this-test']
    t = await startTestTenure({
      hr: {
        generic: { secrets: [SECRET], bulkHoldThresholdPerHour: THRESHOLD },
        personio: { secrets: dummy, trustedForBulk: true, bulkHoldThresholdPerHour: THRESHOLD, reconcile: { enabled: false } },
        bamboohr: { secrets: dummy, bulkHoldThresholdPerHour: THRESHOLD, reconcile: { enabled: false } },
      },
      systems: { sandbox: { enabled: true } },
      policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }] },
      notify: { webhooks: [{ name: 'hold-bridge', url: `http://127.0.0.1:${port}/hook`, secret: `whsec_${randomBytes(32).toString('base64')}`, events: ['hr.*'] }] },
    })
    // A second worker process on the same database: the hourly count must hold across processes.
    second = await startTenure({ config: t.running.config, mode: 'worker', log: silentLogger })
    for (const [name, role] of [['approver', 'approver'], ['operator', 'operator']] as const) {
      const created = await createApiToken(t.running.pool, { name, role, expiresAt: null, createdBy: { type: 'system', id: 'test' }, now: new Date() })
      tokens[name] = { token: created.token, id: created.apiToken.id }
    }
    await hire('generic', [...A, ...B])
    await hire('personio', P)
    await hire('bamboohr', C)
    const all = A.length + B.length + P.length + C.length
    await t.until('every joiner active', async () => (await q<{ n: number }>(`SELECT count(*)::int AS n FROM employees WHERE state = 'active'`))[0]!.n === all, 30_000)
  })
  after(async () => {
    await second?.stop()
    await t?.stop()
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
  })

  let holdId = ''

  test('when an untrusted source sends 8 terminations in an hour with a threshold of 5, then 5 apply at once and 3 are held, notified once and listed', async () => {
    const sentAt = new Date()
    // Seven together (the workers race for them), then the eighth (A7, dated in ten days) and a
    // rescind of it: they join the open hold, the rescind behind A7's termination.
    for (const id of A.slice(0, 7)) await terminate(id, { effectiveAt: sentAt.toISOString(), immediate: true, voluntary: 'involuntary' })
    await t.until('5 applied and 2 held', async () => {
      const s = await inboxByStatus('generic')
      return s.processed === THRESHOLD && s.held === 2
    })
    await terminate('A7', { effectiveDate: inDays(10) })
    await send({ type: 'employee.termination_rescinded', timestamp: new Date(Date.now() + 1000).toISOString(), data: { employeeId: 'A7' } })
    await t.until('A7 and its rescind held', async () => (await inboxByStatus('generic')).held === 4)

    const applied = (await leaverCases('generic', A)).map((c) => c.id)
    assert.equal(applied.length, THRESHOLD, 'exactly the threshold got leaver cases')
    await t.until('the 5 admitted leavers revoked in the sandbox', async () => (await sandboxActive(applied)).length === 0)
    const held = A.filter((id) => !applied.includes(id))
    assert.equal(held.length, 3)
    assert.ok(held.includes('A7'))
    assert.deepEqual(await sandboxActive(held), held.slice().sort(), 'nothing reached the target for the held leavers')
    assert.deepEqual(await q(`SELECT state FROM employees WHERE source = 'generic' AND external_id = ANY($1) AND state <> 'active'`, [held]), [])

    const list = await api('GET', '/api/v1/hr/holds?status=open', 'operator')
    assert.equal(list.status, 200)
    assert.equal(list.body.items.length, 1)
    const hold = list.body.items[0]!
    holdId = hold.id
    assert.equal(hold.source, 'generic')
    assert.equal(hold.heldCount, 4)
    assert.equal(hold.earliestEffectiveAt, sentAt.toISOString(), 'the earliest effective moment is the HR one')
    const detail = await api('GET', `/api/v1/hr/holds/${holdId}`, 'approver')
    assert.equal(detail.status, 200)
    const items = detail.body.items
    assert.deepEqual(items.map((i) => i.hrEmployeeId).sort(), [...held, 'A7'].sort())
    assert.deepEqual(items.filter((i) => i.hrEmployeeId === 'A7').map((i) => i.why), ['hold_open', 'employee_held'])
    assert.ok(items.every((i, k) => k === 0 || i.seq > items[k - 1]!.seq), 'items in acceptance order')
    assert.equal(items.find((i) => i.hrEmployeeId === 'A7' && i.why === 'hold_open')!.effectiveAt!.slice(0, 10) >= inDays(9), true)

    await t.until('the hold notification', async () => notifications.some((n) => n.type === 'hr.bulk_hold.opened'))
    const forHold = notifications.filter((n) => n.data.details.holdId === holdId)
    assert.deepEqual(forHold.map((n) => n.type), ['hr.bulk_hold.opened'], 'one notification for the hold')
    const opened = await q<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'hr.bulk_hold_opened' AND details->>'holdId' = $1`, [holdId])
    assert.equal(opened[0]!.n, 1)
    // The approver sees it in the navigation's count of what waits for them; an operator does not decide holds.
    const pending = await api('GET', '/api/v1/approvals/pending-count', 'approver')
    assert.equal(pending.body.byKind.massTerminationHolds, 1)
    assert.equal((await api('GET', '/api/v1/approvals/pending-count', 'operator')).body.byKind.massTerminationHolds, 0)
  })

  test('when an approver confirms, then the held leavers apply in order and are revoked, the audit names the approver, and a second decision is a 409', async () => {
    const operator = await api('POST', `/api/v1/hr/holds/${holdId}/confirm`, 'operator', { reason: 'not my call' })
    assert.equal(operator.status, 403, 'operators may look, not decide')
    const confirmed = await api('POST', `/api/v1/hr/holds/${holdId}/confirm`, 'approver', { reason: 'Planned restructuring, ticket HR-1234' })
    assert.equal(confirmed.status, 200)
    assert.equal(confirmed.body.status, 'confirmed')
    assert.equal(confirmed.body.notices, 4)
    assert.equal(confirmed.body.decidedBy, tokens.approver.id)
    assert.equal((await api('GET', '/api/v1/approvals/pending-count', 'approver')).body.byKind.massTerminationHolds, 0, 'decided: no longer waiting')

    const held = A.filter((id) => id !== 'A7')
    await t.until('every immediate leaver revoked', async () => (await sandboxActive(held)).length === 0)
    await t.until('all notices processed', async () => (await inboxByStatus('generic')).processed === 9)
    // A7: termination (in ten days) then its rescind, in that order: the leaver case is cancelled.
    const a7 = await q<{ type: string; outcome: string }>(`SELECT type, outcome FROM hr_events WHERE source = 'generic' AND employee_external_id = 'A7' ORDER BY applied_at`)
    assert.deepEqual(a7, [
      { type: 'employee.terminated', outcome: 'applied' },
      { type: 'employee.termination_rescinded', outcome: 'applied' },
    ])
    assert.deepEqual((await leaverCases('generic', ['A7'])).map((c) => c.status), ['cancelled'])
    assert.deepEqual(await sandboxActive(['A7']), ['A7'])
    // Held time counts against the SLA: the released leavers' clocks started at the HR moment.
    const late = await q<{ effective_at: Date; opened_at: Date }>(
      `SELECT c.effective_at, c.opened_at FROM cases c JOIN employees e ON e.id = c.employee_id WHERE c.kind = 'leaver' AND e.source = 'generic' AND e.external_id = ANY($1)`,
      [held],
    )
    assert.equal(late.length, 7)
    assert.ok(late.every((c) => c.effective_at <= c.opened_at))

    const audit = await q<{ actor_type: string; actor_id: string; details: { reason: string; notices: number } }>(
      `SELECT actor_type, actor_id, details FROM audit_events WHERE action = 'hr.bulk_hold_confirmed' AND details->>'holdId' = $1`,
      [holdId],
    )
    assert.equal(audit.length, 1)
    assert.equal(audit[0]!.actor_id, tokens.approver.id)
    assert.equal(audit[0]!.details.reason, 'Planned restructuring, ticket HR-1234')
    for (const decision of ['confirm', 'reject']) {
      const again = await api('POST', `/api/v1/hr/holds/${holdId}/${decision}`, 'approver', { reason: 'again' })
      assert.equal(again.status, 409)
      assert.equal(again.body.error?.code, 'hold_already_decided')
    }
  })

  test('when an approver rejects a hold, then nothing of it is applied, the notices stay stored as rejected, and the audit says who and why', async () => {
    // The confirmation restarted the count: 5 more pass, the 6th and 7th open a new hold.
    for (const id of B) await terminate(id)
    await t.until('5 applied and 2 held', async () => {
      const s = await inboxByStatus('generic')
      return s.processed === 9 + THRESHOLD && s.held === 2
    })
    const list = await api('GET', '/api/v1/hr/holds?status=open', 'approver')
    const hold = list.body.items[0]!
    const rejected = await api('POST', `/api/v1/hr/holds/${hold.id}/reject`, 'approver', { reason: 'Sync bug in the HR connector' })
    assert.equal(rejected.status, 200)
    assert.equal(rejected.body.status, 'rejected')
    assert.equal(rejected.body.notices, 2)

    const rows = await q<{ id: string; status: string }>(`SELECT employee_external_id AS id, status FROM hr_inbox WHERE source = 'generic' AND status = 'rejected' ORDER BY 1`)
    assert.equal(rows.length, 2)
    const ids = rows.map((r) => r.id)
    assert.deepEqual(await leaverCases('generic', ids), [], 'no case for a rejected termination')
    assert.deepEqual(await sandboxActive(ids), ids)
    const events = await q(`SELECT 1 FROM hr_events WHERE source = 'generic' AND employee_external_id = ANY($1)`, [ids])
    assert.deepEqual(events, [], 'a rejected notice is never applied')
    const audit = await q<{ actor_id: string; details: { reason: string } }>(`SELECT actor_id, details FROM audit_events WHERE action = 'hr.bulk_hold_rejected' AND details->>'holdId' = $1`, [hold.id])
    assert.deepEqual(audit.map((a) => [a.actor_id, a.details.reason]), [[tokens.approver.id, 'Sync bug in the HR connector']])
    await t.until('the decision notification', async () => notifications.some((n) => n.type === 'hr.bulk_hold.decided' && n.data.details.holdId === hold.id))

    // The CLI reads the same API.
    const out: string[] = []
    const program = new Command().exitOverride()
    registerHoldCommands(program.command('hr'), { env: { TENURE_URL: t.url, TENURE_TOKEN: tokens.approver.token }, stdout: (s) => out.push(s), stderr: (s) => out.push(s), exit: () => {} })
    await program.parseAsync(['node', 'tenure', 'hr', 'holds', 'show', hold.id])
    assert.match(out.join(''), /status\s+rejected/)
    assert.match(out.join(''), new RegExp(ids[0]!))
    out.length = 0
    await program.parseAsync(['node', 'tenure', 'hr', 'holds', 'confirm', hold.id, '--reason', 'changed my mind'])
    assert.match(out.join(''), /409 hold_already_decided/)
  })

  test('when the source is trusted for bulk, then 8 terminations all apply at once and nothing is held', async () => {
    await storeTerminations('personio', P)
    await t.until('8 personio leavers revoked', async () => (await sandboxActive(P)).length === 0)
    assert.equal((await leaverCases('personio', P)).length, 8)
    assert.deepEqual(await inboxByStatus('personio'), { processed: 8 })
    assert.equal((await api('GET', '/api/v1/hr/holds?source=personio', 'operator')).body.items.length, 0)
  })

  test('when 16 terminations race through two worker processes, then exactly the threshold is applied and the rest is held', async () => {
    await storeTerminations('bamboohr', C)
    await t.until('every notice applied or held', async () => {
      const s = await inboxByStatus('bamboohr')
      return (s.processed ?? 0) + (s.held ?? 0) === C.length ? s : undefined
    })
    assert.deepEqual(await inboxByStatus('bamboohr'), { processed: THRESHOLD, held: C.length - THRESHOLD })
    assert.equal((await leaverCases('bamboohr', C)).length, THRESHOLD)
    const holds = await api('GET', '/api/v1/hr/holds?source=bamboohr', 'operator')
    assert.deepEqual(holds.body.items.map((h) => [h.status, h.heldCount]), [['open', C.length - THRESHOLD]])
    // The reminder at each multiple of the threshold (5 and 10 held).
    await t.until('the opened and grown notifications', async () => notifications.filter((n) => n.data.details.holdId === holds.body.items[0]!.id).length === 3)
  })
})
