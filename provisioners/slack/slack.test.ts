/**
 * The Slack provisioner through the real @slack/web-api WebClient and fetch, against the emulator
 * over real HTTP on 127.0.0.1.
 */
import { describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { LogLevel, WebClient, WebAPIPlatformError } from '@slack/web-api'
import { silentLogger } from '../../src/log.ts'
import { ProvisionerError, RateLimitedError } from '../errors.ts'
import { testCtx, type AccessGrant, type AccountSpec, type ApiCallRecord, type Ctx, type Provisioner, type RevocationStepKind } from '../types.ts'
import { slackConfigSchema, type SlackConfigInput } from './config.ts'
import { SLACK_DEV_BOT_TOKEN, SLACK_DEV_SCIM_TOKEN, SlackEmulator, slackSandboxConfig, type SlackEmulatorOptions } from './emulator.ts'
import { createSlackProvisioner } from './provisioner.ts'
import { seedSlackSandbox } from '../../src/sandbox/index.ts'

interface Harness {
  emu: SlackEmulator
  url: string
  p: Provisioner
  calls: ApiCallRecord[]
  throttled: string[]
  ctx: Ctx
}

async function setup(t: TestContext, overrides: Partial<SlackConfigInput> = {}, emuOptions: SlackEmulatorOptions = {}): Promise<Harness> {
  const emu = new SlackEmulator(emuOptions)
  const url = await emu.start()
  t.after(() => emu.close())
  const config = slackConfigSchema.parse({ ...slackSandboxConfig(url), ...overrides })
  const p = createSlackProvisioner(config)
  const calls: ApiCallRecord[] = []
  const throttled: string[] = []
  const ctx: Ctx = {
    ...testCtx(silentLogger, calls),
    throttle: async (bucket: string) => {
      throttled.push(bucket)
    },
  }
  return { emu, url, p, calls, throttled, ctx }
}

function grant(partial: Partial<AccessGrant> = {}): AccessGrant {
  return { account: true, groups: [], licences: [], channels: [], projects: [], roles: [], ...partial }
}

function joiner(employeeId: string, partial: Partial<AccountSpec['employee']> = {}, access: Partial<AccessGrant> = {}, enabled = true): AccountSpec {
  return {
    employee: {
      employeeId,
      firstName: 'Ada',
      lastName: 'Lovelace',
      workEmail: `ada.lovelace.${employeeId.toLowerCase()}@example.com`,
      department: 'Engineering',
      title: 'Engineer',
      ...partial,
    },
    access: grant(access),
    enabled,
  }
}

async function rejectsWith(promise: Promise<unknown>, kind: string, vendorCode?: string): Promise<ProvisionerError> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof ProvisionerError, `expected a ProvisionerError, got ${String(err)}`)
    assert.equal(err.kind, kind, err.message)
    if (vendorCode !== undefined) assert.equal(err.vendorCode, vendorCode, err.message)
    return err
  }
  assert.fail(`expected a ${kind} error`)
}

const CUTOFF: RevocationStepKind[] = ['disable', 'revoke_sessions', 'revoke_tokens']

