import { test } from 'node:test'
import assert from 'node:assert/strict'
import { defineSourceMapping, readProfile, statusOf } from './mapping.ts'
import { BAMBOOHR_MAPPING, bambooEmployeeSchema, bambooToRecord } from './sources/bamboohr.ts'

const table = defineSourceMapping<{ id: string; nick?: string | null; first?: string; org?: { name?: string } }, { upper: boolean }, string>({
  source: 'generic',
  vendor: 'Test',
  record: 'a test record',
  profile: {
    employeeId: { from: ['id'] },
    firstName: { from: ['nick', 'first'] },
    department: { from: ['org.name'] },
    title: { from: ['computed'], read: (r, ctx) => (ctx.upper ? r.id.toUpperCase() : r.id) },
  },
  status: {
    rules: [
      { status: 'terminated', when: 'gone', test: (s) => s === 'gone' },
      { status: 'pending', when: 'gone or soon', test: (s) => s === 'gone' || s === 'soon' },
    ],
    otherwise: 'active',
  },
})

test('when a vendor record is read through a table, then the first present field wins, null counts as absent, and a reader computes', () => {
  assert.deepEqual(readProfile(table, { id: 'e1', nick: null, first: 'Ada', org: { name: 'Eng' } }, { upper: true }), {
    employeeId: 'e1',
    firstName: 'Ada',
    department: 'Eng',
    title: 'E1',
  })
  assert.equal(readProfile(table, { id: 'e1', nick: 'Addie', first: 'Ada' }, { upper: false }).firstName, 'Addie')
  assert.equal(readProfile(table, { id: 'e1' }, { upper: false }).department, undefined)
})

test('when several status rules match, then the first one in the table decides', () => {
  assert.equal(statusOf(table, 'gone'), 'terminated')
  assert.equal(statusOf(table, 'soon'), 'pending')
  assert.equal(statusOf(table, 'here'), 'active')
})

test("when BambooHR's Employment Status is Terminated, then the record is terminated by the table's first rule", () => {
  const opts = { terminatedStatuses: ['Terminated'], leaveStatuses: [], defaultTimeZone: 'UTC' }
  const record = bambooToRecord(bambooEmployeeSchema.parse({ id: '7', firstName: 'Ada', lastName: 'L', status: 'Active', employmentHistoryStatus: 'Terminated' }), opts, new Date('2026-01-01T00:00:00Z'))
  assert.equal(record.employmentStatus, 'terminated')
  assert.equal(BAMBOOHR_MAPPING.status.rules[0]!.status, 'terminated')
})
