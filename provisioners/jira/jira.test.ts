/**
 * The Jira provisioner through jira.js 6 (endpoint functions + their schemas and error classes)
 * against the emulator over real HTTP on 127.0.0.1.
 */
import { after, before, beforeEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { resolvedSecretValues } from '../../src/config/secret.ts'
import { createLogger, silentLogger } from '../../src/log.ts'
import { isProvisionerError, type ProvisionerError, type RateLimitedError } from '../errors.ts'
import { testCtx, type AccountSpec, type ApiCallRecord, type Ctx, type Provisioner, type RevocationPlan } from '../types.ts'
import { jiraConfigSchema, type JiraConfigInput } from './config.ts'
import { JiraEmulator, JIRA_SANDBOX_CREDENTIALS, jiraSandboxConfig, type JiraEmulatorOptions } from './emulator.ts'
import { createJiraProvisioner } from './provisioner.ts'

let counter = 0
function joiner(overrides: Partial<AccountSpec> = {}, groups: string[] = ['engineering']): AccountSpec {
  counter += 1
  return {
    employee: {
      employeeId: `E${1000 + counter}`,
      firstName: 'Ada',
      lastName: `Lovelace${counter}`,
      workEmail: `ada.lovelace${counter}@acme.example`,
      department: 'R&D',
    },
    access: { account: true, groups, licences: [], channels: [], projects: [], roles: [] },
    enabled: true,
    ...overrides,
  }
}

const CUTOFF: RevocationPlan = { phase: 'cutoff', steps: ['disable', 'revoke_sessions', 'revoke_tokens'], options: {} }
const CLEANUP: RevocationPlan = { phase: 'cleanup', steps: ['remove_groups', 'remove_products', 'delete'], options: {} }

async function rejection(promise: Promise<unknown>): Promise<ProvisionerError> {
  try {
    await promise
  } catch (err) {
    assert.ok(isProvisionerError(err), `expected a ProvisionerError, got ${String(err)}`)
    return err
  }
  assert.fail('expected the call to fail')
}

interface Harness {
  emulator: JiraEmulator
  url: string
  make(overrides?: Partial<JiraConfigInput>): Provisioner
}

function harness(options: JiraEmulatorOptions = {}): Harness {
  const h = { url: '' } as Harness
  before(async () => {
    h.emulator = new JiraEmulator(options)
    h.url = await h.emulator.start()
    h.emulator.seedGroup('engineering')
    h.make = (overrides = {}) => createJiraProvisioner(jiraConfigSchema.parse({ ...jiraSandboxConfig(h.url), ...overrides }))
  })
  after(async () => {
    await h.emulator.close()
  })
  beforeEach(() => {
    h.emulator.kit.clearFaults()
    h.emulator.kit.configureLimits({})
  })
  return h
}

describe('jira with Atlassian SCIM: joiner, mover, leaver', () => {
  const h = harness()

  test('when a joiner is provisioned, then a managed account with Jira Software access and the policy groups exists and verify reads it back', async () => {
    const jira = h.make()
    const calls: ApiCallRecord[] = []
    const spec = joiner()
    const ref = await jira.provision(testCtx(silentLogger, calls), spec)

    const stored = h.emulator.findUserByEmail(spec.employee.workEmail ?? '')
    assert.equal(stored?.accountId, ref.accountId)
    assert.deepEqual(stored?.products, ['jira-software'])
    assert.ok(stored?.groups.includes('engineering'))
    const record = h.emulator.scimUserByExternalId(spec.employee.employeeId)
    assert.equal(record?.accountId, ref.accountId)
    assert.equal(record?.active, true)

    const state = await jira.verify(testCtx(silentLogger), ref)
    assert.equal(state.exists, true)
    assert.equal(state.active, true)
    assert.deepEqual(state.licences, ['jira-software'])
    assert.ok(state.groups.includes('engineering'))
    assert.equal(state.revoked, false)
    assert.equal(state.employeeId, spec.employee.employeeId)

    // Every call is on the record with Atlassian's request id, and paths carry no query (emails, ids).
    assert.ok(calls.length > 0)
    for (const c of calls) {
      assert.ok(c.requestId, `request id missing on ${c.operation}`)
      assert.ok(!c.path.includes('?'))
      assert.equal(c.errorKind, undefined)
    }
  })

  test('when provision is retried, then no second user, SCIM record or membership is created', async () => {
    const jira = h.make()
    const spec = joiner()
    const first = await jira.provision(testCtx(silentLogger), spec)
    const users = h.emulator.userCount()
    const records = h.emulator.scimUserCount()
    const again = await jira.provision(testCtx(silentLogger), spec)
    assert.equal(again.accountId, first.accountId)
    assert.equal(h.emulator.userCount(), users)
    assert.equal(h.emulator.scimUserCount(), records)
    assert.equal(h.emulator.groupMembers('engineering').filter((id) => id === first.accountId).length, 1)
  })

  test('when a joiner starts later, then the account has no product access and is deactivated until enable()', async () => {
    const jira = h.make()
    const spec = joiner({ enabled: false })
    const ref = await jira.provision(testCtx(silentLogger), spec)
    assert.deepEqual(h.emulator.getUser(ref.accountId)?.products, [])
    assert.equal(h.emulator.scimUserByExternalId(spec.employee.employeeId)?.active, false)
    assert.equal((await jira.verify(testCtx(silentLogger), ref)).active, false)

    await jira.enable(testCtx(silentLogger), ref)
    assert.deepEqual(h.emulator.getUser(ref.accountId)?.products, ['jira-software'])
    assert.equal(h.emulator.scimUserByExternalId(spec.employee.employeeId)?.active, true)
    assert.equal((await jira.verify(testCtx(silentLogger), ref)).active, true)
  })

  test('when a mover changes teams, then groups and products are added and removed', async () => {
    const jira = h.make()
    h.emulator.seedGroup('support')
    const ref = await jira.provision(testCtx(silentLogger), joiner())
    await jira.update(testCtx(silentLogger), ref, {
      add: { groups: ['support'], products: ['jira-servicedesk'] },
      remove: { groups: ['engineering'] },
    })
    const user = h.emulator.getUser(ref.accountId)
    assert.ok(user?.groups.includes('support'))
    assert.ok(!user?.groups.includes('engineering'))
    assert.deepEqual(user?.products.sort(), ['jira-servicedesk', 'jira-software'])

    await jira.update(testCtx(silentLogger), ref, { add: {}, remove: { products: ['jira-software'] } })
    assert.deepEqual(h.emulator.getUser(ref.accountId)?.products, ['jira-servicedesk'])
  })

  test('when a leaver is cut off and cleaned up, then the account is deactivated, every group (hand-added too) is gone and verify reads it revoked', async () => {
    const jira = h.make()
    const spec = joiner()
    const ref = await jira.provision(testCtx(silentLogger), spec)
    h.emulator.addToGroup(ref.accountId, 'added-by-hand')

    const cutoff = await jira.deprovision(testCtx(silentLogger), ref, CUTOFF)
    assert.deepEqual(
      cutoff.steps.map((s) => [s.step, s.status]),
      [
        ['disable', 'done'],
        ['revoke_sessions', 'done'],
        ['revoke_tokens', 'done'],
      ],
    )
    assert.ok(cutoff.steps[0]?.requestIds?.length)
    assert.equal(h.emulator.scimUserByExternalId(spec.employee.employeeId)?.active, false)
    assert.equal(h.emulator.getUser(ref.accountId)?.active, false)
    const afterCutoff = await jira.verify(testCtx(silentLogger), ref)
    assert.equal(afterCutoff.revoked, true)
    assert.equal(afterCutoff.checks.find((c) => c.name === 'no_groups')?.ok, false)

    const cleanup = await jira.deprovision(testCtx(silentLogger), ref, CLEANUP)
    assert.deepEqual(
      cleanup.steps.map((s) => [s.step, s.status]),
      [
        ['remove_groups', 'done'],
        ['remove_products', 'already_done'],
        ['delete', 'skipped'],
      ],
    )
    assert.match(cleanup.steps[0]?.detail ?? '', /added-by-hand/)
    assert.deepEqual(cleanup.residual, [])
    assert.deepEqual(h.emulator.getUser(ref.accountId)?.groups, [])

    const state = await jira.verify(testCtx(silentLogger), ref)
    assert.equal(state.revoked, true)
    assert.ok(state.checks.every((c) => c.ok), JSON.stringify(state.checks))
    assert.deepEqual(state.groups, [])
    assert.deepEqual(state.licences, [])
  })

  test('when the cut-off runs again, then it reports already_done without another deactivation', async () => {
    const jira = h.make()
    const ref = await jira.provision(testCtx(silentLogger), joiner())
    await jira.deprovision(testCtx(silentLogger), ref, CUTOFF)
    const calls: ApiCallRecord[] = []
    const again = await jira.deprovision(testCtx(silentLogger, calls), ref, CUTOFF)
    assert.deepEqual(
      again.steps.map((s) => s.status),
      ['already_done', 'already_done', 'already_done'],
    )
    assert.equal(calls.filter((c) => c.operation === 'scim.Users.patch').length, 0)
  })

  test('when the Atlassian deactivation is refused once, then the next cut-off step still deactivates and the phase fails for the job layer to retry', async () => {
    const jira = h.make()
    const spec = joiner()
    const ref = await jira.provision(testCtx(silentLogger), spec)
    h.emulator.kit.injectFault({ method: 'PATCH', pathIncludes: '/scim/', status: 403 })
    const err = await jira.deprovision(testCtx(silentLogger), ref, CUTOFF).then(
      () => assert.fail('expected the phase to fail'),
      (e: unknown) => e as ProvisionerError,
    )
    assert.equal(err.kind, 'AuthFailed', err.message)
    assert.match(err.message, /failed at disable.*disable failed, revoke_sessions done, revoke_tokens done/)
    assert.equal(h.emulator.scimUserByExternalId(spec.employee.employeeId)?.active, false)
  })

  test('when an admin re-enables the account by hand, then verify no longer reports it revoked', async () => {
    const jira = h.make()
    const ref = await jira.provision(testCtx(silentLogger), joiner())
    await jira.deprovision(testCtx(silentLogger), ref, CUTOFF)
    assert.equal((await jira.verify(testCtx(silentLogger), ref)).revoked, true)
    h.emulator.setActive(ref.accountId, true)
    const state = await jira.verify(testCtx(silentLogger), ref)
    assert.equal(state.revoked, false)
    assert.match(state.checks[0]?.detail ?? '', /still has product access/)
  })

  test('when a group cannot be left (403 on site-admins), then it is residual access and the step says so', async () => {
    const jira = h.make()
    const ref = await jira.provision(testCtx(silentLogger), joiner())
    h.emulator.addToGroup(ref.accountId, 'site-admins')
    const cleanup = await jira.deprovision(testCtx(silentLogger), ref, { phase: 'cleanup', steps: ['remove_groups'], options: {} })
    assert.equal(cleanup.steps[0]?.status, 'failed')
    assert.deepEqual(
      cleanup.residual.map((r) => [r.kind, r.id]),
      [['group', 'site-admins']],
    )
    assert.deepEqual(h.emulator.getUser(ref.accountId)?.groups, ['site-admins'])
    const state = await jira.verify(testCtx(silentLogger), ref)
    assert.equal(state.checks.find((c) => c.name === 'no_groups')?.ok, false)
  })

  test('when deleteOnLeave allows it, then delete removes the user from the site and a second revoke counts as done', async () => {
    const jira = h.make({ deleteOnLeave: true })
    const ref = await jira.provision(testCtx(silentLogger), joiner())
    const cleanup = await jira.deprovision(testCtx(silentLogger), ref, CLEANUP)
    assert.equal(cleanup.steps.find((s) => s.step === 'delete')?.status, 'done')
    assert.equal(h.emulator.getUser(ref.accountId)?.onSite, false)

    const again = await jira.deprovision(testCtx(silentLogger), ref, { phase: 'cleanup', steps: ['remove_groups', 'remove_products', 'delete'], options: {} })
    assert.deepEqual(
      again.steps.map((s) => s.status),
      ['already_done', 'already_done', 'already_done'],
    )
    const state = await jira.verify(testCtx(silentLogger), ref)
    assert.equal(state.exists, false)
    assert.equal(state.revoked, true)
  })

  test('when a legal hold is approved, then delete is skipped even with deleteOnLeave', async () => {
    const jira = h.make({ deleteOnLeave: true })
    const ref = await jira.provision(testCtx(silentLogger), joiner())
    const evidence = await jira.deprovision(testCtx(silentLogger), ref, { phase: 'cleanup', steps: ['delete'], options: { legalHold: true } })
    assert.equal(evidence.steps[0]?.status, 'skipped')
    assert.equal(h.emulator.getUser(ref.accountId)?.onSite, true)
  })

  test('when the user was already deleted from the site, then revoking succeeds and the evidence says so', async () => {
    const jira = h.make({ deleteOnLeave: true })
    const ref = await jira.provision(testCtx(silentLogger), joiner())
    await jira.deprovision(testCtx(silentLogger), ref, { phase: 'cleanup', steps: ['delete'], options: {} })
    // A person Jira never had at all (no SCIM record either).
    const ghost = { system: 'jira', accountId: '0123456789abcdef01234567', employeeId: 'E-none', login: 'nobody@acme.example' }
    for (const target of [ref, ghost]) {
      const evidence = await jira.deprovision(testCtx(silentLogger), target, { phase: 'cleanup', steps: ['remove_groups', 'remove_products'], options: {} })
      assert.deepEqual(
        evidence.steps.map((s) => s.status),
        ['already_done', 'already_done'],
      )
      assert.match(evidence.steps[0]?.detail ?? '', /404/)
    }
  })

  test('when looking up, then the SCIM externalId finds the account, and email is the fallback', async () => {
    const jira = h.make()
    const spec = joiner()
    const ref = await jira.provision(testCtx(silentLogger), spec)
    const calls: ApiCallRecord[] = []
    const found = await jira.lookup(testCtx(silentLogger, calls), spec.employee)
    assert.equal(found?.accountId, ref.accountId)
    assert.deepEqual(
      calls.map((c) => c.operation),
      ['scim.Users.list'],
    )
    const seeded = h.emulator.seedUser({ email: 'grace.hopper@acme.example', displayName: 'Grace Hopper', products: ['jira-software'] })
    const byEmail = await jira.lookup(testCtx(silentLogger), { employeeId: 'E-gh', firstName: 'Grace', lastName: 'Hopper', workEmail: 'Grace.Hopper@acme.example' })
    assert.equal(byEmail?.accountId, seeded)
    assert.equal(await jira.lookup(testCtx(silentLogger), { employeeId: 'E-x', firstName: 'No', lastName: 'One', workEmail: 'no.one@acme.example' }), undefined)
  })

  test('when listing accounts, then pages follow startAt until the list ends and app accounts are left out', async () => {
    const jira = h.make({ listPageSize: 3 })
    h.emulator.seedUser({ email: 'automation@acme.example', accountType: 'app' })
    for (let i = 0; i < 5; i += 1) h.emulator.seedUser({ email: `list${i}@acme.example`, products: ['jira-software'] })
    const seen: string[] = []
    let page: string | undefined
    let pages = 0
    do {
      const result = await jira.listAccounts(testCtx(silentLogger), page)
      seen.push(...result.items.map((i) => i.login ?? ''))
      page = result.nextPage
      pages += 1
    } while (page !== undefined && pages < 100)
    assert.ok(pages > 2)
    assert.equal(new Set(seen).size, seen.length, 'no account listed twice')
    for (let i = 0; i < 5; i += 1) assert.ok(seen.includes(`list${i}@acme.example`))
    assert.ok(!seen.includes('automation@acme.example'))
    assert.equal(seen.length, h.emulator.userCount() - 1)
    // The user list shows neither groups nor product access: unknown, not "no groups".
    const first = (await jira.listAccounts(testCtx(silentLogger))).items[0]
    assert.deepEqual(first?.unknown?.map((u) => u.attribute), ['groups', 'products'])
  })

  test('when a whole lifecycle runs, then no log line carries a secret and every response matched the jira.js schemas', async () => {
    const lines: string[] = []
    const log = createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString())
          done()
        },
      }),
    })
    const jira = h.make()
    const ctx = testCtx(log)
    const ref = await jira.provision(ctx, joiner())
    await jira.update(ctx, ref, { add: { products: ['jira-servicedesk'] }, remove: {} })
    await jira.deprovision(ctx, ref, CUTOFF)
    await jira.deprovision(ctx, ref, CLEANUP)
    await jira.verify(ctx, ref)
    await jira.listAccounts(ctx)
    assert.ok(lines.length > 0)
    const text = lines.join('')
    for (const secret of resolvedSecretValues) assert.ok(!text.includes(secret), 'a secret reached the log')
    assert.ok(!text.includes(Buffer.from(`${JIRA_SANDBOX_CREDENTIALS.email}:${JIRA_SANDBOX_CREDENTIALS.apiToken}`).toString('base64')))
    assert.ok(!/did not match the jira.js schema/.test(text), text)
  })

  test('when every call goes out, then a limiter token was taken first from the named bucket', async () => {
    const jira = h.make()
    const buckets: string[] = []
    const calls: ApiCallRecord[] = []
    const ctx: Ctx = {
      ...testCtx(silentLogger, calls),
      throttle: async (bucket) => {
        buckets.push(bucket)
      },
    }
    const ref = await jira.provision(ctx, joiner())
    await jira.deprovision(ctx, ref, CUTOFF)
    assert.equal(buckets.length, calls.length)
    assert.ok(buckets.every((b) => b in jira.rateLimitBuckets))
    assert.ok(buckets.includes('scim') && buckets.includes('read') && buckets.includes('write'))
  })
})