describe('slack joiner', () => {
  test('when a joiner is provisioned, then the SCIM user, channels and user groups exist and verify reads them back', async (t) => {
    const h = await setup(t)
    const colleague = h.emu.seedUser({ userName: 'grace', email: 'grace@example.com', externalId: 'E001' })
    h.emu.seedChannel({ name: 'engineering' })
    const leads = h.emu.seedChannel({ name: 'eng-leads', isPrivate: true })
    const eng = h.emu.seedUserGroup({ handle: 'eng', name: 'Engineering', users: [colleague] })

    const ref = await h.p.provision(h.ctx, joiner('E100', {}, { channels: ['#engineering', leads], userGroups: ['@eng'] }))

    assert.match(ref.accountId, /^U[0-9A-Z]{10}$/)
    assert.equal(ref.login, 'ada.lovelace.e100@example.com')
    const stored = h.emu.getUser(ref.accountId)
    assert.ok(stored)
    assert.equal(stored.externalId, 'E100')
    assert.equal(stored.active, true)
    assert.equal(stored.userName, 'ada.lovelace.e100')
    assert.equal(stored.title, 'Engineer')
    assert.equal(stored.enterprise.department, 'Engineering')
    assert.ok(h.emu.channelMembers('engineering').includes(ref.accountId))
    assert.ok(h.emu.channelMembers(leads).includes(ref.accountId))
    assert.ok(h.emu.channelMembers('general').includes(ref.accountId), 'defaultChannels applied')
    assert.deepEqual(h.emu.userGroupMembers(eng), [colleague, ref.accountId], 'the group keeps its other member')

    const state = await h.p.verify(h.ctx, ref)
    assert.equal(state.exists, true)
    assert.equal(state.active, true)
    assert.equal(state.revoked, false)
    assert.equal(state.employeeId, 'E100')
    assert.deepEqual(state.groups, [eng])

    assert.ok(h.calls.every((c) => c.requestId !== undefined), 'x-slack-req-id recorded on every call')
    for (const bucket of ['scim_write', 'conversations.list', 'conversations.invite', 'usergroups.users.list', 'usergroups.users.update']) {
      assert.ok(h.throttled.includes(bucket), `throttled ${bucket}`)
    }
    assert.ok(h.throttled.length >= h.calls.length, 'a limiter token before every call')
  })

  test('when a provision is retried, then no second user is created and the same account is returned', async (t) => {
    const h = await setup(t)
    const first = await h.p.provision(h.ctx, joiner('E101'))
    const users = h.emu.userCount()
    h.calls.length = 0
    const second = await h.p.provision(h.ctx, joiner('E101'))
    assert.deepEqual(second, first)
    assert.equal(h.emu.userCount(), users)
    const create = h.calls.find((c) => c.operation === 'scim.Users.create')
    assert.equal(create?.status, 409)
    assert.equal(create?.errorKind, 'Conflict')
    assert.ok(h.calls.some((c) => c.operation === 'scim.Users.search'))
  })

  test('when a job that ran before provisions again, then it finds the user first: no create, no 409, and no invite to a channel the user is already in', async (t) => {
    const h = await setup(t)
    h.emu.seedChannel({ name: 'engineering' })
    h.emu.seedChannel({ name: 'random' })
    const spec = joiner('E104', {}, { channels: ['#engineering', '#random'] })
    const first = await h.p.provision(h.ctx, spec)
    const users = h.emu.userCount()
    h.calls.length = 0
    const second = await h.p.provision({ ...h.ctx, repeat: true }, spec)
    assert.deepEqual(second, first)
    assert.equal(h.emu.userCount(), users)
    const ops = h.calls.map((c) => c.operation)
    assert.ok(!ops.includes('scim.Users.create'), `no create on a repeat run: ${ops.join(', ')}`)
    assert.ok(ops.includes('scim.Users.search'))
    assert.ok(!ops.includes('conversations.invite'), `no invite to channels already joined: ${ops.join(', ')}`)
    // And a repeat that finds nobody (the first round was limited before its create) creates the user.
    h.calls.length = 0
    const fresh = await h.p.provision({ ...h.ctx, repeat: true }, joiner('E105'))
    assert.ok(fresh.accountId)
    assert.equal(h.emu.userCount(), users + 1)
    assert.equal(h.calls.filter((c) => c.operation === 'scim.Users.create').length, 1)
  })

  test("when the email belongs to another employee's Slack account, then provision fails as Conflict and adopts nothing", async (t) => {
    const h = await setup(t)
    h.emu.seedUser({ userName: 'someone', email: 'ada.lovelace.e102@example.com', externalId: 'E999' })
    const users = h.emu.userCount()
    const err = await rejectsWith(h.p.provision(h.ctx, joiner('E102')), 'Conflict', 'email_taken')
    assert.match(err.message, /E999/)
    assert.equal(h.emu.userCount(), users)
    assert.equal(await h.p.lookup(h.ctx, joiner('E102').employee), undefined)
  })

  test('when a hand-made account has the email and no externalId, then lookup finds it and provision adopts it', async (t) => {
    const h = await setup(t)
    const existing = h.emu.seedUser({ userName: 'ada', email: 'ada.lovelace.e103@example.com' })
    const found = await h.p.lookup(h.ctx, joiner('E103').employee)
    assert.equal(found?.accountId, existing)
    const ref = await h.p.provision(h.ctx, joiner('E103'))
    assert.equal(ref.accountId, existing)
    assert.ok(h.emu.channelMembers('general').includes(existing))
  })

  test('when the userName is taken by someone else, then provision fails as Conflict', async (t) => {
    const h = await setup(t)
    h.emu.seedUser({ userName: 'ada.lovelace.e104', email: 'other@example.com', externalId: 'E500' })
    await rejectsWith(h.p.provision(h.ctx, joiner('E104')), 'Conflict', 'username_taken')
  })

  test('when access must not work before day one, then the account is created deactivated and memberships follow activation', async (t) => {
    const h = await setup(t)
    h.emu.seedChannel({ name: 'onboarding' })
    const spec = joiner('E105', {}, { channels: ['onboarding'] }, false)
    const ref = await h.p.provision(h.ctx, spec)
    assert.equal(h.emu.getUser(ref.accountId)?.active, false)
    assert.ok(!h.emu.channelMembers('general').includes(ref.accountId))
    assert.equal((await h.p.verify(h.ctx, ref)).active, false)

    const dayOne = await h.p.provision(h.ctx, { ...spec, enabled: true })
    assert.equal(dayOne.accountId, ref.accountId)
    assert.equal(h.emu.getUser(ref.accountId)?.active, true)
    assert.ok(h.emu.channelMembers('onboarding').includes(ref.accountId))
    assert.ok(h.emu.channelMembers('general').includes(ref.accountId))
  })

  test('when enable is called on a deactivated account, then it is active again and back in the default channels', async (t) => {
    const h = await setup(t)
    const ref = await h.p.provision(h.ctx, joiner('E106', {}, {}, false))
    await h.p.enable(h.ctx, ref)
    assert.equal(h.emu.getUser(ref.accountId)?.active, true)
    assert.ok(h.emu.channelMembers('general').includes(ref.accountId))
    await h.p.suspend(h.ctx, ref)
    assert.equal(h.emu.getUser(ref.accountId)?.active, false)
  })

  test('when HR sends no work email, then the address is derived from emailDomain, and without one provisioning is Permanent', async (t) => {
    const h = await setup(t)
    const ref = await h.p.provision(h.ctx, joiner('E107', { workEmail: undefined, firstName: 'Zoë', lastName: "O'Neil" }))
    assert.equal(ref.login, 'zoe.oneil@example.com')
    const bare = await setup(t, { emailDomain: undefined })
    await rejectsWith(bare.p.provision(bare.ctx, joiner('E108', { workEmail: undefined })), 'Permanent')
  })

  test('when a channel in the grant does not exist, then the rest is applied and the error is Permanent', async (t) => {
    const h = await setup(t)
    const eng = h.emu.seedUserGroup({ handle: 'eng', users: [h.emu.ownerId] })
    const err = await rejectsWith(h.p.provision(h.ctx, joiner('E109', {}, { channels: ['no-such-channel'], userGroups: ['eng'] })), 'Permanent', 'channel_not_found')
    assert.match(err.message, /no-such-channel/)
    const user = h.emu.findUserByEmail('ada.lovelace.e109@example.com')
    assert.ok(user)
    assert.ok(h.emu.userGroupMembers(eng).includes(user.id), 'user group still applied')
    assert.ok(h.emu.channelMembers('general').includes(user.id))
  })

  test('when joiners follow each other within the cache window, then channel names are listed once', async (t) => {
    const h = await setup(t)
    for (let i = 0; i < 3; i++) h.emu.seedChannel({ name: `team-${i}` })
    await h.p.provision(h.ctx, joiner('E110', {}, { channels: ['team-0', 'team-1'] }))
    await h.p.provision(h.ctx, joiner('E111', {}, { channels: ['team-1', 'team-2'] }))
    assert.equal(h.calls.filter((c) => c.operation === 'conversations.list').length, 1)
  })
})

