import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { canonicalEventSchema } from '../../state-machines/events.ts'
import { deterministicUuid } from './crypto.ts'
import { cleanProfile, dateInZone, eventsForIntent, eventsFromDiff, type EventBase } from './derive.ts'
import type { HrEmployeeRecord } from './types.ts'

const FOUND = new Date('2026-02-02T08:00:00Z')

function record(overrides: Partial<HrEmployeeRecord> = {}): HrEmployeeRecord {
  return {
    source: 'bamboohr',
    employeeId: '42',
    profile: { employeeId: '42', firstName: 'Ada', lastName: 'Lovelace', workEmail: 'ada@example.com', title: 'Engineer' },
    employmentStatus: 'active',
    startDate: '2024-01-08',
    timeZone: 'Europe/London',
    leave: { onLeave: false },
    ...overrides,
  }
}

const types = (events: { type: string }[]) => events.map((e) => e.type)

describe('fromRecord (reconciliation diff)', () => {
  test('when Tenure never knew the person and HR shows them active, then employee.hired', () => {
    const [e] = eventsFromDiff(record(), undefined, { foundAt: FOUND })
    assert.ok(e?.type === 'employee.hired')
    assert.equal(e.preHire, false)
    assert.equal(e.foundBy, 'reconciliation')
  })

  test('when the start date is in the future in the employee’s zone, then the hire is a pre-hire', () => {
    const [e] = eventsFromDiff(record({ employmentStatus: 'pending', startDate: '2026-02-03' }), undefined, { foundAt: FOUND })
    assert.ok(e?.type === 'employee.hired')
    assert.equal(e.preHire, true)
  })

  test('when HR now shows a termination with an exact moment and for cause, then employee.terminated carries it', () => {
    const now = record({ employmentStatus: 'terminated', termination: { date: '2026-02-01', at: '2026-02-01T16:30:00.000Z', immediate: true, voluntary: 'involuntary' } })
    const [e] = eventsFromDiff(now, record(), { foundAt: FOUND })
    assert.ok(e?.type === 'employee.terminated')
    assert.deepEqual(
      { date: e.effectiveDate, at: e.effectiveAt, immediate: e.immediate, voluntary: e.voluntary, tz: e.timeZone, occurredAt: e.occurredAt },
      { date: '2026-02-01', at: '2026-02-01T16:30:00.000Z', immediate: true, voluntary: 'involuntary', tz: 'Europe/London', occurredAt: '2026-02-01T16:30:00.000Z' },
    )
  })

  test('when the termination date moves, then a new termination event (with a different id) is emitted', () => {
    const a = eventsFromDiff(record({ termination: { date: '2026-02-10' } }), record(), { foundAt: FOUND })
    const b = eventsFromDiff(record({ termination: { date: '2026-02-12' } }), record({ termination: { date: '2026-02-10' } }), { foundAt: FOUND })
    assert.deepEqual(types(a), ['employee.terminated'])
    assert.deepEqual(types(b), ['employee.terminated'])
    assert.notEqual(a[0]!.eventId, b[0]!.eventId)
  })

  test('when a recorded termination disappears, then termination_rescinded; when they return with a later start, rehired', () => {
    const left = record({ employmentStatus: 'terminated', termination: { date: '2026-01-31' } })
    assert.deepEqual(types(eventsFromDiff(record(), left, { foundAt: FOUND })), ['employee.termination_rescinded'])
    assert.deepEqual(types(eventsFromDiff(record({ startDate: '2026-03-01' }), left, { foundAt: FOUND })), ['employee.rehired'])
  })

  test('when only attributes changed, then employee.updated lists exactly those attributes', () => {
    const moved = record({ profile: { ...record().profile, title: 'Staff Engineer', department: 'Platform' } })
    const [e] = eventsFromDiff(moved, record(), { foundAt: FOUND })
    assert.ok(e?.type === 'employee.updated')
    assert.deepEqual(e.changes, { title: 'Staff Engineer', department: 'Platform' })
  })

  test('when nothing changed, then no events', () => {
    assert.deepEqual(eventsFromDiff(record(), record(), { foundAt: FOUND }), [])
  })

  test('when a leave starts and later ends, then leave_started then leave_ended', () => {
    const onLeave = record({ leave: { onLeave: true, startDate: '2026-02-01', expectedReturnDate: '2026-06-01' } })
    const [started] = eventsFromDiff(onLeave, record(), { foundAt: FOUND })
    assert.ok(started?.type === 'employee.leave_started')
    assert.equal(started.expectedReturnDate, '2026-06-01')
    const [ended] = eventsFromDiff(record(), onLeave, { foundAt: FOUND })
    assert.ok(ended?.type === 'employee.leave_ended')
    assert.equal(ended.effectiveDate, '2026-02-02')
  })

  test('when the same state is polled twice, then event ids repeat, and they are valid canonical events', () => {
    const now = record({ employmentStatus: 'terminated', termination: { date: '2026-02-01' } })
    const a = eventsFromDiff(now, record(), { foundAt: FOUND })
    const b = eventsFromDiff(now, record(), { foundAt: new Date(FOUND.getTime() + 1_800_000) })
    assert.equal(a[0]!.eventId, b[0]!.eventId)
    for (const e of [...a, ...b]) canonicalEventSchema.parse(e)
  })
})

