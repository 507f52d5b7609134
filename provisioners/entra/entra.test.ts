/**
 * The Entra provisioner through the real @microsoft/microsoft-graph-client against the emulator
 * over HTTP on 127.0.0.1. Each test gets its own emulator, so state never leaks between tests.
 */
import { describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { createLogger, silentLogger } from '../../src/log.ts'
import { ProvisionerError, RateLimitedError } from '../errors.ts'
import { type AccountSpec, type ApiCallRecord, type Ctx, testCtx } from '../types.ts'
import { entraConfigSchema, type EntraConfigInput } from './config.ts'
import {
  ENTRA_EMULATOR_CLIENT_SECRET,
  ENTRA_ROLES,
  ENTRA_SKUS,
  EntraEmulator,
  type EntraEmulatorOptions,
  entraSandboxConfig,
} from './emulator.ts'
import { mayCarryToken } from './graph.ts'
import { graphRequestCost } from './limits.ts'
import { createEntraProvisioner, deriveUserPrincipalName, strongPassword } from './provisioner.ts'

interface Env {
  emulator: EntraEmulator
  baseUrl: string
  provisioner: ReturnType<typeof createEntraProvisioner>
  calls: ApiCallRecord[]
  throttles: Array<{ bucket: string; cost: number }>
  ctx: Ctx
}

async function setup(t: TestContext, opts: { emulator?: EntraEmulatorOptions; config?: Partial<EntraConfigInput> } = {}): Promise<Env> {
  const emulator = new EntraEmulator(opts.emulator)
  const baseUrl = await emulator.start()
  t.after(() => emulator.close())
  const config = entraConfigSchema.parse({ ...entraSandboxConfig(baseUrl), ...opts.config })
  const provisioner = createEntraProvisioner(config)
  const calls: ApiCallRecord[] = []
  const throttles: Array<{ bucket: string; cost: number }> = []
  const ctx: Ctx = {
    ...testCtx(silentLogger, calls),
    throttle: async (bucket, cost = 1) => {
      throttles.push({ bucket, cost })
    },
  }
  return { emulator, baseUrl, provisioner, calls, throttles, ctx }
}

function joiner(overrides: Partial<AccountSpec['access']> = {}, employee: Partial<AccountSpec['employee']> = {}, enabled = true): AccountSpec {
  return {
    employee: {
      employeeId: 'E1001',
      firstName: 'José',
      lastName: 'Müller',
      countryCode: 'DE',
      title: 'Engineer',
      department: 'Platform',
      ...employee,
    },
    access: { account: true, groups: [], licences: ['Microsoft 365 E3'], channels: [], projects: [], roles: [], ...overrides },
    enabled,
  }
}

async function rejectsWith(promise: Promise<unknown>, kind: string): Promise<ProvisionerError> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof ProvisionerError, `expected a ProvisionerError, got ${String(err)}`)
    assert.equal(err.kind, kind, err.message)
    return err
  }
  assert.fail(`expected ${kind}, but the call succeeded`)
}

describe('joiner', () => {
  test('when a joiner is provisioned, then the user exists enabled with licence, group and HR id, and verify reads it back', async (t) => {
    const env = await setup(t)
    const team = env.emulator.seedGroup({ displayName: 'Platform team' })
    const ref = await env.provisioner.provision(env.ctx, joiner({ groups: [team] }))

    assert.equal(ref.login, 'jose.muller@tenure.example')
    const stored = env.emulator.getUser(ref.accountId)
    assert.ok(stored)
    assert.equal(stored.accountEnabled, true)
    assert.equal(stored.employeeId, 'E1001')
    assert.equal(stored.usageLocation, 'DE')
    assert.equal(stored.mailNickname, 'jose.muller')
    assert.equal(stored.forceChangePasswordNextSignIn, true)
    assert.deepEqual(stored.licences, [ENTRA_SKUS.M365_E3])
    assert.deepEqual(stored.groups, [team])

    const state = await env.provisioner.verify(env.ctx, ref)
    assert.equal(state.exists, true)
    assert.equal(state.active, true)
    assert.equal(state.revoked, false)
    assert.deepEqual(state.licences, ['Microsoft 365 E3'])
    assert.deepEqual(state.groups, [team])
  })

  test('when calls are made, then each is throttled first and recorded with Graph request ids, and no secret reaches the records', async (t) => {
    const env = await setup(t)
    await env.provisioner.provision(env.ctx, joiner())
    const graphCalls = env.calls.filter((c) => c.path.startsWith('/v1.0/'))
    assert.ok(graphCalls.length >= 3)
    for (const call of graphCalls) {
      assert.match(call.requestId ?? '', /^[0-9a-f-]{36}$/)
      assert.ok(!call.path.includes('?'), 'paths carry no query string')
    }
    const tokenCalls = env.calls.filter((c) => c.operation === 'POST /oauth2/v2.0/token')
    assert.equal(tokenCalls.length, 1, 'the token is cached across calls')
    assert.equal(env.throttles.filter((x) => x.bucket === 'token').length, 1)
    assert.equal(env.throttles.filter((x) => x.bucket !== 'token').length, graphCalls.length)
    assert.equal(env.throttles.filter((x) => x.bucket === 'write').length, graphCalls.filter((c) => c.method !== 'GET').length)
    assert.ok(graphCalls.some((c) => c.operation === 'POST /users' && c.status === 201))
    assert.ok(!JSON.stringify(env.calls).includes(ENTRA_EMULATOR_CLIENT_SECRET))
  })

  test('when the joiner starts later, then the user is created disabled and enable() turns it on', async (t) => {
    const env = await setup(t)
    const ref = await env.provisioner.provision(env.ctx, joiner({}, {}, false))
    assert.equal(env.emulator.getUser(ref.accountId)?.accountEnabled, false)
    await env.provisioner.enable(env.ctx, ref)
    assert.equal(env.emulator.getUser(ref.accountId)?.accountEnabled, true)
  })

  test('when provision is retried, then no second user is created and missing access is completed', async (t) => {
    const env = await setup(t)
    const team = env.emulator.seedGroup({ displayName: 'Team' })
    const first = await env.provisioner.provision(env.ctx, joiner())
    const second = await env.provisioner.provision(env.ctx, joiner({ groups: [team] }))
    assert.equal(second.accountId, first.accountId)
    assert.equal(env.emulator.userCount(), 1)
    assert.deepEqual(env.emulator.getUser(first.accountId)?.groups, [team])
  })

  test('when the query index has not caught up with an earlier attempt, then the 400 "already exists" returns that user', async (t) => {
    const env = await setup(t)
    const id = env.emulator.seedUser({ userPrincipalName: 'jose.muller@tenure.example', employeeId: 'E1001', searchable: false })
    const ref = await env.provisioner.provision(env.ctx, joiner())
    assert.equal(ref.accountId, id)
    assert.equal(env.emulator.userCount(), 1)
    const conflict = env.calls.find((c) => c.operation === 'POST /users')
    assert.equal(conflict?.status, 400)
    assert.equal(conflict?.errorKind, 'Conflict')
    assert.deepEqual(env.emulator.getUser(id)?.licences, [ENTRA_SKUS.M365_E3])
  })

  test('when the userPrincipalName belongs to another employee, then provision fails with Conflict and changes nothing', async (t) => {
    const env = await setup(t)
    const other = env.emulator.seedUser({ userPrincipalName: 'jose.muller@tenure.example', employeeId: 'E0007' })
    const err = await rejectsWith(env.provisioner.provision(env.ctx, joiner()), 'Conflict')
    assert.match(err.message, /E0007/)
    assert.equal(env.emulator.userCount(), 1)
    assert.deepEqual(env.emulator.getUser(other)?.directLicences, [])
  })

  test('when an account at the expected UPN has no employeeId, then lookup finds it and provision adopts and stamps it', async (t) => {
    const env = await setup(t)
    const id = env.emulator.seedUser({ userPrincipalName: 'jose.muller@tenure.example' })
    const found = await env.provisioner.lookup(env.ctx, joiner().employee)
    assert.equal(found?.accountId, id)
    await env.provisioner.provision(env.ctx, joiner())
    assert.equal(env.emulator.getUser(id)?.employeeId, 'E1001')
    assert.equal(await env.provisioner.lookup(env.ctx, { ...joiner().employee, employeeId: 'E9999' }), undefined)
  })

  test('when Graph rejects the new user (a displayName over its documented 256 characters), then the emulator validation error is Permanent', async (t) => {
    const env = await setup(t)
    const err = await rejectsWith(env.provisioner.provision(env.ctx, joiner({}, { displayName: 'x'.repeat(257) })), 'Permanent')
    assert.equal(err.status, 400)
    assert.equal(err.vendorCode, 'Request_BadRequest')
    assert.match(err.requestId ?? '', /^[0-9a-f-]{36}$/)
  })

  test('when a licence name is not configured, then provision fails Permanent before any user is created', async (t) => {
    const env = await setup(t)
    await rejectsWith(env.provisioner.provision(env.ctx, joiner({ licences: ['Visio Plan 9'] })), 'Permanent')
    assert.equal(env.emulator.userCount(), 0)
    assert.equal(env.calls.length, 0)
  })
})

