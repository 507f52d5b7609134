/**
 * The SCIM provisioner against the SCIM emulator over real HTTP. One suite, written once, runs
 * against differently configured servers (PATCH-only with ETags and filters; PUT-only without
 * filters; an Entra-style client with OAuth client credentials), so every quirk path drives the
 * same joiner → mover → leaver → verify story and the same error classes.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { createLogger, silentLogger } from '../../src/log.ts'
import {
  AuthFailedError,
  ConflictError,
  NotFoundError,
  PermanentError,
  RateLimitedError,
  TransientError,
  type ProvisionerError,
} from '../errors.ts'
import type { AccountSpec, ApiCallRecord, Ctx, EmployeeProfile, Provisioner, RevocationPlan } from '../types.ts'
import { scimAppConfigSchema, type ScimAppConfigInput } from './config.ts'
import { SCIM_DEV_CLIENT, SCIM_DEV_TOKEN, ScimEmulator, scimSandboxConfig, type ScimEmulatorOptions } from './emulator.ts'
import { createScimProvisioner } from './provisioner.ts'
import { SCHEMA } from '../scim-core/schemas.ts'

interface CtxOptions {
  calls?: ApiCallRecord[]
  throttled?: string[]
  /** Runs before the call it paces: lets a test act "between" two of the provisioner's calls. */
  onThrottle?: (bucket: string) => void
  log?: Ctx['log']
}

function makeCtx(opts: CtxOptions = {}): Ctx {
  return {
    idempotencyKey: 'test',
    correlationId: 'test',
    signal: new AbortController().signal,
    log: opts.log ?? silentLogger,
    throttle: async (bucket) => {
      opts.throttled?.push(bucket)
      opts.onThrottle?.(bucket)
    },
    recordCall: (call) => {
      opts.calls?.push(call)
    },
  }
}

let serial = 0
function employee(overrides: Partial<EmployeeProfile> = {}): EmployeeProfile {
  serial += 1
  return {
    employeeId: `E${1000 + serial}`,
    firstName: 'Ada',
    lastName: `Tester${serial}`,
    workEmail: `ada.tester${serial}@example.com`,
    department: 'Engineering',
    title: 'Engineer',
    costCenter: 'CC-42',
    ...overrides,
  }
}

function spec(emp: EmployeeProfile, groups: string[] = [], enabled = true): AccountSpec {
  return { employee: emp, enabled, access: { account: true, groups, licences: [], channels: [], projects: [], roles: [] } }
}

const CUTOFF: RevocationPlan = { phase: 'cutoff', steps: ['disable', 'revoke_sessions', 'revoke_tokens'], options: {} }
const CLEANUP: RevocationPlan = { phase: 'cleanup', steps: ['remove_groups', 'delete'], options: {} }

