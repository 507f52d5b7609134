/**
 * The Google provisioner through the real googleapis SDK against the emulator over HTTP on
 * 127.0.0.1: joiner, mover, leaver, idempotency, every error class, pagination, auth.
 */
import { describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { Writable } from 'node:stream'
import { createLogger, silentLogger } from '../../src/log.ts'
import { DEFAULT_RETRY_AFTER_MS, type ProvisionerError } from '../errors.ts'
import { testCtx, type AccessGrant, type AccountSpec, type ApiCallRecord, type Ctx, type EmployeeProfile, type RevocationPlan } from '../types.ts'
import { googleConfigSchema, type GoogleConfigInput } from './config.ts'
import { GoogleEmulator, SANDBOX_CLIENT_EMAIL, SANDBOX_GROUPS, googleSandboxConfig, type GoogleEmulatorOptions } from './emulator.ts'
import { createGoogleProvisioner, rateLimitBuckets } from './provisioner.ts'
import { SlidingMinute } from '../../src/sandbox/emulator-kit.ts'

async function setup(t: TestContext, opts: { emulator?: GoogleEmulatorOptions; config?: Partial<GoogleConfigInput> } = {}) {
  const emulator = new GoogleEmulator(opts.emulator)
  const url = await emulator.start()
  t.after(() => emulator.close())
  const config = googleConfigSchema.parse({ ...googleSandboxConfig(url), ...opts.config })
  const provisioner = createGoogleProvisioner(config)
  const calls: ApiCallRecord[] = []
  const ctx = testCtx(silentLogger, calls)
  return { emulator, url, config, provisioner, calls, ctx }
}

function employee(overrides: Partial<EmployeeProfile> = {}): EmployeeProfile {
  return { employeeId: 'E100', firstName: 'Jane', lastName: 'Doe', ...overrides }
}

function spec(emp: EmployeeProfile, access: Partial<AccessGrant> = {}, enabled = true): AccountSpec {
  return {
    employee: emp,
    access: { account: true, groups: [], licences: [], channels: [], projects: [], roles: [], ...access },
    enabled,
  }
}

const CUTOFF: RevocationPlan = { phase: 'cutoff', steps: ['disable', 'revoke_sessions', 'revoke_tokens'], options: {} }

async function rejects(promise: Promise<unknown>): Promise<ProvisionerError> {
  try {
    await promise
  } catch (err) {
    return err as ProvisionerError
  }
  assert.fail('expected a rejection')
}

describe('joiner', () => {
  test('when a joiner is provisioned, then the account has the pattern address, the employee id, a forced password change and the groups', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t, { emulator: { groups: SANDBOX_GROUPS } })

    const ref = await provisioner.provision(
      ctx,
      spec(employee({ title: 'Engineer', department: 'R&D', managerEmail: 'boss@example.com' }), {
        groups: ['everyone@example.com', 'engineering@example.com'],
      }),
    )

    assert.equal(ref.login, 'jane.doe@example.com')
    assert.equal(ref.employeeId, 'E100')
    const stored = emulator.getUser(ref.accountId)
    assert.ok(stored)
    assert.equal(stored.suspended, false)
    assert.equal(stored.changePasswordAtNextLogin, true)
    assert.equal(stored.hasPassword, true)
    assert.equal(stored.orgUnitPath, '/Staff')
    assert.deepEqual(stored.externalIds, [{ type: 'organization', value: 'E100' }])
    assert.equal(stored.organizations[0]?.title, 'Engineer')
    assert.deepEqual(stored.relations, [{ type: 'manager', value: 'boss@example.com' }])
    assert.deepEqual(stored.groups.sort(), ['engineering@example.com', 'everyone@example.com'])

    const state = await provisioner.verify(ctx, ref)
    assert.equal(state.exists, true)
    assert.equal(state.active, true)
    assert.equal(state.employeeId, 'E100')
    assert.equal(state.revoked, false)
    assert.deepEqual(state.groups.sort(), ['engineering@example.com', 'everyone@example.com'])
  })

  test('when the account must not work before day one, then it is created suspended and enable() opens it', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    const ref = await provisioner.provision(ctx, spec(employee(), { orgUnit: '/' }, false))
    assert.equal(emulator.getUser(ref.accountId)?.suspended, true)
    assert.equal(emulator.getUser(ref.accountId)?.orgUnitPath, '/')

    await provisioner.enable(ctx, ref)
    assert.equal(emulator.getUser(ref.accountId)?.suspended, false)
    assert.equal((await provisioner.verify(ctx, ref)).active, true)
  })

  test('when the derived address belongs to someone else, then the next numbered address is used', async (t) => {
    const { emulator, provisioner, ctx, calls } = await setup(t)
    emulator.seedUser({ primaryEmail: 'jane.doe@example.com', employeeId: 'E001' })
    emulator.seedUser({ primaryEmail: 'jane.doe2@example.com' })

    const ref = await provisioner.provision(ctx, spec(employee({ firstName: 'Jäne', lastName: "D'oe" })))
    assert.equal(ref.login, 'jane.doe3@example.com')
    assert.equal(emulator.userCount(), 3)
    // The lookup already found the first free address: one create, no 409 round trips.
    assert.deepEqual(
      calls.filter((c) => c.operation === 'directory.users.insert').map((c) => c.status),
      [200],
    )
  })

  test('when collisions may not be resolved by numbering, then provision fails with Conflict', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t, { config: { emailCollision: { strategy: 'fail' } } })
    emulator.seedUser({ primaryEmail: 'jane.doe@example.com', employeeId: 'E001' })
    const err = await rejects(provisioner.provision(ctx, spec(employee())))
    assert.equal(err.kind, 'Conflict')
    assert.equal(emulator.userCount(), 1)
  })

  test("when HR's work email already has an unclaimed account, then provision adopts it; when another employee owns it, then Conflict", async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    const existing = emulator.seedUser({ primaryEmail: 'jd@example.com' })
    const ref = await provisioner.provision(ctx, spec(employee({ workEmail: 'JD@example.com' })))
    assert.equal(ref.accountId, existing)
    assert.equal(emulator.userCount(), 1)

    emulator.seedUser({ primaryEmail: 'max@example.com', employeeId: 'E555' })
    const err = await rejects(provisioner.provision(ctx, spec(employee({ employeeId: 'E200', workEmail: 'max@example.com' }))))
    assert.equal(err.kind, 'Conflict')
  })

  test('when a provision is retried, then no second account is created, even while the search index lags', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t, { emulator: { searchLag: true } })
    emulator.seedGroup({ email: 'everyone@example.com' })
    const s = spec(employee(), { groups: ['everyone@example.com'] })
    const first = await provisioner.provision(ctx, s)
    // The externalId search cannot see the new account yet; users.get by address can.
    const second = await provisioner.provision(ctx, s)
    assert.equal(second.accountId, first.accountId)
    assert.equal(emulator.userCount(), 1)

    emulator.flushSearchIndex()
    const found = await provisioner.lookup(ctx, employee())
    assert.equal(found?.accountId, first.accountId)
    assert.deepEqual(emulator.getUser(first.accountId)?.groups, ['everyone@example.com'])
  })

  test('when users.insert answers 409 for an address that turns out to be ours, then provision returns that account', async (t) => {
    const { emulator, provisioner, ctx, calls } = await setup(t, { emulator: { searchLag: true } })
    const first = await provisioner.provision(ctx, spec(employee()))
    // The search index lags and a read replica misses the account once: the retry reaches
    // users.insert, which answers 409 duplicate.
    emulator.kit.injectFault({ method: 'GET', pathIncludes: '/admin/directory/v1/users/jane.doe', status: 404 })
    calls.length = 0

    const again = await provisioner.provision(ctx, spec(employee()))
    assert.equal(again.accountId, first.accountId)
    assert.equal(emulator.userCount(), 1)
    const insert = calls.find((c) => c.operation === 'directory.users.insert')
    assert.equal(insert?.status, 409)
    assert.equal(insert?.errorKind, 'Conflict')
  })

  test('when a granted group does not exist, then provision fails Permanent and names the group', async (t) => {
    const { provisioner, ctx } = await setup(t)
    const err = await rejects(provisioner.provision(ctx, spec(employee(), { groups: ['ghosts@example.com'] })))
    assert.equal(err.kind, 'Permanent')
    assert.match(err.message, /ghosts@example\.com/)
  })
})

