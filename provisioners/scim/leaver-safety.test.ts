/**
 * Leaver safety against SCIM service providers that differ from the reference: no User.groups
 * (optional, RFC 7643 §4.1.2), eq-only filters that refuse members.value (RFC 7644 §3.4.2.2 /
 * §3.12 invalidFilter), no discovery endpoints, PATCH answered 204. The rule under test: a
 * membership Tenure did not read is unknown and residual access, never "member of no groups".
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger } from '../../src/log.ts'
import type { AccessGrant, AccountSpec, Ctx, EmployeeProfile, RevocationPlan } from '../types.ts'
import { scimAppConfigSchema, type ScimAppConfigInput } from './config.ts'
import { SCIM_DEV_TOKEN, ScimEmulator, type ScimEmulatorOptions } from './emulator.ts'
import { DISCOVERY_TTL_MS, createScimProvisioner } from './provisioner.ts'

const ctx = (): Ctx => ({
  idempotencyKey: 'test',
  correlationId: 'test',
  signal: new AbortController().signal,
  log: silentLogger,
  throttle: async () => {},
  recordCall: () => {},
})

let serial = 0
function employee(): EmployeeProfile {
  serial += 1
  return { employeeId: `L${serial}`, firstName: 'Lea', lastName: `Ver${serial}`, workEmail: `lea.ver${serial}@example.com` }
}
const grant = (groups: string[]): AccessGrant => ({ account: true, groups, licences: [], channels: [], projects: [], roles: [] })
const spec = (emp: EmployeeProfile, groups: string[]): AccountSpec => ({ employee: emp, enabled: true, access: grant(groups) })
const cutoff: RevocationPlan = { phase: 'cutoff', steps: ['disable'], options: {} }
const cleanup = (groups: string[]): RevocationPlan => ({ phase: 'cleanup', steps: ['remove_groups'], options: { granted: grant(groups) } })

/** An emulator and a provisioner with every capability quirk left to discovery (or defaults). */
function setup(options: ScimEmulatorOptions, quirks: ScimAppConfigInput['quirks'] = {}) {
  const emu = new ScimEmulator({ rateLimits: { requests: null }, ...options })
  const make = (now?: () => number) =>
    createScimProvisioner(
      scimAppConfigSchema.parse({ name: 'leaver', baseUrl: emu.scimBaseUrl, auth: { type: 'bearer', token: SCIM_DEV_TOKEN }, quirks }),
      now ? { now } : {},
    )
  return { emu, make }
}

