/**
 * Jira Cloud provisioner: jira.js 6 endpoint functions against the Jira Cloud platform REST API v3,
 * plus Atlassian's user provisioning (SCIM) API when configured.
 *
 * What "access to Jira" is: an Atlassian account that is a user of the site, with product access
 * (jira-software, jira-servicedesk, ...). Product access is granted through each product's access
 * groups (jira-software-users, ...), and everything else (project permissions) hangs off groups.
 * So a joiner is "create the user with products, add to the policy's groups", and a leaver is:
 * - cut-off: with SCIM, deactivate the Atlassian account (active=false), which Atlassian applies to
 *   every app at once, ending sessions and stopping API tokens; without SCIM, Jira's REST API has no
 *   way to lock an account, so the cut-off removes product access (the access groups) and the
 *   evidence says exactly that;
 * - clean-up: remove every group the user is in (read from Jira first, so groups added by hand go
 *   too), remove what product access is left, and delete from the site only when allowed.
 *
 * Jira has no externalId. The accountId is the reference; the HR employee id lives on the SCIM
 * record (externalId) when SCIM is used, and email is the fallback lookup key.
 */
// Type-only: a value import of `jira.js/cloud` loads its whole API (see ./endpoints.ts), and an
// `import { type X }` would still load it at run time under verbatimModuleSyntax.
import type { DashboardUser, GroupName } from 'jira.js/cloud'
import type { Client } from 'jira.js/core'
import {
  NotFoundError,
  PermanentError,
  type ProvisionerError,
} from '../errors.ts'
import type {
  AccessChange,
  AccountRef,
  AccountSpec,
  AccountState,
  Ctx,
  EmployeeProfile,
  Page,
  Provisioner,
  RateLimitSpec,
  ResidualAccess,
  RevocationEvidence,
  RevocationPlan,
  RevocationStepKind,
  VerifyCheck,
} from '../types.ts'
import { classifyJiraError } from './classify.ts'
import {
  addUserToGroup,
  createUser,
  findUsers,
  getAllUsers,
  getUser,
  getUserGroups,
  removeUser,
  removeUserFromGroup,
} from './endpoints.ts'
import type { JiraConfig } from './config.ts'
import { createAtlassianScimClient, scimEq, type AtlassianScimClient, type ScimUser } from './scim.ts'
import { jiraUserAttributes } from './mapping.ts'
import { createJiraTransport, emptyMeta, type CallMeta } from './transport.ts'
import { vendorCall } from '../kit/call.ts'
import { runRevocation, type StepOutcome } from '../kit/revocation.ts'

/**
 * Paced defaults. https://developer.atlassian.com/cloud/jira/platform/rate-limiting/ : API-token
 * traffic is governed by the burst limits only (not the points quota), token buckets per tenant,
 * endpoint and method: GET 100/s, POST 100/s, PUT 50/s, DELETE 50/s.
 */
export const rateLimitBuckets: Record<string, RateLimitSpec> = {
  read: { perMinute: 6_000, burst: 100 },
  // One bucket for every write, at the DELETE figure: the leaver path is DELETE /group/user.
  write: { perMinute: 3_000, burst: 50 },
  // Atlassian publishes no figure for the user provisioning API (it answers 429 with Retry-After,
  // which re-queues the job for then). Paced at the figure Atlassian publishes for GETs on its REST
  // APIs, the closest published number: the SCIM calls of a cut-off and its verification are
  // lookups (GET /Users?filter=), one write per leaver at most. Our own guess of 10/s made this the
  // binding limit of a layoff: 2 lookups per leaver held Jira at 5 leavers/s while its published
  // limits allowed the whole 2,000-leaver wave within its minute of arrivals (docs/benchmarks.md).
  // Override in config.
  scim: { perMinute: 6_000, burst: 100 },
}

type Bucket = 'read' | 'write' | 'scim'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A group named in config or policy: a UUID is a group id, anything else a group name. */
function groupParams(ref: string): { groupId: string } | { groupname: string } {
  return UUID.test(ref) ? { groupId: ref } : { groupname: ref }
}