describe('mover', () => {
  test('when access changes, then groups are added and removed and the org unit moves', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    emulator.seedGroup({ email: 'sales@example.com' })
    emulator.seedGroup({ email: 'engineering@example.com' })
    const ref = await provisioner.provision(ctx, spec(employee(), { groups: ['sales@example.com'] }))

    await provisioner.update(ctx, ref, { add: { groups: ['engineering@example.com'] }, remove: { groups: ['sales@example.com'] }, orgUnit: '/Leavers' })
    // Removing a membership that is already gone is not an error.
    await provisioner.update(ctx, ref, { add: { groups: ['engineering@example.com'] }, remove: { groups: ['sales@example.com'] } })

    const state = await provisioner.verify(ctx, ref)
    assert.deepEqual(state.groups, ['engineering@example.com'])
    assert.equal(emulator.getUser(ref.accountId)?.orgUnitPath, '/Leavers')
  })

  test('when an employee goes on leave, then suspend() suspends and signs out without removing anything', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    emulator.seedGroup({ email: 'sales@example.com' })
    const ref = await provisioner.provision(ctx, spec(employee(), { groups: ['sales@example.com'] }))
    emulator.seedTokens(ref.accountId, [{ clientId: 'app-1', displayText: 'App', scopes: ['email'] }])
    await provisioner.suspend(ctx, ref)
    const stored = emulator.getUser(ref.accountId)
    assert.equal(stored?.suspended, true)
    assert.equal(stored?.signOuts.length, 1)
    assert.equal(stored?.tokens.length, 1)
    assert.deepEqual(stored?.groups, ['sales@example.com'])
  })
})

