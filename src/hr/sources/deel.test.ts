import { createHmac } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { deel } from './deel.ts'
import { DeelEmulator } from '../emulators/deel.ts'
import { delivery, fixture, sourceConfig } from '../testing.ts'
import type { HrApiClient, HrNotice, HrSourceConfig } from '../types.ts'

const KEY = 'deel-signing-key'
const NOW = new Date('2026-01-30T12:00:30Z')
const config = sourceConfig({ secrets: ['deel-previous-key', KEY] })

/** Deel: hex HMAC-SHA256 of the string "POST" followed by the raw body. */
const deelSignature = (key: string, body: Buffer) => createHmac('sha256', key).update('POST').update(body).digest('hex')
const signed = (body: Buffer, key = KEY, contentType = 'application/json') =>
  delivery('deel', body, { 'x-deel-signature': deelSignature(key, body), 'x-deel-hmac-label': 'tenure', 'x-deel-webhook-version': '1.0.0' }, { contentType, receivedAt: NOW })

describe('deel verify', () => {
  const body = fixture('deel', 'contract-terminated.json')

  test('when x-deel-signature is the hex HMAC of "POST"+body, then it verifies', () => {
    assert.deepEqual(deel.verify(signed(body), config), { ok: true, secretIndex: 1 })
  })

  test('when the previous key signed it, then it verifies during rotation', () => {
    assert.deepEqual(deel.verify(signed(body, 'deel-previous-key'), config), { ok: true, secretIndex: 0 })
  })

  test('when the signature omits the POST prefix, then bad_signature', () => {
    const d = delivery('deel', body, { 'x-deel-signature': createHmac('sha256', KEY).update(body).digest('hex') }, { receivedAt: NOW })
    const v = deel.verify(d, config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })

  test('when the signature is not hex, then bad_signature without throwing', () => {
    const v = deel.verify(delivery('deel', body, { 'x-deel-signature': 'zz-not-hex' }, { receivedAt: NOW }), config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })
})

describe('deel parse', () => {
  test('when contract.terminated arrives, then the notice is the contract, keyed by tracking_id', () => {
    const p = deel.parse(signed(fixture('deel', 'contract-terminated.json')))
    assert.ok(p.ok)
    assert.deepEqual(
      { id: p.notices[0]!.employeeId, key: p.notices[0]!.dedupeKey },
      { id: '1001', key: 'deel:f3d9a8b7c6e5d4c3b2a1f0e9d8c7b6a5' },
    )
  })

  test('when the event type is missing, then 400 with path data.meta.event_type', () => {
    const p = deel.parse(signed(Buffer.from('{"data":{"meta":{},"resource":{"id":"1"}}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'data.meta.event_type')
  })

  test('when a contract event has no resource id, then 400 with path data.resource.id', () => {
    const p = deel.parse(signed(Buffer.from('{"data":{"meta":{"event_type":"contract.terminated"},"resource":{}}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'data.resource.id')
  })

  test('when the content type is multipart, then 415', () => {
    const p = deel.parse(signed(fixture('deel', 'contract-terminated.json'), KEY, 'multipart/form-data'))
    assert.equal(!p.ok && p.status, 415)
  })
})

describe('deel normalize against the emulator', () => {
  let emu: DeelEmulator
  let client: HrApiClient
  let cfg: HrSourceConfig
  before(async () => {
    emu = new DeelEmulator({ now: () => NOW.getTime() })
    await emu.listen()
    cfg = sourceConfig({ secrets: [KEY], api: { baseUrl: emu.apiBaseUrl, credentials: { type: 'bearer', token: emu.token } } })
    client = deel.createClient(cfg, { now: () => NOW.getTime() })!
  })
  after(() => emu.close())

  const notice = (name: string): HrNotice => {
    const p = deel.parse(signed(fixture('deel', name)))
    assert.ok(p.ok)
    return p.notices[0]!
  }
  const ctx = () => ({ client, receivedAt: NOW, foundBy: 'webhook' as const, config: cfg })

  test('when contract.terminated arrives, then employee.terminated on the contract’s termination date in the worker’s zone', async () => {
    emu.terminate('1001', '2026-01-30', { type: 'voluntary' })
    const [e] = await deel.normalize(notice('contract-terminated.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
    assert.equal(e.timeZone, 'Europe/London')
    assert.equal(e.voluntary, 'voluntary')
  })

  test('when Deel records an immediate termination, then employee.terminated is immediate', async () => {
    emu.terminate('1001', '2026-01-30', { type: 'involuntary', immediate: true, reason: 'Misconduct' })
    const [e] = await deel.normalize(notice('contract-terminated.json'), ctx())
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.immediate, true)
    assert.equal(e.voluntary, 'involuntary')
    assert.equal(e.reason, 'Misconduct')
  })

  test('when the contract is back in progress (status update), then termination_rescinded', async () => {
    emu.rescind('1001')
    const events = await deel.normalize(notice('contract-status-updated.json'), ctx())
    assert.equal(events[0]?.type, 'employee.termination_rescinded')
  })

  test('when contract.created arrives for a contract awaiting signature, then employee.hired as a pre-hire', async () => {
    const [e] = await deel.normalize(notice('contract-created.json'), ctx())
    assert.ok(e?.type === 'employee.hired')
    assert.equal(e.preHire, true)
  })

  test('when Deel answers 503, then the client throws Transient so the job retries', async () => {
    emu.injectFault({ status: 503 })
    await assert.rejects(client.getEmployee('1001'), { kind: 'Transient' })
  })

  test('when the roster is paged by cursor, then every contract arrives once', async () => {
    const ids: string[] = []
    for await (const r of client.listRoster({ pageSize: 2 })) ids.push(r.employeeId)
    assert.deepEqual(ids, ['1001', '1002', '1003'])
  })
})
