import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { clampFutureTimestamps, isFutureTimestamp } from './timestamps.ts'
import type { CanonicalEvent } from '../../state-machines/events.ts'

const RECEIVED = new Date('2026-12-06T20:00:00.000Z')

describe('future vendor timestamps', () => {
  test('when a date-time lies beyond the tolerance, then it is future; within it, not', () => {
    assert.equal(isFutureTimestamp('2026-12-06T20:21:00Z', RECEIVED, 300), true)
    assert.equal(isFutureTimestamp('2026-12-06T20:04:59Z', RECEIVED, 300), false)
    assert.equal(isFutureTimestamp('2026-12-06T19:00:00Z', RECEIVED, 300), false)
  })

  test('when a date-only value is already today somewhere on Earth, then it is not future', () => {
    // 20:00 UTC on the 6th is already the 7th in Auckland (UTC+13) and Kiritimati (UTC+14).
    assert.equal(isFutureTimestamp('2026-12-07', RECEIVED, 300), false)
    assert.equal(isFutureTimestamp('2026-12-06', RECEIVED, 300), false)
    assert.equal(isFutureTimestamp('2026-12-08', RECEIVED, 300), true)
    // The 7th begins in Kiritimati (UTC+14) at 10:00 UTC on the 6th.
    assert.equal(isFutureTimestamp('2026-12-07', new Date('2026-12-06T10:00:00Z'), 300), false)
    assert.equal(isFutureTimestamp('2026-12-07', new Date('2026-12-06T09:00:00Z'), 300), true)
  })

  test('when an event is clamped, then occurredAt becomes receivedAt, the vendor value is kept, and the effective moment HR gave stays', () => {
    const event = {
      eventId: '2b0f6f36-7c52-4b0b-9a43-4a7c3b7e2d10',
      type: 'employee.terminated',
      source: 'gusto',
      sourceEventId: 'gusto:x',
      employeeId: 'G1',
      occurredAt: '2026-12-06T20:21:00.000Z',
      receivedAt: RECEIVED.toISOString(),
      foundBy: 'webhook',
      effectiveAt: '2026-12-07T09:00:00.000Z',
      voluntary: 'unknown',
      immediate: false,
    } as CanonicalEvent
    const { events, clamped } = clampFutureTimestamps([event], 300)
    assert.equal(clamped.length, 1)
    const e = events[0] as Extract<CanonicalEvent, { type: 'employee.terminated' }>
    assert.equal(e.occurredAt, RECEIVED.toISOString())
    assert.equal(e.effectiveAt, '2026-12-07T09:00:00.000Z', 'a termination scheduled for tomorrow still waits for tomorrow')
    assert.deepEqual(e.timestampClamped, { vendorOccurredAt: '2026-12-06T20:21:00.000Z', toleranceSeconds: 300 })
    assert.equal(clampFutureTimestamps([{ ...event, occurredAt: '2026-12-06T20:03:00.000Z' }], 300).clamped.length, 0)
  })
})