describe('leaver', () => {
  async function leaver(t: TestContext, config: Partial<GoogleConfigInput> = {}, emulatorOptions: GoogleEmulatorOptions = {}) {
    const env = await setup(t, { config, emulator: emulatorOptions })
    const { emulator, provisioner, ctx } = env
    emulator.seedGroup({ email: 'everyone@example.com' })
    emulator.seedGroup({ email: 'secret-project@example.com' })
    const managerId = emulator.seedUser({ primaryEmail: 'boss@example.com', employeeId: 'E001', driveFiles: 3 })
    const ref = await provisioner.provision(ctx, spec(employee(), { groups: ['everyone@example.com'] }))
    // Access Tenure never granted: a hand-added group, OAuth grants, app passwords, backup codes, Drive files.
    emulator.addMember('secret-project@example.com', 'jane.doe@example.com')
    emulator.seedTokens(ref.accountId, [
      { clientId: '1234.apps.googleusercontent.com', displayText: 'Calendar sync', scopes: ['https://www.googleapis.com/auth/calendar'] },
      { clientId: '5678.apps.googleusercontent.com', displayText: 'Mail client', scopes: ['https://mail.google.com/'] },
    ])
    emulator.seedAsps(ref.accountId, ['Thunderbird'])
    const user = emulator.getUser(ref.accountId)
    assert.ok(user)
    emulator.seedUser({ primaryEmail: 'placeholder@example.com' })
    return { ...env, ref, managerId }
  }

  test('when the cut-off runs, then the user is suspended, signed out, and loses tokens, app passwords and backup codes', async (t) => {
    const { emulator, provisioner, ctx, ref } = await leaver(t)
    const evidence = await provisioner.deprovision(ctx, ref, CUTOFF)

    assert.deepEqual(
      evidence.steps.map((s) => [s.step, s.status]),
      [
        ['disable', 'done'],
        ['revoke_sessions', 'done'],
        ['revoke_tokens', 'done'],
      ],
    )
    assert.match(evidence.steps[2]?.detail ?? '', /deleted 2 OAuth token\(s\) and 1 app password\(s\); backup verification codes invalidated/)
    assert.ok(evidence.steps.every((s) => (s.requestIds?.length ?? 0) > 0))
    assert.deepEqual(evidence.residual, [])
    const stored = emulator.getUser(ref.accountId)
    assert.equal(stored?.suspended, true)
    assert.equal(stored?.signOuts.length, 1)
    assert.deepEqual(stored?.tokens, [])
    assert.deepEqual(stored?.asps, [])
    assert.ok(stored?.backupCodesInvalidatedAt)

    const state = await provisioner.verify(ctx, ref)
    assert.equal(state.revoked, true)
    assert.equal(state.active, false)
    const checks = Object.fromEntries(state.checks.map((c) => [c.name, c.ok]))
    assert.deepEqual(checks, { suspended: true, no_oauth_tokens: true, no_app_passwords: true, no_groups: false })
  })

  test('when the cut-off runs twice, then the second run reports already_done', async (t) => {
    const { provisioner, ctx, ref } = await leaver(t)
    await provisioner.deprovision(ctx, ref, CUTOFF)
    const again = await provisioner.deprovision(ctx, ref, CUTOFF)
    assert.deepEqual(
      again.steps.map((s) => [s.step, s.status]),
      [
        ['disable', 'already_done'],
        ['revoke_sessions', 'done'],
        ['revoke_tokens', 'already_done'],
      ],
    )
  })

  test('when an admin re-enables a revoked account by hand, then verify reports it as not revoked', async (t) => {
    const { emulator, provisioner, ctx, ref } = await leaver(t)
    await provisioner.deprovision(ctx, ref, CUTOFF)
    emulator.setActive(ref.accountId, true)
    emulator.seedTokens(ref.accountId, [{ clientId: 'again', displayText: 'Re-granted', scopes: [] }])
    const state = await provisioner.verify(ctx, ref)
    assert.equal(state.revoked, false)
    assert.deepEqual(
      state.checks.filter((c) => !c.ok).map((c) => c.name),
      ['suspended', 'no_oauth_tokens', 'no_groups'],
    )
  })

  test('when the clean-up runs, then every group goes, Drive moves to the manager, the account moves to Leavers and is deleted', async (t) => {
    const { emulator, provisioner, ctx, ref, managerId } = await leaver(t, { deleteOnLeave: true })
    emulator.seedUser({ primaryEmail: 'other@example.com', driveFiles: 0 })
    const before = emulator.getUser(ref.accountId)
    assert.ok(before)
    await provisioner.deprovision(ctx, ref, CUTOFF)
    const cleanup: RevocationPlan = {
      phase: 'cleanup',
      // Out of order on purpose: delete must still come last.
      steps: ['delete', 'remove_groups', 'transfer_data', 'move_org_unit', 'remove_licences', 'remove_roles'],
      options: { transferTo: { email: 'boss@example.com' } },
    }
    const groupsBefore = emulator.getUser(ref.accountId)?.groups.sort()
    assert.deepEqual(groupsBefore, ['everyone@example.com', 'secret-project@example.com'])

    const evidence = await provisioner.deprovision(ctx, ref, cleanup)
    assert.deepEqual(
      evidence.steps.map((s) => [s.step, s.status]),
      [
        ['remove_groups', 'done'],
        ['remove_roles', 'already_done'],
        ['remove_licences', 'not_supported'],
        ['transfer_data', 'done'],
        ['move_org_unit', 'done'],
        ['delete', 'done'],
      ],
    )
    assert.match(evidence.steps[0]?.detail ?? '', /secret-project@example\.com/)
    assert.deepEqual(emulator.groupMembers('secret-project@example.com'), [])
    const [transfer] = emulator.transfers()
    assert.equal(transfer?.oldOwnerUserId, ref.accountId)
    assert.equal(transfer?.newOwnerUserId, managerId)
    assert.equal(transfer?.overallTransferStatusCode, 'completed')
    assert.equal(emulator.getUser(managerId)?.driveFiles, 3)
    assert.equal(emulator.getUser(ref.accountId), undefined)
    assert.equal(emulator.isDeleted(ref.accountId), true)

    const state = await provisioner.verify(ctx, ref)
    assert.equal(state.exists, false)
    assert.equal(state.revoked, true)
  })

  test('when the account is already deleted, then a revoke succeeds and the evidence says so', async (t) => {
    const { provisioner, ctx, ref } = await leaver(t, { deleteOnLeave: true })
    await provisioner.deprovision(ctx, ref, { phase: 'cleanup', steps: ['delete'], options: {} })
    const evidence = await provisioner.deprovision(ctx, ref, CUTOFF)
    assert.deepEqual(
      evidence.steps.map((s) => s.status),
      ['already_done', 'already_done', 'already_done'],
    )
    assert.match(evidence.steps[0]?.detail ?? '', /not found/)
  })

  test('when a legal hold is approved, then Drive is not transferred and the account is not deleted', async (t) => {
    const { emulator, provisioner, ctx, ref } = await leaver(t, { deleteOnLeave: true })
    const evidence = await provisioner.deprovision(ctx, ref, {
      phase: 'cleanup',
      steps: ['transfer_data', 'delete'],
      options: { legalHold: true, transferTo: { email: 'boss@example.com' } },
    })
    assert.deepEqual(
      evidence.steps.map((s) => [s.step, s.status]),
      [
        ['transfer_data', 'skipped'],
        ['delete', 'skipped'],
      ],
    )
    assert.deepEqual(emulator.transfers(), [])
    assert.ok(emulator.getUser(ref.accountId))
  })

  test('when policy does not allow deletion, then the delete step is skipped', async (t) => {
    const { emulator, provisioner, ctx, ref } = await leaver(t)
    const evidence = await provisioner.deprovision(ctx, ref, { phase: 'cleanup', steps: ['delete'], options: {} })
    assert.equal(evidence.steps[0]?.status, 'skipped')
    assert.match(evidence.steps[0]?.detail ?? '', /deleteOnLeave/)
    assert.ok(emulator.getUser(ref.accountId))
  })

  test('when the Drive transfer has not finished, then the account is kept and a retried clean-up starts no second transfer', async (t) => {
    const { emulator, provisioner, ctx, ref } = await leaver(t, { deleteOnLeave: true }, { transferMode: 'manual' })
    const plan: RevocationPlan = { phase: 'cleanup', steps: ['transfer_data', 'delete'], options: { transferTo: { email: 'boss@example.com' } } }

    const first = await provisioner.deprovision(ctx, ref, plan)
    assert.deepEqual(
      first.steps.map((s) => [s.step, s.status]),
      [
        ['transfer_data', 'done'],
        ['delete', 'skipped'],
      ],
    )
    assert.equal(first.residual[0]?.kind, 'account')
    assert.ok(emulator.getUser(ref.accountId))

    emulator.completeTransfers()
    const second = await provisioner.deprovision(ctx, ref, plan)
    assert.deepEqual(
      second.steps.map((s) => [s.step, s.status]),
      [
        ['transfer_data', 'already_done'],
        ['delete', 'done'],
      ],
    )
    assert.equal(emulator.transfers().length, 1)
  })

  test('when backup codes cannot be invalidated, then the cut-off still completes and reports the residue', async (t) => {
    const { emulator, provisioner, ctx, ref } = await leaver(t)
    emulator.kit.injectFault({ pathIncludes: '/verificationCodes/invalidate', status: 400, code: 'invalid' })
    const evidence = await provisioner.deprovision(ctx, ref, CUTOFF)
    assert.equal(evidence.steps[2]?.status, 'done')
    assert.match(evidence.steps[2]?.detail ?? '', /NOT invalidated/)
    assert.deepEqual(evidence.residual.map((r) => r.kind), ['backup_codes'])
  })

  test('when Google refuses the suspension, then sign-out and token revocation still run and the phase fails Permanent', async (t) => {
    const { emulator, provisioner, ctx, ref } = await leaver(t)
    emulator.kit.injectFault({ method: 'PUT', pathIncludes: '/users/', status: 400, code: 'invalid' })
    const err = await rejects(provisioner.deprovision(ctx, ref, CUTOFF))
    assert.equal(err.kind, 'Permanent')
    assert.equal(err.vendorCode, 'invalid')
    assert.match(err.message, /failed at disable.*disable failed, revoke_sessions done, revoke_tokens done/)
    const stored = emulator.getUser(ref.accountId)
    assert.equal(stored?.suspended, false)
    assert.equal(stored?.signOuts.length, 1)
    assert.deepEqual(stored?.tokens, [])
    assert.deepEqual(stored?.asps, [])
  })
})