/** Identity keys of every shape Tenure hands over (EmployeeProfile.employeeId; the canonical schema allows 200 characters). */
const LONG_KEY = `workday:${'a1b2-c3d4:'.repeat(19)}x-9z`.slice(0, 200)
const KEYS: Array<{ kind: string; key: string }> = [
  { kind: 'a short HR id', key: '1002' },
  { kind: 'a HiBob 19-digit id', key: '1234567890123456789' },
  { kind: 'a UUID (Gusto, Merge)', key: '3f2b8c1e-9d4a-4e6b-8f0a-7c5d2e1b9a63' },
  { kind: 'a source-qualified id', key: 'bamboohr:1002' },
  { kind: 'a 200-character id with ":" and "-"', key: LONG_KEY },
]

/** A raw Graph call with a token, to check what the emulator itself accepts and refuses. */
async function graph(env: Env, path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const token = await fetch(`${env.baseUrl}/${env.emulator.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: env.emulator.clientId,
      client_secret: ENTRA_EMULATOR_CLIENT_SECRET,
      scope: 'https://graph.microsoft.com/.default',
    }),
  }).then((r) => r.json() as Promise<{ access_token: string }>)
  const res = await fetch(`${env.baseUrl}/v1.0${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
  })
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> }
}

const errorOf = (body: Record<string, unknown>) => body.error as { code: string; message: string }

