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

test('when a client calls an emulator several times in a row, then it reuses one connection, as with a vendor front end, and close() still ends it at once', async () => {
  const kit = new EmulatorKit({})
  kit.app.get('/ping', (_req, res) => {
    res.json({ ok: true })
  })
  const origin = await kit.listen()
  try {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${origin}/ping`)
      assert.equal(res.status, 200)
      await res.json()
    }
    assert.equal(kit.stats.requests, 5)
    // fetch (undici) keeps a connection only when the server's Keep-Alive hint leaves it time to:
    // at the 1 s this emulator used to answer, every call opened a new one (5 here). undici may
    // open a second while it reads the first answer's hint.
    assert.ok(kit.stats.connections <= 2, `${kit.stats.connections} connections for 5 calls`)
  } finally {
    const closed = Date.now()
    await kit.close()
    assert.ok(Date.now() - closed < 5_000, 'the kept connection did not hold close() open')
  }
})