describe('errors', () => {
  test('when the user is unknown, then NotFound carries the vendor reason and request id', async (t) => {
    const { provisioner, ctx } = await setup(t)
    const err = await rejects(provisioner.enable(ctx, { system: 'google', accountId: '100000000000000000001', employeeId: 'E1' }))
    assert.equal(err.kind, 'NotFound')
    assert.equal(err.status, 404)
    assert.equal(err.vendorCode, 'notFound')
    assert.ok(err.requestId)
  })

  test('when accounts are listed, then their memberships are unknown (the user list does not show them), never "no groups"', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    const id = emulator.seedUser({ primaryEmail: 'listed.person@example.com', givenName: 'Listed', familyName: 'Person' })
    const listed = (await provisioner.listAccounts(ctx)).items.find((a) => a.accountId === id)
    assert.ok(listed)
    assert.deepEqual(listed.unknown?.map((u) => u.attribute), ['groups'])
  })

  test('when Google answers 429 with Retry-After, then RateLimited carries the wait', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    emulator.kit.injectFault({ pathIncludes: '/admin/directory/v1/users', status: 429, code: 'rateLimitExceeded', retryAfterSeconds: 7 })
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'RateLimited')
    assert.equal((err as ProvisionerError & { retryAfterMs: number }).retryAfterMs, 7000)
  })

  test('when the per-user quota runs out, then the throttled 403 userRateLimitExceeded is RateLimited, not Forbidden', async (t) => {
    const { provisioner, ctx } = await setup(t, { emulator: { rateLimits: { directory: { perMinute: 1, burst: 2 } } } })
    await provisioner.listAccounts(ctx)
    await provisioner.listAccounts(ctx)
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'RateLimited')
    assert.equal(err.status, 403)
    assert.equal(err.vendorCode, 'userRateLimitExceeded')
    assert.equal((err as ProvisionerError & { retryAfterMs: number }).retryAfterMs, DEFAULT_RETRY_AFTER_MS)
  })

  test('when 2,400 calls were made within a minute, then the 2,401st gets 403 userRateLimitExceeded without Retry-After, and goes through once the first calls have left the window', async (t) => {
    let now = Date.now()
    const { emulator, provisioner, ctx } = await setup(t, { emulator: { now: () => now } })
    for (let i = 0; i < 2400; i += 100) await Promise.all(Array.from({ length: 100 }, () => provisioner.listAccounts(ctx)))
    assert.equal(emulator.kit.stats.byBucket.directory, 2400)
    now += 59_999
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'RateLimited')
    assert.equal(err.status, 403)
    assert.equal(err.vendorCode, 'userRateLimitExceeded')
    // Google's 403 says nothing about when to come back (its limits page: back off exponentially).
    assert.equal((err as ProvisionerError & { retryAfterMs: number }).retryAfterMs, DEFAULT_RETRY_AFTER_MS)
    now += 1
    const page = await provisioner.listAccounts(ctx)
    assert.ok(Array.isArray(page.items), 'a minute after the first 2,400, the window has room again')
  })

  test('when a sliding minute is full, then the kit answers the seconds until its oldest call leaves it, and a refused call uses no quota', () => {
    let now = 1_000_000
    const window = new SlidingMinute({ perMinute: 3, burst: 3, window: 'sliding-minute' }, () => now)
    for (const at of [0, 10_000, 20_000]) {
      now = 1_000_000 + at
      assert.equal(window.take(), 0)
    }
    now = 1_000_000 + 30_000
    assert.equal(window.take(), 30, 'the call of 0 s leaves at 60 s')
    assert.equal(window.take(2), 40, 'two need the calls of 0 s and 10 s gone')
    now = 1_000_000 + 60_000
    assert.equal(window.take(), 0)
    assert.equal(window.take(), 10, 'the refused calls at 30 s took nothing: the next to leave is the call of 10 s')
  })

  test('when a test lowers the limits over HTTP, then the emulator throttles at the new rate', async (t) => {
    const { url, provisioner, ctx } = await setup(t)
    const res = await fetch(`${url}/_emulator/rate-limits`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ directory: { perMinute: 1, burst: 1 } }),
    })
    assert.equal(res.status, 204)
    await provisioner.listAccounts(ctx)
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.vendorCode, 'userRateLimitExceeded')
  })

  test('when Google reports quotaExceeded, then RateLimited; forbidden or insufficientPermissions, then AuthFailed', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    const cases: Array<[number, string, string]> = [
      [403, 'quotaExceeded', 'RateLimited'],
      [403, 'forbidden', 'AuthFailed'],
      [403, 'insufficientPermissions', 'AuthFailed'],
      [400, 'invalid', 'Permanent'],
      [503, 'backendError', 'Transient'],
    ]
    for (const [status, code, kind] of cases) {
      emulator.kit.injectFault({ pathIncludes: '/users', status, code })
      const err = await rejects(provisioner.listAccounts(ctx))
      assert.equal(err.kind, kind, code)
      assert.equal(err.vendorCode, code)
    }
  })

  test('when Google answers 500, then Transient and the SDK did not retry on its own', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    await provisioner.listAccounts(ctx) // fetch the token first
    emulator.kit.resetStats()
    emulator.kit.injectFault({ pathIncludes: '/users', status: 500 })
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'Transient')
    assert.equal(emulator.kit.stats.requests, 1)
  })

  test('when the request hangs past the timeout, then Transient', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t, { config: { timeoutMs: 1500 } })
    await provisioner.listAccounts(ctx)
    emulator.kit.injectFault({ pathIncludes: '/users', hangMs: 3000 })
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'Transient')
    assert.equal(err.status, undefined)
  })

  test('when the access token expires early, then a new one is fetched and the call succeeds', async (t) => {
    const { emulator, provisioner, ctx, calls } = await setup(t)
    await provisioner.listAccounts(ctx)
    assert.equal(emulator.tokenGrants, 1)
    emulator.kit.injectFault({ pathIncludes: '/users', expireToken: true })
    const page = await provisioner.listAccounts(ctx)
    assert.deepEqual(page.items, [])
    assert.equal(emulator.tokenGrants, 2)
    assert.deepEqual(
      calls.map((c) => [c.operation, c.status]),
      [
        ['oauth2.token', 200],
        ['directory.users.list', 200],
        ['directory.users.list', 401],
        ['oauth2.token', 200],
        ['directory.users.list', 200],
      ],
    )
  })

  test('when Google keeps rejecting the token, then AuthFailed after one refresh', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    emulator.kit.injectFault({ pathIncludes: '/users', expireToken: true, times: 2 })
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'AuthFailed')
    assert.equal(err.status, 401)
    assert.equal(emulator.tokenGrants, 2)
  })

  test('when the JWT is signed with a key Google does not know, then AuthFailed invalid_grant', async (t) => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
    const { provisioner, ctx } = await setup(t, { config: { serviceAccount: { clientEmail: SANDBOX_CLIENT_EMAIL, privateKey } } })
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'AuthFailed')
    assert.equal(err.vendorCode, 'invalid_grant')
    assert.equal(err.operation, 'oauth2.token')
  })

  test('when the scopes are not delegated in the Admin console, then AuthFailed unauthorized_client', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    emulator.setDelegatedScopes(SANDBOX_CLIENT_EMAIL, ['https://www.googleapis.com/auth/admin.directory.user'])
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'AuthFailed')
    assert.equal(err.status, 401)
    assert.equal(err.vendorCode, 'unauthorized_client')
  })

  test('when the impersonated subject is not an admin, then API calls fail AuthFailed forbidden', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t, { config: { adminSubject: 'clerk@example.com' } })
    emulator.seedUser({ primaryEmail: 'clerk@example.com' })
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'AuthFailed')
    assert.equal(err.vendorCode, 'forbidden')
  })

  test('when the token endpoint is down, then Transient', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    emulator.kit.injectFault({ pathIncludes: '/token', status: 503 })
    const err = await rejects(provisioner.listAccounts(ctx))
    assert.equal(err.kind, 'Transient')
  })

  test('when Google or its token endpoint answers 503 with Retry-After, then RateLimited carries that wait', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t)
    emulator.kit.injectFault({ pathIncludes: '/token', status: 503, retryAfterSeconds: 8 })
    const tokenErr = (await rejects(provisioner.listAccounts(ctx))) as ProvisionerError & { retryAfterMs: number }
    assert.equal(tokenErr.kind, 'RateLimited')
    assert.equal(tokenErr.retryAfterMs, 8000)
    emulator.kit.injectFault({ pathIncludes: '/admin/directory/v1/users', status: 503, code: 'backendError', retryAfterSeconds: 6 })
    const apiErr = (await rejects(provisioner.listAccounts(ctx))) as ProvisionerError & { retryAfterMs: number }
    assert.equal(apiErr.kind, 'RateLimited')
    assert.equal(apiErr.status, 503)
    assert.equal(apiErr.retryAfterMs, 6000)
  })

  test('when Google rejects the input, then Permanent with the vendor reason', async (t) => {
    const { provisioner, ctx } = await setup(t)
    const blankName = await rejects(provisioner.provision(ctx, spec(employee({ lastName: '   ' }))))
    assert.equal(blankName.kind, 'Permanent')
    assert.equal(blankName.vendorCode, 'invalid')
    assert.match(blankName.message, /FamilyName/)

    const badOu = await rejects(provisioner.provision(ctx, spec(employee(), { orgUnit: '/Nowhere' })))
    assert.equal(badOu.kind, 'Permanent')
    assert.match(badOu.message, /INVALID_OU_ID/)
  })
})