describe('identity keys of any length or shape', () => {
  assert.equal(LONG_KEY.length, 200)
  for (const { kind, key } of KEYS) {
    test(`when ${kind} joins, then the Entra account is created, found again by lookup and its full id is stored in extensionAttribute15`, async (t) => {
      const env = await setup(t)
      const ref = await env.provisioner.provision(env.ctx, joiner({}, { employeeId: key }))
      const stored = env.emulator.getUser(ref.accountId)
      assert.ok(stored)
      assert.equal(stored.onPremisesExtensionAttributes.extensionAttribute15, key)
      // employeeId holds the key only whole: never a truncated id that could match someone else.
      assert.equal(stored.employeeId, key.length <= 16 ? key : null)
      assert.equal(ref.employeeId, key)

      const found = await env.provisioner.lookup(env.ctx, joiner({}, { employeeId: key }).employee)
      assert.equal(found?.accountId, ref.accountId)
      assert.ok(env.calls.some((c) => c.operation === 'GET /users?$filter=onPremisesExtensionAttributes/extensionAttribute15' && c.status === 200))
      const again = await env.provisioner.provision(env.ctx, joiner({}, { employeeId: key }))
      assert.equal(again.accountId, ref.accountId)
      assert.equal(env.emulator.userCount(), 1)
      assert.equal((await env.provisioner.verify(env.ctx, ref)).employeeId, key)
    })
  }

  test('when the config names another extension attribute, then the key goes there', async (t) => {
    const env = await setup(t, { config: { identityKeyAttribute: 'extensionAttribute7' } })
    const ref = await env.provisioner.provision(env.ctx, joiner({}, { employeeId: LONG_KEY }))
    const stored = env.emulator.getUser(ref.accountId)
    assert.equal(stored?.onPremisesExtensionAttributes.extensionAttribute7, LONG_KEY)
    assert.equal(stored?.onPremisesExtensionAttributes.extensionAttribute15, null)
    assert.equal((await env.provisioner.lookup(env.ctx, joiner({}, { employeeId: LONG_KEY }).employee))?.accountId, ref.accountId)
  })

  test('when an account Tenure created before carries the id only in employeeId, then lookup finds it and provision stamps the attribute', async (t) => {
    const env = await setup(t)
    const id = env.emulator.seedUser({ userPrincipalName: 'j.m@tenure.example', employeeId: 'bamboohr:1002' })
    assert.equal((await env.provisioner.lookup(env.ctx, joiner({}, { employeeId: 'bamboohr:1002' }).employee))?.accountId, id)
    const ref = await env.provisioner.provision(env.ctx, joiner({}, { employeeId: 'bamboohr:1002' }))
    assert.equal(ref.accountId, id)
    assert.equal(env.emulator.userCount(), 1)
    assert.equal(env.emulator.getUser(id)?.onPremisesExtensionAttributes.extensionAttribute15, 'bamboohr:1002')
  })

  test('when an account matches by employeeId but its attribute holds another key, then it is never adopted', async (t) => {
    const env = await setup(t)
    const id = env.emulator.seedUser({
      userPrincipalName: 'someone.else@tenure.example',
      employeeId: '1002',
      onPremisesExtensionAttributes: { extensionAttribute15: 'bamboohr:1002' },
    })
    await rejectsWith(env.provisioner.lookup(env.ctx, joiner({}, { employeeId: '1002' }).employee), 'Conflict')
    await rejectsWith(env.provisioner.provision(env.ctx, joiner({}, { employeeId: '1002' })), 'Conflict')
    assert.equal(env.emulator.userCount(), 1)
    assert.equal(env.emulator.getUser(id)?.onPremisesExtensionAttributes.extensionAttribute15, 'bamboohr:1002')
  })

  test('when the expected UPN is held by an account with another key, then lookup ignores it and provision fails Conflict without stamping it', async (t) => {
    const env = await setup(t)
    const other = env.emulator.seedUser({
      userPrincipalName: 'jose.muller@tenure.example',
      onPremisesExtensionAttributes: { extensionAttribute15: 'hibob:1234567890123456789' },
    })
    assert.equal(await env.provisioner.lookup(env.ctx, joiner({}, { employeeId: '1234567890123456789' }).employee), undefined)
    await rejectsWith(env.provisioner.provision(env.ctx, joiner({}, { employeeId: '1234567890123456789' })), 'Conflict')
    assert.equal(env.emulator.getUser(other)?.onPremisesExtensionAttributes.extensionAttribute15, 'hibob:1234567890123456789')
    assert.equal(env.emulator.getUser(other)?.employeeId, null)
  })

  test('when a long key meets an account at the expected UPN with a (truncated) employeeId, then it is not adopted', async (t) => {
    const env = await setup(t)
    env.emulator.seedUser({ userPrincipalName: 'jose.muller@tenure.example', employeeId: '1234567890123456' })
    assert.equal(await env.provisioner.lookup(env.ctx, joiner({}, { employeeId: '1234567890123456789' }).employee), undefined)
    await rejectsWith(env.provisioner.provision(env.ctx, joiner({}, { employeeId: '1234567890123456789' })), 'Conflict')
  })

  test('when an account at the expected UPN is synced from on-premises AD, then it is adopted without writing its read-only attributes', async (t) => {
    const env = await setup(t)
    const id = env.emulator.seedUser({ userPrincipalName: 'jose.muller@tenure.example', onPremisesSyncEnabled: true })
    const ref = await env.provisioner.provision(env.ctx, joiner({}, { employeeId: LONG_KEY }))
    assert.equal(ref.accountId, id)
    assert.equal(env.emulator.getUser(id)?.onPremisesExtensionAttributes.extensionAttribute15, null)
    assert.ok(!env.calls.some((c) => c.operation === 'PATCH /users/{id}' && c.status === 400))
  })

  test('when the emulator gets values over the documented limits, then it refuses them as Graph does (employeeId 16, extension attribute 1024)', async (t) => {
    const env = await setup(t)
    const base = {
      accountEnabled: true,
      displayName: 'A B',
      mailNickname: 'a.b',
      userPrincipalName: 'a.b@tenure.example',
      passwordProfile: { password: 'Aa1!Aa1!Aa1!' },
    }
    const long = await graph(env, '/users', { method: 'POST', body: JSON.stringify({ ...base, employeeId: '1234567890123456789' }) })
    assert.equal(long.status, 400)
    assert.equal(errorOf(long.body).code, 'Request_BadRequest')
    assert.match(errorOf(long.body).message, /property 'employeeId'/)
    const huge = await graph(env, '/users', {
      method: 'POST',
      body: JSON.stringify({ ...base, onPremisesExtensionAttributes: { extensionAttribute15: 'x'.repeat(1025) } }),
    })
    assert.equal(huge.status, 400)
    assert.match(errorOf(huge.body).message, /extensionAttribute15/)
    const unknown = await graph(env, '/users', {
      method: 'POST',
      body: JSON.stringify({ ...base, onPremisesExtensionAttributes: { extensionAttribute16: 'x' } }),
    })
    assert.equal(unknown.status, 400)
    const fits = await graph(env, '/users', {
      method: 'POST',
      body: JSON.stringify({ ...base, employeeId: '1234567890123456', onPremisesExtensionAttributes: { extensionAttribute15: 'x'.repeat(1024) } }),
    })
    assert.equal(fits.status, 201)
  })

  test('when the extension attribute is filtered without ConsistencyLevel: eventual and $count=true, then the emulator refuses the query as Graph does', async (t) => {
    const env = await setup(t)
    env.emulator.seedUser({ userPrincipalName: 'a.b@tenure.example', onPremisesExtensionAttributes: { extensionAttribute15: 'bamboohr:1002' } })
    const filter = encodeURIComponent("onPremisesExtensionAttributes/extensionAttribute15 eq 'bamboohr:1002'")
    const plain = await graph(env, `/users?$filter=${filter}`)
    assert.equal(plain.status, 400)
    assert.equal(errorOf(plain.body).code, 'Request_UnsupportedQuery')
    const headerOnly = await graph(env, `/users?$filter=${filter}`, { headers: { ConsistencyLevel: 'eventual' } })
    assert.equal(headerOnly.status, 400)
    const countOnly = await graph(env, `/users?$filter=${filter}&$count=true`)
    assert.equal(countOnly.status, 400)
    const advanced = await graph(env, `/users?$filter=${filter}&$count=true`, { headers: { ConsistencyLevel: 'eventual' } })
    assert.equal(advanced.status, 200)
    assert.equal(advanced.body['@odata.count'], 1)
    assert.equal((advanced.body.value as unknown[]).length, 1)
  })
})