describe('slack mover', () => {
  test('when access changes, then channels and user groups are added and removed', async (t) => {
    const h = await setup(t)
    const other = h.emu.seedUser({ userName: 'bob', email: 'bob@example.com' })
    const a = h.emu.seedChannel({ name: 'sales' })
    const b = h.emu.seedChannel({ name: 'marketing' })
    const g1 = h.emu.seedUserGroup({ handle: 'sales-team', users: [other] })
    const g2 = h.emu.seedUserGroup({ handle: 'marketing-team', users: [other] })
    const ref = await h.p.provision(h.ctx, joiner('E200', {}, { channels: ['sales'], userGroups: ['sales-team'] }))

    await h.p.update(h.ctx, ref, { add: { channels: ['#marketing'], userGroups: [g2] }, remove: { channels: ['sales'], groups: ['@sales-team'] } })

    assert.ok(!h.emu.channelMembers(a).includes(ref.accountId))
    assert.ok(h.emu.channelMembers(b).includes(ref.accountId))
    assert.deepEqual(h.emu.userGroupMembers(g1), [other])
    assert.deepEqual(h.emu.userGroupMembers(g2), [other, ref.accountId])
    // Applying the same change again is a no-op (already_in_channel, not_in_channel, already a member).
    await h.p.update(h.ctx, ref, { add: { channels: ['#marketing'], userGroups: [g2] }, remove: { channels: ['sales'], groups: ['@sales-team'] } })
    assert.deepEqual(h.emu.userGroupMembers(g2), [other, ref.accountId])
  })

  test('when a mover leaves a user group that holds a deactivated member, then the change succeeds', async (t) => {
    const h = await setup(t)
    const other = h.emu.seedUser({ userName: 'bob', email: 'bob@example.com' })
    const gone = h.emu.seedUser({ userName: 'carol', email: 'carol@example.com' })
    const team = h.emu.seedUserGroup({ handle: 'team', users: [other, gone] })
    const next = h.emu.seedUserGroup({ handle: 'next-team', users: [other, gone] })
    const ref = await h.p.provision(h.ctx, joiner('E202', {}, { userGroups: ['team'] }))
    // Carol was deactivated by hand in Slack; her memberships stay (Slack documents no removal).
    h.emu.setActive(gone, false)

    await h.p.update(h.ctx, ref, { add: { userGroups: ['next-team'] }, remove: { userGroups: ['team'] } })

    // Slack refuses a list naming a deactivated member, so she is left out of both lists written.
    assert.deepEqual(h.emu.userGroupMembers(team), [other])
    assert.deepEqual(h.emu.userGroupMembers(next), [other, ref.accountId])
    assert.ok(h.calls.some((c) => c.operation === 'users.info'), "her status was read (users.info), not guessed")
  })

  test('when the person is the last member of a user group, then the removal is refused as Permanent and the group is untouched', async (t) => {
    const h = await setup(t)
    const ref = await h.p.provision(h.ctx, joiner('E201'))
    const solo = h.emu.seedUserGroup({ handle: 'solo', users: [ref.accountId] })
    await rejectsWith(h.p.update(h.ctx, ref, { add: {}, remove: { userGroups: [solo] } }), 'Permanent', 'last_member')
    assert.deepEqual(h.emu.userGroupMembers(solo), [ref.accountId])
  })
})