describe('reconciliation and bookkeeping', () => {
  test('when there are more users than a page holds, then listAccounts walks every page with the vendor token', async (t) => {
    const { emulator, provisioner, ctx } = await setup(t, { config: { listPageSize: 2 } })
    for (let i = 0; i < 5; i += 1) emulator.seedUser({ primaryEmail: `user${i}@example.com`, employeeId: `E${i}`, suspended: i === 4 })

    const seen: string[] = []
    let page: string | undefined
    let pages = 0
    do {
      const result = await provisioner.listAccounts(ctx, page)
      pages += 1
      seen.push(...result.items.map((i) => i.login ?? ''))
      page = result.nextPage
    } while (page)
    assert.equal(pages, 3)
    assert.deepEqual(seen, emulator.userEmails())
    const last = await provisioner.listAccounts(ctx)
    assert.equal(last.items[0]?.employeeId, 'E0')
  })

  test('when any operation runs, then every vendor call is throttled first and recorded after', async (t) => {
    const { emulator, provisioner } = await setup(t)
    emulator.seedGroup({ email: 'everyone@example.com' })
    const calls: ApiCallRecord[] = []
    const throttled: string[] = []
    const ctx: Ctx = { ...testCtx(silentLogger, calls), throttle: async (bucket) => void throttled.push(bucket) }
    emulator.kit.resetStats()

    const ref = await provisioner.provision(ctx, spec(employee(), { groups: ['everyone@example.com'] }))
    await provisioner.deprovision(ctx, ref, CUTOFF)
    await provisioner.verify(ctx, ref)

    assert.equal(calls.length, emulator.kit.stats.requests)
    assert.equal(throttled.filter((b) => b === 'directory').length, calls.filter((c) => c.operation !== 'oauth2.token').length)
    assert.equal(throttled.filter((b) => b === 'token').length, calls.filter((c) => c.operation === 'oauth2.token').length)
    for (const call of calls) {
      assert.doesNotMatch(call.path, /@|\?/, `${call.operation} path holds no email or query`)
      assert.ok(call.status)
    }
    assert.ok(Object.keys(provisioner.rateLimitBuckets).includes('directory'))
  })

  test('when config raises the directory quota, then the bucket keeps counting it as a sliding minute', async (t) => {
    assert.deepEqual(rateLimitBuckets.directory, { perMinute: 2400, burst: 2400, window: 'sliding-minute' })
    const raised = await setup(t, { config: { rateLimits: { directory: { perMinute: 4800, burst: 4800 } } } })
    assert.deepEqual(raised.provisioner.rateLimitBuckets.directory, { perMinute: 4800, burst: 4800, window: 'sliding-minute' })
    const bucket = await setup(t, { config: { rateLimits: { directory: { perMinute: 2400, burst: 100, window: 'token-bucket' } } } })
    assert.equal(bucket.provisioner.rateLimitBuckets.directory?.window, 'token-bucket', 'unless config says how to count')
    assert.deepEqual(bucket.provisioner.rateLimitBuckets.token, rateLimitBuckets.token)
  })

  test('when the provisioner logs at debug level, then no key, password or access token appears', async (t) => {
    const lines: string[] = []
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString())
        done()
      },
    })
    const { emulator, provisioner, config } = await setup(t)
    const ctx = testCtx(createLogger({ level: 'debug', destination }))
    const ref = await provisioner.provision(ctx, spec(employee()))
    emulator.kit.injectFault({ pathIncludes: '/users', expireToken: true })
    await provisioner.deprovision(ctx, ref, CUTOFF)
    const output = lines.join('')
    assert.ok(output.length > 0)
    assert.doesNotMatch(output, /emu_/)
    assert.ok(!output.includes(config.serviceAccount.privateKey.reveal().split('\n')[1] ?? 'x'))
  })
})

describe('shutdown', () => {
  // gaxios falls back to node-fetch v3 unless given a fetch. node-fetch answers an abort that comes
  // while a response is unfinished by emitting 'error' on a body stream nobody listens to: an
  // uncaught exception. Ctrl-C on `npm start` with a Google call in flight killed Tenure that way
  // (2 of 6 tries in a fresh sandbox, before 'shutdown complete'). Every call goes through Node's fetch.
  test("when the provisioner calls the directory, then every call goes through Node's own fetch", async (t) => {
    const { emulator, provisioner, ctx } = await setup(t, { emulator: { groups: SANDBOX_GROUPS } })
    const seen: string[] = []
    const nodeFetch = globalThis.fetch
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      seen.push(String(input instanceof Request ? input.url : input))
      return nodeFetch(input, init)
    }) as typeof fetch
    t.after(() => {
      globalThis.fetch = nodeFetch
    })

    const ref = await provisioner.provision(ctx, spec(employee(), { groups: ['everyone@example.com'] }))
    await provisioner.deprovision(ctx, ref, CUTOFF)
    await provisioner.verify(ctx, ref)

    assert.ok(emulator.kit.stats.requests > 5)
    assert.equal(seen.length, emulator.kit.stats.requests)
  })
})
