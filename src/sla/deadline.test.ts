import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { slaDeadline } from './deadline.ts'

describe('slaDeadline', () => {
  test('when the four-hour budget spans the Berlin spring change, then it is four real hours, not wall-clock hours', () => {
    // 00:30 CET on 2025-03-30 is 23:30Z; four hours later is 03:30Z = 05:30 CEST (wall clock shows five hours).
    assert.equal(slaDeadline('2025-03-30T00:30:00+01:00', 240), '2025-03-30T03:30:00.000Z')
  })

  test('when minutes are negative, then it is refused', () => {
    assert.throws(() => slaDeadline('2025-03-30T00:30:00Z', -5), /SLA minutes/)
  })
})