describe('a provider whose Users carry no groups attribute, with eq-only filters', () => {
  const { emu, make } = setup({ userGroupsAttribute: false, filterSupport: 'eq' })
  before(async () => {
    await emu.start()
    for (const name of ['Engineering', 'Finance', 'Unrelated']) emu.seedGroup(name)
  })
  after(() => emu.close())

  test('when a leaver in two groups is cleaned up, then both are removed and verify reads them back', async () => {
    const p = make()
    const ref = await p.provision(ctx(), spec(employee(), ['Engineering', 'Finance']))
    assert.deepEqual(emu.groupsOf(ref.accountId).sort(), ['Engineering', 'Finance'])
    assert.equal(emu.getUser(ref.accountId)?.groups, undefined, 'the app really returns no User.groups')

    const before = await p.verify(ctx(), ref, { granted: grant(['Engineering', 'Finance']) })
    assert.deepEqual(before.groups.sort(), ['Engineering', 'Finance'], 'not "member of no groups"')
    assert.equal(before.unknown, undefined)

    await p.deprovision(ctx(), ref, cutoff)
    const evidence = await p.deprovision(ctx(), ref, cleanup(['Engineering', 'Finance']))
    assert.deepEqual(evidence.steps.map((s) => [s.step, s.status]), [['remove_groups', 'done']])
    assert.match(evidence.steps[0]?.detail ?? '', /removed from 2 groups; read back/)
    assert.deepEqual(evidence.residual, [])
    assert.deepEqual(emu.groupsOf(ref.accountId), [])

    const state = await p.verify(ctx(), ref, { granted: grant(['Engineering', 'Finance']) })
    assert.deepEqual(state.groups, [])
    assert.equal(state.unknown, undefined, 'every group was read')
    assert.equal(state.revoked, true)
  })

  test('when the groups cannot be read, then the clean-up raises residual access and fails instead of saying "no groups"', async () => {
    const p = make()
    const ref = await p.provision(ctx(), spec(employee(), ['Engineering', 'Finance']))
    await p.deprovision(ctx(), ref, cutoff)
    // The app forbids every Groups call from now on (a scope the token lost, say).
    emu.injectFault({ status: 403, pathIncludes: '/Groups', times: Infinity })
    try {
      const evidence = await p.deprovision(ctx(), ref, cleanup(['Engineering', 'Finance']))
      assert.equal(evidence.steps[0]?.status, 'failed')
      assert.doesNotMatch(evidence.steps[0]?.detail ?? '', /member of no groups/)
      assert.ok(evidence.residual.length >= 1)
      for (const r of evidence.residual) {
        assert.equal(r.kind, 'group')
        assert.match(r.reason, /could not be read/)
      }
      const state = await p.verify(ctx(), ref, { granted: grant(['Engineering', 'Finance']) })
      assert.ok(state.unknown?.some((u) => u.attribute === 'groups'), 'verify says unknown, not "no groups"')
    } finally {
      emu.kit.clearFaults()
    }
    assert.deepEqual(emu.groupsOf(ref.accountId).sort(), ['Engineering', 'Finance'], 'the access really is still there')
  })

  test('when the members.value filter is refused (400 invalidFilter), then Groups are listed instead and the refusal is remembered', async () => {
    const p = make()
    const ref = await p.provision(ctx(), spec(employee(), ['Finance']))
    emu.clearRequests()
    const first = await p.verify(ctx(), ref)
    assert.deepEqual(first.groups, ['Finance'])
    const second = await p.verify(ctx(), ref)
    assert.deepEqual(second.groups, ['Finance'])
    const refused = emu.requests.filter((r) => r.path === '/Groups' && (r.query.filter ?? '').startsWith('members.value'))
    assert.equal(refused.length, 1, 'the refused filter is not sent again')
    assert.ok(emu.requests.filter((r) => r.path === '/Groups' && r.query.filter === undefined).length >= 2, 'Groups listed on both reads')
  })

  test('when the app silently keeps a member it was asked to remove, then the read-back raises residual access', async () => {
    const p = make()
    const ref = await p.provision(ctx(), spec(employee(), ['Engineering']))
    // 204 to the PATCH, but nothing removed: only the read-back can tell.
    emu.injectFault({ status: 204, method: 'PATCH', pathIncludes: '/Groups/', times: 1 })
    const evidence = await p.deprovision(ctx(), ref, cleanup(['Engineering']))
    assert.equal(evidence.steps[0]?.status, 'failed')
    assert.equal(evidence.residual.length, 1)
    assert.match(evidence.residual[0]?.reason ?? '', /still a member when read back/)
  })
})

describe('a provider without discovery endpoints whose Users carry no groups', () => {
  const { emu, make } = setup({ userGroupsAttribute: false, discovery: false, patchResponse: 'noContent', etagSupported: false })
  before(async () => {
    await emu.start()
    emu.seedGroup('Engineering')
  })
  after(() => emu.close())

  test('when User.groups is absent although the quirks default says it is there, then groups are searched, not taken as none', async () => {
    const p = make()
    const ref = await p.provision(ctx(), spec(employee(), ['Engineering']))
    const state = await p.verify(ctx(), ref)
    assert.deepEqual(state.groups, ['Engineering'])
    await p.deprovision(ctx(), ref, cutoff) // PATCH answered 204 No Content
    assert.equal(emu.getUser(ref.accountId)?.active, false)
    const evidence = await p.deprovision(ctx(), ref, cleanup(['Engineering']))
    assert.equal(evidence.steps[0]?.status, 'done')
    assert.deepEqual(emu.groupsOf(ref.accountId), [])
    assert.equal((await p.verify(ctx(), ref)).revoked, true)
  })
})

