/**
 * Rate-limit-aware dispatch: many leavers' cut-offs through the real SDKs against emulators whose
 * limit is set low, paced by the shared PostgreSQL limiter configured with the same limit (as a
 * deployment is, from the vendor's published figure). Several "worker processes" (separate pools)
 * share the limiter. The claim under test: the limit is respected by pacing, not discovered
 * through 429s (fewer than 1 % of calls answered 429), and every leaver ends revoked.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts'
import { migrate } from '../../src/db/migrate.ts'
import { silentLogger } from '../../src/log.ts'
import { createLimiter } from '../../src/jobs/limiter.ts'
import type { AccountRef, Ctx, Provisioner, RateLimitSpec } from '../../provisioners/types.ts'
import { GoogleEmulator, googleSandboxConfig } from '../../provisioners/google/emulator.ts'
import { googleConfigSchema } from '../../provisioners/google/config.ts'
import { createGoogleProvisioner } from '../../provisioners/google/provisioner.ts'
import { EntraEmulator, entraSandboxConfig } from '../../provisioners/entra/emulator.ts'
import { entraConfigSchema } from '../../provisioners/entra/config.ts'
import { createEntraProvisioner } from '../../provisioners/entra/provisioner.ts'
import { SlackEmulator, slackSandboxConfig } from '../../provisioners/slack/emulator.ts'
import { slackConfigSchema } from '../../provisioners/slack/config.ts'
import { createSlackProvisioner } from '../../provisioners/slack/provisioner.ts'
import type { EmulatorKit } from '../../src/sandbox/emulator-kit.ts'
import { RateLimitedError } from '../../provisioners/errors.ts'

const CUTOFF = { phase: 'cutoff' as const, steps: ['disable' as const, 'revoke_sessions' as const], options: {} }

let db: TestDatabase
const pools: pg.Pool[] = []
before(async () => {
  db = await createTestDatabase('paced')
  for (let i = 0; i < 3; i++) pools.push(new pg.Pool({ connectionString: db.url, max: 6 }))
  await migrate(pools[0]!, silentLogger)
})
after(async () => {
  await Promise.all(pools.map((p) => p.end()))
  await db.drop()
})

/** Run every leaver's cut-off with `workers` in flight spread over three limiter "processes"; return the 429 share. */
async function layoff(p: Provisioner, kit: EmulatorKit, refs: AccountRef[], emulated: Record<string, RateLimitSpec>, workers = 12): Promise<{ share: number; requests: number }> {
  const limiters = pools.map((pool) => createLimiter(pool, { maxWaitMs: 60_000 }))
  // Pace a little under the published figure, as a deployment should: clocks and network
  // jitter between us and the vendor's bucket make an exact match shave the edge.
  const limits = Object.fromEntries(Object.entries(emulated).map(([k, v]) => [k, { perMinute: v.perMinute * 0.9, burst: Math.max(1, Math.floor(v.burst * 0.9)) }]))
  kit.resetStats()
  let next = 0
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const limiter = limiters[w % limiters.length]!
      const ctx: Ctx = {
        idempotencyKey: `paced-${w}`,
        correlationId: `paced-${w}`,
        signal: new AbortController().signal,
        log: silentLogger,
        throttle: (bucket, cost) => limiter.take(p.system, bucket, limits[bucket] ?? p.rateLimitBuckets[bucket]!, cost),
        recordCall: () => {},
      }
      for (let i = next++; i < refs.length; i = next++) {
        // As the job layer does: a throttled call is pushed back by its Retry-After, not failed.
        for (;;) {
          try {
            await p.deprovision(ctx, refs[i]!, CUTOFF)
            break
          } catch (err) {
            if (!(err instanceof RateLimitedError)) throw err
            await new Promise((r) => setTimeout(r, err.retryAfterMs))
          }
        }
      }
    }),
  )
  return { share: kit.stats.rateLimited / Math.max(1, kit.stats.requests), requests: kit.stats.requests }
}

describe('paced revocation against low emulator limits', () => {
  test('when 500 Google leavers are cut off with the limit set low, then fewer than 1% of calls get 403 userRateLimitExceeded', async () => {
    const limits = { directory: { perMinute: 6000, burst: 20 } }
    const emu = new GoogleEmulator({ rateLimits: limits })
    const url = await emu.start()
    try {
      const p = createGoogleProvisioner(googleConfigSchema.parse(googleSandboxConfig(url)))
      const refs: AccountRef[] = []
      for (let i = 0; i < 500; i++) {
        const id = emu.seedUser({ primaryEmail: `leaver${i}@example.com`, givenName: 'L', familyName: `G${i}`, employeeId: `G${i}` })
        refs.push({ system: 'google', accountId: id, employeeId: `G${i}` })
      }
      const { share, requests } = await layoff(p, emu.kit, refs, limits)
      assert.ok(requests >= 1000, `${requests} calls`)
      assert.ok(share < 0.01, `${(share * 100).toFixed(2)}% of ${requests} calls were throttled`)
      for (const ref of refs.slice(0, 20)) assert.equal(emu.getUser(ref.accountId)?.suspended, true)
    } finally {
      await emu.close()
    }
  })

  test('when 500 Entra leavers are cut off with the write limit set low, then fewer than 1% of calls get 429', async () => {
    const limits = { write: { perMinute: 6000, burst: 20 } }
    const emu = new EntraEmulator({ rateLimits: limits })
    const url = await emu.start()
    try {
      const p = createEntraProvisioner(entraConfigSchema.parse(entraSandboxConfig(url)))
      const refs: AccountRef[] = []
      for (let i = 0; i < 500; i++) {
        const id = emu.seedUser({ userPrincipalName: `leaver${i}@tenure.example`, employeeId: `E${i}` })
        refs.push({ system: 'entra', accountId: id, employeeId: `E${i}` })
      }
      const { share, requests } = await layoff(p, emu.kit, refs, limits)
      assert.ok(requests >= 1000, `${requests} calls`)
      assert.ok(share < 0.01, `${(share * 100).toFixed(2)}% of ${requests} calls were throttled`)
      for (const ref of refs.slice(0, 20)) assert.equal(emu.getUser(ref.accountId)?.accountEnabled, false)
    } finally {
      await emu.close()
    }
  })

  test('when 1,000 Slack leavers are deactivated with SCIM writes limited (180/min burst 20, rate scaled x20), then fewer than 1% get 429', async () => {
    const limits = { scim_write: { perMinute: 3600, burst: 20 }, scim_read: { perMinute: 60_000, burst: 1000 }, scim_get_user: { perMinute: 60_000, burst: 1000 } }
    const emu = new SlackEmulator({ rateLimits: limits })
    const url = await emu.start()
    try {
      const p = createSlackProvisioner(slackConfigSchema.parse(slackSandboxConfig(url)))
      const refs: AccountRef[] = []
      for (let i = 0; i < 1000; i++) {
        const id = emu.seedUser({ userName: `leaver${i}`, email: `leaver${i}@example.com`, externalId: `S${i}` })
        refs.push({ system: 'slack', accountId: id, employeeId: `S${i}` })
      }
      const { share, requests } = await layoff(p, emu.kit, refs, limits)
      assert.ok(requests >= 1000, `${requests} calls`)
      assert.ok(share < 0.01, `${(share * 100).toFixed(2)}% of ${requests} calls were throttled`)
      const stillActive = refs.filter((r) => emu.getUser(r.accountId)?.active !== false)
      assert.equal(stillActive.length, 0)
    } finally {
      await emu.close()
    }
  })
})
