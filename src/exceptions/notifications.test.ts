import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { notificationSchema, slackRoute } from '../notify/index.ts'
import { approvalConfig, durationMs, exceptionsConfigSchema } from './config.ts'
import { parseWhen } from './cli.ts'
import { deadlineEffect, exceptionNotification, type ExceptionFacts } from './notifications.ts'
import type { OpenCase } from './store.ts'

const NOW = new Date('2025-06-02T10:00:00.000Z')

const facts: ExceptionFacts = {
  id: '6f0c6a51-8a4c-4b8e-9d0f-1c2d3e4f5a6b',
  kind: 'sla_waiver',
  employeeId: '0b7f1e2d-3c4b-4a59-8687-96a5b4c3d2e1',
  employeeName: 'Ada Lovelace',
  system: 'entra',
  reason: 'Microsoft Graph incident MO123456',
  requestedBy: 'tok-1',
  requesterName: 'it-ops',
  startsAt: NOW.toISOString(),
  endsAt: '2025-06-03T09:00:00.000Z',
  approvals: [],
}

function openCase(deadline: string): OpenCase {
  return {
    id: 'c1',
    status: 'open',
    effectiveAt: new Date(Date.parse(deadline) - 4 * 3_600_000),
    deadlineAt: new Date(deadline),
    breachedAt: null,
    details: {},
    systems: [
      { system: 'entra', status: 'failed', deadlineAt: new Date(deadline), verifiedAt: null },
      { system: 'google', status: 'verified', deadlineAt: new Date(deadline), verifiedAt: new Date(deadline) },
    ],
  }
}

describe('exception notifications', () => {
  test('when an sla_waiver is requested before its deadline, then approvers read what, who, why, how long and the deadline move', () => {
    const n = exceptionNotification({ kind: 'approval_requested', lapsed: false, facts, deadline: deadlineEffect(facts, openCase('2025-06-02T13:00:00.000Z'), NOW), version: 1, occurredAt: NOW.toISOString() })!
    assert.equal(notificationSchema.safeParse(n).success, true)
    assert.equal(n.kind, 'exception.requested')
    assert.equal(slackRoute(n.kind), 'approvals')
    assert.equal(n.title, 'Approval needed: sla_waiver on entra for Ada Lovelace')
    assert.match(n.text, /^What: Waive the revocation deadline of entra until 2025-06-03T09:00:00.000Z \(23h 00m from /)
    assert.match(n.text, /Requested by: it-ops \(tok-1\)/)
    assert.match(n.text, /Why: Microsoft Graph incident MO123456/)
    assert.match(n.text, /Deadline: Moves the revocation deadline of entra from 2025-06-02T13:00:00.000Z to 2025-06-03T09:00:00.000Z, if approved before .* \(in 3h 00m\)/)
    assert.match(n.text, /tenure exceptions approve 6f0c6a51/)
    assert.equal(n.details?.deadlineAt, '2025-06-02T13:00:00.000Z')
    const long = exceptionNotification({ kind: 'approval_requested', lapsed: false, facts: { ...facts, kind: 'delay_revocation', endsAt: '2025-06-16T14:00:00.000Z' }, version: 1, occurredAt: NOW.toISOString() })!
    assert.match(long.text, /\(14 d 4 h from /)
  })

  test('when the deadline has already passed, then the request says approving will not hide the breach', () => {
    const effect = deadlineEffect(facts, openCase('2025-06-02T09:00:00.000Z'), NOW)
    assert.match(effect.text, /has already passed \(1h 00m ago\): approving records the waiver, but the breach stays on record/)
  })

  test('when a delay, a hold or extra access is requested, then the deadline line says it does not move', () => {
    const kase = openCase('2025-06-02T13:00:00.000Z')
    assert.match(deadlineEffect({ ...facts, kind: 'delay_revocation' }, kase, NOW).text, /does not move: while the delay lasts entra shows waiting_exception/)
    assert.match(deadlineEffect({ ...facts, kind: 'legal_hold', system: null }, kase, NOW).text, /disabled on time; only deletion, licence removal and data transfer are held back/)
    assert.match(deadlineEffect({ ...facts, kind: 'delay_revocation' }, undefined, NOW).text, /No leaver case is open/)
    assert.match(deadlineEffect({ ...facts, kind: 'extra_access' }, undefined, NOW).text, /No effect on revocation deadlines/)
  })

  test('when a request is rejected, then the requester reads who rejected it and why; a refusal sends nothing', () => {
    const n = exceptionNotification({ kind: 'exception_rejected', lapsed: false, facts, decision: { actorId: 'sub-9', actorName: 'Carol', reason: 'use the incident runbook' }, version: 2, occurredAt: NOW.toISOString() })!
    assert.equal(n.kind, 'exception.decided')
    assert.match(n.text, /Rejected by: Carol \(sub-9\): use the incident runbook/)
    assert.equal(exceptionNotification({ kind: 'request_refused', lapsed: false, facts, version: 2, occurredAt: NOW.toISOString() }), undefined)
    const lapsed = exceptionNotification({ kind: 'exception_expired', lapsed: true, facts, version: 2, occurredAt: NOW.toISOString() })!
    assert.equal(lapsed.kind, 'exception.lapsed')
    assert.notEqual(lapsed.id, n.id)
  })
})

describe('exceptions config and CLI times', () => {
  test('when durations are configured, then they are read in s, m, h, d and w, and anything else is refused', () => {
    assert.deepEqual(['90s', '30m', '24h', '14d', '2w'].map(durationMs), [90_000, 1_800_000, 86_400_000, 14 * 86_400_000, 14 * 86_400_000])
    assert.equal(durationMs('0d'), undefined)
    assert.equal(durationMs('1y'), undefined)
    const parsed = exceptionsConfigSchema.safeParse({ maxDuration: { sla_waiver: '3 days' } })
    assert.equal(parsed.success, false)
    assert.deepEqual(parsed.error?.issues[0]?.path, ['maxDuration', 'sla_waiver'])
    const cfg = approvalConfig(exceptionsConfigSchema.parse({ requestExpiry: '30m', maxDuration: { sla_waiver: '12h' } }))
    assert.equal(cfg.answerWithinHours, 0.5)
    assert.equal(cfg.maxDays?.sla_waiver, 0.5)
    assert.equal(cfg.maxDays?.delay_revocation, 14)
  })

  test('when a CLI time is given, then ISO 8601 and durations from now are accepted, anything else is refused', () => {
    assert.equal(parseWhen('+8h', NOW), '2025-06-02T18:00:00.000Z')
    assert.equal(parseWhen('3d', NOW), '2025-06-05T10:00:00.000Z')
    assert.equal(parseWhen('2025-07-01T00:00:00+02:00', NOW), '2025-06-30T22:00:00.000Z')
    assert.throws(() => parseWhen('tomorrow', NOW), /ISO 8601/)
    assert.throws(() => parseWhen('2025-07-01', NOW), /ISO 8601/)
  })
})
