import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { enableMoment, iso, leaveMoment, parseInstant, plusMinutes, provisionMoment, resolveZone, terminationMoment } from './schedule.ts'

const opts = { dateOnlyMeans: 'end_of_day', defaultTimeZone: 'UTC' } as const

describe('terminationMoment', () => {
  test('when only a date is given, then access ends at the end of that day in the employee zone', () => {
    const m = terminationMoment({ effectiveDate: '2025-06-30', immediate: false, timeZone: 'Europe/Berlin' }, opts, '2025-06-01T00:00:00Z')
    // Midnight after 30 June in Berlin (CEST, UTC+2) is 22:00 UTC on the 30th.
    assert.equal(m.effectiveAt, '2025-06-30T22:00:00.000Z')
    assert.equal(m.at, m.effectiveAt)
    assert.equal(m.late, false)
    assert.equal(m.immediate, false)
  })

  test('when configured as start_of_day, then a date-only termination ends access when the day begins', () => {
    const m = terminationMoment(
      { effectiveDate: '2025-06-30', immediate: false, timeZone: 'America/New_York' },
      { dateOnlyMeans: 'start_of_day', defaultTimeZone: 'UTC' },
      '2025-06-01T00:00:00Z',
    )
    assert.equal(m.effectiveAt, '2025-06-30T04:00:00.000Z')
  })

  test('when the last day is the Sunday clocks spring forward in Berlin, then the day is 23 hours long and ends at local midnight', () => {
    // 2025-03-30: 02:00 CET → 03:00 CEST. The day starts at 23:00Z on the 29th and ends at 22:00Z on the 30th.
    const m = terminationMoment({ effectiveDate: '2025-03-30', immediate: false, timeZone: 'Europe/Berlin' }, opts, '2025-03-01T00:00:00Z')
    assert.equal(m.effectiveAt, '2025-03-30T22:00:00.000Z')
    const start = terminationMoment(
      { effectiveDate: '2025-03-30', immediate: false, timeZone: 'Europe/Berlin' },
      { ...opts, dateOnlyMeans: 'start_of_day' },
      '2025-03-01T00:00:00Z',
    )
    assert.equal(Date.parse(m.effectiveAt) - Date.parse(start.effectiveAt), 23 * 3600_000)
  })

  test('when the last day is the November Sunday New York falls back, then the day is 25 hours long', () => {
    // 2025-11-02: 02:00 EDT → 01:00 EST.
    const end = terminationMoment({ effectiveDate: '2025-11-02', immediate: false, timeZone: 'America/New_York' }, opts, '2025-10-01T00:00:00Z')
    assert.equal(end.effectiveAt, '2025-11-03T05:00:00.000Z')
    const start = terminationMoment(
      { effectiveDate: '2025-11-02', immediate: false, timeZone: 'America/New_York' },
      { ...opts, dateOnlyMeans: 'start_of_day' },
      '2025-10-01T00:00:00Z',
    )
    assert.equal(start.effectiveAt, '2025-11-02T04:00:00.000Z')
    assert.equal(Date.parse(end.effectiveAt) - Date.parse(start.effectiveAt), 25 * 3600_000)
  })

  test('when the date is already past on arrival, then it runs now but keeps the HR moment for the SLA clock', () => {
    const now = '2025-07-02T10:00:00.000Z'
    const m = terminationMoment({ effectiveDate: '2025-06-30', immediate: false, timeZone: 'Europe/Berlin' }, opts, now)
    assert.equal(m.late, true)
    assert.equal(m.runAt, now)
    assert.equal(m.at, now)
    assert.equal(m.effectiveAt, '2025-06-30T22:00:00.000Z')
  })

  test('when immediate with a future date, then it runs now and the SLA clock starts now', () => {
    const now = '2025-06-01T10:00:00.000Z'
    const m = terminationMoment({ effectiveDate: '2025-06-30', immediate: true, timeZone: 'Europe/Berlin' }, opts, now)
    assert.deepEqual([m.at, m.effectiveAt, m.immediate, m.late], [now, now, true, true])
  })

  test('when immediate with a past exact moment, then the SLA clock starts at that moment', () => {
    const m = terminationMoment({ effectiveAt: '2025-06-01T08:00:00+02:00', immediate: true }, opts, '2025-06-01T10:00:00Z')
    assert.equal(m.effectiveAt, '2025-06-01T06:00:00.000Z')
    assert.equal(m.runAt, '2025-06-01T10:00:00.000Z')
  })

  test('when an exact moment and a date are both given, then the exact moment wins', () => {
    const m = terminationMoment(
      { effectiveAt: '2025-06-30T15:30:00+02:00', effectiveDate: '2025-06-30', immediate: false, timeZone: 'Europe/Berlin' },
      opts,
      '2025-06-01T00:00:00Z',
    )
    assert.equal(m.effectiveAt, '2025-06-30T13:30:00.000Z')
  })

  test('when the employee zone is missing or invalid, then the default zone is used', () => {
    const m = terminationMoment(
      { effectiveDate: '2025-06-30', immediate: false, timeZone: 'Mars/Olympus' },
      { dateOnlyMeans: 'end_of_day', defaultTimeZone: 'Asia/Tokyo' },
      '2025-06-01T00:00:00Z',
    )
    assert.equal(m.timeZone, 'Asia/Tokyo')
    assert.equal(m.effectiveAt, '2025-06-30T15:00:00.000Z')
    assert.throws(() => resolveZone(undefined, 'Nowhere/Land'), /invalid default time zone/)
  })

  test('when no date and not immediate, then it is refused', () => {
    assert.throws(() => terminationMoment({ immediate: false }, opts, '2025-06-01T00:00:00Z'), /needs effectiveDate/)
    assert.throws(() => terminationMoment({ effectiveDate: '30/06/2025', immediate: false }, opts, '2025-06-01T00:00:00Z'), /YYYY-MM-DD/)
  })
})

