import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EmulatorKit } from './emulator-kit.ts'

const draws = (kit: EmulatorKit, n: number) => Array.from({ length: n }, () => kit.nextLatencyMs()!)

test('when an emulator is given a latency seed, then every request after the same seed waits the same times, and another seed or none draws others', () => {
  const kit = new EmulatorKit({})
  assert.equal(kit.nextLatencyMs(), undefined, 'no latency configured: none simulated')

  kit.setLatency({ medianMs: 120, sigma: 0.5, seed: 7 })
  const first = draws(kit, 200)
  kit.setLatency({ medianMs: 120, sigma: 0.5, seed: 7 })
  assert.deepEqual(draws(kit, 200), first, 'the same seed gives the same sequence')

  kit.setLatency({ medianMs: 120, sigma: 0.5, seed: 8 })
  assert.notDeepEqual(draws(kit, 200), first)
  kit.setLatency({ medianMs: 120, sigma: 0.5 })
  assert.notDeepEqual(draws(kit, 200), first)

  // Still the log-normal of the spec: median about 120 ms, every draw positive.
  kit.setLatency({ medianMs: 120, sigma: 0.5, seed: 1 })
  const sorted = draws(kit, 2001).sort((a, b) => a - b)
  assert.ok(sorted[0]! > 0)
  assert.ok(Math.abs(sorted[1000]! - 120) < 12, `median ${sorted[1000]} ms`)
})
