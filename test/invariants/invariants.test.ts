/**
 * The access invariant in `npm test`: a fixed seed and a few whole-pipeline scenarios (a few
 * minutes at most). `npm run check:invariants -- --runs N --seed S` runs as many as you like;
 * docs/testing.md lists what the scenarios cover and the runs made.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runInvariantCheck } from './run.ts'

const SEED = 20261206

test('when randomized HR scenarios run through the whole pipeline, then every leaver loses all access in every target and Tenure never claims otherwise', async () => {
  const lines: string[] = []
  const result = await runInvariantCheck({ seed: SEED, runs: 6, maxCommands: 16, crashes: true, shrink: false, log: (line) => lines.push(line) })
  const report = result.failure
    ? [
        `seed ${result.failure.seed} path ${result.failure.path ?? '-'}`,
        `scenario: ${result.failure.scenario}`,
        ...result.failure.violations.map((v) => `${v.rule} ${v.system} ${v.person}: ${v.detail}`),
        ...lines.filter((l) => l.includes('tenure says')),
        `replay: npm run check:invariants -- --runs 5 --scenario '${result.failure.scenario}'`,
      ].join('\n')
    : ''
  assert.equal(result.failure, undefined, report)
  assert.ok(result.runs >= 6, `${result.runs} scenarios ran`)
})
