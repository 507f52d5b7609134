import { createHmac } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { bamboohr } from './bamboohr.ts'
import { BambooHrEmulator } from '../emulators/bamboohr.ts'
import { delivery, fixture, sourceConfig } from '../testing.ts'
import type { HrApiClient, HrNotice, HrSourceConfig } from '../types.ts'

const KEY = 'bamboo-private-key-1'
const OLD_KEY = 'bamboo-private-key-0'
const NOW = new Date('2026-01-31T18:42:10Z')
const config = sourceConfig({ secrets: [OLD_KEY, KEY] })

/** BambooHR's documented scheme, computed independently: hex HMAC-SHA256 over body ‖ timestamp. */
function bambooSignature(key: string, body: Buffer, timestamp: string): string {
  return createHmac('sha256', key).update(Buffer.concat([body, Buffer.from(timestamp)])).digest('hex')
}

function signed(body: Buffer, key = KEY, at = NOW, contentType = 'application/json') {
  const ts = String(Math.floor(at.getTime() / 1000))
  return delivery('bamboohr', body, { 'x-bamboohr-timestamp': ts, 'x-bamboohr-signature': bambooSignature(key, body, ts) }, { contentType, receivedAt: NOW })
}

describe('bamboohr verify', () => {
  const body = fixture('bamboohr', 'event-updated.json')

  test('when the signature is BambooHR’s HMAC of body‖timestamp, then it verifies with the matching secret', () => {
    assert.deepEqual(bamboohr.verify(signed(body), config), { ok: true, secretIndex: 1 })
  })

  test('when the old secret signed it during rotation, then it still verifies and says which secret matched', () => {
    assert.deepEqual(bamboohr.verify(signed(body, OLD_KEY), config), { ok: true, secretIndex: 0 })
  })

  test('when a Stripe-style timestamp.body signature is sent, then it is rejected', () => {
    const ts = String(Math.floor(NOW.getTime() / 1000))
    const wrong = createHmac('sha256', KEY).update(`${ts}.${body.toString()}`).digest('hex')
    const d = delivery('bamboohr', body, { 'x-bamboohr-timestamp': ts, 'x-bamboohr-signature': wrong }, { receivedAt: NOW })
    assert.equal(bamboohr.verify(d, config).ok, false)
  })

  test('when the body is changed after signing, then the result is bad_signature', () => {
    const d = signed(body)
    const tampered = { ...d, body: Buffer.from(body.toString().replace('firstName', 'lastName')) }
    const v = bamboohr.verify(tampered, config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })

  test('when a validly signed delivery is replayed ten minutes later, then the timestamp is out of tolerance', () => {
    const v = bamboohr.verify(signed(body, KEY, new Date(NOW.getTime() - 600_000)), config)
    assert.equal(v.ok === false && v.reason, 'timestamp_out_of_tolerance')
  })

  test('when the signature headers are missing, then the result is missing_signature', () => {
    const v = bamboohr.verify(delivery('bamboohr', body, {}, { receivedAt: NOW }), config)
    assert.equal(v.ok === false && v.reason, 'missing_signature')
  })

  test('when no secret matches, then the result is bad_signature', () => {
    const v = bamboohr.verify(signed(body, 'someone-else'), config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })
})

describe('bamboohr parse', () => {
  test('when an event-based update arrives, then one notice names the employee and keeps the changed fields', () => {
    const p = bamboohr.parse(signed(fixture('bamboohr', 'event-updated.json')))
    assert.ok(p.ok)
    assert.equal(p.notices.length, 1)
    assert.equal(p.notices[0]!.employeeId, '67890')
    assert.equal(p.notices[0]!.vendorEventType, 'employee.updated')
    assert.equal(p.notices[0]!.occurredAt, '2026-01-31T18:42:00.000Z')
    assert.match(p.notices[0]!.dedupeKey, /^sha256:[0-9a-f]{64}$/)
  })

  test('when a field-based delivery batches two people, then there are two notices with distinct dedupe keys', () => {
    const p = bamboohr.parse(signed(fixture('bamboohr', 'field-based.json')))
    assert.ok(p.ok)
    assert.deepEqual(
      p.notices.map((n) => n.employeeId),
      ['12345', '1001'],
    )
    assert.notEqual(p.notices[0]!.dedupeKey, p.notices[1]!.dedupeKey)
  })

  test('when the field-based webhook posts a form, then it parses like the JSON variant', () => {
    const p = bamboohr.parse(signed(fixture('bamboohr', 'field-based-form.txt'), KEY, NOW, 'application/x-www-form-urlencoded'))
    assert.ok(p.ok, JSON.stringify(p))
    assert.equal(p.notices[0]!.employeeId, '1001')
    assert.deepEqual((p.notices[0]!.data as { changedFields: string[] }).changedFields, ['Status'])
  })

  test('when the content type is text/plain, then parse answers 415', () => {
    const p = bamboohr.parse(signed(fixture('bamboohr', 'event-updated.json'), KEY, NOW, 'text/plain'))
    assert.equal(!p.ok && p.status, 415)
  })

  test('when the employee id is missing, then parse answers 400 naming data.employeeId', () => {
    const p = bamboohr.parse(signed(Buffer.from('{"type":"employee.updated","timestamp":"2026-01-31T18:42:00+0000","data":{}}')))
    assert.ok(!p.ok)
    assert.equal(p.status, 400)
    assert.equal(p.path, 'data.employeeId')
  })

  test('when the body is not JSON, then parse answers 400 invalid_json', () => {
    const p = bamboohr.parse(signed(Buffer.from('{"type":')))
    assert.ok(!p.ok)
    assert.equal(p.code, 'invalid_json')
  })
})

describe('bamboohr normalize against the emulator', () => {
  let emu: BambooHrEmulator
  let client: HrApiClient
  let cfg: HrSourceConfig
  before(async () => {
    emu = new BambooHrEmulator({ now: () => NOW.getTime() })
    await emu.listen()
    cfg = sourceConfig({
      secrets: [KEY],
      defaultTimeZone: 'Europe/London',
      api: { baseUrl: emu.apiBaseUrl, credentials: { type: 'api_key', apiKey: emu.apiKey } },
      bamboohr: { companyDomain: emu.companyDomain },
    })
    client = bamboohr.createClient(cfg, { now: () => NOW.getTime() })!
  })
  after(() => emu.close())

  const notice = (name: string): HrNotice => {
    const p = bamboohr.parse(signed(fixture('bamboohr', name)))
    assert.ok(p.ok)
    return p.notices[0]!
  }
  const ctx = () => ({ client, receivedAt: NOW, foundBy: 'webhook' as const, config: cfg })

  test('when Status changes to Inactive with a termination date, then the re-fetch yields employee.terminated on that date', async () => {
    emu.terminate('1001', '2026-01-30')
    const events = await bamboohr.normalize(notice('event-status-changed.json'), ctx())
    assert.equal(events.length, 1)
    const e = events[0]!
    assert.equal(e.type, 'employee.terminated')
    assert.ok(e.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
    assert.equal(e.timeZone, 'Europe/London')
    assert.equal(e.source, 'bamboohr')
    assert.equal(e.foundBy, 'webhook')
    assert.equal(e.profile?.workEmail, 'ada.lovelace@example.com')
    // Same notice again → same event id (re-processing is idempotent).
    const again = await bamboohr.normalize(notice('event-status-changed.json'), ctx())
    assert.equal(again[0]!.eventId, e.eventId)
  })

  test('when Status flips back to Active, then the assertions are termination_rescinded, leave_ended and the hire the record shows', async () => {
    emu.rescind('1001')
    const events = await bamboohr.normalize(notice('event-status-changed.json'), ctx())
    assert.deepEqual(
      events.map((e) => e.type),
      ['employee.termination_rescinded', 'employee.leave_ended', 'employee.hired'],
    )
  })

  test('when employee.created arrives for a future starter, then employee.hired is a pre-hire with the start date', async () => {
    emu.upsertEmployee({ id: '1004', firstName: 'Katherine', lastName: 'Johnson', workEmail: 'kj@example.com', startDate: '2026-03-02', status: 'pending' })
    const [e] = await bamboohr.normalize(notice('event-created.json'), ctx())
    assert.ok(e?.type === 'employee.hired')
    assert.equal(e.startDate, '2026-03-02')
    assert.equal(e.preHire, true)
    assert.equal(e.profile.firstName, 'Katherine')
  })

  test('when a job title changes, then employee.updated carries the re-fetched attributes', async () => {
    emu.upsertEmployee({ id: '67890', firstName: 'Bryony', lastName: 'Smith', startDate: '2020-01-01', title: 'Head of People' })
    const [e] = await bamboohr.normalize(notice('event-updated.json'), ctx())
    assert.ok(e?.type === 'employee.updated')
    assert.equal(e.changes.title, 'Head of People')
    assert.equal(e.changes.firstName, 'Bryony')
  })

  test('when the status becomes Leave of Absence, then employee.leave_started', async () => {
    emu.startLeave('1001', '2026-02-01', '2026-05-01')
    const events = await bamboohr.normalize(notice('event-status-changed.json'), ctx())
    assert.equal(events[0]?.type, 'employee.leave_started')
    emu.endLeave('1001')
  })

  test('when employee.deleted arrives and the record is gone, then the person is terminated as of the event', async () => {
    emu.removeEmployee('1002')
    const [e] = await bamboohr.normalize(notice('event-deleted.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveAt, '2026-01-31T18:42:00.000Z')
  })

  test('when no API is configured, then normalize fails permanently instead of guessing', async () => {
    await assert.rejects(bamboohr.normalize(notice('event-status-changed.json'), { receivedAt: NOW, foundBy: 'webhook' }), { kind: 'Permanent' })
  })

  test('when the roster is listed with page size 1, then every person arrives once, across pages', async () => {
    const ids: string[] = []
    for await (const r of client.listRoster({ pageSize: 1 })) ids.push(r.employeeId)
    assert.deepEqual(ids, emu.store.list().map((e) => e.id))
  })

  test('when the API key is wrong, then the client throws AuthFailed', async () => {
    const bad = bamboohr.createClient({ ...cfg, api: { ...cfg.api!, credentials: sourceConfig({ api: { credentials: { type: 'api_key', apiKey: 'nope' } } }).api!.credentials } })!
    await assert.rejects(bad.getEmployee('1001'), { kind: 'AuthFailed' })
  })

  test('when BambooHR answers 429, then the client throws RateLimited with Retry-After', async () => {
    emu.injectFault({ status: 429, retryAfterSeconds: 7 })
    await assert.rejects(client.getEmployee('1001'), (err: { kind: string; retryAfterMs: number }) => err.kind === 'RateLimited' && err.retryAfterMs === 7000)
  })

  test('when asked for changes since a time, then the changed ids come back', async () => {
    const changes = await client.listChangesSince!(new Date(NOW.getTime() - 60_000))
    assert.ok(changes.some((c) => c.employeeId === '1001'))
    assert.ok(changes.some((c) => c.employeeId === '1002' && c.deleted))
  })
})