/** Jira group names are case-insensitive; ids are exact. */
function sameGroup(group: GroupName, ref: string): boolean {
  if (group.groupId && group.groupId === ref) return true
  return group.name !== undefined && group.name.toLowerCase() === ref.toLowerCase()
}

function groupLabel(group: GroupName): string {
  return group.name ?? group.groupId ?? 'unknown-group'
}

/** Remove by id where Jira gave one: a rename between read and delete cannot misdirect it. */
function groupKey(group: GroupName): { groupId: string } | { groupname: string } {
  return group.groupId ? { groupId: group.groupId } : { groupname: group.name ?? '' }
}

export function createJiraProvisioner(config: JiraConfig, options: { systemId?: string } = {}): Provisioner {
  const system = options.systemId ?? 'jira'
  const transport = createJiraTransport({
    host: config.host,
    email: config.email,
    apiToken: config.apiToken,
    timeoutMs: config.timeoutMs,
  })
  const scim: AtlassianScimClient | undefined = config.scim
    ? createAtlassianScimClient({
        baseUrl: config.scim.baseUrl ?? `https://api.atlassian.com/scim/directory/${encodeURIComponent(config.scim.directoryId)}`,
        token: config.scim.token,
        timeoutMs: config.timeoutMs,
      })
    : undefined
  const accessGroups: Record<string, string[]> = Object.fromEntries(
    Object.entries(config.productAccessGroups).map(([product, groups]) => [product, Array.isArray(groups) ? groups : [groups]]),
  )
  const allAccessGroups = [...new Set(Object.values(accessGroups).flat())]

  // ---------------------------------------------------------------- one vendor call, instrumented

  async function call<T>(
    ctx: Ctx,
    bucket: Bucket,
    operation: string,
    run: (meta: CallMeta) => Promise<T>,
    trace?: string[],
  ): Promise<T> {
    // The transport fills `meta` as the request goes out and comes back (method, path, status,
    // request id, RateLimit-Reason); the classifier reads it on a failure.
    let meta = emptyMeta()
    return vendorCall(ctx, {
      operation,
      method: '',
      path: '',
      buckets: [bucket],
      ...(trace ? { trace } : {}),
      send: async ({ facts }) => {
        meta = emptyMeta()
        try {
          return await run(meta)
        } finally {
          Object.assign(facts, { method: meta.method, path: meta.path, status: meta.status, requestId: meta.requestId })
        }
      },
      classify: (err) =>
        classifyJiraError(err, {
          system,
          operation,
          requestId: meta.requestId,
          rateLimitReason: meta.rateLimitReason,
          retryAfterMs: meta.retryAfterMs,
        }),
    })
  }

  const jira = <T>(ctx: Ctx, bucket: 'read' | 'write', operation: string, run: (client: Client) => Promise<T>, trace?: string[]) =>
    call(ctx, bucket, operation, (meta) => run(transport.client(ctx.signal, meta, ctx.log)), trace)

  // ---------------------------------------------------------------- Jira reads

  async function readGroups(ctx: Ctx, accountId: string): Promise<GroupName[]> {
    return jira(ctx, 'read', 'users.getUserGroups', (c) => getUserGroups(c, { accountId }))
  }

  async function readUser(ctx: Ctx, accountId: string): Promise<DashboardUser | undefined> {
    try {
      return await jira(ctx, 'read', 'users.getUser', (c) => getUser(c, { accountId, expand: 'groups,applicationRoles' }))
    } catch (err) {
      if ((err as ProvisionerError).kind === 'NotFound') return undefined
      throw err
    }
  }

  /**
   * GET /rest/api/3/user/search?query= matches the prefix of display names and emails and returns
   * active users only; keep exact (case-insensitive) email matches. A person whose profile hides
   * their email from the API account cannot be found this way (Atlassian profile visibility).
   */
  async function findByEmail(ctx: Ctx, email: string): Promise<DashboardUser | undefined> {
    const users = await jira(ctx, 'read', 'userSearch.findUsers', (c) => findUsers(c, { query: email, maxResults: 50 }))
    const wanted = email.toLowerCase()
    return users.find(
      (u) => u.accountId !== undefined && (u.accountType ?? 'atlassian') === 'atlassian' && u.emailAddress?.toLowerCase() === wanted,
    )
  }

  function emailFor(employee: EmployeeProfile): string | undefined {
    if (employee.workEmail) return employee.workEmail
    if (!config.emailDomain) return undefined
    const part = (s: string) =>
      s
        .normalize('NFKD')
        .replace(/[\u0300-\u036f]/g, '')
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '')
    return `${part(employee.firstName)}.${part(employee.lastName)}@${config.emailDomain}`
  }

  // ---------------------------------------------------------------- SCIM

  async function scimFind(ctx: Ctx, filter: string): Promise<ScimUser | undefined> {
    const client = scim
    if (!client) return undefined
    return call(ctx, 'scim', 'scim.Users.list', (meta) => client.findOne(filter, ctx.signal, meta))
  }

  /**
   * The directory record of this account: by externalId (HR employee id), then by userName (email).
   * A record linked to a different Atlassian account is not this person's and is never touched.
   */
  async function scimFindForRef(ctx: Ctx, ref: AccountRef): Promise<ScimUser | undefined> {
    if (!scim) return undefined
    const candidates: ScimUser[] = []
    const byExternal = await scimFind(ctx, scimEq('externalId', ref.employeeId))
    if (byExternal) candidates.push(byExternal)
    if (!byExternal || (byExternal.atlassianAccountId && byExternal.atlassianAccountId !== ref.accountId)) {
      if (ref.login) {
        const byName = await scimFind(ctx, scimEq('userName', ref.login))
        if (byName && byName.id !== byExternal?.id) candidates.push(byName)
      }
    }
    const match = candidates.find((u) => u.atlassianAccountId === undefined || u.atlassianAccountId === ref.accountId)
    if (!match && candidates.length > 0) {
      ctx.log.warn({ system, accountId: ref.accountId }, 'SCIM record found for this employee is linked to another Atlassian account; not using it')
    }
    return match
  }

  async function scimSetActive(ctx: Ctx, user: ScimUser, active: boolean, trace?: string[]): Promise<ScimUser> {
    const client = scim
    if (!client) throw new Error('SCIM is not configured')
    return call(ctx, 'scim', 'scim.Users.patch', (meta) => client.setActive(user.id, active, ctx.signal, meta), trace)
  }

  /** Find or create the directory record for a joiner (idempotent: 409 → find by userName). */
  async function ensureScimUser(ctx: Ctx, spec: AccountSpec, email: string): Promise<ScimUser> {
    const client = scim
    if (!client) throw new Error('SCIM is not configured')
    const e = spec.employee
    let user = (await scimFind(ctx, scimEq('externalId', e.employeeId))) ?? (await scimFind(ctx, scimEq('userName', email)))
    if (!user) {
      try {
        user = await call(ctx, 'scim', 'scim.Users.create', (meta) =>
          client.create(
            { userName: email, email, ...jiraUserAttributes(e, spec.enabled) },
            ctx.signal,
            meta,
          ),
        )
      } catch (err) {
        if ((err as ProvisionerError).kind !== 'Conflict') throw err
        user = await scimFind(ctx, scimEq('userName', email))
        if (!user) throw err
      }
    }
    // A retried joiner (or a rehire) whose record is deactivated: the joiner wants a usable account.
    if (spec.enabled && !user.active) user = await scimSetActive(ctx, user, true)
    return user
  }

  // ---------------------------------------------------------------- groups

  /** Add to a group unless already a member. Returns false when it was already there. */
  async function addToGroup(ctx: Ctx, accountId: string, ref: string, current: GroupName[]): Promise<boolean> {
    if (current.some((g) => sameGroup(g, ref))) return false
    try {
      await jira(ctx, 'write', 'groups.addUserToGroup', (c) => addUserToGroup(c, { ...groupParams(ref), accountId }))
      current.push(UUID.test(ref) ? { groupId: ref } : { name: ref })
      return true
    } catch (err) {
      const e = err as ProvisionerError
      if (e.status === 403) {
        // Decision: a 403 on one group (site-admins, a group synced from an identity provider) is not a
        // credential problem (every other call works) and retrying cannot fix it: Permanent.
        throw new PermanentError(`${system}: not allowed to add to group '${ref}': ${e.message}`, {
          system,
          operation: 'groups.addUserToGroup',
          status: 403,
          vendorCode: 'group_forbidden',
          requestId: e.requestId,
          cause: e,
        })
      }
      if (e.status !== 400 && e.status !== 404) throw e
      // Jira answers 400 "Cannot add user. User is already a member of ..." (and 404 for an unknown
      // group or user). Decide from a read-back instead of the message text.
      const fresh = await readGroups(ctx, accountId) // 404 here: the user is gone → NotFound propagates
      if (fresh.some((g) => sameGroup(g, ref))) return false
      throw new PermanentError(`${system}: cannot add to group '${ref}': ${e.message}`, {
        system,
        operation: 'groups.addUserToGroup',
        status: e.status,
        vendorCode: e.status === 404 ? 'group_not_found' : (e.vendorCode ?? 'bad_request'),
        requestId: e.requestId,
        cause: e,
      })
    }
  }

  interface RemovalResult {
    removed: string[]
    residual: ResidualAccess[]
    userGone: boolean
  }

  /** Remove from each group; a 403 becomes residual access, 400/404 are settled by a read-back. */
  async function removeFromGroups(ctx: Ctx, accountId: string, groups: GroupName[], trace: string[], kind = 'group'): Promise<RemovalResult> {
    const result: RemovalResult = { removed: [], residual: [], userGone: false }
    const uncertain: { group: GroupName; error: ProvisionerError }[] = []
    for (const group of groups) {
      try {
        await jira(ctx, 'write', 'groups.removeUserFromGroup', (c) => removeUserFromGroup(c, { ...groupKey(group), accountId }), trace)
        result.removed.push(groupLabel(group))
      } catch (err) {
        const e = err as ProvisionerError
        if (e.status === 403) {
          result.residual.push({ kind, id: groupLabel(group), reason: `Jira refused the removal (403): ${e.message}` })
        } else if (e.status === 400 || e.status === 404) {
          uncertain.push({ group, error: e })
        } else {
          throw e
        }
      }
    }
    if (uncertain.length > 0) {
      let fresh: GroupName[] = []
      try {
        fresh = await readGroups(ctx, accountId)
      } catch (err) {
        if ((err as ProvisionerError).kind !== 'NotFound') throw err
        result.userGone = true
      }
      for (const { group, error } of uncertain) {
        const ref = group.groupId ?? group.name ?? ''
        if (fresh.some((g) => sameGroup(g, ref))) {
          result.residual.push({ kind, id: groupLabel(group), reason: `Jira refused the removal: ${error.message}` })
        }
      }
    }
    return result
  }

  function productGroups(product: string): string[] {
    const groups = accessGroups[product]
    if (!groups || groups.length === 0) {
      throw new PermanentError(`${system}: no product access group configured for product '${product}' (productAccessGroups)`, {
        system,
        operation: 'productAccessGroups',
        vendorCode: 'unknown_product',
      })
    }
    return groups
  }

  const isAccessGroup = (g: GroupName) => allAccessGroups.some((ref) => sameGroup(g, ref))

  /** Create (or find) the site user with the given products; Jira answers 201 for a user who exists with access. */
  async function ensureJiraUser(ctx: Ctx, email: string, products: string[], linkedAccountId: string | undefined): Promise<DashboardUser> {
    try {
      const user = await jira(ctx, 'write', 'users.createUser', (c) => createUser(c, { emailAddress: email, products }))
      if (user.accountId) return user
      throw new PermanentError(`${system}: create user answered without an accountId`, { system, operation: 'users.createUser' })
    } catch (err) {
      const e = err as ProvisionerError
      // 400 is Jira's answer for a user who exists without access when no products are requested
      // ("If the user exists but does not have access to Jira, the operation returns a 400 status",
      // REST v3 Create user); 409 for a concurrent create. Either way: find the account by id or email.
      if (e.status !== 400 && e.status !== 409) throw e
      const existing = linkedAccountId ? await readUser(ctx, linkedAccountId) : await findByEmail(ctx, email)
      if (!existing?.accountId) throw e
      // The 400 may also have been about a product; grant products through their access groups and
      // let an unknown product fail loudly rather than report success without access.
      if (products.length > 0) {
        // A product without configured access groups: Jira's own 400 says more than ours would.
        if (products.some((p) => (accessGroups[p]?.length ?? 0) === 0)) throw e
        const current = await readGroups(ctx, existing.accountId)
        for (const product of products) for (const group of productGroups(product)) await addToGroup(ctx, existing.accountId, group, current)
      }
      return existing
    }
  }

  /**
   * Lists a Jira grant may carry that this provisioner does not apply. Project access belongs in
   * groups (project roles granted to groups); direct project-role actors are not managed. Said
   * loudly, since a policy author expects the grant to take effect.
   */
  function warnIgnored(ctx: Ctx, lists: readonly string[]): void {
    if (lists.length > 0) {
      ctx.log.warn({ system, ignored: lists }, 'jira grant lists not applied (use groups for project access): ' + lists.join(', '))
    }
  }

  // ---------------------------------------------------------------- the contract

  const provisioner: Provisioner = {
    system,
    kind: 'jira',
    rateLimitBuckets: { ...rateLimitBuckets, ...config.rateLimits },

    async provision(ctx, spec) {
      const email = emailFor(spec.employee)
      if (!email) {
        throw new PermanentError(`${system}: no work email for employee ${spec.employee.employeeId} and no emailDomain configured`, {
          system,
          operation: 'provision',
          vendorCode: 'missing_email',
        })
      }
      warnIgnored(
        ctx,
        (['channels', 'projects', 'roles', 'userGroups'] as const).filter((k) => (spec.access[k]?.length ?? 0) > 0),
      )
      const scimUser = scim ? await ensureScimUser(ctx, spec, email) : undefined
      // In Jira a licence is product access: both lists name product keys.
      const granted = [...new Set([...(spec.access.products ?? []), ...spec.access.licences])]
      const products = granted.length > 0 ? granted : config.defaultProducts
      // Before day one the account exists without product access (and deactivated with SCIM); enable() grants it.
      const user = await ensureJiraUser(ctx, email, spec.enabled ? products : [], scimUser?.atlassianAccountId)
      const accountId = user.accountId ?? ''
      if (spec.access.groups.length > 0) {
        const current = await readGroups(ctx, accountId)
        for (const group of spec.access.groups) await addToGroup(ctx, accountId, group, current)
      }
      ctx.log.info({ system, accountId, scim: scimUser !== undefined }, 'jira account provisioned')
      return { system, accountId, login: email, employeeId: spec.employee.employeeId }
    },

    async lookup(ctx, employee) {
      const byExternal = await scimFind(ctx, scimEq('externalId', employee.employeeId))
      if (byExternal?.atlassianAccountId) {
        return { system, accountId: byExternal.atlassianAccountId, login: byExternal.userName, employeeId: employee.employeeId }
      }
      const email = emailFor(employee)
      if (!email) return undefined
      const found = await findByEmail(ctx, email)
      if (found?.accountId) return { system, accountId: found.accountId, login: found.emailAddress ?? email, employeeId: employee.employeeId }
      // User search skips inactive users; a deactivated managed account is still in the directory.
      const byName = await scimFind(ctx, scimEq('userName', email))
      if (byName?.atlassianAccountId) return { system, accountId: byName.atlassianAccountId, login: email, employeeId: employee.employeeId }
      return undefined
    },

    async update(ctx, ref, change: AccessChange) {
      const addGroups = change.add.groups ?? []
      const removeGroups = change.remove.groups ?? []
      // In Jira a licence is product access; both lists name product keys.
      const addProducts = [...(change.add.products ?? []), ...(change.add.licences ?? [])]
      const removeProducts = [...(change.remove.products ?? []), ...(change.remove.licences ?? [])]
      warnIgnored(
        ctx,
        (['channels', 'projects', 'roles', 'userGroups'] as const).filter((k) => (change.add[k]?.length ?? 0) + (change.remove[k]?.length ?? 0) > 0),
      )
      if (addGroups.length + removeGroups.length + addProducts.length + removeProducts.length === 0) return

      const current = await readGroups(ctx, ref.accountId)
      for (const group of addGroups) await addToGroup(ctx, ref.accountId, group, current)
      for (const product of addProducts) for (const group of productGroups(product)) await addToGroup(ctx, ref.accountId, group, current)

      const refsToRemove = [...removeGroups, ...removeProducts.flatMap((p) => productGroups(p))]
      const toRemove = current.filter((g) => refsToRemove.some((r) => sameGroup(g, r)))
      const result = await removeFromGroups(ctx, ref.accountId, toRemove, [])
      if (result.userGone) throw new NotFoundError(`${system}: user ${ref.accountId} no longer exists`, { system, operation: 'update' })
      if (result.residual.length > 0) {
        throw new PermanentError(`${system}: could not remove ${result.residual.map((r) => r.id).join(', ')}: ${result.residual[0]?.reason ?? ''}`, {
          system,
          operation: 'groups.removeUserFromGroup',
          status: 403,
          vendorCode: 'group_forbidden',
        })
      }
    },

    async enable(ctx, ref) {
      const record = await scimFindForRef(ctx, ref)
      if (record && !record.active) await scimSetActive(ctx, record, true)
      // Restore product access only when none is left (pre-day-one, or a leave without SCIM), so a
      // person with other products is not handed the defaults on top.
      const current = await readGroups(ctx, ref.accountId)
      if (!current.some(isAccessGroup)) {
        for (const product of config.defaultProducts) for (const group of productGroups(product)) await addToGroup(ctx, ref.accountId, group, current)
      }
    },

    async suspend(ctx, ref) {
      const record = await scimFindForRef(ctx, ref)
      if (record) {
        if (record.active) await scimSetActive(ctx, record, false)
        return
      }
      const current = await readGroups(ctx, ref.accountId)
      const result = await removeFromGroups(ctx, ref.accountId, current.filter(isAccessGroup), [], 'product_access_group')
      if (result.residual.length > 0) {
        throw new PermanentError(`${system}: could not remove product access: ${result.residual.map((r) => `${r.id} (${r.reason})`).join('; ')}`, {
          system,
          operation: 'suspend',
          vendorCode: 'group_forbidden',
        })
      }
    },

    async deprovision(ctx, ref, plan: RevocationPlan): Promise<RevocationEvidence> {
      // The rules (order, already gone, a failed step) are ../kit/revocation.ts's.
      const residual: ResidualAccess[] = []
      /** SCIM state within this run: undefined = not looked up yet, null = no record. */
      let record: ScimUser | null | undefined
      let deactivatedHere = false

      const GONE = 'user no longer exists on the Jira site (404): nothing left to remove'
      /** The site user is gone: this step and the remaining ones are already done. */
      const gone = (): StepOutcome => ({ status: 'already_done', detail: GONE, accountGone: GONE })

      async function scimRecord(): Promise<ScimUser | null> {
        if (record === undefined) record = (await scimFindForRef(ctx, ref)) ?? null
        return record
      }

      /** Deactivate through SCIM; undefined when there is no SCIM record to deactivate. */
      async function deactivate(): Promise<StepOutcome | undefined> {
        const r = await scimRecord()
        if (!r) return undefined
        if (!r.active && !deactivatedHere) {
          return { status: 'already_done', detail: `Atlassian account already deactivated (SCIM user ${r.id}, active=false)` }
        }
        if (deactivatedHere) return undefined
        const trace: string[] = []
        record = await scimSetActive(ctx, r, false, trace)
        deactivatedHere = true
        return { status: 'done', detail: `Atlassian account deactivated through SCIM (user ${r.id}, active=false)`, requestIds: trace }
      }

      /** The user's groups; undefined when the site user is gone (404). */
      async function groupsNow(): Promise<GroupName[] | undefined> {
        try {
          return await readGroups(ctx, ref.accountId)
        } catch (err) {
          if ((err as ProvisionerError).kind !== 'NotFound') throw err
          return undefined
        }
      }

      async function removeProductAccess(why: string): Promise<StepOutcome> {
        const groups = await groupsNow()
        if (!groups) return gone()
        const targets = groups.filter(isAccessGroup)
        const trace: string[] = []
        const result = await removeFromGroups(ctx, ref.accountId, targets, trace, 'product_access_group')
        if (result.userGone) return gone()
        residual.push(...result.residual)
        const status = result.residual.length > 0 ? 'failed' : result.removed.length > 0 ? 'done' : 'already_done'
        const removed = result.removed.length > 0 ? `removed from ${result.removed.join(', ')}` : 'in no product access group'
        const left = result.residual.length > 0 ? `; could not remove ${result.residual.map((r) => r.id).join(', ')}` : ''
        return { status, detail: `${why}: ${removed}${left}`, requestIds: trace }
      }

      async function runStep(step: RevocationStepKind): Promise<StepOutcome> {
        switch (step) {
          case 'disable': {
            const viaScim = await deactivate()
            if (viaScim) return viaScim
            if (deactivatedHere) return { status: 'done', detail: 'covered by the SCIM deactivation earlier in this run' }
            return removeProductAccess(
              scim
                ? 'no SCIM record for this account, so the Atlassian account was NOT deactivated; cut off by removing Jira product access instead'
                : 'SCIM not configured, so the Atlassian account was NOT deactivated; cut off by removing Jira product access instead',
            )
          }
          case 'revoke_sessions':
          case 'revoke_tokens': {
            const viaScim = await deactivate()
            const what =
              step === 'revoke_sessions'
                ? 'a deactivated Atlassian account loses access to every Atlassian app immediately'
                : 'API tokens of a deactivated Atlassian account stop authenticating (they are not deleted: https://jira.atlassian.com/browse/ACCESS-1816)'
            if (viaScim) return { ...viaScim, detail: `${viaScim.detail}; ${what}` }
            if (deactivatedHere) return { status: 'done', detail: `covered by the SCIM deactivation in this run: ${what}` }
            return {
              status: 'not_supported',
              detail:
                step === 'revoke_sessions'
                  ? 'Jira REST has no session revocation and there is no SCIM record to deactivate; without product access Jira refuses the person, but their Atlassian sign-in stays valid'
                  : "Jira REST cannot revoke a user's API tokens and there is no SCIM record to deactivate",
            }
          }
          case 'remove_groups': {
            const groups = await groupsNow()
            if (!groups) return gone()
            const trace: string[] = []
            const result = await removeFromGroups(ctx, ref.accountId, groups, trace)
            if (result.userGone) return gone()
            residual.push(...result.residual)
            return {
              status: result.residual.length > 0 ? 'failed' : result.removed.length > 0 ? 'done' : 'already_done',
              detail:
                (result.removed.length > 0 ? `removed from ${result.removed.length} group(s): ${result.removed.join(', ')}` : 'member of no group') +
                (result.residual.length > 0 ? `; could not remove ${result.residual.map((r) => r.id).join(', ')}` : ''),
              requestIds: trace,
            }
          }
          case 'remove_products':
          case 'remove_licences': {
            const evidence = await removeProductAccess('product access removed through the product access groups')
            if (evidence.accountGone !== undefined) return evidence
            // Access granted through a group not listed in productAccessGroups would survive: read it back.
            const user = await readUser(ctx, ref.accountId)
            const left = (user?.applicationRoles?.items ?? []).map((r) => r.key ?? r.name ?? 'unknown-product')
            for (const product of left) {
              residual.push({
                kind: 'product',
                id: product,
                reason: 'product access still granted through a group not in productAccessGroups (Administration → Products → Product access)',
              })
            }
            return left.length > 0 ? { ...evidence, status: 'failed', detail: `${evidence.detail}; still has product access: ${left.join(', ')}` } : evidence
          }
          case 'delete': {
            if (plan.options.legalHold || plan.options.retainAccount) {
              return { status: 'skipped', detail: plan.options.legalHold ? 'legal hold: never delete' : 'retain_account exception: account kept' }
            }
            if (!config.deleteOnLeave) return { status: 'skipped', detail: 'deleteOnLeave is false in the jira config: the user is kept on the site' }
            const trace: string[] = []
            try {
              await jira(ctx, 'write', 'users.removeUser', (c) => removeUser(c, { accountId: ref.accountId }), trace)
              return { status: 'done', detail: 'removed from the Jira site (the Atlassian account itself is kept)', requestIds: trace, accountGone: GONE }
            } catch (err) {
              if ((err as ProvisionerError).kind !== 'NotFound') throw err
              return gone()
            }
          }
          case 'remove_roles':
            return { status: 'not_supported', detail: 'Jira project roles are granted through groups here; direct project-role actors are not managed' }
          default:
            return { status: 'not_supported', detail: `Jira has no '${step}'` }
        }
      }

      const evidence = await runRevocation({ system, phase: plan.phase, accountId: ref.accountId, steps: plan.steps, residual, runStep })
      ctx.log.info(
        { system, accountId: ref.accountId, phase: plan.phase, steps: evidence.steps.map((s) => `${s.step}:${s.status}`), residual: residual.length },
        'jira deprovision finished',
      )
      return evidence
    },

    async verify(ctx, ref): Promise<AccountState> {
      const user = await readUser(ctx, ref.accountId)
      const record = await scimFindForRef(ctx, ref)
      const exists = user !== undefined
      const groups = (user?.groups?.items ?? []).map(groupLabel)
      const products = (user?.applicationRoles?.items ?? []).map((r) => r.key ?? r.name ?? 'unknown-product')
      const scimDeactivated = record !== undefined && !record.active
      const inactive = user?.active === false

      let cutoffDetail: string
      if (scimDeactivated) cutoffDetail = `Atlassian account deactivated (SCIM user ${record.id}, active=false)`
      else if (!exists) cutoffDetail = 'not a user of the Jira site (404)'
      else if (inactive) cutoffDetail = 'Atlassian account inactive'
      else if (products.length === 0) cutoffDetail = `no product access (Atlassian account still active${scim ? (record ? ', SCIM record active' : ', no SCIM record') : ''})`
      else cutoffDetail = `still has product access: ${products.join(', ')}`

      const checks: VerifyCheck[] = [
        {
          name: 'deactivated_or_no_product_access',
          ok: scimDeactivated || !exists || inactive || products.length === 0,
          detail: cutoffDetail,
        },
        { name: 'no_groups', ok: groups.length === 0, detail: groups.length === 0 ? 'member of no group' : `member of ${groups.join(', ')}` },
      ]
      return {
        accountId: ref.accountId,
        exists,
        active: exists && !inactive && !scimDeactivated && products.length > 0,
        login: user?.emailAddress ?? record?.userName ?? ref.login,
        employeeId: record?.externalId ?? ref.employeeId,
        groups,
        licences: products,
        roles: [],
        checks,
        revoked: checks[0]?.ok === true,
      }
    },

    async listAccounts(ctx, page): Promise<Page<AccountState>> {
      const startAt = page === undefined || page === '' ? 0 : Number(page)
      if (!Number.isInteger(startAt) || startAt < 0) {
        throw new PermanentError(`${system}: invalid page token '${page}'`, { system, operation: 'users.getAllUsers', vendorCode: 'invalid_page' })
      }
      const users = await jira(ctx, 'read', 'users.getAllUsers', (c) => getAllUsers(c, { startAt, maxResults: config.listPageSize }))
      const items: AccountState[] = users
        // App (bots, Connect/Forge) and customer (JSM portal) accounts are not employees.
        .filter((u) => u.accountId !== undefined && (u.accountType ?? 'atlassian') === 'atlassian')
        .map((u) => ({
          accountId: u.accountId ?? '',
          exists: true,
          active: u.active !== false,
          ...(u.emailAddress ? { login: u.emailAddress } : {}),
          groups: [],
          licences: [],
          roles: [],
          checks: [
            {
              name: 'deactivated_or_no_product_access',
              ok: u.active === false,
              detail: 'from the user list, which shows deactivation only; verify() reads product access and groups',
            },
          ],
          revoked: u.active === false,
          // The user list shows neither groups nor product access: unknown, never "none".
          unknown: [
            { attribute: 'groups', reason: 'GET /rest/api/3/users/search does not return groups (GET /user?expand=groups per user)' },
            { attribute: 'products', reason: 'GET /rest/api/3/users/search does not return product access (GET /user?expand=applicationRoles per user)' },
          ],
        }))
      // Jira's offset paging has no total; a short page is not proof of the end, an empty one is.
      return users.length > 0 ? { items, nextPage: String(startAt + users.length) } : { items }
    },
  }
  return provisioner
}
