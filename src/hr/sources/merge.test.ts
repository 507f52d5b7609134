import { createHmac } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { merge } from './merge.ts'
import { MergeEmulator } from '../emulators/merge.ts'
import { delivery, fixture, sourceConfig } from '../testing.ts'
import type { HrApiClient, HrNotice, HrSourceConfig } from '../types.ts'

const KEY = 'merge-webhook-key'
const NOW = new Date('2026-01-30T08:20:00Z')
const config = sourceConfig({ secrets: [KEY, 'merge-next-key'] })

/** Merge: HMAC-SHA256 of the raw body, base64url. */
const mergeDigest = (key: string, body: Buffer) => createHmac('sha256', key).update(body).digest()
const withSig = (body: Buffer, signature: string, contentType = 'application/json') =>
  delivery('merge', body, { 'x-merge-webhook-signature': signature }, { contentType, receivedAt: NOW })

describe('merge verify', () => {
  const body = fixture('merge', 'employee-changed-inactive.json')

  test('when the signature is unpadded base64url, then it verifies', () => {
    const sig = mergeDigest(KEY, body).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
    assert.deepEqual(merge.verify(withSig(body, sig), config), { ok: true, secretIndex: 0 })
  })

  test('when the signature keeps its "=" padding (Python urlsafe_b64encode), then it verifies too', () => {
    const sig = mergeDigest(KEY, body).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
    assert.ok(sig.endsWith('='))
    assert.deepEqual(merge.verify(withSig(body, sig), config), { ok: true, secretIndex: 0 })
  })

  test('when the second configured key signed it, then secretIndex is 1', () => {
    assert.deepEqual(merge.verify(withSig(body, mergeDigest('merge-next-key', body).toString('base64url')), config), { ok: true, secretIndex: 1 })
  })

  test('when the body is tampered with, then bad_signature', () => {
    const d = withSig(body, mergeDigest(KEY, body).toString('base64url'))
    const v = merge.verify({ ...d, body: Buffer.from(d.body.toString().replace('INACTIVE', 'ACTIVE')) }, config)
    assert.equal(v.ok === false && v.reason, 'bad_signature')
  })

  test('when the header is missing, then missing_signature', () => {
    const v = merge.verify(delivery('merge', body, {}, { receivedAt: NOW }), config)
    assert.equal(v.ok === false && v.reason, 'missing_signature')
  })
})

describe('merge parse', () => {
  const sign = (body: Buffer, ct = 'application/json') => withSig(body, mergeDigest(KEY, body).toString('base64url'), ct)

  test('when Employee.changed arrives, then one notice keyed by the body hash (hook.id is not an event id)', () => {
    const p = merge.parse(sign(fixture('merge', 'employee-changed-inactive.json')))
    assert.ok(p.ok)
    assert.equal(p.notices[0]!.employeeId, '1001')
    assert.match(p.notices[0]!.dedupeKey, /^sha256:/)
  })

  test('when a LinkedAccount event arrives, then no notices', () => {
    assert.deepEqual(merge.parse(sign(fixture('merge', 'linked-account-synced.json'))), { ok: true, notices: [] })
  })

  test('when the employee id is missing, then 400 with path data.id', () => {
    const p = merge.parse(sign(Buffer.from('{"hook":{"event":"Employee.changed"},"data":{"first_name":"A"}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'data.id')
  })

  test('when employment_status is not one of Merge’s values, then 400 with path data.employment_status', () => {
    const p = merge.parse(sign(Buffer.from('{"hook":{"event":"Employee.changed"},"data":{"id":"1","employment_status":"GONE"}}')))
    assert.ok(!p.ok)
    assert.equal(p.path, 'data.employment_status')
  })

  test('when the content type is text/html, then 415', () => {
    const p = merge.parse(sign(fixture('merge', 'employee-added.json'), 'text/html'))
    assert.equal(!p.ok && p.status, 415)
  })
})

describe('merge normalize', () => {
  let emu: MergeEmulator
  let client: HrApiClient
  let cfg: HrSourceConfig
  let clock = NOW.getTime()
  before(async () => {
    emu = new MergeEmulator({ now: () => clock })
    await emu.listen()
    cfg = sourceConfig({
      secrets: [KEY],
      api: { baseUrl: emu.apiBaseUrl, credentials: { type: 'bearer', token: emu.apiKey } },
      merge: { accountToken: emu.accountToken },
    })
    client = merge.createClient(cfg, { now: () => NOW.getTime() })!
  })
  after(() => emu.close())

  const notice = (name: string): HrNotice => {
    const body = fixture('merge', name)
    const p = merge.parse(withSig(body, mergeDigest(KEY, body).toString('base64url')))
    assert.ok(p.ok)
    return p.notices[0]!
  }

  test('when no API is configured, then the payload’s INACTIVE employee with termination_date becomes employee.terminated', async () => {
    const [e] = await merge.normalize(notice('employee-changed-inactive.json'), { receivedAt: NOW, foundBy: 'webhook' })
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
  })

  test('when the API is configured but Merge’s record still shows the person active, then the re-fetch wins: an update, no termination', async () => {
    const events = await merge.normalize(notice('employee-changed-inactive.json'), { client, receivedAt: NOW, foundBy: 'webhook', config: cfg })
    assert.deepEqual(
      events.map((e) => e.type),
      ['employee.updated'],
    )
  })

  test('when Merge’s record shows the termination, then employee.terminated from the re-fetch', async () => {
    emu.terminate('1001', '2026-01-30')
    const [e] = await merge.normalize(notice('employee-changed-inactive.json'), { client, receivedAt: NOW, foundBy: 'webhook', config: cfg })
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveDate, '2026-01-30')
  })

  test('when Employee.added arrives for a PENDING employee, then employee.hired as a pre-hire', async () => {
    emu.upsertEmployee({ id: '1004', firstName: 'Katherine', lastName: 'Johnson', startDate: '2026-03-02', status: 'pending' })
    const [e] = await merge.normalize(notice('employee-added.json'), { client, receivedAt: NOW, foundBy: 'webhook', config: cfg })
    assert.ok(e?.type === 'employee.hired')
    assert.equal(e.preHire, true)
  })

  test('when asked for changes since a time, then Merge’s modified_after list is paged through, deletions included', async () => {
    clock += 3_600_000
    emu.upsertEmployee({ id: '1002', title: 'CTO' })
    emu.removeEmployee('1003')
    const changes = await client.listChangesSince!(new Date(clock - 1000))
    assert.deepEqual(
      changes.map((c) => [c.employeeId, c.deleted]).sort(),
      [
        ['1002', false],
        ['1003', true],
      ],
    )
  })

  test('when the account token is wrong, then AuthFailed', async () => {
    const bad = merge.createClient(sourceConfig({ ...cfg, api: { baseUrl: emu.apiBaseUrl, credentials: { type: 'bearer', token: emu.apiKey } }, merge: { accountToken: 'other' }, secrets: [KEY] }))!
    await assert.rejects(bad.getEmployee('1001'), { kind: 'AuthFailed' })
  })
})
