/**
 * The revoke → verify → clean-up progression of one system, row by row: the step in flight and
 * what came back → the next step, the system's status and what the case gains. The machine tests
 * (employee-lifecycle.machine.test.ts, "failures and re-opened cases") walk the same rows through
 * the whole machine; this table is the one place to read them all.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  MAX_CUTOFF_RERUNS,
  decideRevocation,
  type RevocationDecision,
  type RevocationOutcomes,
  type RevocationStep,
} from './revocation-progress.ts'

type Row = {
  [S in RevocationStep]: {
    step: S
    outcome: RevocationOutcomes[S]
    /** Still to be revoked (false: rescinded or granted again meanwhile). */
    revoking: boolean
    failedVerifications?: number
    then: RevocationDecision
  }
}[RevocationStep]

const MAX = MAX_CUTOFF_RERUNS
const ROWS: Row[] = [
  // cut-off
  { step: 'cutoff', outcome: 'revoked', revoking: true, then: { next: 'verify', status: 'revoked' } },
  { step: 'cutoff', outcome: 'revoked', revoking: false, then: { next: 'reconcile', status: 'revoked' } },
  { step: 'cutoff', outcome: 'failed', revoking: true, then: { next: 'person', status: 'failed', residual: 'account', notify: 'job_failed' } },
  { step: 'cutoff', outcome: 'failed', revoking: false, then: { next: 'person', status: 'failed', residual: 'account', notify: 'job_failed' } },
  // verification
  { step: 'verify', outcome: 'verified', revoking: true, then: { next: 'cleanup', status: 'verified' } },
  { step: 'verify', outcome: 'verified', revoking: false, then: { next: 'reconcile', status: 'verified' } },
  { step: 'verify', outcome: 'still_works', revoking: true, failedVerifications: 1, then: { next: 'cutoff' } },
  { step: 'verify', outcome: 'still_works', revoking: true, failedVerifications: MAX, then: { next: 'cutoff' } },
  { step: 'verify', outcome: 'still_works', revoking: true, failedVerifications: MAX + 1, then: { next: 'person', status: 'verify_failed', notify: 'verification_failed' } },
  { step: 'verify', outcome: 'still_works', revoking: false, failedVerifications: 1, then: { next: 'reconcile' } },
  { step: 'verify', outcome: 'still_works', revoking: false, failedVerifications: MAX + 1, then: { next: 'reconcile' } },
  { step: 'verify', outcome: 'failed', revoking: true, then: { next: 'person', status: 'failed', residual: 'account', notify: 'job_failed' } },
  // clean-up
  { step: 'cleanup', outcome: 'revoked', revoking: true, then: { next: 'finished', status: 'done' } },
  { step: 'cleanup', outcome: 'revoked', revoking: false, then: { next: 'finished', status: 'done' } },
  { step: 'cleanup', outcome: 'failed', revoking: true, then: { next: 'finished', status: 'done', residual: 'cleanup', notify: 'job_failed' } },
]

describe('revocation progress', () => {
  for (const row of ROWS) {
    const facts = `${row.revoking ? 'still revoking' : 'no longer revoking'}${row.failedVerifications === undefined ? '' : `, ${row.failedVerifications} failed verification(s)`}`
    test(`when ${row.step} comes back ${row.outcome} (${facts}), then ${row.then.next}${row.then.status ? ` with status ${row.then.status}` : ''}`, () => {
      const decision = decideRevocation(row.step, row.outcome, { revoking: row.revoking, failedVerifications: row.failedVerifications ?? 0 })
      assert.deepEqual(decision, row.then)
    })
  }

  test('when every step and outcome is listed, then the table has a row for each (with and without the revocation still wanted)', () => {
    const outcomes: { [S in RevocationStep]: RevocationOutcomes[S][] } = {
      cutoff: ['revoked', 'failed'],
      verify: ['verified', 'still_works', 'failed'],
      cleanup: ['revoked', 'failed'],
    }
    const missing: string[] = []
    for (const [step, list] of Object.entries(outcomes))
      for (const outcome of list)
        if (!ROWS.some((r) => r.step === step && r.outcome === outcome && r.revoking)) missing.push(`${step}/${outcome}`)
    assert.deepEqual(missing, [])
  })
})
