/**
 * Break 6 of "Leaver safety", generalised: no joiner may fail because of the length or shape of
 * the identity key (EmployeeProfile.employeeId: the HR id, or `<source>:<id>` when two HR sources
 * share an id; up to 200 characters). For every target: provision, look up again, provision again,
 * and read the key back, against the target's emulator over HTTP with the real client.
 * (Entra has its own, deeper tests in entra/entra.test.ts.)
 */
import { describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger } from '../src/log.ts'
import { testCtx, type AccountSpec, type Ctx, type Provisioner } from './types.ts'
import { googleConfigSchema } from './google/config.ts'
import { GoogleEmulator, googleSandboxConfig } from './google/emulator.ts'
import { createGoogleProvisioner } from './google/provisioner.ts'
import { slackConfigSchema } from './slack/config.ts'
import { SlackEmulator, slackSandboxConfig } from './slack/emulator.ts'
import { createSlackProvisioner } from './slack/provisioner.ts'
import { jiraConfigSchema } from './jira/config.ts'
import { JiraEmulator, jiraSandboxConfig } from './jira/emulator.ts'
import { createJiraProvisioner } from './jira/provisioner.ts'
import { scimAppConfigSchema } from './scim/config.ts'
import { ScimEmulator, scimSandboxConfig } from './scim/emulator.ts'
import { createScimProvisioner } from './scim/provisioner.ts'

const LONG_KEY = `workday:${'a1b2-c3d4:'.repeat(19)}x-9z`.slice(0, 200)
export const IDENTITY_KEYS: Array<{ kind: string; key: string }> = [
  { kind: 'a short HR id', key: '1002' },
  { kind: 'a HiBob 19-digit id', key: '1234567890123456789' },
  { kind: 'a UUID (Gusto, Merge)', key: '3f2b8c1e-9d4a-4e6b-8f0a-7c5d2e1b9a63' },
  { kind: 'a source-qualified id', key: 'bamboohr:1002' },
  { kind: 'a 200-character id with ":" and "-"', key: LONG_KEY },
  { kind: 'an id with a quote and a space', key: `o"brien 'x':7` },
]

interface Target {
  name: string
  start(t: TestContext): Promise<Provisioner>
}

const TARGETS: Target[] = [
  {
    name: 'google',
    async start(t) {
      const emu = new GoogleEmulator()
      const url = await emu.start()
      t.after(() => emu.close())
      return createGoogleProvisioner(googleConfigSchema.parse(googleSandboxConfig(url)))
    },
  },
  {
    name: 'slack',
    async start(t) {
      const emu = new SlackEmulator()
      const url = await emu.start()
      t.after(() => emu.close())
      return createSlackProvisioner(slackConfigSchema.parse(slackSandboxConfig(url)))
    },
  },
  {
    name: 'jira',
    async start(t) {
      const emu = new JiraEmulator()
      const url = await emu.start()
      t.after(() => emu.close())
      return createJiraProvisioner(jiraConfigSchema.parse(jiraSandboxConfig(url)))
    },
  },
  {
    name: 'scim',
    async start(t) {
      const emu = new ScimEmulator({ rateLimits: { requests: null } })
      const url = await emu.start()
      t.after(() => emu.close())
      return createScimProvisioner(scimAppConfigSchema.parse(scimSandboxConfig(url)))
    },
  },
]

let serial = 0
function joiner(key: string): AccountSpec {
  serial += 1
  return {
    employee: { employeeId: key, firstName: 'Ada', lastName: `Keys${serial}`, workEmail: `ada.keys${serial}@example.com` },
    access: { account: true, groups: [], licences: [], channels: [], projects: [], roles: [] },
    enabled: true,
  }
}

for (const target of TARGETS) {
  describe(`${target.name}: identity keys of any length or shape`, () => {
    for (const { kind, key } of IDENTITY_KEYS) {
      test(`when ${kind} joins, then the ${target.name} account is created, found again by lookup and reads back with the full id`, async (t) => {
        const p = await target.start(t)
        const ctx: Ctx = testCtx(silentLogger, [])
        const spec = joiner(key)
        const ref = await p.provision(ctx, spec)
        assert.equal(ref.employeeId, key)
        const found = await p.lookup(ctx, spec.employee)
        assert.equal(found?.accountId, ref.accountId)
        const again = await p.provision(ctx, spec)
        assert.equal(again.accountId, ref.accountId)
        const state = await p.verify(ctx, ref)
        assert.equal(state.exists, true)
        assert.equal(state.employeeId, key)
      })
    }
  })
}

describe('google: externalId search and limits', () => {
  test('when more than a page of accounts carry the id as a word of theirs (bamboohr:1002, hibob:1002 …), then lookup still finds the exact one', async (t) => {
    const emu = new GoogleEmulator()
    const url = await emu.start()
    t.after(() => emu.close())
    const p = createGoogleProvisioner(googleConfigSchema.parse(googleSandboxConfig(url)))
    for (let i = 0; i < 11; i++) emu.seedUser({ primaryEmail: `other${i}@example.com`, employeeId: `source${i}:1002` })
    // Not at an address the pattern or HR gives, so only the externalId search can find it.
    const mine = emu.seedUser({ primaryEmail: 'renamed.person@example.com', employeeId: '1002' })
    const found = await p.lookup(testCtx(silentLogger, []), joiner('1002').employee)
    assert.equal(found?.accountId, mine)
  })

  test('when an id would make externalIds larger than the documented 2KB, then the Google emulator refuses it and the joiner fails Permanent', async (t) => {
    const emu = new GoogleEmulator()
    const url = await emu.start()
    t.after(() => emu.close())
    const p = createGoogleProvisioner(googleConfigSchema.parse(googleSandboxConfig(url)))
    await assert.rejects(p.provision(testCtx(silentLogger, []), joiner('x'.repeat(2100))), (err: Error & { kind?: string; status?: number }) => {
      assert.equal(err.kind, 'Permanent')
      assert.equal(err.status, 400)
      return true
    })
    // The longest key the canonical schema allows fits.
    await p.provision(testCtx(silentLogger, []), joiner(LONG_KEY))
  })
})
