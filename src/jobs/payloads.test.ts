import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hrEventJobSchema, systemJobSchema, timerJobSchema, type SystemJobData } from './payloads.ts'

const leaverJob: SystemJobData = {
  correlationId: 'c-1',
  employeeId: '6f1c1e5e-2d3a-4a8e-9a51-0c9f6c2b7d10',
  externalId: 'E1',
  accountKey: 'E1',
  source: 'bamboohr',
  generation: 2,
  request: {
    key: 'bamboohr:E1:slack:deprovision:cutoff:g2',
    system: 'slack',
    action: 'deprovision',
    phase: 'cutoff',
    plan: { phase: 'cutoff', steps: ['disable', 'revoke_sessions'], options: { legalHold: true, granted: { account: true, groups: [], licences: [], channels: ['C1'], projects: [], roles: [] } } },
  },
  profile: { employeeId: 'E1', firstName: 'Ada', lastName: 'Lovelace', workEmail: 'ada@example.com' },
  deadlineAt: '2026-01-30T17:00:00.000Z',
}

test('when a job payload the engine wrote is read back through its schema, then it is the same value', () => {
  assert.deepEqual(systemJobSchema.parse(JSON.parse(JSON.stringify(leaverJob))), leaverJob)
  const timer = { correlationId: 'c', employeeId: leaverJob.employeeId, timerId: 't', timer: 'terminate' as const }
  assert.deepEqual(timerJobSchema.parse(timer), timer)
  const hr = { inboxId: leaverJob.employeeId, correlationId: 'c' }
  assert.deepEqual(hrEventJobSchema.parse(hr), hr)
})

test('when a newer Tenure added keys to a job request, then an older worker keeps them for the re-queue', () => {
  const newer = { ...leaverJob, request: { ...leaverJob.request, futureField: 'x' } }
  const request = systemJobSchema.parse(newer).request
  assert.equal('futureField' in request ? request.futureField : undefined, 'x')
})

test('when a payload names a revocation step or HR source Tenure does not know, then the schema refuses it', () => {
  const badStep = { ...leaverJob, request: { ...leaverJob.request, plan: { phase: 'cutoff', steps: ['shred'], options: {} } } }
  assert.equal(systemJobSchema.safeParse(badStep).success, false)
  assert.equal(systemJobSchema.safeParse({ ...leaverJob, source: 'nowhere' }).success, false)
})