describe('discovery lifetime', () => {
  const { emu, make } = setup({ userGroupsAttribute: false })
  before(() => emu.start())
  after(() => emu.close())

  test('when the discovery lifetime has passed, then the endpoints are read again, and not before', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z')
    const p = make(() => now)
    const emp = employee()
    emu.clearRequests()
    await p.lookup(ctx(), emp)
    await p.lookup(ctx(), emp)
    const reads = () => emu.requests.filter((r) => r.path === '/ServiceProviderConfig').length
    assert.equal(reads(), 1)
    now += DISCOVERY_TTL_MS + 1
    await p.lookup(ctx(), emp)
    assert.equal(reads(), 2)
    assert.equal(emu.requests.filter((r) => r.path === '/Schemas').length, 2)
    assert.equal(emu.requests.filter((r) => r.path === '/ResourceTypes').length, 2)
  })

  test('when discovery fails in passing (503), then the configured quirks serve this call and the next call asks again', async () => {
    const p = make()
    const emp = employee()
    emu.clearRequests()
    emu.injectFault({ status: 503, pathIncludes: '/ServiceProviderConfig', times: 1 })
    await p.lookup(ctx(), emp)
    await p.lookup(ctx(), emp)
    await p.lookup(ctx(), emp)
    assert.equal(emu.requests.filter((r) => r.path === '/ServiceProviderConfig').length, 2, 'asked again once, then cached')
  })
})

describe('a provider whose User.groups shows less than its Groups', () => {
  const { emu, make } = setup({})
  before(async () => {
    await emu.start()
    for (const name of ['Engineering', 'Finance']) emu.seedGroup(name)
  })
  after(() => emu.close())

  test('when User.groups misses a granted group, then the clean-up finds it on the Group side, removes it and reads back', async () => {
    const p = make()
    const ref = await p.provision(ctx(), spec(employee(), ['Engineering', 'Finance']))
    const finance = emu.findGroup('Finance')!
    emu.laggingUserGroups(finance)
    assert.deepEqual(((emu.getUser(ref.accountId)?.groups as Array<{ display: string }>) ?? []).map((g) => g.display), ['Engineering'])

    const state = await p.verify(ctx(), ref, { granted: grant(['Engineering', 'Finance']) })
    assert.deepEqual(state.groups.sort(), ['Engineering', 'Finance'], 'verify reads the granted groups on the Group side')

    const evidence = await p.deprovision(ctx(), ref, cleanup(['Engineering', 'Finance']))
    assert.deepEqual(evidence.steps.map((s) => [s.step, s.status]), [['remove_groups', 'done']], evidence.steps[0]?.detail)
    assert.match(evidence.steps[0]?.detail ?? '', /removed from 2 groups/)
    assert.deepEqual(emu.groupsOf(ref.accountId), [])
  })
})

describe('an account that vanishes while it is revoked', () => {
  const { emu, make } = setup({})
  before(async () => {
    await emu.start()
  })
  after(() => emu.close())

  test('when the account is deleted at the app between the read and the disable, then the steps are already_done as in Google and Entra', async () => {
    const p = make()
    const ref = await p.provision(ctx(), spec(employee(), []))
    // Someone deletes the account at the app just before the cut-off writes (seen at the limiter,
    // the last stop before the PATCH leaves): the PATCH meets 404, a fresh read confirms it is gone.
    let deleted = false
    const racing: Ctx = {
      ...ctx(),
      throttle: async (bucket) => {
        if (bucket === 'write' && !deleted) {
          deleted = true
          emu.deleteUser(ref.accountId)
        }
      },
    }
    const evidence = await p.deprovision(racing, ref, { phase: 'cutoff', steps: ['disable', 'revoke_sessions'], options: {} })
    assert.ok(deleted)
    assert.deepEqual(evidence.steps.map((s) => [s.step, s.status]), [
      ['disable', 'already_done'],
      ['revoke_sessions', 'already_done'],
    ])
    assert.match(evidence.steps[0]?.detail ?? '', /no longer exists/)
    assert.deepEqual(evidence.residual, [])
  })
})
