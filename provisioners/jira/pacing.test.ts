/**
 * Tenure's own pacing of Jira must not be what binds a layoff where Atlassian's published limits
 * do not: the cut-off and verification calls of one leaver, counted per limiter bucket, scaled to
 * the benchmark's wave (2,000 leavers arriving over a minute) at the provisioner's default limits,
 * against the same calls at the limits Atlassian publishes (the emulator's; its SCIM API publishes
 * none).
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger } from '../../src/log.ts'
import type { Ctx, RateLimitSpec, RevocationPlan } from '../types.ts'
import { jiraConfigSchema } from './config.ts'
import { JIRA_EMULATOR_LIMITS, JiraEmulator, jiraSandboxConfig } from './emulator.ts'
import { createJiraProvisioner, rateLimitBuckets } from './provisioner.ts'

const CUTOFF: RevocationPlan = { phase: 'cutoff', steps: ['disable', 'revoke_sessions', 'revoke_tokens'], options: {} }
const WAVE = { leavers: 2000, arrivalSeconds: 60 }
const SAMPLE = 10

/** Seconds `perLeaver` calls for the whole wave need at least: the slowest bucket beyond its burst. */
function floorSeconds(perLeaver: Record<string, number>, limits: Record<string, RateLimitSpec | undefined>): number {
  return Math.max(0, ...Object.entries(perLeaver).map(([bucket, n]) => {
    const spec = limits[bucket]
    return spec ? Math.max(0, n * WAVE.leavers - spec.burst) / (spec.perMinute / 60) : 0
  }))
}

let emu: JiraEmulator
let url: string
before(async () => {
  emu = new JiraEmulator({ rateLimits: { read: null, write: null } })
  url = await emu.start()
  emu.seedGroup('engineering')
})
after(async () => {
  await emu.close()
})

test("when a wave of leavers is cut off and verified, then Tenure's default pace for Jira (its SCIM lookups included) lets the wave through as fast as Atlassian's published limits do", async () => {
  const p = createJiraProvisioner(jiraConfigSchema.parse(jiraSandboxConfig(url)))
  const tokens: Record<string, number> = {}
  const ctx = (count: boolean): Ctx => ({
    idempotencyKey: 'pacing',
    correlationId: 'pacing',
    signal: new AbortController().signal,
    log: silentLogger,
    throttle: async (bucket, cost = 1) => {
      if (count) tokens[bucket] = (tokens[bucket] ?? 0) + cost
    },
    recordCall: () => {},
  })
  for (let i = 0; i < SAMPLE; i++) {
    const ref = await p.provision(ctx(false), {
      employee: { employeeId: `JP-${i}`, firstName: 'Pace', lastName: `Leaver${i}`, workEmail: `pace.leaver${i}@acme.example` },
      access: { account: true, groups: ['engineering'], licences: [], channels: [], projects: [], roles: [] },
      enabled: true,
    })
    await p.deprovision(ctx(true), ref, CUTOFF)
    assert.equal((await p.verify(ctx(true), ref, {})).revoked, true)
  }
  const perLeaver = Object.fromEntries(Object.entries(tokens).map(([b, n]) => [b, n / SAMPLE]))
  // The SCIM API: a lookup and a PATCH in the cut-off, a lookup in the verification.
  assert.ok((perLeaver.scim ?? 0) >= 2, `SCIM calls per leaver: ${JSON.stringify(perLeaver)}`)
  const vendor = Math.max(WAVE.arrivalSeconds, floorSeconds(perLeaver, JIRA_EMULATOR_LIMITS))
  const tenure = floorSeconds(perLeaver, rateLimitBuckets)
  assert.ok(tenure <= vendor, `Tenure's own pace needs ${tenure.toFixed(0)} s for ${WAVE.leavers} leavers; Atlassian's published limits and the arrivals ${vendor.toFixed(0)} s (per leaver ${JSON.stringify(perLeaver)})`)
})
