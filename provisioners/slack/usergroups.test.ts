/**
 * Leaver clean-up of Slack user groups in a mass layoff: one shared usergroups.list for the
 * clean-ups in flight, and group writes that neither lose each other's changes nor drop members
 * someone else added. Real @slack/web-api and fetch against the emulator on 127.0.0.1; the call
 * counts are the emulator's own (`GET /_emulator/stats`).
 */
import { describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { LogLevel, WebClient } from '@slack/web-api'
import { silentLogger } from '../../src/log.ts'
import { PermanentError, TransientError } from '../errors.ts'
import { testCtx, type AccountRef, type ApiCallRecord, type Ctx, type Provisioner, type RevocationEvidence } from '../types.ts'
import { slackConfigSchema, type SlackConfigInput } from './config.ts'
import { SLACK_DEV_ADMIN_TOKEN, SlackEmulator, slackSandboxConfig } from './emulator.ts'
import { createSlackProvisioner } from './provisioner.ts'
import { UserGroupDirectory, type GroupMembers, type UserGroupCalls } from './usergroups.ts'

interface Harness {
  emu: SlackEmulator
  url: string
  p: Provisioner
  /** Someone else editing user groups in Slack (an admin, another integration). */
  admin: WebClient
}

async function setup(t: TestContext, overrides: Partial<SlackConfigInput> = {}, now?: () => number): Promise<Harness> {
  const emu = new SlackEmulator()
  const url = await emu.start()
  t.after(() => emu.close())
  const config = slackConfigSchema.parse({ ...slackSandboxConfig(url), ...overrides })
  const p = createSlackProvisioner(config, now ? { now } : {})
  const admin = new WebClient(SLACK_DEV_ADMIN_TOKEN, { slackApiUrl: `${url}/api/`, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR })
  return { emu, url, p, admin }
}

/** Requests the emulator admitted per Web API method, read over its control route. */
async function calls(h: Harness, method: string): Promise<number> {
  const res = await fetch(`${h.url}/_emulator/stats`)
  const stats = (await res.json()) as { byBucket: Record<string, number>; rateLimited: number }
  return method === '429' ? stats.rateLimited : (stats.byBucket[method] ?? 0)
}

function leaver(h: Harness, n: number): AccountRef {
  const email = `leaver${n}@example.com`
  return { system: 'slack', accountId: h.emu.seedUser({ userName: `leaver${n}`, email, externalId: `E${n}` }), login: email, employeeId: `E${n}` }
}

function cleanup(h: Harness, ref: AccountRef, ctx: Ctx = testCtx(silentLogger, [], `${ref.employeeId}:slack:deprovision:cleanup`)): Promise<RevocationEvidence> {
  return h.p.deprovision(ctx, ref, { phase: 'cleanup', steps: ['remove_groups'], options: {} })
}

function stepOf(evidence: RevocationEvidence) {
  const step = evidence.steps.find((s) => s.step === 'remove_groups')
  assert.ok(step, 'remove_groups evidence')
  return step
}

describe('slack user-group clean-up in a mass layoff', () => {
  test('when 50 leavers are cleaned up at once, then usergroups.list is called once and every leaver leaves every group, nobody else', async (t) => {
    const h = await setup(t)
    const stayers = [1, 2, 3].map((n) => h.emu.seedUser({ userName: `stayer${n}`, email: `stayer${n}@example.com` }))
    const leavers = Array.from({ length: 50 }, (_, i) => leaver(h, i))
    const everyone = h.emu.seedUserGroup({ handle: 'everyone-eng', users: [stayers[0]!, ...leavers.map((l) => l.accountId)] })
    const half = h.emu.seedUserGroup({ handle: 'platform', users: [...leavers.filter((_, i) => i % 2 === 0).map((l) => l.accountId), stayers[1]!] })
    const untouched = h.emu.seedUserGroup({ handle: 'sales', users: [stayers[2]!] })
    // As in a layoff: every cut-off has run before the first clean-up, so each group's list names
    // deactivated people, which Slack refuses in usergroups.users.update.
    for (const l of leavers) h.emu.setActive(l.accountId, false)

    const perJob: ApiCallRecord[][] = leavers.map(() => [])
    const evidence = await Promise.all(leavers.map((ref, i) => cleanup(h, ref, testCtx(silentLogger, perJob[i], `${ref.employeeId}:slack:deprovision:cleanup`))))

    assert.equal(await calls(h, 'usergroups.list'), 1, 'one listing for the whole wave (was one per leaver)')
    assert.deepEqual(h.emu.userGroupMembers(everyone), [stayers[0]])
    assert.deepEqual(h.emu.userGroupMembers(half), [stayers[1]])
    assert.deepEqual(h.emu.userGroupMembers(untouched), [stayers[2]])
    for (const [i, e] of evidence.entries()) {
      const step = stepOf(e)
      // A leaver whose membership went with another leaver's write (deactivated members are left
      // out of the list Slack would refuse) reads as no longer a member: already_done, read back.
      assert.ok(step.status === 'done' || step.status === 'already_done', `leaver ${i}: ${step.status} ${step.detail}`)
      if (step.status === 'done') assert.match(step.detail ?? '', /removed from [12] user group/)
      assert.ok((step.requestIds?.length ?? 0) >= 2, 'evidence cites the listing and the group read/write it relied on')
      assert.deepEqual(e.residual, [])
    }
    // 75 memberships were removed; one read and one write per membership would be 75 of each, past
    // the Tier 2 burst of 20 (429s). Changes queued on a group while it is being written go together.
    const updates = await calls(h, 'usergroups.users.update')
    assert.ok(updates < 20, `${updates} usergroups.users.update calls for 75 removals`)
    assert.ok((await calls(h, 'usergroups.users.list')) < 20)
    // One refused update per group, then users.info (Tier 4) for the members of that list only.
    assert.ok((await calls(h, 'users.info')) <= 75, `${await calls(h, 'users.info')} users.info calls`)
    assert.equal(await calls(h, '429'), 0)
    assert.equal(perJob.flat().filter((c) => c.operation === 'usergroups.list').length, 1, 'the listing is recorded once, by the job that made it')
  })

  test('when two leavers of one user group are cut off seconds apart, then both clean-ups remove them and the group is readable and correct', async (t) => {
    const h = await setup(t)
    const stayer = h.emu.seedUser({ userName: 'stayer', email: 'stayer@example.com' })
    const [a, b] = [leaver(h, 1), leaver(h, 2)]
    const group = h.emu.seedUserGroup({ handle: 'eng', users: [stayer, a.accountId, b.accountId] })
    const ctx = testCtx(silentLogger)
    // Both cut-offs run before either clean-up (clean-up yields to cut-off): when a's clean-up
    // writes the list without a, that list still names b, deactivated a few seconds earlier.
    for (const ref of [a, b]) await h.p.deprovision(ctx, ref, { phase: 'cutoff', steps: ['disable'], options: {} })
    assert.equal(h.emu.getUser(b.accountId)?.active, false)

    const [ea, eb] = await Promise.all([cleanup(h, a), cleanup(h, b)])
    for (const e of [ea, eb]) {
      const step = stepOf(e)
      assert.ok(step.status === 'done' || step.status === 'already_done', `${step.status}: ${step.detail}`)
      assert.deepEqual(e.residual, [])
    }
    assert.equal(stepOf(ea).status, 'done', 'the first clean-up wrote the group')
    const read = await h.admin.usergroups.users.list({ usergroup: group })
    assert.deepEqual(read.users, [stayer], 'usergroups.users.list reads the group without either leaver')
    for (const ref of [a, b]) {
      const state = await h.p.verify(ctx, ref, { granted: { account: true, groups: [], licences: [], channels: [], projects: [], roles: [], userGroups: ['eng'] } })
      assert.deepEqual(state.groups, [], `${ref.employeeId} reads in no user group`)
      assert.equal(state.unknown, undefined)
    }
    // A later change to the group is accepted again (the list no longer names anyone deactivated).
    const newcomer = h.emu.seedUser({ userName: 'newcomer', email: 'newcomer@example.com' })
    await h.p.update(ctx, { system: 'slack', accountId: newcomer, employeeId: 'E9' }, { add: { userGroups: [group] }, remove: {} })
    assert.deepEqual(h.emu.userGroupMembers(group), [stayer, newcomer])
  })

  test('when someone adds a member after the listing, then the next leaver removal keeps that member', async (t) => {
    const h = await setup(t)
    const stayer = h.emu.seedUser({ userName: 'stayer', email: 'stayer@example.com' })
    const newcomer = h.emu.seedUser({ userName: 'newcomer', email: 'newcomer@example.com' })
    const [a, b] = [leaver(h, 1), leaver(h, 2)]
    const group = h.emu.seedUserGroup({ handle: 'eng', users: [stayer, a.accountId, b.accountId] })

    assert.equal(stepOf(await cleanup(h, a)).status, 'done')
    // Between the shared listing (which still reads [stayer, b]) and b's clean-up:
    await h.admin.usergroups.users.update({ usergroup: group, users: [stayer, b.accountId, newcomer].join(',') })
    assert.equal(stepOf(await cleanup(h, b)).status, 'done')

    assert.deepEqual(h.emu.userGroupMembers(group), [stayer, newcomer])
    assert.equal(await calls(h, 'usergroups.list'), 1, 'b used the shared listing')
  })

  test('when a leaver joins a group after the listing, then the clean-up still removes them and verify reads the group until it does', async (t) => {
    const h = await setup(t)
    const stayer = h.emu.seedUser({ userName: 'stayer', email: 'stayer@example.com' })
    const [a, b] = [leaver(h, 1), leaver(h, 2)]
    const group = h.emu.seedUserGroup({ handle: 'oncall', users: [stayer] })

    assert.equal(stepOf(await cleanup(h, a)).status, 'already_done') // primes the listing: b is in no group
    await h.admin.usergroups.users.update({ usergroup: group, users: [stayer, b.accountId].join(',') })

    const ctx = testCtx(silentLogger)
    assert.deepEqual((await h.p.verify(ctx, b)).groups, [group], 'verify reads SCIM, not the shared listing')
    const step = stepOf(await cleanup(h, b))
    assert.equal(step.status, 'done', step.detail)
    assert.deepEqual(h.emu.userGroupMembers(group), [stayer])
    assert.deepEqual((await h.p.verify(ctx, b)).groups, [])
    assert.equal(await calls(h, 'usergroups.list'), 1, 'the stale listing was in play; the SCIM record caught the new group')
  })

  test('when another process granted a group after this process listed, and the SCIM record carries no groups, then the clean-up still removes the person from the granted group', async (t) => {
    const emu = new SlackEmulator({ scimUserGroups: false })
    const url = await emu.start()
    t.after(() => emu.close())
    const config = slackConfigSchema.parse(slackSandboxConfig(url))
    // Two worker processes: each has its own provisioner, so its own usergroups.list listing.
    const [here, there] = [createSlackProvisioner(config), createSlackProvisioner(config)]
    const h = { emu, url, p: here } as Harness
    const stayer = emu.seedUser({ userName: 'stayer', email: 'stayer@example.com' })
    const [a, b] = [leaver(h, 1), leaver(h, 2)]
    const group = emu.seedUserGroup({ handle: 'oncall', users: [stayer] })

    assert.equal(stepOf(await cleanup(h, a)).status, 'already_done') // this process's listing: b is in no group
    await there.update(testCtx(silentLogger), b, { add: { userGroups: ['oncall'] }, remove: {} })
    assert.deepEqual(emu.userGroupMembers(group), [stayer, b.accountId])

    const granted = { account: true, groups: [], licences: [], channels: [], projects: [], roles: [], userGroups: ['oncall'] }
    const evidence = await here.deprovision(testCtx(silentLogger, [], 'E2:slack:deprovision:cleanup'), b, { phase: 'cleanup', steps: ['remove_groups'], options: { granted } })
    const step = stepOf(evidence)
    assert.equal(step.status, 'done', step.detail)
    assert.deepEqual(emu.userGroupMembers(group), [stayer])
    // The include_users listing was not sent again (still the stale one); the other two are the
    // name→id lookups of 'oncall', one per process.
    assert.equal(await calls(h, 'usergroups.list'), 3)
  })

  test('when a clean-up is retried within the window, then our own removal is already in the shared listing', async (t) => {
    const h = await setup(t)
    const stayer = h.emu.seedUser({ userName: 'stayer', email: 'stayer@example.com' })
    const a = leaver(h, 1)
    const group = h.emu.seedUserGroup({ handle: 'eng', users: [stayer, a.accountId] })

    assert.equal(stepOf(await cleanup(h, a)).status, 'done')
    const reads = await calls(h, 'usergroups.users.list')
    const retry = stepOf(await cleanup(h, a))

    assert.equal(retry.status, 'already_done', retry.detail)
    assert.match(retry.detail ?? '', /shared by the clean-ups in flight, \d+ s old/)
    assert.equal(await calls(h, 'usergroups.users.list'), reads, 'no re-read of a group we just wrote')
    assert.equal(await calls(h, 'usergroups.list'), 1)
    assert.deepEqual(h.emu.userGroupMembers(group), [stayer])
  })

  test('when the window has passed, then the next clean-up lists again; with 0 every clean-up lists for itself', async (t) => {
    let clock = 1_000_000
    const h = await setup(t, { userGroupListingCacheSeconds: 60 }, () => clock)
    const leavers = [1, 2, 3].map((n) => leaver(h, n))
    await cleanup(h, leavers[0]!)
    clock += 59_000
    await cleanup(h, leavers[1]!)
    assert.equal(await calls(h, 'usergroups.list'), 1)
    clock += 1_000
    await cleanup(h, leavers[2]!)
    assert.equal(await calls(h, 'usergroups.list'), 2)

    const off = await setup(t, { userGroupListingCacheSeconds: 0 })
    const offLeavers = [1, 2, 3].map((n) => leaver(off, n))
    await Promise.all(offLeavers.map((l) => cleanup(off, l)))
    assert.equal(await calls(off, 'usergroups.list'), 3)
  })

  test('when two Slack configs point at different workspaces, then each clean-up reads its own workspace listing', async (t) => {
    const one = await setup(t)
    const two = await setup(t)
    await cleanup(one, leaver(one, 1))
    const stayer = two.emu.seedUser({ userName: 'stayer', email: 'stayer@example.com' })
    const b = leaver(two, 2)
    const group = two.emu.seedUserGroup({ handle: 'eng', users: [stayer, b.accountId] })
    assert.equal(stepOf(await cleanup(two, b)).status, 'done')
    assert.deepEqual(two.emu.userGroupMembers(group), [stayer])
    assert.equal(await calls(one, 'usergroups.list'), 1)
    assert.equal(await calls(two, 'usergroups.list'), 1)
  })

  test('when a group is deleted after the listing, then the clean-up counts it as no membership instead of failing', async (t) => {
    const h = await setup(t)
    const stayer = h.emu.seedUser({ userName: 'stayer', email: 'stayer@example.com' })
    const [a, b] = [leaver(h, 1), leaver(h, 2)]
    const keep = h.emu.seedUserGroup({ handle: 'keep', users: [stayer, b.accountId] })
    const doomed = h.emu.seedUserGroup({ handle: 'doomed', users: [stayer, b.accountId] })
    await cleanup(h, a)
    // Slack has no usergroups.delete; a disabled group answers no_such_subteam like a deleted one.
    h.emu.setUserGroupDisabled(doomed, true)

    const step = stepOf(await cleanup(h, b))
    assert.equal(step.status, 'done', step.detail)
    assert.deepEqual(h.emu.userGroupMembers(keep), [stayer])
  })
})

// ---------------------------------------------------------------------------------------------
// The directory on its own, with calls the test releases one by one, for orderings that timing
// over HTTP cannot pin down.

function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

function controlled() {
  const lists: Array<{ ctx: Ctx; answer: ReturnType<typeof deferred<{ groups: Array<{ id: string; users: string[] }>; requestId: string }>> }> = []
  const listWaiters: Array<{ n: number; resolve: () => void }> = []
  const writes: Array<{ groupId: string; users: string[] }> = []
  let members = new Map<string, string[]>()
  const refused = new Set<string>()
  /** Members Slack reads as deactivated: refused in a list, reported by users.info. */
  const inactive = new Set<string>()
  const options = { answerWithoutUsers: false, failReadsAfterWrite: false }
  let lastCall = ''
  const calls: UserGroupCalls = {
    list: (ctx) => {
      const answer = deferred<{ groups: Array<{ id: string; users: string[] }>; requestId: string }>()
      lists.push({ ctx, answer })
      for (const w of listWaiters) if (lists.length >= w.n) w.resolve()
      ctx.signal.addEventListener('abort', () => answer.reject(new TransientError('aborted', { system: 'slack' })), { once: true })
      return answer.promise
    },
    read: async (_ctx, groupId): Promise<GroupMembers> => {
      const afterWrite = lastCall === 'write'
      lastCall = 'read'
      if (options.failReadsAfterWrite && afterWrite) throw new PermanentError('usergroups.users.list: fatal_error', { system: 'slack', vendorCode: 'fatal_error' })
      return { users: [...(members.get(groupId) ?? [])], requestId: `read-${groupId}` }
    },
    write: async (_ctx, groupId, users) => {
      writes.push({ groupId, users })
      lastCall = 'write'
      if (users.some((u) => refused.has(u) || inactive.has(u))) throw new PermanentError('usergroups.users.update: invalid_users', { system: 'slack', vendorCode: 'invalid_users' })
      members.set(groupId, users)
      return { users: options.answerWithoutUsers ? undefined : users, requestId: `write-${groupId}` }
    },
    // A `refused` id is someone Slack will not take for another reason (a guest): not deactivated.
    deactivated: async (_ctx, ids) => ids.filter((u) => inactive.has(u)),
  }
  return {
    calls,
    lists,
    /** Resolves once the n-th usergroups.list has been sent. */
    listed: (n: number) => new Promise<void>((resolve) => (lists.length >= n ? resolve() : listWaiters.push({ n, resolve }))),
    writes,
    refused,
    inactive,
    options,
    setMembers: (m: Record<string, string[]>) => {
      members = new Map(Object.entries(m))
    },
    members: (g: string) => members.get(g),
  }
}

function jobCtx(): { ctx: Ctx; cancel: () => void } {
  const controller = new AbortController()
  return { ctx: { ...testCtx(silentLogger), signal: controller.signal }, cancel: () => controller.abort() }
}

describe('slack user-group directory', () => {
  test('when the job that sent the shared listing is cancelled, then the waiting jobs get a listing from one new request', async () => {
    const c = controlled()
    const dir = new UserGroupDirectory(c.calls, { system: 'slack', listingTtlMs: 60_000, now: () => 0 })
    const leader = jobCtx()
    const followers = [jobCtx(), jobCtx()]
    const leaderWait = dir.membershipsOf(leader.ctx, 'U1')
    const waits = followers.map((f) => dir.membershipsOf(f.ctx, 'U1'))
    assert.equal(c.lists.length, 1)

    leader.cancel()
    await assert.rejects(leaderWait, TransientError)
    await c.listed(2)
    c.lists[1]!.answer.resolve({ groups: [{ id: 'S1', users: ['U1'] }], requestId: 'r2' })
    for (const w of await Promise.all(waits)) assert.deepEqual(w.groups, ['S1'])
    assert.equal(c.lists.length, 2, 'one follower took over; the other waited for it')
  })

  test('when one change in a combined round is refused, then the other changes are still applied one by one', async () => {
    const c = controlled()
    c.setMembers({ S1: ['U0', 'U1', 'U2'] })
    c.refused.add('GUEST')
    const dir = new UserGroupDirectory(c.calls, { system: 'slack', listingTtlMs: 60_000, now: () => 0 })
    const results = await Promise.allSettled([
      dir.change(testCtx(silentLogger), 'S1', { kind: 'remove', userId: 'U1' }),
      dir.change(testCtx(silentLogger), 'S1', { kind: 'add', userId: 'GUEST' }),
      dir.change(testCtx(silentLogger), 'S1', { kind: 'remove', userId: 'U2' }),
    ])
    // First round: U1 alone (it started the queue). Second: GUEST + U2 together, refused, then one
    // by one. GUEST's change is settled as Slack's refusal (its job reports it as a failed item).
    assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value.status : 'rejected')), ['changed', 'refused', 'changed'])
    const guest = results[1]!
    assert.equal(guest.status === 'fulfilled' && guest.value.status === 'refused' ? guest.value.code : '', 'invalid_users')
    assert.deepEqual(c.members('S1'), ['U0'])
  })

  test('when every member of a group leaves in one round, then the last one is refused as last_member, as it would be alone', async () => {
    const c = controlled()
    c.setMembers({ S1: ['U0', 'U1', 'U2'] })
    const dir = new UserGroupDirectory(c.calls, { system: 'slack', listingTtlMs: 60_000, now: () => 0 })
    const outcomes = await Promise.all(['U0', 'U1', 'U2'].map((u) => dir.change(testCtx(silentLogger), 'S1', { kind: 'remove', userId: u })))
    assert.deepEqual(outcomes.map((o) => o.status), ['changed', 'changed', 'refused'])
    assert.deepEqual(c.members('S1'), ['U2'])
    assert.ok(c.writes.length <= 2)
  })

  test("when Slack's update answer leaves out the member list, then the change is read back, and a list that cannot be read is unknown, not done", async () => {
    const c = controlled()
    c.setMembers({ S1: ['U0', 'U1', 'U2'] })
    c.options.answerWithoutUsers = true
    const dir = new UserGroupDirectory(c.calls, { system: 'slack', listingTtlMs: 60_000, now: () => 0 })
    const trace: string[] = []
    assert.deepEqual(await dir.change(testCtx(silentLogger), 'S1', { kind: 'remove', userId: 'U1' }, trace), { status: 'changed' })
    assert.deepEqual(trace, ['read-S1', 'write-S1', 'read-S1'], 'the read after the write is the evidence')

    c.options.failReadsAfterWrite = true
    const outcome = await dir.change(testCtx(silentLogger), 'S1', { kind: 'remove', userId: 'U2' })
    assert.equal(outcome.status, 'refused')
    assert.equal(outcome.status === 'refused' ? outcome.code : '', 'unread')
  })

  test('when only deactivated members would remain, then the removal is refused as last_member and no empty list is sent', async () => {
    const c = controlled()
    c.setMembers({ S1: ['GONE', 'U1'] })
    c.inactive.add('GONE')
    const dir = new UserGroupDirectory(c.calls, { system: 'slack', listingTtlMs: 60_000, now: () => 0 })
    const outcome = await dir.change(testCtx(silentLogger), 'S1', { kind: 'remove', userId: 'U1' })
    assert.equal(outcome.status === 'refused' ? outcome.code : outcome.status, 'last_member')
    assert.match(outcome.status === 'refused' ? outcome.reason : '', /only deactivated members would remain/)
    assert.deepEqual(c.writes.map((w) => w.users), [['GONE']], 'the refused list, and no empty one after it')
    assert.deepEqual(c.members('S1'), ['GONE', 'U1'])
  })
})
