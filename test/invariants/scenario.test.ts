/**
 * A printed scenario reads back into the same commands: what `--scenario` replays is exactly what a
 * failure printed, shrunk or not.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { describeScenario, parseScenario, scenarioArbitrary } from './model.ts'

test('when any generated scenario is printed and read back, then it prints the same again', () => {
  const samples = fc.sample(scenarioArbitrary({ crashes: true, maxCommands: 16 }), { seed: 42, numRuns: 200 })
  let commands = 0
  for (const { skewGeneric, skewBamboo, cmds } of samples) {
    const list = [...cmds]
    commands += list.length
    const printed = describeScenario({ generic: skewGeneric, bamboohr: skewBamboo }, list)
    const parsed = parseScenario(printed)
    assert.equal(describeScenario(parsed.skew, parsed.cmds), printed)
    assert.equal(parsed.cmds.length, list.length)
  }
  assert.ok(commands > 1000, `${commands} commands read back`)
})

test('when a scenario names a command the model does not have, then reading it fails naming that command', () => {
  assert.throws(() => parseScenario('skew generic 0 min, bamboohr 0 min; hire Engineering(#3), fly to the moon(#1)'), /"fly to the moon\(#1\)"/)
  assert.throws(() => parseScenario('hire Engineering(#3)'), /starts "skew generic/)
})
