import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cloneData } from './draft.ts'

test('when a context is copied for a draft, then the copy is deep, independent and equal, as structuredClone made it', () => {
  const at = new Date('2026-12-07T01:00:00.000Z')
  const original = {
    systems: { slack: { status: 'active', residual: [{ kind: 'group', id: 'g1' }], pending: undefined } },
    seen: ['a', 'b'],
    n: 0,
    flag: false,
    none: null,
    odd: at,
    bare: Object.assign(Object.create(null) as object, { k: 1 }),
  }
  const copy = cloneData(original)
  assert.deepEqual(copy, structuredClone(original))
  assert.ok('pending' in copy.systems.slack, 'a key set to undefined is kept (a handler deleting a key relies on it)')
  assert.ok(copy.odd instanceof Date && copy.odd !== at && copy.odd.getTime() === at.getTime())
  copy.systems.slack.residual[0]!.id = 'changed'
  copy.seen.push('c')
  assert.equal(original.systems.slack.residual[0]!.id, 'g1')
  assert.deepEqual(original.seen, ['a', 'b'])
})