describe('slack leaver', () => {
  test('when the cut-off and then the clean-up run, then one SCIM write cuts access, Tier 2 calls wait for clean-up, and verify reads revoked', async (t) => {
    const h = await setup(t, { resetSessionsExplicitly: true })
    const other = h.emu.seedUser({ userName: 'bob', email: 'bob@example.com' })
    h.emu.seedChannel({ name: 'engineering' })
    const eng = h.emu.seedUserGroup({ handle: 'eng', users: [other] })
    const ref = await h.p.provision(h.ctx, joiner('E300', {}, { channels: ['engineering'], userGroups: ['eng'] }))
    const ownToken = h.emu.issueUserToken(ref.accountId)
    const asLeaver = new WebClient(ownToken, { slackApiUrl: `${h.url}/api/`, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR })
    assert.equal((await asLeaver.auth.test()).user_id, ref.accountId)

    h.calls.length = 0
    h.throttled.length = 0
    const cutoff = await h.p.deprovision(h.ctx, ref, { phase: 'cutoff', steps: CUTOFF, options: {} })

    assert.deepEqual(cutoff.steps.map((s) => [s.step, s.status]), [
      ['disable', 'done'],
      ['revoke_sessions', 'done'],
      ['revoke_tokens', 'done'],
    ])
    assert.ok((cutoff.steps[0]?.requestIds?.length ?? 0) > 0, 'the deactivating call is evidenced by its x-slack-req-id')
    assert.match(cutoff.steps[1]?.detail ?? '', /implicitly by deactivation/)
    assert.deepEqual(cutoff.residual, [])
    assert.deepEqual(
      h.calls.map((c) => c.operation),
      ['scim.Users.patch'],
      'the cut-off is one write and no read: GET /Users/{id} (300/min) is left to verification',
    )
    assert.ok(!h.throttled.some((b) => b.startsWith('admin.') || b.startsWith('usergroups.')), 'no Tier 2 bucket on the cut-off path')
    assert.equal(h.emu.sessionResets(ref.accountId), 0)
    assert.equal(h.emu.getUser(ref.accountId)?.active, false)
    assert.ok(!h.emu.channelMembers('engineering').includes(ref.accountId), 'Slack drops deactivated members from channels')
    await assert.rejects(asLeaver.auth.test(), (err: unknown) => err instanceof WebAPIPlatformError && err.data.error === 'account_inactive')

    const verified = await h.p.verify(h.ctx, ref)
    assert.equal(verified.revoked, true)
    assert.deepEqual(verified.checks.map((c) => [c.name, c.ok]), [['account_deactivated', true]])

    const cleanup = await h.p.deprovision(h.ctx, ref, {
      phase: 'cleanup',
      steps: ['remove_groups', 'remove_channels', 'remove_licences', 'transfer_data', 'delete'],
      options: {},
    })
    const status = Object.fromEntries(cleanup.steps.map((s) => [s.step, s.status]))
    assert.deepEqual(status, {
      remove_groups: 'done',
      remove_channels: 'already_done',
      remove_licences: 'not_supported',
      transfer_data: 'not_supported',
      delete: 'not_supported',
      revoke_sessions: 'done',
    })
    assert.deepEqual(h.emu.userGroupMembers(eng), [other])
    assert.equal(h.emu.sessionResets(ref.accountId), 1, 'explicit reset in clean-up only (resetSessionsExplicitly)')
    assert.deepEqual((await h.p.verify(h.ctx, ref)).groups, [])
  })

  test('when a deactivated leaver still reads as a channel member, then the clean-up removes them instead of assuming deactivation did', async (t) => {
    const h = await setup(t)
    const ref = await h.p.provision(h.ctx, joiner('E303'))
    await h.p.deprovision(h.ctx, ref, { phase: 'cutoff', steps: CUTOFF, options: {} })
    // Whatever the reason (a shared channel, a lag in Slack), the read is the evidence, not the help article.
    const ops = h.emu.seedChannel({ name: 'ops', members: [ref.accountId] })
    const cleanup = await h.p.deprovision(h.ctx, ref, { phase: 'cleanup', steps: ['remove_channels'], options: {} })
    assert.equal(cleanup.steps[0]?.status, 'done', cleanup.steps[0]?.detail)
    assert.deepEqual(h.emu.channelMembers(ops), [])
    assert.deepEqual(cleanup.residual, [])
  })

  test("when deactivateWith is 'delete', then the cut-off sends SCIM DELETE and the user reads back deactivated", async (t) => {
    const h = await setup(t, { deactivateWith: 'delete' })
    const ref = await h.p.provision(h.ctx, joiner('E301'))
    h.calls.length = 0
    const evidence = await h.p.deprovision(h.ctx, ref, { phase: 'cutoff', steps: ['disable'], options: {} })
    assert.equal(evidence.steps[0]?.status, 'done')
    assert.deepEqual(h.calls.filter((c) => c.method !== 'GET').map((c) => [c.method, c.status]), [['DELETE', 204]])
    assert.equal((await h.p.verify(h.ctx, ref)).revoked, true)
    assert.equal(h.emu.userCount() > 1, true, 'DELETE deactivates, the account stays listed')
  })

  test('when the account is already deactivated, then the cut-off PATCH changes nothing and the account reads back deactivated', async (t) => {
    const h = await setup(t)
    const ref = await h.p.provision(h.ctx, joiner('E302'))
    h.emu.setActive(ref.accountId, false)
    h.calls.length = 0
    const evidence = await h.p.deprovision(h.ctx, ref, { phase: 'cutoff', steps: CUTOFF, options: {} })
    assert.deepEqual(evidence.steps.map((s) => s.status), ['done', 'done', 'done'])
    assert.deepEqual(h.calls.map((c) => c.operation), ['scim.Users.patch'])
    assert.equal(h.emu.getUser(ref.accountId)?.active, false)
    assert.equal((await h.p.verify(h.ctx, ref)).revoked, true)
  })

  test("when deactivateWith is 'delete' and the account is already deactivated, then the cut-off reads first and writes nothing", async (t) => {
    const h = await setup(t, { deactivateWith: 'delete' })
    const ref = await h.p.provision(h.ctx, joiner('E305'))
    h.emu.setActive(ref.accountId, false)
    h.calls.length = 0
    const evidence = await h.p.deprovision(h.ctx, ref, { phase: 'cutoff', steps: CUTOFF, options: {} })
    assert.deepEqual(evidence.steps.map((s) => s.status), ['already_done', 'already_done', 'already_done'])
    assert.ok(h.calls.every((c) => c.method === 'GET'))
  })

  test('when the Slack user has vanished before revocation, then every step is recorded already_done as in Google and Entra', async (t) => {
    const h = await setup(t)
    const ref = { system: 'slack', accountId: 'U0NOSUCHUSER', employeeId: 'E303' }
    const evidence = await h.p.deprovision(h.ctx, ref, { phase: 'cutoff', steps: CUTOFF, options: {} })
    assert.deepEqual(evidence.steps.map((s) => s.status), ['already_done', 'already_done', 'already_done'])
    assert.match(evidence.steps[0]?.detail ?? '', /not found.*no_such_user/)
    assert.deepEqual(evidence.residual, [])
    const state = await h.p.verify(h.ctx, ref)
    assert.equal(state.exists, false)
    assert.equal(state.revoked, true)
  })

  test('when a plan revokes sessions of an account that stays active, then the explicit reset runs and tokens are residual', async (t) => {
    const h = await setup(t)
    const ref = await h.p.provision(h.ctx, joiner('E304'))
    h.emu.seedChannel({ name: 'ops', members: [ref.accountId] })
    const evidence = await h.p.deprovision(h.ctx, ref, { phase: 'cutoff', steps: ['revoke_sessions', 'revoke_tokens', 'remove_channels'], options: {} })
    assert.deepEqual(evidence.steps.map((s) => [s.step, s.status]), [
      ['revoke_sessions', 'done'],
      ['revoke_tokens', 'not_supported'],
      ['remove_channels', 'done'],
    ])
    assert.equal(h.emu.sessionResets(ref.accountId), 1)
    assert.deepEqual(h.emu.channelMembers('ops'), [])
    // Nobody can be removed from #general while active: that stays as residual access for a human.
    const general = evidence.residual.find((r) => r.kind === 'slack_channel')
    assert.match(general?.reason ?? '', /#general/)
    assert.deepEqual(evidence.residual.map((r) => r.kind), ['slack_user_tokens', 'slack_channel'])
    assert.ok(h.emu.channelMembers('general').includes(ref.accountId))
  })

  test('when a Slack revocation step fails, then the other cut-off steps still run and the phase fails like Google\'s', async (t) => {
    const h = await setup(t)
    const ref = { system: 'slack', accountId: h.emu.ownerId, employeeId: 'E000' }
    // Slack refuses to deactivate the primary owner (403 cannot_disable_primary_owner): no retry changes that.
    const err = await rejectsWith(h.p.deprovision(h.ctx, ref, { phase: 'cutoff', steps: CUTOFF, options: {} }), 'Permanent', 'cannot_disable_primary_owner')
    assert.match(err.message, /failed at disable.*disable failed, revoke_sessions done, revoke_tokens not_supported/)
    assert.equal(h.emu.getUser(h.emu.ownerId)?.active, true)
    assert.equal(h.emu.sessionResets(h.emu.ownerId), 1, 'sessions are reset although the deactivation was refused')
  })
})

describe('slack sandbox', () => {
  test("when the sandbox's own joiners, mover and leavers run against the emulator, then every change succeeds and nothing is left behind", async (t) => {
    const h = await setup(t)
    seedSlackSandbox(h.emu)
    // config/sandbox.yaml: everyone gets #general; Engineering #engineering + @engineers; Sales #sales + @sellers.
    const engineering = grant({ channels: ['general', 'engineering'], userGroups: ['engineers'] })
    const sales = grant({ channels: ['general', 'sales'], userGroups: ['sellers'] })
    const ada = await h.p.provision(h.ctx, joiner('E500', { firstName: 'Ada' }, engineering))
    const grace = await h.p.provision(h.ctx, joiner('E501', { firstName: 'Grace', workEmail: 'grace.e501@example.com' }, engineering))

    // Grace leaves: her cut-off runs at once, her clean-up after the settle time. Meanwhile Ada moves to Sales.
    const graceCutoff = await h.p.deprovision(h.ctx, grace, { phase: 'cutoff', steps: CUTOFF, options: { granted: engineering } })
    assert.deepEqual(graceCutoff.residual, [])
    await h.p.update(h.ctx, ada, { add: { channels: ['sales'], userGroups: ['sellers'] }, remove: { channels: ['engineering'], userGroups: ['engineers'] } })
    const graceCleanup = await h.p.deprovision(h.ctx, grace, { phase: 'cleanup', steps: ['remove_groups', 'remove_channels'], options: { granted: engineering } })
    assert.deepEqual(graceCleanup.residual, [])

    // Then Ada leaves too.
    const adaCutoff = await h.p.deprovision(h.ctx, ada, { phase: 'cutoff', steps: CUTOFF, options: { granted: sales } })
    const adaCleanup = await h.p.deprovision(h.ctx, ada, { phase: 'cleanup', steps: ['remove_groups', 'remove_channels'], options: { granted: sales } })
    assert.deepEqual([...adaCutoff.residual, ...adaCleanup.residual], [])
    assert.ok(adaCleanup.steps.every((s) => s.status === 'done' || s.status === 'already_done'), JSON.stringify(adaCleanup.steps))

    const groups = await h.p.verify(h.ctx, ada, { granted: sales })
    assert.equal(groups.revoked, true)
    assert.deepEqual(groups.groups, [])
    assert.equal(groups.unknown, undefined, JSON.stringify(groups.unknown))
    assert.ok(groups.checks.every((c) => c.ok), JSON.stringify(groups.checks))
    const handles = new WebClient(SLACK_DEV_BOT_TOKEN, { slackApiUrl: `${h.url}/api/`, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR })
    const listed = await handles.usergroups.list({ include_users: true })
    for (const g of listed.usergroups ?? []) assert.deepEqual(g.users, [h.emu.ownerId], `@${g.handle} is back to its standing member`)
  })
})

describe('slack verify', () => {
  test('when verify is given what Tenure granted, then it reads those user groups and channels back and names what it could not read', async (t) => {
    const h = await setup(t)
    const other = h.emu.seedUser({ userName: 'bob', email: 'bob@example.com' })
    h.emu.seedChannel({ name: 'engineering' })
    // A private channel the Tenure app is not in: Slack shows it to nobody outside it.
    h.emu.seedChannel({ name: 'secret', isPrivate: true, botIsMember: false })
    const eng = h.emu.seedUserGroup({ handle: 'eng', users: [other] })
    const ref = await h.p.provision(h.ctx, joiner('E400', {}, { channels: ['engineering'], userGroups: ['eng'] }))
    const granted = grant({ channels: ['engineering', 'secret'], userGroups: ['eng'] })

    // Active (a cut-off that did not take, say): the channels are live access and are read.
    const active = await h.p.verify(h.ctx, ref, { granted })
    assert.equal(active.revoked, false)
    assert.deepEqual(active.groups, [eng])
    const left = active.checks.find((c) => c.name === 'granted_channels_left')
    assert.equal(left?.ok, false)
    assert.match(left?.detail ?? '', /still in general, engineering/)
    assert.deepEqual(active.unknown?.map((u) => u.attribute), ['channels'], 'the private channel could not be read')
    assert.match(active.unknown?.[0]?.reason ?? '', /secret/)

    await h.p.deprovision(h.ctx, ref, { phase: 'cutoff', steps: CUTOFF, options: { granted } })
    h.calls.length = 0
    const afterCutoff = await h.p.verify(h.ctx, ref, { granted })
    assert.equal(afterCutoff.revoked, true)
    assert.deepEqual(afterCutoff.groups, [eng], 'still in the user group until the clean-up: reported, not hidden')
    assert.equal(afterCutoff.checks.find((c) => c.name === 'granted_user_groups_read')?.ok, true)
    assert.ok(!h.calls.some((c) => c.operation === 'users.conversations'), "a deactivated account's channels are left to the clean-up's read")
  })
})

describe('slack listAccounts', () => {
  test('when there are more users than a page, then pages chain through nextPage and cover every user once', async (t) => {
    const h = await setup(t, { listPageSize: 2 })
    for (let i = 0; i < 4; i++) h.emu.seedUser({ userName: `u${i}`, email: `u${i}@example.com`, externalId: `E40${i}` })
    h.emu.setActive(h.emu.findUserByEmail('u3@example.com')!.id, false)
    const seen: string[] = []
    const pages: Array<string | undefined> = []
    let page: string | undefined
    do {
      const result = await h.p.listAccounts(h.ctx, page)
      seen.push(...result.items.map((i) => i.accountId))
      pages.push(result.nextPage)
      page = result.nextPage
    } while (page)
    assert.deepEqual(pages, ['3', '5', undefined])
    assert.equal(seen.length, 5)
    assert.equal(new Set(seen).size, 5)
    const all = await Promise.all([h.p.listAccounts(h.ctx, '1'), h.p.listAccounts(h.ctx, '3'), h.p.listAccounts(h.ctx, '5')])
    const deactivated = all.flatMap((r) => r.items).find((i) => i.login === 'u3@example.com')
    assert.equal(deactivated?.active, false, 'deactivated users stay listed with active=false')
    assert.equal(deactivated?.employeeId, 'E403')
    await rejectsWith(h.p.listAccounts(h.ctx, 'abc'), 'Permanent')
  })

  test("when accounts are in user groups, then listAccounts names each group by its handle, as a policy's userGroups does", async (t) => {
    const h = await setup(t)
    const ada = h.emu.seedUser({ userName: 'ada', email: 'ada@example.com', externalId: 'E450' })
    h.emu.seedUserGroup({ handle: 'Engineers', users: [ada] })
    const off = h.emu.seedUserGroup({ handle: 'old-team', users: [ada] })
    h.emu.setUserGroupDisabled(off, true)
    const listed = (await h.p.listAccounts(h.ctx)).items.find((i) => i.accountId === ada)
    // The disabled group is not on the SCIM record (no membership to compare); the enabled one reads by handle.
    assert.deepEqual(listed?.groups, ['engineers'])
    assert.equal(listed?.unknown, undefined)
  })
})

describe('slack error classification', () => {
  test('when SCIM answers 429 with Retry-After, then RateLimited carries the wait', async (t) => {
    const h = await setup(t)
    h.emu.kit.injectFault({ method: 'POST', pathIncludes: '/scim/v2/Users', status: 429, retryAfterSeconds: 7 })
    const err = await rejectsWith(h.p.provision(h.ctx, joiner('E500')), 'RateLimited', 'too_many_requests')
    assert.ok(err instanceof RateLimitedError)
    assert.equal(err.retryAfterMs, 7000)
    assert.equal(err.status, 429)
    assert.ok(err.requestId)
  })

  test('when a Web API tier bucket is empty, then the 429 surfaces at once as RateLimited with Retry-After', async (t) => {
    const h = await setup(t, {}, { rateLimits: { 'conversations.invite': { perMinute: 1, burst: 1 } } })
    await h.p.provision(h.ctx, joiner('E501'))
    const started = Date.now()
    const err = await rejectsWith(h.p.provision(h.ctx, joiner('E502')), 'RateLimited', 'ratelimited')
    assert.ok(Date.now() - started < 5_000, 'the SDK did not wait and retry')
    assert.ok(err instanceof RateLimitedError)
    assert.ok(err.retryAfterMs >= 1000 && err.retryAfterMs <= 60_000, String(err.retryAfterMs))
    assert.equal(h.calls.at(-1)?.errorKind, 'RateLimited')
    assert.equal(h.calls.at(-1)?.status, 429)
  })

  test('when the emulator limits are lowered over HTTP, then SCIM writes get 429', async (t) => {
    const h = await setup(t)
    const res = await fetch(`${h.url}/_emulator/rate-limits`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scim_write: { perMinute: 1, burst: 1 } }),
    })
    assert.equal(res.status, 204)
    await h.p.provision(h.ctx, joiner('E503'))
    await rejectsWith(h.p.provision(h.ctx, joiner('E504')), 'RateLimited')
  })

  test('when the user does not exist, then SCIM and Web API answers are NotFound', async (t) => {
    const h = await setup(t)
    const ghost = { system: 'slack', accountId: 'U0NOSUCHUSER', employeeId: 'E505' }
    await rejectsWith(h.p.enable(h.ctx, ghost), 'NotFound', 'no_such_user')
    await rejectsWith(h.p.update(h.ctx, ghost, { add: { channels: ['general'] }, remove: {} }), 'NotFound', 'user_not_found')
  })

  test('when a token has expired or is wrong, then calls fail as AuthFailed', async (t) => {
    const h = await setup(t)
    const ref = await h.p.provision(h.ctx, joiner('E506'))
    h.emu.kit.injectFault({ pathIncludes: '/api/', expireToken: true })
    await rejectsWith(h.p.update(h.ctx, ref, { add: { channels: ['general'] }, remove: {} }), 'AuthFailed', 'token_expired')
    h.emu.kit.injectFault({ pathIncludes: '/scim/', expireToken: true })
    const scim = await rejectsWith(h.p.verify(h.ctx, ref), 'AuthFailed', 'invalid_authentication')
    assert.equal(scim.status, 401)
    const wrong = await setup(t, { botToken: 'xoxb-wrong' })
    const wrongRef = await wrong.p.provision(wrong.ctx, joiner('E507', {}, {}, false))
    await rejectsWith(wrong.p.update(wrong.ctx, wrongRef, { add: { channels: ['general'] }, remove: {} }), 'AuthFailed', 'invalid_auth')
  })

  test('when only admins may edit user groups, then the bot token gets AuthFailed and the admin token works', async (t) => {
    const h = await setup(t, { adminToken: undefined }, { userGroupsAdminOnly: true })
    const g = h.emu.seedUserGroup({ handle: 'eng', users: [h.emu.ownerId] })
    const err = await rejectsWith(h.p.provision(h.ctx, joiner('E508', {}, { userGroups: [g] })), 'AuthFailed', 'permission_denied')
    assert.equal(err.status, 200, 'Slack reports logical errors with HTTP 200')
    const admin = await setup(t, {}, { userGroupsAdminOnly: true })
    const g2 = admin.emu.seedUserGroup({ handle: 'eng', users: [admin.emu.ownerId] })
    const ref = await admin.p.provision(admin.ctx, joiner('E509', {}, { userGroups: [g2] }))
    assert.ok(admin.emu.userGroupMembers(g2).includes(ref.accountId))
  })

  test('when Slack answers 500, then the error is Transient', async (t) => {
    const h = await setup(t)
    h.emu.kit.injectFault({ pathIncludes: '/scim/v2/Users', status: 500 })
    await rejectsWith(h.p.provision(h.ctx, joiner('E510')), 'Transient', 'internal_error')
    const ref = await h.p.provision(h.ctx, joiner('E511', {}, {}, false))
    h.emu.kit.injectFault({ pathIncludes: '/api/conversations.invite', status: 503 })
    await rejectsWith(h.p.update(h.ctx, ref, { add: { channels: ['general'] }, remove: {} }), 'Transient')
  })

  test('when Slack does not answer in time, then the error is Transient', async (t) => {
    const h = await setup(t, { timeoutMs: 150 })
    h.emu.kit.injectFault({ pathIncludes: '/scim/v2/Users', hangMs: 600 })
    const scim = await rejectsWith(h.p.provision(h.ctx, joiner('E512')), 'Transient')
    assert.match(scim.message, /150 ms/)
    assert.equal(h.calls.at(-1)?.status, undefined)
    const ref = { system: 'slack', accountId: h.emu.ownerId, employeeId: 'E000' }
    h.emu.kit.injectFault({ pathIncludes: '/api/', hangMs: 600 })
    const web = await rejectsWith(h.p.update(h.ctx, ref, { add: { channels: ['general'] }, remove: {} }), 'Transient')
    assert.match(web.message, /150 ms/)
  })

  test('when the job is cancelled, then the call is aborted as Transient', async (t) => {
    const h = await setup(t)
    const controller = new AbortController()
    controller.abort()
    await rejectsWith(h.p.provision({ ...h.ctx, signal: controller.signal }, joiner('E513')), 'Transient')
  })

  test('when Slack rejects the request as invalid, then the error is Permanent', async (t) => {
    const h = await setup(t)
    await rejectsWith(h.p.provision(h.ctx, joiner('E514', { workEmail: 'not-an-email' })), 'Permanent', 'email_invalid')
    await rejectsWith(h.p.provision(h.ctx, joiner('E515', { displayName: '@ada' })), 'Permanent', 'invalid_starts_with_at')
    const archived = h.emu.seedChannel({ name: 'old', isArchived: true })
    await rejectsWith(h.p.provision(h.ctx, joiner('E516', {}, { channels: [archived] })), 'Permanent', 'is_archived')
  })
})

