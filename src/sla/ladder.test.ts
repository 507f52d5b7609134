import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { DEFAULT_ESCALATION_STEPS, type EscalationStep } from '../notify/config.ts'
import { dueSteps, escalationMoments, escalationNotification, nextEscalationAt, type CaseInfo } from './ladder.ts'
import { notificationSchema } from '../notify/model.ts'

const EFFECTIVE = '2025-03-03T09:00:00.000Z'
const DEADLINE = '2025-03-03T13:00:00.000Z' // a four-hour budget
const at = (hhmm: string) => `2025-03-03T${hhmm}:00.000Z`
const window = { effectiveAt: EFFECTIVE, deadlineAt: DEADLINE, steps: DEFAULT_ESCALATION_STEPS }
const names = (xs: Array<{ step: EscalationStep }>) => xs.map((x) => x.step.name)

describe('escalation moments', () => {
  test('when the budget is four hours, then notify, page and breach fall at 2h, 3h and 4h', () => {
    assert.deepEqual(
      escalationMoments(window).map((m) => [m.step.name, m.dueAt]),
      [
        ['notify', at('11:00')],
        ['page', at('12:00')],
        ['breach', at('13:00')],
      ],
    )
  })

  test('when the deadline is not after the effective moment, then the window is refused', () => {
    assert.throws(() => escalationMoments({ ...window, deadlineAt: EFFECTIVE }), /deadlineAt must be after effectiveAt/)
  })
})

describe('due steps', () => {
  test('when a case is checked before half-time, then nothing is due and the next timer is at 2h', () => {
    assert.deepEqual(dueSteps(at('10:59'), window, []), [])
    assert.equal(nextEscalationAt(window, []), at('11:00'))
  })

  test('when the check runs exactly at a step moment, then that step is due', () => {
    assert.deepEqual(names(dueSteps(at('11:00'), window, [])), ['notify'])
  })

  test('when HR reported the termination three hours late, then the 50% and 75% steps are both due at once, in order', () => {
    const owed = dueSteps(at('12:00'), window, [])
    assert.deepEqual(names(owed), ['notify', 'page'])
    assert.equal(nextEscalationAt(window, names(owed)), at('13:00'))
  })

  test('when steps were already sent, then they are never owed again, however often the check runs', () => {
    const sent = new Set<string>()
    const log: string[] = []
    for (const now of [at('11:00'), at('11:30'), at('12:00'), at('12:00'), at('13:05'), at('18:00')]) {
      for (const m of dueSteps(now, window, sent)) {
        sent.add(m.step.name)
        log.push(m.step.name)
      }
    }
    assert.deepEqual(log, ['notify', 'page', 'breach'])
    assert.equal(nextEscalationAt(window, sent), undefined)
  })

  test('when checks run at any times in any order, then every step that fell due is sent exactly once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60_000, max: 48 * 3_600_000 }),
        fc.array(fc.integer({ min: -3_600_000, max: 60 * 3_600_000 }), { minLength: 1, maxLength: 12 }),
        (budget, offsets) => {
          const start = Date.parse(EFFECTIVE)
          const w = { ...window, deadlineAt: new Date(start + budget).toISOString() }
          const sent: string[] = []
          for (const offset of offsets) for (const m of dueSteps(start + offset, w, sent)) sent.push(m.step.name)
          const latest = start + Math.max(...offsets)
          const expected = escalationMoments(w).filter((m) => Date.parse(m.dueAt) <= latest).map((m) => m.step.name)
          assert.deepEqual([...sent].sort(), [...expected].sort())
        },
      ),
    )
  })

  test('when the case closed before a step fell due, then a catch-up pass after a restart does not send it', () => {
    assert.deepEqual(names(dueSteps(at('14:00'), { ...window, closedAt: at('11:30') }, [])), ['notify'])
  })

  test('when a custom ladder is configured, then its own fractions are used', () => {
    const steps: EscalationStep[] = [
      { name: 'heads-up', atFraction: 0.25, channels: ['log'], recipients: ['approvers'] },
      { name: 'breach', atFraction: 1, channels: ['slack', 'webhook'], recipients: ['approvers'] },
    ]
    assert.deepEqual(
      escalationMoments({ ...window, steps }).map((m) => m.dueAt),
      [at('10:00'), at('13:00')],
    )
  })
})