describe('jira without SCIM: product access is the cut-off', () => {
  const h = harness({ scim: null })
  const noScim = (h2: Harness) => h2.make({ scim: undefined })

  test('when a leaver is cut off, then product access groups are removed, the evidence says the account was not deactivated, and verify reads revoked', async () => {
    const jira = noScim(h)
    const ref = await jira.provision(testCtx(silentLogger), joiner({}, []))
    h.emulator.addToGroup(ref.accountId, 'jira-servicemanagement-users')
    h.emulator.addToGroup(ref.accountId, 'wiki-editors')
    const cutoff = await jira.deprovision(testCtx(silentLogger), ref, CUTOFF)
    assert.deepEqual(
      cutoff.steps.map((s) => [s.step, s.status]),
      [
        ['disable', 'done'],
        ['revoke_sessions', 'not_supported'],
        ['revoke_tokens', 'not_supported'],
      ],
    )
    assert.match(cutoff.steps[0]?.detail ?? '', /NOT deactivated/)
    assert.match(cutoff.steps[0]?.detail ?? '', /jira-software-users/)
    const user = h.emulator.getUser(ref.accountId)
    assert.deepEqual(user?.products, [])
    assert.equal(user?.active, true)
    assert.deepEqual(user?.groups, ['wiki-editors'])

    const state = await jira.verify(testCtx(silentLogger), ref)
    assert.equal(state.revoked, true)
    assert.match(state.checks[0]?.detail ?? '', /no product access/)
    assert.equal(state.checks.find((c) => c.name === 'no_groups')?.ok, false)

    const cleanup = await jira.deprovision(testCtx(silentLogger), ref, CLEANUP)
    assert.equal(cleanup.steps[0]?.status, 'done')
    assert.ok((await jira.verify(testCtx(silentLogger), ref)).checks.every((c) => c.ok))
  })

  test('when a group grants a product but is not in productAccessGroups, then remove_products reports it as residual', async () => {
    const jira = h.make({ scim: undefined, productAccessGroups: { 'jira-software': 'jira-software-users' } })
    const ref = await jira.provision(testCtx(silentLogger), joiner({}, []))
    h.emulator.addToGroup(ref.accountId, 'jira-servicemanagement-users')
    const evidence = await jira.deprovision(testCtx(silentLogger), ref, { phase: 'cleanup', steps: ['remove_products'], options: {} })
    assert.equal(evidence.steps[0]?.status, 'failed')
    assert.deepEqual(
      evidence.residual.map((r) => [r.kind, r.id]),
      [['product', 'jira-servicedesk']],
    )
  })

  test('when a person goes on leave and comes back, then suspend removes product access and enable restores the default products', async () => {
    const jira = noScim(h)
    const ref = await jira.provision(testCtx(silentLogger), joiner({}, []))
    await jira.suspend(testCtx(silentLogger), ref)
    assert.deepEqual(h.emulator.getUser(ref.accountId)?.products, [])
    await jira.enable(testCtx(silentLogger), ref)
    assert.deepEqual(h.emulator.getUser(ref.accountId)?.products, ['jira-software'])
  })

  test('when the Jira create answers 409 for someone who exists, then provision returns the existing account', async () => {
    const jira = noScim(h)
    const existing = h.emulator.seedUser({ email: 'linus@acme.example', displayName: 'Linus', products: ['jira-software'] })
    h.emulator.kit.injectFault({ method: 'POST', pathIncludes: '/rest/api/3/user', status: 409, code: 'A user with that email already exists.' })
    const ref = await jira.provision(testCtx(silentLogger), {
      ...joiner(),
      employee: { employeeId: 'E-linus', firstName: 'Linus', lastName: 'T', workEmail: 'linus@acme.example' },
    })
    assert.equal(ref.accountId, existing)
  })

  test('when the work email is missing and no emailDomain is set, then provision fails as Permanent', async () => {
    const jira = noScim(h)
    const spec = joiner()
    const err = await rejection(jira.provision(testCtx(silentLogger), { ...spec, employee: { ...spec.employee, workEmail: undefined } }))
    assert.equal(err.kind, 'Permanent')
    assert.equal(err.vendorCode, 'missing_email')
  })

  test('when HR sends no email but emailDomain is set, then the address is derived from the name', async () => {
    const jira = h.make({ scim: undefined, emailDomain: 'acme.example' })
    const spec = joiner()
    const ref = await jira.provision(testCtx(silentLogger), {
      ...spec,
      employee: { ...spec.employee, firstName: 'Zoë', lastName: "O'Neil", workEmail: undefined },
    })
    assert.equal(ref.login, 'zoe.oneil@acme.example')
    assert.equal(h.emulator.findUserByEmail('zoe.oneil@acme.example')?.accountId, ref.accountId)
  })
})