describe('mover', () => {
  test('when access changes, then groups, licences and roles are added and removed', async (t) => {
    const env = await setup(t)
    const oldTeam = env.emulator.seedGroup({ displayName: 'Old team' })
    const newTeam = env.emulator.seedGroup({ displayName: 'New team' })
    const ref = await env.provisioner.provision(env.ctx, joiner({ groups: [oldTeam] }))
    await env.provisioner.update(env.ctx, ref, {
      add: { groups: [newTeam, newTeam], licences: ['Exchange Online (Plan 2)'], roles: [ENTRA_ROLES.HELPDESK_ADMINISTRATOR] },
      remove: { groups: [oldTeam], licences: ['Microsoft 365 E3', 'Office 365 E3'] },
    })
    let user = env.emulator.getUser(ref.accountId)
    assert.deepEqual(user?.groups, [newTeam])
    assert.deepEqual(user?.licences, [ENTRA_SKUS.EXCHANGE_ONLINE_P2])
    assert.deepEqual(user?.roles, [ENTRA_ROLES.HELPDESK_ADMINISTRATOR])

    await env.provisioner.update(env.ctx, ref, { add: {}, remove: { roles: [ENTRA_ROLES.HELPDESK_ADMINISTRATOR] } })
    user = env.emulator.getUser(ref.accountId)
    assert.deepEqual(user?.roles, [])
  })

  test('when the user does not exist, then update fails NotFound with Graph code and request id', async (t) => {
    const env = await setup(t)
    const err = await rejectsWith(
      env.provisioner.update(
        env.ctx,
        { system: 'entra', accountId: '00000000-0000-4000-8000-000000000000', employeeId: 'E1' },
        { add: { licences: ['Microsoft 365 E3'] }, remove: {} },
      ),
      'NotFound',
    )
    assert.equal(err.vendorCode, 'Request_ResourceNotFound')
    assert.match(err.requestId ?? '', /^[0-9a-f-]{36}$/)
  })
})