describe('escalation notification', () => {
  const info: CaseInfo = {
    caseId: 'emp-1042:3',
    employeeId: 'emp-1042',
    employeeName: 'Jane Doe',
    effectiveAt: EFFECTIVE,
    deadlineAt: DEADLINE,
    now: at('12:00'),
    systems: [
      { system: 'google', status: 'verified', verified: true },
      { system: 'jira', status: 'revoking', verified: false },
      { system: 'slack', status: 'verify_failed', verified: false, lastError: { kind: 'Transient', message: 'HTTP 503', at: at('11:58') } },
    ],
    consoleUrl: 'http://127.0.0.1:8080/employees/emp-1042',
  }
  const page = DEFAULT_ESCALATION_STEPS[1]!
  const breach = DEFAULT_ESCALATION_STEPS[2]!

  test('when the page step is built, then the title names the fraction, budget and person and the text lists unverified systems with time left', () => {
    const n = escalationNotification(info, page)
    assert.equal(n.id, 'emp-1042:3:page')
    assert.equal(n.kind, 'sla.page')
    assert.equal(n.severity, 'critical')
    assert.equal(n.title, 'Leaver revocation at 75% of its 4-hour budget: Jane Doe')
    assert.equal(
      n.text,
      [
        '2 of 3 systems not yet verified:',
        '• jira: revoking',
        `• slack: verify_failed; last error (Transient): HTTP 503 at ${at('11:58')}`,
        `1h 00m left (deadline ${DEADLINE}).`,
      ].join('\n'),
    )
    assert.equal(n.occurredAt, at('12:00'))
    assert.deepEqual(n.subject, { employeeId: 'emp-1042', employeeName: 'Jane Doe', caseId: 'emp-1042:3' })
    assert.ok(notificationSchema.safeParse(n).success, 'valid as a job payload')
  })

  test('when the breach step is built after the deadline, then it says the deadline was missed and by how much', () => {
    const n = escalationNotification({ ...info, now: at('13:20') }, breach)
    assert.equal(n.title, 'Leaver revocation missed its 4-hour deadline: Jane Doe')
    assert.match(n.text, /20m over the deadline/)
    assert.equal(n.severity, 'critical')
  })

  test('when the notify step is built, then it is a warning, and building it again later keeps the same id', () => {
    const first = escalationNotification({ ...info, now: at('11:00') }, DEFAULT_ESCALATION_STEPS[0]!)
    const again = escalationNotification({ ...info, now: at('11:40') }, DEFAULT_ESCALATION_STEPS[0]!)
    assert.equal(first.severity, 'warning')
    assert.equal(first.id, again.id)
    assert.equal(first.occurredAt, again.occurredAt)
  })

  test('when the case id holds a dot, then the id carries no dot (it is signed as the webhook-id) and stays distinct', () => {
    const dotted = escalationNotification({ ...info, caseId: 'jane.doe:1' }, page)
    const underscored = escalationNotification({ ...info, caseId: 'jane_doe:1' }, page)
    assert.doesNotMatch(dotted.id, /\./)
    assert.notEqual(dotted.id, underscored.id)
  })

  test('when the budget is not whole hours, then it is named in minutes', () => {
    const n = escalationNotification({ ...info, deadlineAt: '2025-03-03T10:30:00.000Z', now: at('09:45') }, DEFAULT_ESCALATION_STEPS[0]!)
    assert.equal(n.title, 'Leaver revocation at 50% of its 90-minute budget: Jane Doe')
  })
})