describe('jira errors are classified from the vendor response', () => {
  const h = harness()

  test('when Jira answers 429 with Retry-After, then RateLimited carries retryAfterMs and RateLimit-Reason', async () => {
    const jira = h.make()
    h.emulator.kit.injectFault({ method: 'POST', pathIncludes: '/rest/api/3/user', status: 429, retryAfterSeconds: 7 })
    const calls: ApiCallRecord[] = []
    const err = (await rejection(jira.provision(testCtx(silentLogger, calls), joiner()))) as RateLimitedError
    assert.equal(err.kind, 'RateLimited')
    assert.equal(err.retryAfterMs, 7_000)
    assert.equal(err.vendorCode, 'jira-burst-based')
    assert.ok(err.requestId)
    const last = calls.at(-1)
    assert.equal(last?.status, 429)
    assert.equal(last?.errorKind, 'RateLimited')
  })

  test('when the write burst bucket is exhausted, then the next write is RateLimited with the wait Jira asks for', async () => {
    const jira = h.make()
    const ref = await jira.provision(testCtx(silentLogger), joiner({}, []))
    h.emulator.seedGroup('burst-a')
    h.emulator.seedGroup('burst-b')
    // Through the control API, as the paced mass-leaver tests will do it.
    const put = await fetch(`${h.url}/_emulator/rate-limits`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ write: { perMinute: 60, burst: 1 } }),
    })
    assert.equal(put.status, 204)
    await jira.update(testCtx(silentLogger), ref, { add: { groups: ['burst-a'] }, remove: {} })
    const err = (await rejection(jira.update(testCtx(silentLogger), ref, { add: { groups: ['burst-b'] }, remove: {} }))) as RateLimitedError
    assert.equal(err.kind, 'RateLimited')
    assert.ok(err.retryAfterMs >= 1_000)
  })

  test('when the SCIM API answers 429, then RateLimited carries its Retry-After', async () => {
    const jira = h.make()
    h.emulator.kit.injectFault({ pathIncludes: '/scim/', status: 429, retryAfterSeconds: 3 })
    const err = (await rejection(jira.provision(testCtx(silentLogger), joiner()))) as RateLimitedError
    assert.equal(err.kind, 'RateLimited')
    assert.equal(err.retryAfterMs, 3_000)
  })

  test('when the API token is wrong, then AuthFailed', async () => {
    const jira = h.make({ apiToken: 'not-the-token', scim: undefined })
    const err = await rejection(jira.verify(testCtx(silentLogger), { system: 'jira', accountId: 'x', employeeId: 'E' }))
    assert.equal(err.kind, 'AuthFailed')
    assert.equal(err.status, 401)
  })

  test('when the credential is reported expired, then AuthFailed (Jira and SCIM alike)', async () => {
    const jira = h.make()
    h.emulator.kit.injectFault({ pathIncludes: '/rest/api/3/', expireToken: true })
    assert.equal((await rejection(jira.listAccounts(testCtx(silentLogger)))).kind, 'AuthFailed')
    const wrongScim = h.make({ scim: { directoryId: JIRA_SANDBOX_CREDENTIALS.directoryId, token: 'revoked', baseUrl: `${h.url}/scim/directory/${JIRA_SANDBOX_CREDENTIALS.directoryId}` } })
    assert.equal((await rejection(wrongScim.lookup(testCtx(silentLogger), joiner().employee))).kind, 'AuthFailed')
  })

  test('when the API account lacks a permission (403), then AuthFailed', async () => {
    const jira = h.make()
    h.emulator.kit.injectFault({ method: 'GET', pathIncludes: '/rest/api/3/users', status: 403 })
    const err = await rejection(jira.listAccounts(testCtx(silentLogger)))
    assert.equal(err.kind, 'AuthFailed')
    assert.equal(err.status, 403)
  })

  test('when a policy group cannot be joined (403), then Permanent group_forbidden', async () => {
    const jira = h.make()
    const err = await rejection(jira.provision(testCtx(silentLogger), joiner({}, ['site-admins'])))
    assert.equal(err.kind, 'Permanent')
    assert.equal(err.vendorCode, 'group_forbidden')
  })

  test('when a policy group does not exist, then Permanent group_not_found', async () => {
    const jira = h.make()
    const err = await rejection(jira.provision(testCtx(silentLogger), joiner({}, ['no-such-group'])))
    assert.equal(err.kind, 'Permanent')
    assert.equal(err.vendorCode, 'group_not_found')
  })

  test('when the user does not exist, then NotFound', async () => {
    const jira = h.make()
    const err = await rejection(jira.update(testCtx(silentLogger), { system: 'jira', accountId: 'ffffffffffffffffffffffff', employeeId: 'E' }, { add: { groups: ['engineering'] }, remove: {} }))
    assert.equal(err.kind, 'NotFound')
    assert.equal(err.status, 404)
  })

  test('when Jira answers 500 or 503, then Transient', async () => {
    const jira = h.make({ scim: undefined })
    for (const status of [500, 503]) {
      h.emulator.kit.injectFault({ pathIncludes: '/rest/api/3/', status })
      const err = await rejection(jira.listAccounts(testCtx(silentLogger)))
      assert.equal(err.kind, 'Transient')
      assert.equal(err.status, status)
    }
  })

  test('when Jira answers 503 with Retry-After, then RateLimited carries that wait (the job re-queues without burning an attempt)', async () => {
    const jira = h.make({ scim: undefined })
    h.emulator.kit.injectFault({ pathIncludes: '/rest/api/3/', status: 503, retryAfterSeconds: 9 })
    const err = (await rejection(jira.listAccounts(testCtx(silentLogger)))) as RateLimitedError
    assert.equal(err.kind, 'RateLimited')
    assert.equal(err.status, 503)
    assert.equal(err.retryAfterMs, 9_000)
  })

  test('when Jira does not answer within the timeout, then Transient', async () => {
    const jira = h.make({ timeoutMs: 150, scim: undefined })
    h.emulator.kit.injectFault({ pathIncludes: '/rest/api/3/', hangMs: 1_000 })
    const started = performance.now()
    const calls: ApiCallRecord[] = []
    const err = await rejection(jira.listAccounts(testCtx(silentLogger, calls)))
    assert.equal(err.kind, 'Transient')
    assert.equal(err.vendorCode, 'ETIMEDOUT')
    assert.ok(performance.now() - started < 900)
    assert.equal(calls.at(-1)?.status, undefined)
  })

  test('when the job is cancelled, then the call stops as Transient', async () => {
    const jira = h.make({ scim: undefined })
    h.emulator.kit.injectFault({ pathIncludes: '/rest/api/3/', hangMs: 1_000 })
    const controller = new AbortController()
    const pending = rejection(jira.listAccounts({ ...testCtx(silentLogger), signal: controller.signal }))
    setImmediate(() => controller.abort())
    const err = await pending
    assert.equal(err.kind, 'Transient')
  })

  test('when Jira rejects the request body (unknown product, invalid email), then Permanent with the field Jira named', async () => {
    const jira = h.make()
    const unknownProduct = await rejection(jira.provision(testCtx(silentLogger), joiner({ access: { account: true, groups: [], licences: [], channels: [], projects: [], roles: [], products: ['jira-confluence'] } })))
    assert.equal(unknownProduct.kind, 'Permanent')
    assert.equal(unknownProduct.status, 400)
    assert.match(unknownProduct.message, /Invalid product/)

    const jiraNoScim = h.make({ scim: undefined })
    const spec = joiner()
    const badEmail = await rejection(jiraNoScim.provision(testCtx(silentLogger), { ...spec, employee: { ...spec.employee, workEmail: 'not-an-email@' } }))
    assert.equal(badEmail.kind, 'Permanent')
    assert.equal(badEmail.vendorCode, 'emailAddress')
  })

  test('when SCIM answers 409 for a user it then cannot find, then Conflict', async () => {
    const jira = h.make()
    h.emulator.kit.injectFault({ method: 'POST', pathIncludes: '/scim/', status: 409, code: 'uniqueness' })
    const err = await rejection(jira.provision(testCtx(silentLogger), joiner()))
    assert.equal(err.kind, 'Conflict')
    assert.equal(err.vendorCode, 'uniqueness')
  })

  test('when a page token is not a Jira offset, then Permanent', async () => {
    const jira = h.make()
    assert.equal((await rejection(jira.listAccounts(testCtx(silentLogger), 'abc'))).kind, 'Permanent')
  })
})
