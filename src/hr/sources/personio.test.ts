import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { personio } from './personio.ts'
import { PersonioEmulator } from '../emulators/personio.ts'
import { delivery, fixture, sourceConfig } from '../testing.ts'
import type { HrApiClient, HrNotice, HrSourceConfig } from '../types.ts'

const TOKEN = 'personio-shared-token'
const NOW = new Date('2026-01-30T00:00:06Z')
const config = sourceConfig({ secrets: ['personio-old-token', TOKEN] })
const withToken = (body: Buffer, authorization = TOKEN, contentType = 'application/json') =>
  delivery('personio', body, { authorization }, { contentType, receivedAt: NOW })

describe('personio verify (shared token: Personio does not sign deliveries)', () => {
  const body = fixture('personio', 'employment-terminated.json')

  test('when Authorization carries the configured token verbatim (auth_type TOKEN), then it verifies', () => {
    assert.deepEqual(personio.verify(withToken(body), config), { ok: true, secretIndex: 1 })
  })

  test('when the token was configured in Personio with a "Bearer " prefix, then it still verifies', () => {
    assert.deepEqual(personio.verify(withToken(body, `Bearer ${TOKEN}`), config), { ok: true, secretIndex: 1 })
  })

  test('when the old token is still sent during rotation, then it verifies as secret 0', () => {
    assert.deepEqual(personio.verify(withToken(body, 'personio-old-token'), config), { ok: true, secretIndex: 0 })
  })

  test('when the token is wrong, then bad_credentials; when absent, missing_credentials', () => {
    const wrong = personio.verify(withToken(body, 'personio-shared-tokem'), config)
    assert.equal(wrong.ok === false && wrong.reason, 'bad_credentials')
    const missing = personio.verify(delivery('personio', body, {}, { receivedAt: NOW }), config)
    assert.equal(missing.ok === false && missing.reason, 'missing_credentials')
  })

  test('when the webhook uses auth_type CUSTOM with its own header, then that header is checked', () => {
    const custom = sourceConfig({ secrets: [TOKEN], personio: { authHeader: 'X-Tenure-Token' } })
    const d = delivery('personio', body, { 'x-tenure-token': TOKEN }, { receivedAt: NOW })
    assert.deepEqual(personio.verify(d, custom), { ok: true, secretIndex: 0 })
    assert.equal(personio.verify(withToken(body), custom).ok, false)
  })
})

describe('personio parse', () => {
  test('when employment.terminated arrives, then the notice names the person (not the employment)', () => {
    const p = personio.parse(withToken(fixture('personio', 'employment-terminated.json')))
    assert.ok(p.ok)
    assert.equal(p.notices[0]!.employeeId, '1001')
    assert.equal(p.notices[0]!.occurredAt, '2026-01-30T00:00:05.000Z')
  })

  test('when an employment event lacks person_id, then 400 with path payload.person_id', () => {
    const p = personio.parse(withToken(Buffer.from('{"company_id":"1","event_name":"employment.updated","occurred_at":"2026-01-30T00:00:05Z","payload":{"id":"emp-1"}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'payload.person_id')
  })

  test('when occurred_at is missing, then 400 with path occurred_at', () => {
    const p = personio.parse(withToken(Buffer.from('{"company_id":"1","event_name":"person.updated","payload":{"id":"1"}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'occurred_at')
  })

  test('when a document event arrives, then it is acknowledged with no notices', () => {
    const p = personio.parse(withToken(Buffer.from('{"company_id":"1","event_name":"document.created","occurred_at":"2026-01-30T00:00:05Z","payload":{"id":"d1"}}')))
    assert.deepEqual(p, { ok: true, notices: [] })
  })

  test('when the body is XML, then 415', () => {
    const p = personio.parse(withToken(Buffer.from('<x/>'), TOKEN, 'application/xml'))
    assert.equal(!p.ok && p.status, 415)
  })
})

describe('personio normalize against the emulator (OAuth client credentials)', () => {
  let emu: PersonioEmulator
  let client: HrApiClient
  let cfg: HrSourceConfig
  before(async () => {
    emu = new PersonioEmulator({ now: () => NOW.getTime() })
    await emu.listen()
    cfg = sourceConfig({
      secrets: [TOKEN],
      defaultTimeZone: 'Europe/Berlin',
      api: { baseUrl: emu.apiBaseUrl, credentials: { type: 'oauth_client_credentials', clientId: emu.clientId, clientSecret: emu.clientSecret } },
    })
    client = personio.createClient(cfg, { now: () => NOW.getTime() })!
  })
  after(() => emu.close())

  const notice = (name: string): HrNotice => {
    const p = personio.parse(withToken(fixture('personio', name)))
    assert.ok(p.ok)
    return p.notices[0]!
  }
  const ctx = () => ({ client, receivedAt: NOW, foundBy: 'webhook' as const, config: cfg })

  test('when employment.terminated fires on the termination date, then employee.terminated with that date in the default zone', async () => {
    emu.terminate('1001', '2026-01-30', { type: 'voluntary', reason: 'New job' })
    const [e] = await personio.normalize(notice('employment-terminated.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
    assert.equal(e.timeZone, 'Europe/Berlin')
    assert.equal(e.voluntary, 'voluntary')
    assert.equal(e.profile?.firstName, 'Ada')
  })

  test('when HR records an immediate termination with the exact moment, then effectiveAt is that moment', async () => {
    emu.terminate('1001', '2026-01-29', { at: '2026-01-29T15:12:00Z', type: 'involuntary' })
    const [e] = await personio.normalize(notice('employment-terminated.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveAt, '2026-01-29T15:12:00.000Z')
    assert.equal(e.voluntary, 'involuntary')
  })

  test('when employment.started fires, then employee.hired is not a pre-hire', async () => {
    emu.upsertEmployee({ id: '1003', startDate: '2026-01-30', status: 'active' })
    const [e] = await personio.normalize(notice('employment-started.json'), ctx())
    assert.ok(e?.type === 'employee.hired')
    assert.equal(e.preHire, false)
  })

  test('when employment.updated reflects a new position, then employee.updated; a leave then yields leave_started', async () => {
    emu.upsertEmployee({ id: '1002', title: 'VP Engineering', department: 'Engineering' })
    const [u] = await personio.normalize(notice('employment-updated.json'), ctx())
    assert.ok(u?.type === 'employee.updated')
    assert.equal(u.changes.title, 'VP Engineering')
    emu.startLeave('1002', '2026-02-01')
    const events = await personio.normalize(notice('employment-updated.json'), ctx())
    assert.ok(events.some((e) => e.type === 'employee.leave_started'))
  })

  test('when person.deleted arrives for a person Personio no longer has, then employee.terminated', async () => {
    const [e] = await personio.normalize(notice('person-deleted.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.employeeId, '1009')
  })

  test('when the roster is listed two per page, then the next links are followed to the end', async () => {
    const ids: string[] = []
    for await (const r of client.listRoster({ pageSize: 2 })) ids.push(r.employeeId)
    assert.deepEqual(ids, emu.store.list().map((e) => e.id))
  })

  test('when the client secret is wrong, then AuthFailed from the token endpoint', async () => {
    const bad = personio.createClient(
      sourceConfig({ api: { baseUrl: emu.apiBaseUrl, credentials: { type: 'oauth_client_credentials', clientId: emu.clientId, clientSecret: 'nope' } } }),
    )!
    await assert.rejects(bad.getEmployee('1001'), { kind: 'AuthFailed' })
  })
})
