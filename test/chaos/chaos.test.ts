/**
 * The chaos run's short form, inside `npm test`: a serve and two workers, 24 leavers and 8
 * joiners, three kill -9s and one PostgreSQL restart while Jira answers 503 and Google 429. The
 * full form is `npm run chaos`; its figures are in docs/reliability.md.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runChaos } from './run.ts'

test('when Tenure processes are killed and PostgreSQL restarts during a leaver wave, then every leaver loses all access, nothing is done twice and the audit chain verifies', async () => {
  const lines: string[] = []
  const r = await runChaos({ leavers: 24, joiners: 8, workers: 2, kills: 3, pgRestarts: 1, faultWindowMs: 20_000, waveMs: 15_000, tailMs: 15_000, seed: 20261206, log: (l) => lines.push(l) })
  const report = `\n${lines.join('\n')}\n${JSON.stringify({ ...r, violations: r.violations.slice(0, 10) }, null, 2)}`
  assert.deepEqual(r.violations, [], report)
  assert.equal(r.kills.length, 3, report)
  assert.equal(r.pgRestarts.length, 1, report)
  assert.equal(r.duplicateEnqueues, 0, report)
  assert.equal(r.duplicateRevocations, 0, report)
  assert.equal(r.deadLetters, 0, report)
  assert.equal(r.auditVerify.code, 0, report)
  assert.ok(r.calls.faults > 0, `the targets' faults were hit: ${report}`)
})