describe('joiner moments', () => {
  test('when accounts are created three days ahead across the Berlin spring change, then it is local midnight three calendar days before', () => {
    // Start Tuesday 2025-04-01 (CEST); three days before is Saturday 2025-03-29 (still CET, UTC+1).
    assert.equal(provisionMoment('2025-04-01', 'Europe/Berlin', 3), '2025-03-28T23:00:00.000Z')
    assert.equal(provisionMoment('2025-04-01', 'Europe/Berlin', 0), '2025-03-31T22:00:00.000Z')
  })

  test('when day one starts at 09:00 in New York after the November change, then it is 14:00Z', () => {
    assert.equal(enableMoment('2025-11-03', 'America/New_York', '09:00'), '2025-11-03T14:00:00.000Z')
    assert.equal(enableMoment('2025-10-31', 'America/New_York', '09:00'), '2025-10-31T13:00:00.000Z')
  })

  test('when the configured start time does not exist on a spring-forward day, then it moves forward to the first valid instant', () => {
    // 02:30 does not exist in Berlin on 2025-03-30; luxon moves it to 03:30 CEST = 01:30Z.
    assert.equal(enableMoment('2025-03-30', 'Europe/Berlin', '02:30'), '2025-03-30T01:30:00.000Z')
  })

  test('when the start time is repeated on a fall-back day, then the first occurrence is used', () => {
    // 01:30 happens twice in New York on 2025-11-02; the first is EDT (UTC-4).
    assert.equal(enableMoment('2025-11-02', 'America/New_York', '01:30'), '2025-11-02T05:30:00.000Z')
  })

  test('when midnight itself is skipped (Santiago, September), then the day starts at 01:00 local', () => {
    // Chile moved clocks from 24:00 to 01:00 on 2024-09-08.
    assert.equal(leaveMoment('2024-09-08', 'America/Santiago'), '2024-09-08T04:00:00.000Z')
  })

  test('when inputs are malformed, then they are refused with the field named', () => {
    assert.throws(() => enableMoment('2025-11-03', 'UTC', '9am'), /dayStartsAt/)
    assert.throws(() => provisionMoment('2025-11-03', 'UTC', -1), /leadTimeDays/)
    assert.throws(() => leaveMoment('2025-13-45', 'UTC'), /date/)
  })
})

describe('plusMinutes', () => {
  test("when a moment is added minutes, then the text is luxon's, whether or not it takes the Date fast path", () => {
    const moments = ['2026-12-07T01:23:37.000Z', '2026-03-29T00:59:59.999Z', '2024-02-29T23:59:00.123Z', '0001-01-01T00:00:00.000Z', '9999-12-31T23:00:00.000Z', '2026-12-07T03:23:37+02:00', '2026-12-07T01:23:37Z']
    for (const at of moments) {
      for (const minutes of [0, 1, 240, 1440, 100_000]) {
        assert.equal(plusMinutes(at, minutes, 'effectiveAt'), iso(parseInstant(at, 'effectiveAt').plus({ minutes })), `${at} + ${minutes}`)
      }
    }
  })

  test('when the moment is not a real date, then it is refused as luxon refuses it (Date.parse would roll 02-30 over)', () => {
    assert.throws(() => plusMinutes('2026-02-30T00:00:00.000Z', 240, 'effectiveAt'), /effectiveAt/)
    assert.throws(() => plusMinutes('2026-13-01T00:00:00.000Z', 240, 'effectiveAt'), /effectiveAt/)
  })
})
