/**
 * Leaver safety at the HR intake, over real HTTP against the HR vendor emulators:
 * - a vendor clock running ahead must not make the real termination after it "stale";
 * - a thin notice whose re-fetch finds nobody is recorded, logged and shown, never silent;
 * - Gusto's unsigned handshake cannot overwrite the saved token once a secret is configured;
 * - `tenure hr send` sends a new event every time, and in the sandbox registers the employee
 *   with thin-payload vendors first.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { startTestTenure, type TestTenure } from '../helpers/tenure.ts'
import { apiAs, type ApiCall } from '../helpers/api.ts'
import { startHrEmulators, type HrEmulators } from '../../src/hr/emulators/index.ts'
import { adapterFor } from '../../src/hr/index.ts'
import { createLogger } from '../../src/log.ts'
import { hrSend, HrSendError } from '../../src/commands/hr-send.ts'
import type { HrSource } from '../../state-machines/events.ts'
import { sealedQuery } from '../../src/audit/test-support.ts'

const GENERIC_SECRET = `whsec_${Buffer.from('integration-test-secret-32-bytes!!').toString('base64')}`
const yesterday = () => new Date(Date.now() - 24 * 3600_000).toISOString().slice(0, 10)

describe('HR intake: leaver safety', () => {
  let t: TestTenure
  let hr: HrEmulators
  let api: ApiCall
  const logLines: string[] = []

  before(async () => {
    hr = await startHrEmulators({ employees: [] })
    t = await startTestTenure(
      {
        hr: { generic: { secrets: [GENERIC_SECRET] }, gusto: hr.config.gusto, bamboohr: hr.config.bamboohr, merge: hr.config.merge, deel: hr.config.deel },
        systems: { sandbox: { enabled: true } },
        policy: { rules: [{ name: 'everyone', grant: { sandbox: { groups: ['staff'] } } }] },
      },
      { log: createLogger({ level: 'warn', destination: { write: (line: string) => (logLines.push(line), true) } as unknown as NodeJS.WritableStream }) },
    )
    api = await apiAs(t, ['operator'])
  })
  after(async () => {
    await t.stop()
    await hr.close()
  })

  /** Post a vendor sample for `employeeId`, stamped `at`, signed as the vendor would. */
  const send = async (source: HrSource, kind: Parameters<ReturnType<typeof adapterFor>['buildSample']>[0], employeeId: string, at: Date) => {
    const adapter = adapterFor(source)
    const sample = adapter.buildSample(kind, employeeId, { now: at, eventId: randomUUID() })
    const secret = t.running.hrSources[source]!.secrets[0]!.reveal()
    const res = await fetch(`${t.url}/webhooks/hr/${source}`, {
      method: 'POST',
      headers: { 'content-type': sample.contentType, ...adapter.sign(sample.body, secret, new Date()) },
      body: sample.body,
    })
    assert.equal(res.status, 202, await res.clone().text())
    return ((await res.json()) as { stored: string[] }).stored[0]!
  }
  const outcomes = async (employeeId: string) =>
    (
      await t.running.pool.query<{ type: string; outcome: string | null; outcome_reason: string | null; payload: Record<string, unknown> }>(
        `SELECT type, outcome, outcome_reason, payload FROM hr_events WHERE employee_external_id = $1 ORDER BY occurred_at, received_at`,
        [employeeId],
      )
    ).rows
  const leaverCase = async (employeeId: string, source: string) =>
    (
      await t.running.pool.query(
        `SELECT c.status FROM cases c JOIN employees e ON e.id = c.employee_id WHERE c.kind = 'leaver' AND e.source = $1 AND e.external_id = $2`,
        [source, employeeId],
      )
    ).rows[0]

  test('when a Gusto hire is stamped 21 minutes in the future, then it is clamped and flagged, and the termination HR confirms afterwards is applied and opens a case', async () => {
    hr.gusto.upsertEmployee({ id: 'G-21', firstName: 'Fay', lastName: 'Future', workEmail: 'fay.future@example.com', startDate: '2025-01-06', status: 'active' })
    const hireInbox = await send('gusto', 'employee.hired', 'G-21', new Date(Date.now() + 21 * 60_000))
    await t.until('the joiner to be active', async () => (await t.employeeState('G-21', 'gusto')) === 'active')

    hr.gusto.terminate('G-21', yesterday(), { type: 'involuntary' })
    await send('gusto', 'employee.terminated', 'G-21', new Date())
    await t.until('the termination to be applied', async () => (await outcomes('G-21')).find((e) => e.type === 'employee.terminated')?.outcome === 'applied')
    assert.ok(await t.until('a leaver case to open', () => leaverCase('G-21', 'gusto')))

    const events = await outcomes('G-21')
    const hired = events.find((e) => e.type === 'employee.hired')
    const terminated = events.find((e) => e.type === 'employee.terminated')
    const clamp = hired!.payload.timestampClamped as { vendorOccurredAt: string; toleranceSeconds: number }
    assert.ok(clamp, 'the hire carries the vendor timestamp it was clamped from')
    assert.ok(Date.parse(clamp.vendorOccurredAt) > Date.now() + 15 * 60_000)
    assert.equal(clamp.toleranceSeconds, 300)
    assert.equal(hired!.payload.occurredAt, hired!.payload.receivedAt, 'clamped to the receipt time')
    assert.equal(terminated!.payload.confirmed, true, 'the re-fetched record said terminated')
    const row = await t.running.pool.query(`SELECT timestamps_clamped FROM hr_inbox WHERE id = $1`, [hireInbox])
    assert.equal(row.rows[0].timestamps_clamped[0].type, 'employee.hired')
    const audit = await sealedQuery(t.running.pool, `SELECT details FROM audit_events WHERE action = 'hr.timestamp_clamped' AND details->>'inboxId' = $1`, [hireInbox])
    assert.equal(audit.rows.length, 1)
    const listed = await api<{ items: Array<{ id: string; timestampsClamped: unknown[] | null }> }>('operator', '/api/v1/hr/inbox?attention=true&source=gusto')
    assert.ok(listed.body.items.some((i) => i.id === hireInbox && i.timestampsClamped?.length === 1), 'the console lists the clamped notice')
  })

  test('when a hire stamped a few minutes ahead (within the tolerance) is followed by a termination the HR record confirms, then the termination is not dropped as stale', async () => {
    hr.gusto.upsertEmployee({ id: 'G-4', firstName: 'Sam', lastName: 'Skew', workEmail: 'sam.skew@example.com', startDate: '2025-01-06', status: 'active' })
    await send('gusto', 'employee.hired', 'G-4', new Date(Date.now() + 4 * 60_000))
    await t.until('the joiner to be active', async () => (await t.employeeState('G-4', 'gusto')) === 'active')
    hr.gusto.terminate('G-4', yesterday())
    await send('gusto', 'employee.terminated', 'G-4', new Date())
    const terminated = await t.until('the termination to be decided', async () => (await outcomes('G-4')).find((e) => e.type === 'employee.terminated' && e.outcome))
    assert.equal(terminated.outcome, 'applied', `not ${terminated.outcome}: ${terminated.outcome_reason}`)
    assert.ok(await t.until('a leaver case to open', () => leaverCase('G-4', 'gusto')))
  })

  test('when a thin BambooHR or Merge notice re-fetches an employee HR does not have, then the inbox row says not_found, a warning names it and the console lists it', async () => {
    const bamboo = await send('bamboohr', 'employee.hired', 'B-404', new Date())
    const merge = await send('merge', 'employee.hired', 'M-404', new Date())
    for (const id of [bamboo, merge]) {
      await t.until(`inbox ${id} to be decided`, async () => {
        const r = await t.running.pool.query(`SELECT status FROM hr_inbox WHERE id = $1`, [id])
        return r.rows[0].status !== 'received' && r.rows[0].status
      })
      const r = await t.running.pool.query(`SELECT status, error FROM hr_inbox WHERE id = $1`, [id])
      assert.equal(r.rows[0].status, 'not_found')
    }
    const warning = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.inboxId === bamboo)
    assert.ok(warning, 'a warning names the inbox row')
    assert.equal(warning.level, 'warn')
    assert.equal(warning.source, 'bamboohr')
    assert.equal(warning.hrEmployeeId, 'B-404')
    const listed = await api<{ items: Array<{ id: string; status: string; hrEmployeeId: string }> }>('operator', '/api/v1/hr/inbox?status=not_found')
    assert.equal(listed.status, 200)
    assert.deepEqual(listed.body.items.map((i) => i.hrEmployeeId).sort(), ['B-404', 'M-404'])
    assert.equal(await t.employeeState('B-404', 'bamboohr'), undefined, 'nobody was created')
  })

  test('when an unsigned Gusto handshake arrives while a Gusto secret is configured, then it is refused and the saved token is not overwritten', async () => {
    const file = path.join(t.running.config.database.dataDir, 'gusto-verification-token')
    await writeFile(file, 'the-token-the-admin-verified\n')
    const res = await fetch(`${t.url}/webhooks/hr/gusto`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ verification_token: 'attacker-token' }) })
    assert.equal(res.status, 401)
    assert.equal((await readFile(file, 'utf8')).trim(), 'the-token-the-admin-verified')
  })

  test('when hr send sends the same Gusto or Deel event twice, then both are new events; a real duplicate is an error', async () => {
    for (const source of ['gusto', 'deel'] as const) {
      const emulators = { [source]: hr.urls[source] }
      const first = await hrSend({ source, event: 'employee.hired', employee: `${source}-twice`, emulators }, t.running.hrSources, t.url)
      const second = await hrSend({ source, event: 'employee.hired', employee: `${source}-twice`, emulators }, t.running.hrSources, t.url)
      assert.equal(first.status, 202)
      assert.equal(second.status, 202, `the second ${source} send is not a duplicate: ${JSON.stringify(second.body)}`)
    }
    const file = path.join(t.running.config.database.dataDir, 'gusto-event.json')
    const sample = adapterFor('gusto').buildSample('employee.updated', 'gusto-twice', { eventId: randomUUID(), now: new Date() })
    await writeFile(file, sample.body)
    await hrSend({ source: 'gusto', event: 'employee.updated', file }, t.running.hrSources, t.url)
    await assert.rejects(hrSend({ source: 'gusto', event: 'employee.updated', file }, t.running.hrSources, t.url), (err: Error) => {
      assert.ok(err instanceof HrSendError)
      assert.match(err.message, /duplicate/)
      return true
    })
  })

  test('when hr send adds two generic joiners without --set, then they get distinct names and work emails', async () => {
    await hrSend({ source: 'generic', event: 'employee.hired', employee: 'N-1' }, t.running.hrSources, t.url)
    await hrSend({ source: 'generic', event: 'employee.hired', employee: 'N-2' }, t.running.hrSources, t.url)
    const profiles = await t.until('both joiners to be known', async () => {
      const r = await t.running.pool.query<{ profile: { firstName: string; lastName: string; workEmail: string } }>(
        `SELECT profile FROM employees WHERE source = 'generic' AND external_id IN ('N-1', 'N-2') AND profile ? 'workEmail'`,
      )
      return r.rows.length === 2 && r.rows.map((x) => x.profile)
    })
    assert.notEqual(profiles[0]!.workEmail, profiles[1]!.workEmail)
    assert.notEqual(`${profiles[0]!.firstName} ${profiles[0]!.lastName}`, `${profiles[1]!.firstName} ${profiles[1]!.lastName}`)
  })

  test('when hr send targets a thin-payload vendor in the sandbox, then it registers the joiner in the emulator first and the leaver after', async () => {
    const emulators = { bamboohr: hr.urls.bamboohr }
    const hired = await hrSend({ source: 'bamboohr', event: 'employee.hired', employee: 'B-7', emulators, set: { department: 'Sales' } }, t.running.hrSources, t.url)
    assert.equal(hired.status, 202)
    assert.match(hired.registered ?? '', /added B-7/)
    assert.equal(hr.bamboohr.store.get('B-7')?.department, 'Sales')
    await t.until('the joiner to be active', async () => (await t.employeeState('B-7', 'bamboohr')) === 'active')
    await hrSend({ source: 'bamboohr', event: 'employee.terminated', employee: 'B-7', emulators }, t.running.hrSources, t.url)
    assert.ok(await t.until('a leaver case to open', () => leaverCase('B-7', 'bamboohr')))
  })
})