describe('leaver', () => {
  async function seedLeaver(env: Env) {
    const e = env.emulator
    const user = e.seedUser({
      userPrincipalName: 'ada.admin@tenure.example',
      employeeId: 'E2002',
      licences: [ENTRA_SKUS.M365_E3, ENTRA_SKUS.EXCHANGE_ONLINE_P1],
    })
    const groups = {
      team: e.seedGroup({ displayName: 'Team', members: [user] }),
      licensed: e.seedGroup({ displayName: 'Licensed via group', assignedLicenses: [ENTRA_SKUS.O365_E3], members: [user] }),
      admins: e.seedGroup({ displayName: 'Tier-0 admins', isAssignableToRole: true, members: [user] }),
      dynamic: e.seedGroup({
        displayName: 'All staff',
        groupTypes: ['DynamicMembership'],
        membershipRule: '(user.userType -eq "Member")',
        members: [user],
      }),
      synced: e.seedGroup({ displayName: 'AD VPN users', onPremisesSyncEnabled: true, members: [user] }),
      list: e.seedGroup({ displayName: 'all-hands', mailEnabled: true, securityEnabled: false, members: [user] }),
      m365: e.seedGroup({ displayName: 'Project X', groupTypes: ['Unified'], mailEnabled: true, members: [user] }),
    }
    e.seedRoleAssignment(user, ENTRA_ROLES.GLOBAL_ADMINISTRATOR)
    e.seedRoleEligibility(user, ENTRA_ROLES.USER_ADMINISTRATOR)
    return { user, groups, ref: { system: 'entra', accountId: user, login: 'ada.admin@tenure.example', employeeId: 'E2002' } }
  }

  test('when a leaver is cut off and cleaned up, then verify reads the account revoked and residual access is reported', async (t) => {
    const env = await setup(t)
    const { user, groups, ref } = await seedLeaver(env)
    const revokedAt = new Date().toISOString()

    const cutoff = await env.provisioner.deprovision(env.ctx, ref, {
      phase: 'cutoff',
      steps: ['revoke_sessions', 'disable', 'revoke_tokens'],
      options: {},
    })
    assert.deepEqual(
      cutoff.steps.map((s) => [s.step, s.status]),
      [
        ['disable', 'done'],
        ['revoke_sessions', 'done'],
        ['revoke_tokens', 'already_done'],
      ],
    )
    assert.ok(cutoff.steps[0]?.requestIds?.[0])
    const afterCutoff = await env.provisioner.verify(env.ctx, ref, { revokedAt })
    assert.equal(afterCutoff.revoked, true)
    assert.deepEqual(
      afterCutoff.checks.map((c) => [c.name, c.ok]),
      [
        ['account_disabled', true],
        ['sessions_revoked', true],
      ],
    )
    assert.deepEqual(afterCutoff.roles, [ENTRA_ROLES.GLOBAL_ADMINISTRATOR], 'cut-off alone leaves roles for clean-up')

    const cleanup = await env.provisioner.deprovision(env.ctx, ref, {
      phase: 'cleanup',
      steps: ['delete', 'remove_licences', 'remove_groups', 'remove_roles'],
      options: {},
    })
    assert.deepEqual(
      cleanup.steps.map((s) => [s.step, s.status]),
      [
        ['remove_roles', 'done'],
        ['remove_groups', 'done'],
        ['remove_licences', 'done'],
        ['delete', 'skipped'],
      ],
    )
    const stored = env.emulator.getUser(user)
    assert.ok(stored)
    assert.deepEqual(stored.roles, [])
    assert.deepEqual(stored.eligibleRoles, [])
    assert.deepEqual(new Set(stored.groups), new Set([groups.dynamic, groups.synced, groups.list]))
    assert.deepEqual(stored.licences, [], 'direct licences removed, group-based one released with the membership')
    assert.deepEqual(
      new Set(cleanup.residual.map((r) => `${r.kind}:${r.id}`)),
      new Set([`group:${groups.dynamic}`, `group:${groups.synced}`, `group:${groups.list}`]),
    )
    assert.match(cleanup.residual.find((r) => r.id === groups.dynamic)?.reason ?? '', /dynamic membership/)

    const final = await env.provisioner.verify(env.ctx, ref, { revokedAt })
    assert.equal(final.revoked, true)
    assert.deepEqual(final.roles, [])
    assert.deepEqual(final.licences, [])
  })

  test('when cut-off runs twice, then the second run reports already_done for the disable', async (t) => {
    const env = await setup(t)
    const { ref } = await seedLeaver(env)
    const plan = { phase: 'cutoff' as const, steps: ['disable' as const, 'revoke_sessions' as const], options: {} }
    await env.provisioner.deprovision(env.ctx, ref, plan)
    const again = await env.provisioner.deprovision(env.ctx, ref, plan)
    assert.equal(again.steps[0]?.status, 'already_done')
  })

  test('when Graph refuses to disable a privileged admin, then sessions are still revoked and the phase fails AuthFailed', async (t) => {
    const env = await setup(t)
    const { user, ref } = await seedLeaver(env)
    // Graph answers 403 Authorization_RequestDenied when the app may not disable an admin
    // (https://learn.microsoft.com/graph/api/user-update: privileged users need a higher role).
    env.emulator.kit.injectFault({ method: 'PATCH', pathIncludes: '/v1.0/users/', status: 403, code: 'Authorization_RequestDenied' })
    const err = await rejectsWith(
      env.provisioner.deprovision(env.ctx, ref, { phase: 'cutoff', steps: ['disable', 'revoke_sessions'], options: {} }),
      'AuthFailed',
    )
    assert.match(err.message, /failed at disable.*disable failed, revoke_sessions done/)
    const stored = env.emulator.getUser(user)
    assert.equal(stored?.accountEnabled, true)
    const revoke = env.calls.find((c) => c.operation === 'POST /users/{id}/revokeSignInSessions')
    assert.equal(revoke?.status, 200, 'revokeSignInSessions ran after the refused disable')
  })

  test('when an admin re-enables the account by hand, then verify no longer reads it revoked', async (t) => {
    const env = await setup(t)
    const { ref } = await seedLeaver(env)
    const revokedAt = new Date().toISOString()
    await env.provisioner.deprovision(env.ctx, ref, { phase: 'cutoff', steps: ['disable', 'revoke_sessions'], options: {} })
    env.emulator.setActive(ref.accountId, true)
    const state = await env.provisioner.verify(env.ctx, ref, { revokedAt })
    assert.equal(state.revoked, false)
    assert.equal(state.checks.find((c) => c.name === 'account_disabled')?.ok, false)
  })

  test('when sessions were not revoked after revokedAt, then the sessions check fails', async (t) => {
    const env = await setup(t)
    const { ref } = await seedLeaver(env)
    await env.provisioner.deprovision(env.ctx, ref, { phase: 'cutoff', steps: ['disable'], options: {} })
    const state = await env.provisioner.verify(env.ctx, ref, { revokedAt: new Date(Date.now() + 60_000).toISOString() })
    assert.equal(state.checks.find((c) => c.name === 'sessions_revoked')?.ok, false)
    assert.equal(state.revoked, false)
  })

  test("when Graph's clock runs 10 minutes behind ours, then the revocation made at the cut-off still verifies, read on Graph's clock", async (t) => {
    const env = await setup(t, { emulator: { now: () => Date.now() - 600_000 } })
    const { ref } = await seedLeaver(env)
    const revokedAt = new Date().toISOString()
    await env.provisioner.deprovision(env.ctx, ref, { phase: 'cutoff', steps: ['disable', 'revoke_sessions'], options: {} })
    const state = await env.provisioner.verify(env.ctx, ref, { revokedAt })
    const check = state.checks.find((c) => c.name === 'sessions_revoked')
    // Compared on this machine's clock, the field reads 10 minutes before the cut-off began.
    assert.equal(check?.ok, true, check?.detail)
    assert.match(check?.detail ?? '', /Graph's clock -60\d{4}\.\.-5\d{5} ms from ours/)
    assert.equal(state.revoked, true)
  })

  test("when Graph's clock runs 10 minutes ahead and the sessions were revoked before the cut-off began, then that older revocation does not pass as the cut-off's", async (t) => {
    const env = await setup(t, { emulator: { now: () => Date.now() + 600_000 } })
    const { ref } = await seedLeaver(env)
    // Someone revoked the sessions; the cut-off began 5 s later (our clock) and its own
    // revokeSignInSessions never reached Graph. On our clock the old stamp looks 10 minutes newer.
    await env.provisioner.deprovision(env.ctx, ref, { phase: 'cutoff', steps: ['disable', 'revoke_sessions'], options: {} })
    const cutoffBegan = new Date(Date.now() + 5_000).toISOString()
    const state = await env.provisioner.verify(env.ctx, ref, { revokedAt: cutoffBegan })
    const check = state.checks.find((c) => c.name === 'sessions_revoked')
    assert.equal(check?.ok, false, check?.detail)
    assert.equal(state.revoked, false)
  })

  test('when the keepMailbox exception is approved, then the Exchange licence stays, delete is skipped and a manual follow-up is recorded', async (t) => {
    const env = await setup(t, { config: { deleteOnLeave: true } })
    const { user, ref } = await seedLeaver(env)
    const evidence = await env.provisioner.deprovision(env.ctx, ref, {
      phase: 'cleanup',
      steps: ['remove_licences', 'convert_mailbox', 'delete'],
      options: { keepMailbox: true },
    })
    assert.deepEqual(env.emulator.getUser(user)?.directLicences, [ENTRA_SKUS.EXCHANGE_ONLINE_P1])
    assert.deepEqual(
      evidence.steps.map((s) => [s.step, s.status]),
      [
        ['remove_licences', 'done'],
        ['convert_mailbox', 'not_supported'],
        ['delete', 'skipped'],
      ],
    )
    assert.ok(evidence.residual.some((r) => r.kind === 'mailbox' && /Set-Mailbox/.test(r.reason)))
    assert.ok(env.emulator.getUser(user), 'the user still exists')
  })

  test('when deleteOnLeave is on and nothing holds the account, then the user is soft-deleted and verify reads it gone', async (t) => {
    const env = await setup(t, { config: { deleteOnLeave: true } })
    const { user, ref } = await seedLeaver(env)
    const evidence = await env.provisioner.deprovision(env.ctx, ref, { phase: 'cleanup', steps: ['delete'], options: {} })
    assert.equal(evidence.steps[0]?.status, 'done')
    assert.equal(env.emulator.getUser(user), undefined)
    assert.ok(env.emulator.getDeletedUser(user))
    const state = await env.provisioner.verify(env.ctx, ref)
    assert.equal(state.exists, false)
    assert.equal(state.revoked, true)
  })

  test('when a legal hold applies, then delete is skipped even with deleteOnLeave', async (t) => {
    const env = await setup(t, { config: { deleteOnLeave: true } })
    const { user, ref } = await seedLeaver(env)
    const evidence = await env.provisioner.deprovision(env.ctx, ref, { phase: 'cleanup', steps: ['delete', 'transfer_data'], options: { legalHold: true, transferTo: { email: 'boss@tenure.example' } } })
    assert.deepEqual(evidence.steps.map((s) => [s.step, s.status]), [['transfer_data', 'skipped'], ['delete', 'skipped']])
    assert.ok(env.emulator.getUser(user))
  })

  test('when the user is already deleted, then deprovision succeeds with every step already_done', async (t) => {
    const env = await setup(t)
    const evidence = await env.provisioner.deprovision(
      env.ctx,
      { system: 'entra', accountId: '11111111-1111-4111-8111-111111111111', employeeId: 'E404' },
      { phase: 'cutoff', steps: ['disable', 'revoke_sessions'], options: {} },
    )
    assert.deepEqual(evidence.steps.map((s) => s.status), ['already_done', 'already_done'])
    assert.match(evidence.steps[0]?.detail ?? '', /does not exist/)
  })

  test('when the app lacks RoleManagement.ReadWrite.Directory, then role-assignable memberships and roles become residual access', async (t) => {
    const env = await setup(t, { config: { removeEligibleRoles: false } })
    const { groups, ref } = await seedLeaver(env)
    env.emulator.setPermissions(['User.ReadWrite.All', 'User.RevokeSessions.All', 'GroupMember.ReadWrite.All', 'LicenseAssignment.ReadWrite.All', 'RoleManagement.Read.Directory'])
    const evidence = await env.provisioner.deprovision(env.ctx, ref, { phase: 'cleanup', steps: ['remove_roles', 'remove_groups'], options: {} })
    const kinds = evidence.residual.map((r) => `${r.kind}:${r.id}`)
    assert.ok(kinds.includes(`directory_role:${ENTRA_ROLES.GLOBAL_ADMINISTRATOR}`))
    assert.ok(kinds.includes(`group:${groups.admins}`))
    assert.match(evidence.residual.find((r) => r.id === groups.admins)?.reason ?? '', /RoleManagement\.ReadWrite\.Directory/)
    assert.ok(!env.emulator.getUser(ref.accountId)?.groups.includes(groups.team), 'other memberships are still removed')
  })

  test('when the app is not a Privileged Authentication Administrator, then disabling a Global Administrator fails AuthFailed instead of passing silently', async (t) => {
    const env = await setup(t, { emulator: { appDirectoryRoles: [] } })
    const { ref } = await seedLeaver(env)
    const err = await rejectsWith(
      env.provisioner.deprovision(env.ctx, ref, { phase: 'cutoff', steps: ['disable'], options: {} }),
      'AuthFailed',
    )
    assert.equal(err.status, 403)
    assert.equal(err.vendorCode, 'Authorization_RequestDenied')
    assert.equal(env.emulator.getUser(ref.accountId)?.accountEnabled, true)
  })

  test('when suspended for leave, then the account is disabled and sessions revoked but nothing is removed', async (t) => {
    const env = await setup(t)
    const team = env.emulator.seedGroup({ displayName: 'Team' })
    const ref = await env.provisioner.provision(env.ctx, joiner({ groups: [team] }))
    const before = env.emulator.getUser(ref.accountId)?.signInSessionsValidFromDateTime ?? ''
    await env.provisioner.suspend(env.ctx, ref)
    const user = env.emulator.getUser(ref.accountId)
    assert.equal(user?.accountEnabled, false)
    assert.ok((user?.signInSessionsValidFromDateTime ?? '') >= before)
    assert.ok(env.calls.some((c) => c.operation === 'POST /users/{id}/revokeSignInSessions' && c.status === 200))
    assert.deepEqual(user?.groups, [team])
  })
})

describe('errors', () => {
  test('when Graph answers 429 with Retry-After, then RateLimited carries the wait and the SDK does not retry', async (t) => {
    const env = await setup(t)
    env.emulator.kit.injectFault({ method: 'GET', pathIncludes: '/v1.0/users', status: 429, retryAfterSeconds: 7 })
    const before = env.emulator.kit.stats.requests
    const err = await rejectsWith(env.provisioner.lookup(env.ctx, joiner().employee), 'RateLimited')
    assert.ok(err instanceof RateLimitedError)
    assert.equal(err.retryAfterMs, 7_000)
    assert.equal(err.vendorCode, 'TooManyRequests')
    // one token request + exactly one Graph request: RetryHandler is not in the chain
    assert.equal(env.emulator.kit.stats.requests - before, 2)
  })

  test('when the write bucket is exhausted, then the emulator throttles like Graph and the error is RateLimited', async (t) => {
    const env = await setup(t)
    const res = await fetch(`${env.baseUrl}/_emulator/rate-limits`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ write: { perMinute: 6, burst: 1 } }),
    })
    assert.equal(res.status, 204)
    const err = await rejectsWith(env.provisioner.provision(env.ctx, joiner()), 'RateLimited')
    assert.ok(err instanceof RateLimitedError)
    assert.ok(err.retryAfterMs >= 1_000)
    assert.equal(env.emulator.userCount(), 1, 'the first write went through, the second was throttled')
  })

  test('when the token expired, then it is refreshed once transparently', async (t) => {
    const env = await setup(t)
    const ref = await env.provisioner.provision(env.ctx, joiner({ licences: [] }))
    env.emulator.kit.injectFault({ pathIncludes: '/v1.0/users', expireToken: true })
    const state = await env.provisioner.verify(env.ctx, ref)
    assert.equal(state.exists, true)
    const tokens = env.calls.filter((c) => c.operation === 'POST /oauth2/v2.0/token')
    assert.equal(tokens.length, 2)
    assert.ok(env.calls.some((c) => c.status === 401 && c.errorKind === 'AuthFailed'))
  })

  test('when the cached token nears expiry, then a new one is fetched before Graph would refuse it', async (t) => {
    const env = await setup(t)
    let clock = Date.parse('2026-03-02T09:00:00Z')
    const config = entraConfigSchema.parse(entraSandboxConfig(env.baseUrl))
    const provisioner = createEntraProvisioner(config, { now: () => clock })
    const tokenRequests = () => env.calls.filter((c) => c.operation === 'POST /oauth2/v2.0/token').length
    await provisioner.lookup(env.ctx, joiner().employee)
    clock += 50 * 60_000 // 10 minutes left of the emulator's 60-minute token: still reused
    await provisioner.lookup(env.ctx, joiner().employee)
    assert.equal(tokenRequests(), 1)
    clock += 6 * 60_000 // under 5 minutes left: refreshed ahead of expiry
    await provisioner.lookup(env.ctx, joiner().employee)
    assert.equal(tokenRequests(), 2)
  })

  test('when Graph keeps answering 401, then the second refusal is AuthFailed', async (t) => {
    const env = await setup(t)
    env.emulator.kit.injectFault({ pathIncludes: '/v1.0/users', status: 401, times: 2 })
    const err = await rejectsWith(env.provisioner.lookup(env.ctx, joiner().employee), 'AuthFailed')
    assert.equal(err.vendorCode, 'InvalidAuthenticationToken')
    assert.equal(env.calls.filter((c) => c.operation === 'POST /oauth2/v2.0/token').length, 2)
  })

  test('when the client secret is wrong, then AuthFailed carries invalid_client and the AADSTS text, not the secret', async (t) => {
    const env = await setup(t, { config: { clientSecret: 'not-the-secret' } })
    const err = await rejectsWith(env.provisioner.lookup(env.ctx, joiner().employee), 'AuthFailed')
    assert.equal(err.vendorCode, 'invalid_client')
    assert.equal(err.status, 401)
    assert.match(err.message, /AADSTS7000215/)
    assert.ok(!err.message.includes('not-the-secret'))
  })

  test('when Graph answers 500 or 503, then the error is Transient; a 503 with Retry-After is RateLimited with that wait', async (t) => {
    const env = await setup(t)
    env.emulator.kit.injectFault({ pathIncludes: '/v1.0/users', status: 500 })
    await rejectsWith(env.provisioner.lookup(env.ctx, joiner().employee), 'Transient')
    env.emulator.kit.injectFault({ pathIncludes: '/v1.0/users', status: 503 })
    const err = await rejectsWith(env.provisioner.lookup(env.ctx, joiner().employee), 'Transient')
    assert.equal(err.vendorCode, 'ServiceUnavailable')
    env.emulator.kit.injectFault({ pathIncludes: '/v1.0/users', status: 503, retryAfterSeconds: 2 })
    const busy = await rejectsWith(env.provisioner.lookup(env.ctx, joiner().employee), 'RateLimited')
    assert.equal((busy as { retryAfterMs?: number }).retryAfterMs, 2000)
  })

  test('when Graph does not answer in time, then the error is Transient', async (t) => {
    const env = await setup(t, { config: { timeoutMs: 150 } })
    await env.provisioner.lookup(env.ctx, joiner().employee) // warm the token
    env.emulator.kit.injectFault({ pathIncludes: '/v1.0/users', hangMs: 600 })
    const err = await rejectsWith(env.provisioner.lookup(env.ctx, joiner().employee), 'Transient')
    assert.match(err.message, /timed out after 150 ms/)
  })

  test('when the token endpoint throttles, then RateLimited honours its Retry-After', async (t) => {
    const env = await setup(t)
    env.emulator.kit.injectFault({ pathIncludes: '/oauth2/v2.0/token', status: 429, retryAfterSeconds: 60 })
    const err = await rejectsWith(env.provisioner.lookup(env.ctx, joiner().employee), 'RateLimited')
    assert.ok(err instanceof RateLimitedError)
    assert.equal(err.retryAfterMs, 60_000)
  })

  test('when the caller aborts, then the call stops and is Transient', async (t) => {
    const env = await setup(t)
    const controller = new AbortController()
    controller.abort()
    await rejectsWith(env.provisioner.lookup({ ...env.ctx, signal: controller.signal }, joiner().employee), 'Transient')
  })

  test('when the emulator gets a filter Graph does not support, then it answers 400 in Graph format', async (t) => {
    const env = await setup(t)
    const token = await fetch(`${env.baseUrl}/${env.emulator.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: env.emulator.clientId,
        client_secret: ENTRA_EMULATOR_CLIENT_SECRET,
        scope: 'https://graph.microsoft.com/.default',
      }),
    }).then((r) => r.json() as Promise<{ access_token: string }>)
    const res = await fetch(`${env.baseUrl}/v1.0/users?$filter=startswith(displayName,'a')`, {
      headers: { authorization: `Bearer ${token.access_token}` },
    })
    assert.equal(res.status, 400)
    const body = (await res.json()) as { error: { code: string; innerError: Record<string, string> } }
    assert.equal(body.error.code, 'Request_UnsupportedQuery')
    assert.equal(body.error.innerError['request-id'], res.headers.get('request-id'))
  })
})

describe('listing', () => {
  test('when there are more users than a page holds, then listAccounts pages through them with nextLink', async (t) => {
    const env = await setup(t, { config: { pageSize: 2 } })
    const ids = [1, 2, 3, 4, 5].map((n) => env.emulator.seedUser({ userPrincipalName: `u${n}@tenure.example`, employeeId: `E${n}`, accountEnabled: n !== 3 }))
    const seen: string[] = []
    let page: string | undefined
    let pages = 0
    do {
      const result = await env.provisioner.listAccounts(env.ctx, page)
      seen.push(...result.items.map((i) => i.accountId))
      page = result.nextPage
      pages += 1
      if (page) assert.ok(page.startsWith(`${env.baseUrl}/v1.0/users?`))
    } while (page)
    assert.equal(pages, 3)
    assert.deepEqual(seen, ids)
    const all = await env.provisioner.listAccounts(env.ctx)
    assert.equal(all.items[0]?.employeeId, 'E1')
    // GET /users carries no memberships or roles: the listing says so instead of "none".
    assert.deepEqual(all.items[0]?.unknown?.map((u) => u.attribute), ['groups', 'roles'])
  })

  test('when a page token points at another host, then it is refused and no token is sent there', async (t) => {
    const env = await setup(t)
    await rejectsWith(env.provisioner.listAccounts(env.ctx, 'https://attacker.example/v1.0/users?$skiptoken=x'), 'Permanent')
  })
})

describe('pure parts', () => {
  test('when names carry accents or odd characters, then the UPN is plain ASCII', () => {
    const fail = (m: string) => new Error(m)
    const upn = (first: string, last: string, pattern = '{first}.{last}@{domain}') =>
      deriveUserPrincipalName(pattern, 'Contoso.com', { employeeId: 'E 42', firstName: first, lastName: last }, fail)
    assert.equal(upn('José', 'Müller'), 'jose.muller@contoso.com')
    assert.equal(upn('Siobhán', "O'Brien-Ó Dálaigh"), 'siobhan.obrien-odalaigh@contoso.com')
    assert.equal(upn('Łukasz', 'Størmer'), 'lukasz.stormer@contoso.com')
    assert.equal(upn('Ann', 'Lee', '{firstInitial}{last}.{employeeId}@{domain}'), 'alee.e42@contoso.com')
    assert.throws(() => upn('李', '小龙'), /no Latin letters/)
  })

  test('when deciding where the bearer token may go, then only Graph or configured hosts get it, and plain http only on loopback', () => {
    const custom = new Set(['127.0.0.1', 'graph.contoso.internal'])
    assert.equal(mayCarryToken('https://graph.microsoft.com/v1.0/users', undefined), true)
    assert.equal(mayCarryToken('https://graph.microsoft.us/v1.0/users', undefined), true)
    assert.equal(mayCarryToken('http://graph.microsoft.com/v1.0/users', undefined), false)
    assert.equal(mayCarryToken('http://127.0.0.1:4000/v1.0/users', custom), true)
    assert.equal(mayCarryToken('http://graph.contoso.internal/v1.0/users', custom), false)
    assert.equal(mayCarryToken('https://graph.contoso.internal/v1.0/users', custom), true)
    assert.equal(mayCarryToken('https://download.example.net/file', custom), false)
  })

  test('when a password is generated, then it has all four character classes and 24 characters', () => {
    for (let i = 0; i < 50; i++) {
      const p = strongPassword()
      assert.equal(p.length, 24)
      for (const re of [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/]) assert.match(p, re)
    }
  })

  test('when request costs are computed, then they follow the Graph identity cost table', () => {
    assert.deepEqual(graphRequestCost('GET', '/users'), { bucket: 'read', cost: 2 })
    assert.deepEqual(graphRequestCost('GET', '/users', { $select: 'id', $top: '2' }), { bucket: 'read', cost: 1 })
    assert.deepEqual(graphRequestCost('GET', '/users/x/memberOf', { $select: 'id', $top: '999' }), { bucket: 'read', cost: 1 })
    assert.deepEqual(graphRequestCost('GET', '/subscribedSkus'), { bucket: 'read', cost: 3 })
    assert.deepEqual(graphRequestCost('PATCH', '/users/x'), { bucket: 'write', cost: 1 })
  })

  test('when the config has plain-http remote URLs or unknown mailbox licences, then it is rejected', () => {
    const base = entraSandboxConfig('http://127.0.0.1:1')
    assert.equal(entraConfigSchema.safeParse(base).success, true)
    assert.equal(entraConfigSchema.safeParse({ ...base, baseUrl: 'http://graph.example.com' }).success, false)
    assert.equal(entraConfigSchema.safeParse({ ...base, mailboxLicenceSkus: ['Nope'] }).success, false)
    assert.equal(entraConfigSchema.safeParse({ ...base, userPrincipalNamePattern: '{nick}@{domain}' }).success, false)
    const parsed = entraConfigSchema.parse({ ...base, baseUrl: undefined, authorityHost: undefined })
    assert.equal(parsed.baseUrl, 'https://graph.microsoft.com')
    assert.equal(parsed.deleteOnLeave, false)
  })

  test('when the provisioner logs, then no secret, password or token appears in the output', async (t) => {
    const lines: string[] = []
    const log = createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString())
          cb()
        },
      }),
    })
    const env = await setup(t)
    const ctx = { ...env.ctx, log }
    const ref = await env.provisioner.provision(ctx, joiner())
    await env.provisioner.deprovision(ctx, ref, { phase: 'cutoff', steps: ['disable', 'revoke_sessions'], options: {} })
    const output = lines.join('')
    assert.ok(output.length > 0)
    assert.ok(!output.includes(ENTRA_EMULATOR_CLIENT_SECRET))
    assert.ok(!/emu_[A-Za-z0-9_-]{10,}/.test(output), 'no access token in logs')
  })
})