describe('slack emulator', () => {
  const scimGet = (url: string, path: string, token = SLACK_DEV_SCIM_TOKEN) => fetch(`${url}/scim/v2/${path}`, { headers: { authorization: `Bearer ${token}` } })

  test('when SCIM is filtered, then userName and email work and other attributes are refused as Slack documents', async (t) => {
    const h = await setup(t)
    h.emu.seedUser({ userName: 'Carly', email: 'carly@example.com', externalId: 'E1' })
    const byName = (await (await scimGet(h.url, `Users?filter=${encodeURIComponent('username eq "carly"')}`)).json()) as { totalResults: number }
    assert.equal(byName.totalResults, 1)
    const both = (await (await scimGet(h.url, `Users?filter=${encodeURIComponent('(email Eq "CARLY@example.com") and userName sw "car"')}`)).json()) as { totalResults: number }
    assert.equal(both.totalResults, 1)
    for (const [filter, code] of [
      ['externalId eq "E1"', 'invalid_query'],
      ['userName eq', 'incomplete_filter'],
      ['(userName eq "a"', 'invalid_filter_group'],
      ['', 'no_filters'],
    ] as const) {
      const res = await scimGet(h.url, `Users?filter=${encodeURIComponent(filter)}`)
      assert.equal(res.status, 400, filter)
      assert.deepEqual(await res.json(), { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], detail: code, status: 400 })
    }
    assert.equal((await scimGet(h.url, 'Users', SLACK_DEV_BOT_TOKEN)).status, 401, 'a bot token cannot use SCIM')
    assert.equal((await fetch(`${h.url}/scim/v2/Users`)).status, 401)
  })

  test('when SCIM creates are invalid, then Slack-style 400 codes come back', async (t) => {
    const h = await setup(t)
    const post = (body: unknown) =>
      fetch(`${h.url}/scim/v2/Users`, { method: 'POST', headers: { authorization: `Bearer ${SLACK_DEV_SCIM_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const core = 'urn:ietf:params:scim:schemas:core:2.0:User'
    const cases: Array<[unknown, number, string]> = [
      [{ userName: 'x', emails: [{ value: 'x@example.com' }] }, 400, 'missing_schema_element'],
      [{ schemas: [core], emails: [{ value: 'x@example.com' }] }, 400, 'username_required'],
      [{ schemas: [core], userName: 'x' }, 400, 'email_empty'],
      [{ schemas: [core], userName: 'a-very-long-user-name-over-21', emails: [{ value: 'x@example.com' }] }, 400, 'username_too_long'],
      [{ schemas: [core], userName: 'x', emails: [{ value: 'x@example.com' }], active: 'yes' }, 400, 'invalid_attribute_format'],
      [{ schemas: [core], userName: 'general', emails: [{ value: 'g@example.com' }] }, 409, 'username_taken'],
      [{ schemas: [core], userName: 'o2', emails: [{ value: 'OWNER@example.com' }] }, 409, 'email_taken'],
    ]
    for (const [body, status, code] of cases) {
      const res = await post(body)
      assert.equal(res.status, status, code)
      assert.equal(((await res.json()) as { detail: string }).detail, code)
    }
    const ok = await post({ schemas: [core], userName: 'Jane.Doe@example.com', emails: [{ value: 'jane@example.com', primary: true }] })
    assert.equal(ok.status, 201)
    assert.equal(((await ok.json()) as { userName: string }).userName, 'jane.doe', 'an email userName becomes a Slack handle')
  })

  test('when conversations.list is paged with the real WebClient, then the cursor walks every channel once', async (t) => {
    const h = await setup(t)
    for (let i = 0; i < 7; i++) h.emu.seedChannel({ name: `c-${i}` })
    h.emu.seedChannel({ name: 'secret', isPrivate: true, botIsMember: false })
    const client = new WebClient(SLACK_DEV_BOT_TOKEN, { slackApiUrl: `${h.url}/api/`, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR })
    const names: string[] = []
    let pages = 0
    for await (const page of client.paginate('conversations.list', { limit: 3, types: 'public_channel,private_channel' })) {
      pages += 1
      names.push(...(page as unknown as { channels: Array<{ name: string }> }).channels.map((c) => c.name))
    }
    assert.equal(pages, 3)
    assert.deepEqual(names.sort(), ['c-0', 'c-1', 'c-2', 'c-3', 'c-4', 'c-5', 'c-6', 'general'])
    await assert.rejects(client.conversations.list({ cursor: 'garbage' }), (e: unknown) => e instanceof WebAPIPlatformError && e.data.error === 'invalid_cursor')
  })

  test('when chat.postMessage is called, then text and blocks are validated and the messages can be read back', async (t) => {
    const h = await setup(t)
    const alerts = h.emu.seedChannel({ name: 'it-alerts' })
    h.emu.seedChannel({ name: 'elsewhere', botIsMember: false })
    const client = new WebClient(SLACK_DEV_BOT_TOKEN, { slackApiUrl: `${h.url}/api/`, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR })
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*SLA at risk*' } }]
    const sent = await client.chat.postMessage({ channel: '#it-alerts', text: 'SLA at risk for E1', blocks })
    assert.equal(sent.channel, alerts)
    await client.chat.postMessage({ channel: alerts, text: 'second' })
    const stored = h.emu.messages('it-alerts')
    assert.deepEqual(stored.map((m) => m.text), ['SLA at risk for E1', 'second'])
    assert.deepEqual(stored[0]?.blocks, blocks)
    assert.equal(stored[0]?.user, h.emu.botUserId)
    assert.ok(stored[0]!.ts < stored[1]!.ts)
    const platform = (code: string) => (e: unknown) => e instanceof WebAPIPlatformError && e.data.error === code
    await assert.rejects(client.apiCall('chat.postMessage', { channel: alerts }), platform('no_text'))
    await assert.rejects(client.chat.postMessage({ channel: alerts, text: 'x', blocks: [{ type: 'nonsense' }] as never }), platform('invalid_blocks'))
    await assert.rejects(client.chat.postMessage({ channel: 'C0MISSING', text: 'x' }), platform('channel_not_found'))
    await assert.rejects(client.chat.postMessage({ channel: 'elsewhere', text: 'x' }), platform('not_in_channel'))
    await assert.rejects(new WebClient(undefined, { slackApiUrl: `${h.url}/api/`, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR }).auth.test(), platform('not_authed'))
    await assert.rejects(new WebClient('xoxb-nope', { slackApiUrl: `${h.url}/api/`, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR }).auth.test(), platform('invalid_auth'))
  })
})