async function rejectsWith<T extends ProvisionerError>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => T,
  check?: (err: T) => void,
): Promise<T> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`)
    check?.(err)
    return err
  }
  assert.fail(`expected ${type.name}, but the call succeeded`)
}

interface Variant {
  label: string
  emulator: ScimEmulatorOptions
  app: (emu: ScimEmulator) => ScimAppConfigInput
  /** Credentials the app refuses (401 from the API or invalid_client from the token endpoint). */
  badAuth: (emu: ScimEmulator) => ScimAppConfigInput['auth']
  /** Whether the client sends If-Match in this variant. */
  etag: boolean
  /** The method the client changes Users with. */
  writeMethod: 'PATCH' | 'PUT'
}

/** The whole provisioner story, written once, run once per server variant. */
function provisionerSuite(variant: Variant): void {
  describe(variant.label, () => {
    // The suite makes hundreds of calls in a second; the emulator's own limit is exercised on purpose below.
    const unlimited = { requests: null }
    const emu = new ScimEmulator({ ...variant.emulator, rateLimits: unlimited })
    let p: Provisioner
    let input: ScimAppConfigInput
    let managerId: string

    before(async () => {
      await emu.start()
      input = variant.app(emu)
      p = createScimProvisioner(scimAppConfigSchema.parse(input))
      for (const name of ['Engineering', 'Sales', 'All Staff']) emu.seedGroup(name)
      managerId = emu.seedUser({ userName: 'grace.manager@example.com', externalId: 'M1', displayName: 'Grace Manager' })
    })
    after(() => emu.close())

    const provisioner = (overrides: Partial<ScimAppConfigInput>) =>
      createScimProvisioner(scimAppConfigSchema.parse({ ...input, ...overrides }))

    test('when a joiner is provisioned, then the app holds the mapped user in the policy groups and verify reads it back', async () => {
      emu.clearRequests()
      const calls: ApiCallRecord[] = []
      const throttled: string[] = []
      const ctx = makeCtx({ calls, throttled })
      const emp = employee({ managerId: 'M1' })
      const ref = await p.provision(ctx, spec(emp, ['Engineering', 'All Staff']))

      assert.equal(ref.system, `scim:${input.name}`)
      assert.equal(ref.login, emp.workEmail)
      const stored = emu.getUser(ref.accountId)
      assert.ok(stored)
      assert.equal(stored.userName, emp.workEmail)
      assert.equal(stored.externalId, emp.employeeId)
      assert.deepEqual(stored.name, { givenName: 'Ada', familyName: emp.lastName, formatted: `Ada ${emp.lastName}` })
      assert.equal(stored.displayName, `Ada ${emp.lastName}`)
      assert.deepEqual(stored.emails, [{ value: emp.workEmail, type: 'work', primary: true }])
      assert.equal(stored.active, true)
      assert.equal(stored.title, 'Engineer')
      assert.deepEqual(stored[SCHEMA.enterprise], {
        employeeNumber: emp.employeeId,
        department: 'Engineering',
        costCenter: 'CC-42',
        manager: { value: managerId },
      })
      assert.deepEqual(emu.groupsOf(ref.accountId).sort(), ['All Staff', 'Engineering'])

      const state = await p.verify(ctx, ref)
      assert.equal(state.exists, true)
      assert.equal(state.active, true)
      assert.equal(state.revoked, false)
      assert.equal(state.employeeId, emp.employeeId)
      assert.deepEqual(state.groups.sort(), ['All Staff', 'Engineering'])
      assert.deepEqual(
        state.checks.map((c) => [c.name, c.ok]),
        [['account_inactive', false]],
      )

      // Every vendor call was paced and recorded, with the app's request id as evidence.
      const apiCalls = calls.filter((c) => c.operation !== 'oauth.token')
      assert.equal(apiCalls.length, emu.requests.length)
      // Two buckets per call: its kind's (paced when configured), then the app-wide one.
      assert.equal(throttled.filter((b) => b !== 'requests').length, calls.length)
      assert.deepEqual(
        throttled.filter((b) => b !== 'token'),
        apiCalls.flatMap((c) => [c.method === 'GET' ? 'read' : 'write', 'requests']),
      )
      for (const call of apiCalls) {
        assert.ok(call.status !== undefined && call.status < 300, `${call.operation} ${call.status}`)
        assert.match(call.requestId ?? '', /^[0-9a-f-]{36}$/)
        assert.ok(!call.path.includes('?'))
      }
    })

    test('when a provision is retried, then no second user is created', async () => {
      const emp = employee()
      const before = emu.userCount()
      const first = await p.provision(makeCtx(), spec(emp, ['Sales']))
      emu.clearRequests()
      const second = await p.provision(makeCtx(), spec(emp, ['Sales']))
      assert.equal(second.accountId, first.accountId)
      assert.equal(emu.userCount(), before + 1)
      assert.equal(emu.requests.filter((r) => r.method !== 'GET').length, 0, 'the retry wrote nothing')
      assert.deepEqual(emu.groupsOf(first.accountId), ['Sales'])
    })

    test('when another job creates the user between lookup and create (409), then provision returns that account', async () => {
      const emp = employee()
      const before = emu.userCount()
      let raced: string | undefined
      const ctx = makeCtx({
        onThrottle: (bucket) => {
          if (bucket === 'write' && raced === undefined) {
            raced = emu.seedUser({ userName: emp.workEmail, externalId: emp.employeeId })
          }
        },
      })
      const ref = await p.provision(ctx, spec(emp, ['Sales']))
      assert.equal(ref.accountId, raced)
      assert.equal(emu.userCount(), before + 1)
      assert.deepEqual(emu.groupsOf(ref.accountId), ['Sales'])
    })

    test('when an account for the login predates Tenure, then provision adopts it and stamps the employee id', async () => {
      const emp = employee()
      const existing = emu.seedUser({ userName: emp.workEmail!.toUpperCase(), active: true, title: 'Founder' })
      const ref = await p.provision(makeCtx(), spec(emp))
      assert.equal(ref.accountId, existing)
      assert.equal(emu.getUser(existing)?.externalId, emp.employeeId)
      assert.equal(emu.getUser(existing)?.title, 'Founder', 'adopting changes nothing else')
      assert.equal((await p.lookup(makeCtx(), emp))?.accountId, existing)
    })

    test("when the login belongs to another employee's account (409), then provision fails Permanent at once for a person, and changes nothing", async () => {
      const emp = employee()
      const other = emu.seedUser({ userName: emp.workEmail, externalId: 'SOMEONE-ELSE' })
      const before = emu.userCount()
      assert.equal(await p.lookup(makeCtx(), emp), undefined)
      // Not a Conflict: the job layer retries those for ~20 minutes, and no retry frees the login.
      await rejectsWith(p.provision(makeCtx(), spec(emp)), PermanentError, (err) => {
        assert.equal(err.status, 409)
        assert.equal(err.vendorCode, 'uniqueness')
        assert.match(err.message, /another account/)
        assert.match(err.requestId ?? '', /^[0-9a-f-]{36}$/)
      })
      assert.equal(emu.userCount(), before)
      assert.equal(emu.getUser(other)?.externalId, 'SOMEONE-ELSE')
    })

    test('when a joiner starts before day one, then the account is created inactive, enable activates it and suspend deactivates it', async () => {
      const emp = employee()
      const ref = await p.provision(makeCtx(), spec(emp, [], false))
      assert.equal(emu.getUser(ref.accountId)?.active, false)
      assert.equal((await p.verify(makeCtx(), ref)).active, false)
      await p.enable(makeCtx(), ref)
      assert.equal(emu.getUser(ref.accountId)?.active, true)
      await p.suspend(makeCtx(), ref)
      assert.equal(emu.getUser(ref.accountId)?.active, false)
      emu.clearRequests()
      await p.suspend(makeCtx(), ref)
      assert.equal(emu.requests.filter((r) => r.method !== 'GET').length, 0, 'suspending a suspended account writes nothing')
    })

    test('when a mover changes groups, then memberships follow and verify reports them', async () => {
      const emp = employee()
      const ref = await p.provision(makeCtx(), spec(emp, ['Engineering', 'All Staff']))
      await p.update(makeCtx(), ref, { add: { groups: ['Sales'] }, remove: { groups: ['Engineering'] } })
      assert.deepEqual(emu.groupsOf(ref.accountId).sort(), ['All Staff', 'Sales'])
      assert.deepEqual((await p.verify(makeCtx(), ref)).groups.sort(), ['All Staff', 'Sales'])

      emu.clearRequests()
      await p.update(makeCtx(), ref, { add: { groups: ['Sales'] }, remove: { groups: ['Engineering'] } })
      assert.equal(emu.requests.filter((r) => r.method !== 'GET').length, 0, 'repeating the change writes nothing')
      assert.deepEqual(emu.groupsOf(ref.accountId).sort(), ['All Staff', 'Sales'])
    })

    test('when a mover is granted a group the app does not have, then NotFound names it', async () => {
      const ref = await p.provision(makeCtx(), spec(employee()))
      await rejectsWith(p.update(makeCtx(), ref, { add: { groups: ['No Such Group'] }, remove: {} }), NotFoundError, (err) =>
        assert.match(err.message, /No Such Group/),
      )
    })

    test('when a leaver is cut off and cleaned up, then the account is inactive, out of every group and gone, with evidence per step', async () => {
      const emp = employee()
      const ref = await p.provision(makeCtx(), spec(emp, ['Engineering', 'Sales']))
      const before = emu.userCount()

      const cutoff = await p.deprovision(makeCtx(), ref, CUTOFF)
      assert.deepEqual(
        cutoff.steps.map((s) => [s.step, s.status]),
        [
          ['disable', 'done'],
          ['revoke_sessions', 'not_supported'],
          ['revoke_tokens', 'not_supported'],
        ],
      )
      assert.ok((cutoff.steps[0]?.requestIds?.length ?? 0) >= 2, 'the read and the write are evidence')
      assert.deepEqual(cutoff.residual, [])
      assert.equal(emu.getUser(ref.accountId)?.active, false)
      const afterCutoff = await p.verify(makeCtx(), ref)
      assert.equal(afterCutoff.revoked, true)
      assert.deepEqual(afterCutoff.checks.map((c) => [c.name, c.ok]), [['account_inactive', true]])
      assert.deepEqual(afterCutoff.groups.sort(), ['Engineering', 'Sales'])

      const cleanup = await p.deprovision(makeCtx(), ref, CLEANUP)
      assert.deepEqual(
        cleanup.steps.map((s) => [s.step, s.status]),
        [
          ['remove_groups', 'done'],
          ['delete', 'done'],
        ],
      )
      assert.match(cleanup.steps[0]?.detail ?? '', /2 groups/)
      assert.equal(emu.userCount(), before - 1)
      const afterCleanup = await p.verify(makeCtx(), ref)
      assert.equal(afterCleanup.exists, false)
      assert.equal(afterCleanup.revoked, true)
    })

    test('when the cut-off runs again, then every step reports already_done or not_supported and nothing is written', async () => {
      const ref = await p.provision(makeCtx(), spec(employee(), ['Sales']))
      await p.deprovision(makeCtx(), ref, CUTOFF)
      emu.clearRequests()
      const again = await p.deprovision(makeCtx(), ref, CUTOFF)
      assert.equal(again.steps[0]?.status, 'already_done')
      assert.equal(emu.requests.filter((r) => r.method !== 'GET').length, 0)
    })

    test('when a legal hold applies, then cleanup removes groups but never deletes the account', async () => {
      const ref = await p.provision(makeCtx(), spec(employee(), ['Sales']))
      await p.deprovision(makeCtx(), ref, CUTOFF)
      const cleanup = await p.deprovision(makeCtx(), ref, { ...CLEANUP, options: { legalHold: true } })
      assert.deepEqual(
        cleanup.steps.map((s) => [s.step, s.status]),
        [
          ['remove_groups', 'done'],
          ['delete', 'skipped'],
        ],
      )
      assert.ok(emu.getUser(ref.accountId))
      assert.deepEqual(emu.groupsOf(ref.accountId), [])
      const again = await p.deprovision(makeCtx(), ref, { ...CLEANUP, options: { legalHold: true } })
      assert.equal(again.steps[0]?.status, 'already_done')
    })

    test('when the user was already deleted at the app, then the revoke succeeds and the evidence says so', async () => {
      const ref = await p.provision(makeCtx(), spec(employee(), ['Sales']))
      emu.deleteUser(ref.accountId)
      const evidence = await p.deprovision(makeCtx(), ref, { ...CUTOFF, steps: [...CUTOFF.steps, 'remove_groups', 'delete'] })
      for (const step of evidence.steps) {
        assert.equal(step.status, 'already_done', step.step)
        assert.match(step.detail ?? '', /404/)
      }
      const state = await p.verify(makeCtx(), ref)
      assert.equal(state.exists, false)
      assert.equal(state.revoked, true)
      await rejectsWith(p.enable(makeCtx(), ref), NotFoundError)
    })

    test('when an admin re-enables a revoked account by hand, then verify says it is not revoked and a new cut-off disables it', async () => {
      const ref = await p.provision(makeCtx(), spec(employee()))
      await p.deprovision(makeCtx(), ref, CUTOFF)
      emu.setActive(ref.accountId, true)
      const state = await p.verify(makeCtx(), ref)
      assert.equal(state.revoked, false)
      assert.equal(state.checks[0]?.ok, false)
      const again = await p.deprovision(makeCtx(), ref, CUTOFF)
      assert.equal(again.steps[0]?.status, 'done')
      assert.equal((await p.verify(makeCtx(), ref)).revoked, true)
    })

    // Only variants whose client sends If-Match can meet a 412; the others do not register it.
    if (variant.etag) test(
      'when the user changes at the app between our read and write (412), then the write is repeated once on the fresh version',
      async () => {
        const ref = await p.provision(makeCtx(), spec(employee()))
        let touched = false
        emu.kit.resetStats()
        const ctx = makeCtx({
          onThrottle: (bucket) => {
            if (bucket === 'write' && !touched) {
              touched = true
              emu.touchUser(ref.accountId)
            }
          },
        })
        const evidence = await p.deprovision(ctx, ref, CUTOFF)
        assert.equal(evidence.steps[0]?.status, 'done')
        assert.equal(emu.kit.stats.byStatus['412'], 1, 'the stale write was refused once')
        assert.equal(emu.getUser(ref.accountId)?.active, false)
        assert.ok(emu.requests.some((r) => r.ifMatch !== undefined))
      },
    )

    test('when the app keeps refusing the write with 412, then Conflict goes to the job layer', async () => {
      const ref = await p.provision(makeCtx(), spec(employee()))
      emu.injectFault({ status: 412, pathIncludes: '/Users/', method: variant.writeMethod, times: 2 })
      try {
        await rejectsWith(p.suspend(makeCtx(), ref), ConflictError, (err) => assert.equal(err.status, 412))
      } finally {
        emu.kit.clearFaults()
      }
    })

    test('when accounts are listed, then startIndex pages cover every user exactly once', async () => {
      const ctx = makeCtx()
      const seen: string[] = []
      let page: string | undefined
      let pages = 0
      do {
        const result = await p.listAccounts(ctx, page)
        pages += 1
        assert.ok(result.items.length <= 3)
        for (const item of result.items) {
          seen.push(item.accountId)
          assert.equal(item.exists, true)
          assert.equal(item.revoked, !item.active)
        }
        page = result.nextPage
      } while (page !== undefined)
      assert.ok(pages > 1)
      assert.equal(new Set(seen).size, seen.length)
      assert.equal(seen.length, emu.userCount())
      await rejectsWith(p.listAccounts(ctx, 'not-a-page'), PermanentError)
    })

    test('when a user does not exist at the app, then NotFound', async () => {
      await rejectsWith(p.enable(makeCtx(), { system: p.system, accountId: 'nope', employeeId: 'E0' }), NotFoundError, (err) =>
        assert.equal(err.status, 404),
      )
    })

    test('when the credentials are refused, then AuthFailed', async () => {
      const bad = provisioner({ auth: variant.badAuth(emu) })
      await rejectsWith(bad.lookup(makeCtx(), employee()), AuthFailedError, (err) => assert.equal(err.status, 401))
    })

    test('when the app forbids the call (403), then AuthFailed', async () => {
      emu.injectFault({ status: 403, pathIncludes: '/Users' })
      await rejectsWith(p.lookup(makeCtx(), employee()), AuthFailedError, (err) => assert.equal(err.status, 403))
    })

    test('when the app throttles with Retry-After, then RateLimited carries the wait', async () => {
      emu.injectFault({ status: 429, retryAfterSeconds: 7, pathIncludes: '/Users' })
      await rejectsWith(p.lookup(makeCtx(), employee()), RateLimitedError, (err) => assert.equal(err.retryAfterMs, 7000))

      emu.kit.configureLimits({ requests: { perMinute: 1, burst: 1 } })
      try {
        await rejectsWith(p.provision(makeCtx(), spec(employee())), RateLimitedError, (err) => {
          assert.equal(err.status, 429)
          assert.ok(err.retryAfterMs >= 1000)
        })
      } finally {
        emu.kit.configureLimits(unlimited)
      }
    })

    test('when the app answers 503 with Retry-After, then RateLimited carries that wait, as a 429 does', async () => {
      emu.injectFault({ status: 503, retryAfterSeconds: 11, pathIncludes: '/Users' })
      await rejectsWith(p.lookup(makeCtx(), employee()), RateLimitedError, (err) => {
        assert.equal(err.status, 503)
        assert.equal(err.retryAfterMs, 11_000)
      })
    })

    test('when the app fails (5xx) or does not answer in time, then Transient', async () => {
      emu.injectFault({ status: 500, pathIncludes: '/Users' })
      await rejectsWith(p.lookup(makeCtx(), employee()), TransientError, (err) => assert.equal(err.status, 500))
      emu.injectFault({ status: 503, pathIncludes: '/Users' })
      await rejectsWith(p.lookup(makeCtx(), employee()), TransientError, (err) => assert.equal(err.status, 503))

      const impatient = provisioner({ timeoutMs: 150 })
      emu.injectFault({ hangMs: 600, pathIncludes: '/Users' })
      const calls: ApiCallRecord[] = []
      await rejectsWith(impatient.lookup(makeCtx({ calls }), employee()), TransientError, (err) => {
        assert.equal(err.status, undefined)
        assert.match(err.message, /150 ms/)
      })
      assert.equal(calls.at(-1)?.status, undefined)
      assert.equal(calls.at(-1)?.errorKind, 'Transient')
    })

    test('when the app rejects a value (400 invalidValue), then Permanent', async () => {
      const sloppy = provisioner({ attributeMapping: { email: '{fullName}@example.com' } })
      await rejectsWith(sloppy.provision(makeCtx(), spec(employee())), PermanentError, (err) => {
        assert.equal(err.status, 400)
        assert.equal(err.vendorCode, 'invalidValue')
      })
    })

    test('when the access token expires, then an OAuth client fetches a new one and a static token is AuthFailed', async () => {
      await p.lookup(makeCtx(), employee()) // a token is cached now
      emu.injectFault({ expireToken: true, pathIncludes: '/Users' })
      const calls: ApiCallRecord[] = []
      if (input.auth.type === 'oauth_client_credentials') {
        await p.lookup(makeCtx({ calls }), employee())
        assert.equal(calls.filter((c) => c.operation === 'oauth.token').length, 1)
        assert.equal(calls.filter((c) => c.status === 401).length, 1)
      } else {
        await rejectsWith(p.lookup(makeCtx({ calls }), employee()), AuthFailedError, (err) => assert.equal(err.status, 401))
      }
    })
  })
}

provisionerSuite({
  label: 'PATCH-only server with ETags and filters',
  emulator: { putSupported: false, etagSupported: true, filterSupported: true },
  app: (emu) => ({
    name: 'patchy',
    baseUrl: emu.scimBaseUrl,
    auth: { type: 'bearer', token: SCIM_DEV_TOKEN },
    quirks: { updateMethod: 'patch', filterSupported: true, etag: true, groupMembership: 'patch_group', pageSize: 3 },
  }),
  badAuth: () => ({ type: 'bearer', token: 'not-the-token' }),
  etag: true,
  writeMethod: 'PATCH',
})

provisionerSuite({
  label: 'PUT-only server without filters or User.groups',
  emulator: { patchSupported: false, filterSupported: false, etagSupported: false, userGroupsAttribute: false },
  app: (emu) => ({
    name: 'putonly',
    baseUrl: emu.scimBaseUrl,
    auth: { type: 'bearer', token: SCIM_DEV_TOKEN },
    quirks: {
      updateMethod: 'put',
      filterSupported: false,
      etag: false,
      groupMembership: 'put_group',
      groupsOnUser: false,
      pageSize: 3,
    },
  }),
  badAuth: () => ({ type: 'bearer', token: 'not-the-token' }),
  etag: false,
  writeMethod: 'PUT',
})

provisionerSuite({
  label: 'Entra-style client (capitalised ops, value objects, lower-case keys) with OAuth client credentials',
  emulator: {},
  app: (emu) => ({
    name: 'entra-style',
    baseUrl: emu.scimBaseUrl,
    auth: {
      type: 'oauth_client_credentials',
      tokenUrl: emu.tokenUrl,
      clientId: SCIM_DEV_CLIENT.clientId,
      clientSecret: SCIM_DEV_CLIENT.clientSecret,
      scope: 'scim.write',
      clientAuth: 'client_secret_post',
    },
    quirks: {
      patchOpCase: 'capitalized',
      patchValueStyle: 'valueObject',
      attributeNameCase: 'lower',
      contentType: 'application/json',
      pageSize: 3,
    },
  }),
  badAuth: (emu) => ({
    type: 'oauth_client_credentials',
    tokenUrl: emu.tokenUrl,
    clientId: SCIM_DEV_CLIENT.clientId,
    clientSecret: 'wrong-secret',
  }),
  etag: false,
  writeMethod: 'PATCH',
})

describe('quirk mismatches and policy edges', () => {
  const putOnly = new ScimEmulator({ patchSupported: false, filterSupported: false })
  const strict = new ScimEmulator({ strict: true })
  const lenient = new ScimEmulator()
  before(async () => {
    await Promise.all([putOnly.start(), strict.start(), lenient.start()])
    lenient.seedGroup('Engineering')
  })
  after(() => Promise.all([putOnly.close(), strict.close(), lenient.close()]))

  const on = (emu: ScimEmulator, extra: Partial<ScimAppConfigInput> = {}) =>
    createScimProvisioner(
      scimAppConfigSchema.parse({
        name: 'edge',
        baseUrl: emu.scimBaseUrl,
        auth: { type: 'bearer', token: SCIM_DEV_TOKEN },
        ...extra,
      }),
    )

  test('when quirks are left unset, then the app\'s ServiceProviderConfig decides: no filter, PUT instead of PATCH', async () => {
    const emp = employee()
    const p = on(putOnly)
    putOnly.clearRequests()
    const ref = await p.provision(makeCtx(), spec(emp))
    await p.suspend(makeCtx(), ref)
    assert.equal(putOnly.getUser(ref.accountId)?.active, false)
    assert.ok(!putOnly.requests.some((r) => r.query.filter !== undefined), 'no filter sent to an app that says filter.supported=false')
    assert.ok(putOnly.requests.some((r) => r.method === 'PUT'))
    assert.equal(putOnly.requests.filter((r) => r.path === '/ServiceProviderConfig').length, 1, 'discovery is read once and cached')
  })

  test('when PATCH is configured for a PUT-only app, then the configured quirk wins and the app answers Permanent (501), not a retry loop', async () => {
    const emp = employee()
    const p = on(putOnly, { quirks: { filterSupported: false, updateMethod: 'patch' } })
    const ref = await p.provision(makeCtx(), spec(emp))
    await rejectsWith(p.suspend(makeCtx(), ref), PermanentError, (err) => assert.equal(err.status, 501))
  })

  test('when a strict app gets lower-case keys or capitalised ops, then it refuses them and the provisioner says Permanent', async () => {
    await rejectsWith(on(strict, { quirks: { attributeNameCase: 'lower' } }).provision(makeCtx(), spec(employee())), PermanentError, (err) =>
      assert.equal(err.vendorCode, 'invalidValue'),
    )
    const capitalised = on(strict, { quirks: { patchOpCase: 'capitalized' } })
    const ref = await capitalised.provision(makeCtx(), spec(employee()))
    await rejectsWith(capitalised.suspend(makeCtx(), ref), PermanentError, (err) => assert.equal(err.vendorCode, 'invalidSyntax'))
    // The same server takes the canonical spelling.
    await on(strict).suspend(makeCtx(), ref)
    assert.equal(strict.getUser(ref.accountId)?.active, false)
  })

  test('when Entra-style quirks are set, then the wire carries capitalised ops, value objects, lower-case keys and application/json', async () => {
    const p = on(lenient, {
      quirks: { patchOpCase: 'capitalized', patchValueStyle: 'valueObject', attributeNameCase: 'lower', contentType: 'application/json' },
    })
    const emp = employee()
    const ref = await p.provision(makeCtx(), spec(emp, ['Engineering']))
    lenient.clearRequests()
    await p.deprovision(makeCtx(), ref, { phase: 'cutoff', steps: ['disable'], options: {} })
    const patch = lenient.requests.find((r) => r.method === 'PATCH')
    assert.deepEqual(patch?.body, { schemas: [SCHEMA.patchOp], Operations: [{ op: 'Replace', value: { active: false } }] })
    assert.equal(patch?.contentType, 'application/json')
    lenient.clearRequests()
    await p.deprovision(makeCtx(), ref, { phase: 'cleanup', steps: ['remove_groups'], options: {} })
    const remove = lenient.requests.find((r) => r.method === 'PATCH')
    assert.deepEqual(remove?.body, {
      schemas: [SCHEMA.patchOp],
      Operations: [{ op: 'Remove', path: `members[value eq "${ref.accountId}"]` }],
    })
    const search = await p.lookup(makeCtx(), emp)
    assert.equal(search?.accountId, ref.accountId)
    assert.ok(lenient.requests.some((r) => r.query.filter === `externalid eq "${emp.employeeId}"`))
  })

  test('when an app is cut off by DELETE, then disable deletes, a legal hold leaves residual access, and suspend refuses', async () => {
    const p = on(lenient, { quirks: { deactivateWith: 'delete' } })
    const held = await p.provision(makeCtx(), spec(employee()))
    const onHold = await p.deprovision(makeCtx(), held, { ...CUTOFF, options: { legalHold: true } })
    assert.equal(onHold.steps[0]?.status, 'skipped')
    assert.deepEqual(onHold.residual.map((r) => [r.kind, r.id]), [['account', held.accountId]])
    assert.ok(lenient.getUser(held.accountId))
    await rejectsWith(p.suspend(makeCtx(), held), PermanentError)

    const ref = await p.provision(makeCtx(), spec(employee()))
    const evidence = await p.deprovision(makeCtx(), ref, { phase: 'cutoff', steps: ['disable', 'delete'], options: {} })
    assert.deepEqual(evidence.steps.map((s) => s.status), ['done', 'already_done'])
    assert.equal(lenient.getUser(ref.accountId), undefined)
    assert.equal((await p.verify(makeCtx(), ref)).revoked, true)
  })

  test('when the app is configured without group management, then memberships it reports are residual access', async () => {
    const managed = on(lenient)
    const ref = await managed.provision(makeCtx(), spec(employee(), ['Engineering']))
    const unmanaged = on(lenient, { quirks: { groupMembership: 'none' } })
    const cleanup = await unmanaged.deprovision(makeCtx(), ref, { phase: 'cleanup', steps: ['remove_groups'], options: {} })
    assert.equal(cleanup.steps[0]?.status, 'not_supported')
    assert.equal(cleanup.residual.length, 1)
    await rejectsWith(unmanaged.update(makeCtx(), ref, { add: { groups: ['Engineering'] }, remove: {} }), PermanentError)
    await rejectsWith(managed.update(makeCtx(), ref, { add: { licences: ['E5'] }, remove: {} }), PermanentError)
  })

  test('when the job is cancelled (ctx.signal), then the call is abandoned as Transient', async () => {
    const controller = new AbortController()
    controller.abort()
    const ctx = { ...makeCtx(), signal: controller.signal }
    await rejectsWith(on(lenient).lookup(ctx, employee()), TransientError, (err) => assert.match(err.message, /cancelled/))
  })

  test('when the userName template renders empty, then provision fails Permanent before calling the app', async () => {
    lenient.clearRequests()
    const emp = employee()
    delete emp.workEmail
    await rejectsWith(on(lenient).provision(makeCtx(), spec(emp)), PermanentError, (err) => assert.match(err.message, /userName/))
    assert.equal(lenient.requests.length, 0)
  })

  test('when the provisioner works, then no secret reaches the log output', async () => {
    const lines: string[] = []
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString())
        done()
      },
    })
    const log = createLogger({ level: 'trace', destination: sink })
    const p = on(lenient)
    const ref = await p.provision(makeCtx({ log }), spec(employee()))
    await p.provision(makeCtx({ log }), spec(employee({ employeeId: ref.employeeId, workEmail: ref.login })))
    const output = lines.join('')
    assert.ok(output.length > 0)
    assert.ok(!output.includes(SCIM_DEV_TOKEN))
  })

  test('when the sandbox config is used, then it parses and works against a default emulator', async () => {
    const origin = lenient.scimBaseUrl.replace(/\/scim\/v2$/, '')
    const p = createScimProvisioner(scimAppConfigSchema.parse(scimSandboxConfig(origin)))
    assert.equal(p.system, 'scim:sandbox')
    const ref = await p.provision(makeCtx(), spec(employee(), ['Engineering']))
    const evidence = await p.deprovision(makeCtx(), ref, CUTOFF)
    assert.equal(evidence.steps[0]?.status, 'done')
  })
})