describe('eventsForIntent (webhook path)', () => {
  const base: EventBase = {
    source: 'gusto',
    sourceEventId: 'gusto:evt-1',
    employeeId: '42',
    occurredAt: '2026-02-01T23:59:00Z',
    receivedAt: '2026-02-02T00:00:01.000Z',
    foundBy: 'webhook',
  }

  test('when a status change meets an active record, then a rescind, a leave end and the hire (a hire notice may have met the record still terminated)', () => {
    const events = eventsForIntent('status_changed', record(), { ...base, confirmed: true }, { now: FOUND })
    assert.deepEqual(types(events), ['employee.termination_rescinded', 'employee.leave_ended', 'employee.hired'])
    const hire = events[2]
    assert.ok(hire?.type === 'employee.hired')
    assert.equal(hire.startDate, '2024-01-08')
    assert.equal(new Set(events.map((e) => e.eventId)).size, 3)
    for (const e of events) assert.ok(canonicalEventSchema.safeParse(e).success)
  })

  test('when a termination notice meets a record without a termination, then nothing (stale or forged notices do not revoke)', () => {
    assert.deepEqual(eventsForIntent('terminated', record(), base, { now: FOUND }), [])
  })

  test('when a termination notice meets a record with an immediate termination, then immediate: true', () => {
    const [e] = eventsForIntent('terminated', record({ termination: { immediate: true, reason: 'gross misconduct' } }), base, { now: FOUND })
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.immediate, true)
    assert.equal(e.effectiveDate, undefined)
  })

  test('when a deleted person can no longer be fetched, then terminated as of the notice', () => {
    const [e] = eventsForIntent('deleted', undefined, base, { now: FOUND })
    assert.ok(e?.type === 'employee.terminated')
    assert.equal(e.effectiveAt, '2026-02-01T23:59:00Z')
    assert.equal(e.reason, 'removed in gusto')
    assert.equal(e.profile, undefined)
  })

  test('when the event id is derived, then it is the UUIDv5 of source, source event id and type', () => {
    const [e] = eventsForIntent('termination_rescinded', record(), base, { now: FOUND })
    assert.equal(e!.eventId, deterministicUuid('gusto', 'gusto:evt-1', 'employee.termination_rescinded'))
  })
})

describe('profiles and dates', () => {
  test('when a vendor sends a malformed email and an unknown zone, then those attributes are dropped, not the event', () => {
    const p = cleanProfile({ employeeId: '1', firstName: 'A', lastName: 'B', workEmail: 'not-an-email', timeZone: 'Mars/Olympus', countryCode: 'gb' })
    assert.deepEqual(p, { employeeId: '1', firstName: 'A', lastName: 'B', countryCode: 'GB' })
  })

  test('when a vendor omits names, then the display name or email local part stands in', () => {
    assert.deepEqual(
      [cleanProfile({ employeeId: '1', displayName: 'Grace Brewster Hopper' }), cleanProfile({ employeeId: '2', workEmail: 'kj@example.com' })].map((p) => [p.firstName, p.lastName]),
      [
        ['Grace', 'Brewster Hopper'],
        ['kj', '-'],
      ],
    )
  })

  test('when midnight UTC is still the previous day in Los Angeles, then dateInZone says so', () => {
    assert.equal(dateInZone(new Date('2026-02-02T03:00:00Z'), 'America/Los_Angeles'), '2026-02-01')
    assert.equal(dateInZone(new Date('2026-02-02T03:00:00Z'), 'not/a-zone'), '2026-02-02')
  })
})

describe('confirmed events and future vendor clocks', () => {
  const base: EventBase = {
    source: 'gusto',
    sourceEventId: 'gusto:1',
    employeeId: '42',
    occurredAt: '2026-02-02T08:21:00.000Z',
    receivedAt: FOUND.toISOString(),
    foundBy: 'webhook',
    confirmed: true,
  }

  test('when the re-fetched record says terminated, then the termination is confirmed; a removal or a contradicted notice is not', () => {
    const [t] = eventsForIntent('terminated', record({ employmentStatus: 'terminated', termination: { date: '2026-02-01' } }), base, { now: FOUND })
    assert.equal(t?.confirmed, true)
    const [gone] = eventsForIntent('deleted', undefined, base, { now: FOUND })
    assert.equal(gone?.confirmed, undefined)
    assert.deepEqual(eventsForIntent('terminated', record(), base, { now: FOUND }), [])
  })

  test('when a dateless termination is stamped in the future, then it takes effect on receipt, not later', () => {
    const [gone] = eventsForIntent('deleted', undefined, base, { now: FOUND })
    assert.ok(gone?.type === 'employee.terminated')
    assert.equal(gone.effectiveAt, FOUND.toISOString())
  })
})
