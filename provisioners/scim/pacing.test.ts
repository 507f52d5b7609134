/**
 * Tenure's own pacing of a SCIM app must not be slower than the app's published limit: a layoff's
 * cut-offs and verifications, counted as the app counts them (the emulator, one limit on all
 * requests, as SCIM apps publish it) and as Tenure's limiter paces them (the tokens each call
 * asks of each bucket, at the provisioner's default limits).
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger } from '../../src/log.ts'
import type { AccountRef, Ctx, RateLimitSpec, RevocationPlan } from '../types.ts'
import { scimAppConfigSchema } from './config.ts'
import { SCIM_EMULATOR_LIMITS, ScimEmulator, scimSandboxConfig } from './emulator.ts'
import { createScimProvisioner } from './provisioner.ts'

const CUTOFF: RevocationPlan = { phase: 'cutoff', steps: ['disable', 'revoke_sessions', 'revoke_tokens'], options: {} }
const LEAVERS = 40

/** Seconds the calls need at least: the slowest bucket's tokens beyond its burst at its rate. */
function floorSeconds(tokens: Record<string, number>, limits: Record<string, RateLimitSpec | undefined>): number {
  return Math.max(0, ...Object.entries(tokens).map(([bucket, n]) => {
    const spec = limits[bucket]
    return spec ? Math.max(0, n - spec.burst) / (spec.perMinute / 60) : 0
  }))
}

let emu: ScimEmulator
let url: string
before(async () => {
  // Counted, not enforced: the test compares the two floors, it does not wait them out.
  emu = new ScimEmulator({ rateLimits: { requests: null } })
  url = await emu.start()
})
after(async () => {
  await emu.close()
})

test('when leavers are cut off and verified, then the pacing of Tenure\'s default buckets needs no longer than the app\'s limit on all requests', async () => {
  const p = createScimProvisioner(scimAppConfigSchema.parse(scimSandboxConfig(url)))
  const refs: AccountRef[] = Array.from({ length: LEAVERS }, (_, i) => {
    const login = `pace.leaver${i}@example.com`
    const accountId = emu.seedUser({ userName: login, externalId: `P-${i}`, name: { givenName: 'Pace', familyName: `Leaver${i}` }, emails: [{ value: login, primary: true }], active: true })
    return { system: p.system, accountId, employeeId: `P-${i}`, login }
  })
  const tokens: Record<string, number> = {}
  const ctx: Ctx = {
    idempotencyKey: 'pacing',
    correlationId: 'pacing',
    signal: new AbortController().signal,
    log: silentLogger,
    throttle: async (bucket, cost = 1) => void (tokens[bucket] = (tokens[bucket] ?? 0) + cost),
    recordCall: () => {},
  }
  emu.kit.resetStats()
  for (const ref of refs) {
    await p.deprovision(ctx, ref, CUTOFF)
    const state = await p.verify(ctx, ref, {})
    assert.equal(state.revoked, true)
  }
  const requests = emu.kit.stats.requests
  // Reads outnumber writes two to one (read, write; the verification's read): a limit split
  // evenly between them held reads to half the app's limit while writes left theirs unused.
  assert.ok(requests >= 3 * LEAVERS, `${requests} requests for ${LEAVERS} leavers`)
  const app = floorSeconds({ requests }, SCIM_EMULATOR_LIMITS)
  const tenure = floorSeconds(tokens, p.rateLimitBuckets)
  assert.ok(tenure <= app + 1e-9, `Tenure's buckets need ${tenure.toFixed(1)} s for what the app allows in ${app.toFixed(1)} s (tokens ${JSON.stringify(tokens)})`)
  // And Tenure does pace them: every request takes a token from a bucket with a limit.
  assert.equal(tokens.requests, requests)
})
