/**
 * Generic SCIM 2.0 provisioner (RFC 7643 / RFC 7644). One instance per configured app; the
 * system id is `scim:<name>`. What differs between SCIM servers is read from `config.quirks`
 * (see config.ts), so the same code drives a PATCH-with-ETags server and a PUT-only server
 * without filter support.
 *
 * Identity: the account is found by `externalId` = HR employee id first (survives email and
 * userName changes), then by `userName`. An account found by userName that carries a different
 * externalId belongs to someone else and is never adopted.
 */
import { ConflictError, NotFoundError, PermanentError, type ProvisionerError, isProvisionerError } from '../errors.ts'
import type {
  AccessChange,
  AccessList,
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
  StepEvidence,
  StepStatus,
  VerifyCheck,
} from '../types.ts'
import { ScimClient, type ScimResponse } from './client.ts'
import type { ScimAppConfig } from './config.ts'
import {
  SCHEMA,
  buildUser,
  listResponseSchema,
  renderTemplate,
  scimGroupSchema,
  scimString,
  scimUserSchema,
  wireKeys,
  type ScimGroup,
  type ScimUser,
} from './resources.ts'

/**
 * SCIM itself defines no rate limit (see ../shared/reference/rate-limits-and-timings.md §1.5:
 * SAP IAS 200/min, Eptura 500/min, Okta-like targets 600/min). The defaults split a 600/min
 * budget evenly between reads and writes, so they stay under the strictest common server-wide
 * limit even when both are busy; config `rateLimits` sets what the app publishes.
 */
export const rateLimitBuckets: Record<'read' | 'write' | 'token', RateLimitSpec> = {
  read: { perMinute: 300, burst: 50 },
  write: { perMinute: 300, burst: 50 },
  /** Tokens live an hour; this only guards against a loop hammering the token endpoint. */
  token: { perMinute: 60, burst: 10 },
}

interface FetchedUser {
  /** The resource with the app's own key spelling; PUT sends it back. */
  raw: Record<string, unknown>
  user: ScimUser
  etag: string | undefined
  /**
   * False for list and search results: servers may return fewer attributes there (RFC 7644
   * §3.4.2.5 `returned: request`), and PUTting a partial resource back would erase the rest.
   */
  complete: boolean
}

interface FetchedGroup {
  raw: Record<string, unknown>
  group: ScimGroup
  etag: string | undefined
}

interface Membership {
  id: string
  display?: string
}

type MemberResult = 'changed' | 'unchanged'

/** What SCIM cannot do: these steps exist in other systems, not in RFC 7644. */
const NOT_IN_SCIM: Partial<Record<RevocationStepKind, string>> = {
  revoke_sessions:
    'SCIM 2.0 has no session endpoint; the app ends sessions on deactivation or when its own session lifetime runs out',
  revoke_tokens: 'SCIM 2.0 has no token endpoint; tokens the app issued end with deactivation or their own lifetime',
  remove_licences: 'SCIM 2.0 has no licences',
  remove_roles: 'roles are not managed through SCIM by Tenure',
  remove_products: 'SCIM 2.0 has no products',
  remove_channels: 'SCIM 2.0 has no channels',
  transfer_data: 'SCIM 2.0 has no data transfer',
  move_org_unit: 'SCIM 2.0 has no org units',
  convert_mailbox: 'SCIM 2.0 has no mailboxes',
}

const UNSUPPORTED_LISTS: AccessList[] = ['licences', 'channels', 'projects', 'roles', 'products', 'userGroups']

export function createScimProvisioner(
  config: ScimAppConfig,
  options: { systemId?: string; now?: () => number } = {},
): Provisioner {
  return new ScimProvisioner(config, options.systemId ?? `scim:${config.name}`, options.now ?? Date.now)
}

/** Every configured app as its own provisioner. */
export function createScimProvisioners(apps: ScimAppConfig[]): Provisioner[] {
  return apps.map((app) => createScimProvisioner(app))
}

class ScimProvisioner implements Provisioner {
  readonly system: string
  readonly kind = 'scim' as const
  readonly rateLimitBuckets: Record<string, RateLimitSpec>
  private readonly config: ScimAppConfig
  private readonly client: ScimClient
  private readonly now: () => number
  /** displayName (lower case) → group id, and back; group ids do not change, names rarely. */
  private readonly groupIdByName = new Map<string, string>()
  private readonly groupNameById = new Map<string, string>()

  constructor(config: ScimAppConfig, system: string, now: () => number) {
    this.config = config
    this.system = system
    this.now = now
    this.client = new ScimClient(config, system, now)
    this.rateLimitBuckets = { ...rateLimitBuckets, ...config.rateLimits }
  }

  private get quirks() {
    return this.config.quirks
  }

  private get send() {
    return new Set(this.config.attributeMapping.send)
  }

  // ---------------------------------------------------------------- contract

  async provision(ctx: Ctx, spec: AccountSpec): Promise<AccountRef> {
    const employee = spec.employee
    const userName = this.userNameOf(employee)
    if (!spec.enabled && !this.send.has('active')) {
      throw this.permanent('provision', 'cannot create a disabled account: "active" is not in attributeMapping.send')
    }
    if (spec.access.groups.length > 0) this.assertGroupsManaged('provision')

    let fetched = await this.find(ctx, employee, userName)
    let created = false
    if (fetched) {
      ctx.log.info({ system: this.system, accountId: fetched.user.id }, 'scim: account already exists, not creating another')
      if (fetched.user.externalId == null && this.send.has('externalId')) {
        // Adopt an account created before Tenure (matched by userName): stamp the employee id so
        // later lookups find it by externalId even after an email change.
        fetched = await this.setUser(ctx, fetched, { externalId: employee.employeeId })
      }
    } else {
      const managerId = await this.managerIdOf(ctx, employee)
      const body = buildUser(employee, userName, {
        mapping: this.config.attributeMapping,
        active: spec.enabled,
        ...(managerId ? { managerId } : {}),
      })
      try {
        const res = await this.client.request(ctx, {
          operation: 'scim.Users.create',
          method: 'POST',
          path: '/Users',
          body: wireKeys(body, this.config),
        })
        fetched = this.toFetchedUser(res, 'scim.Users.create')
        created = true
      } catch (err) {
        // 409 uniqueness: an earlier attempt (whose answer was lost) or a concurrent job created
        // it. Return that account, but only if it is this employee's (RFC 7644 §3.3).
        if (!(err instanceof ConflictError && err.status === 409)) throw err
        const existing = await this.find(ctx, employee, userName)
        if (!existing) throw err
        fetched = existing
      }
    }

    const wanted = spec.access.groups
    if (wanted.length > 0) {
      const known = created ? new Set<string>() : this.knownMemberships(fetched)
      await this.addGroups(ctx, fetched.user.id, wanted, known)
    }
    return this.refOf(fetched, employee.employeeId)
  }

  async lookup(ctx: Ctx, employee: EmployeeProfile): Promise<AccountRef | undefined> {
    const userName = renderTemplate(this.config.attributeMapping.userName, employee)
    const found = await this.find(ctx, employee, userName)
    return found ? this.refOf(found, employee.employeeId) : undefined
  }

  async update(ctx: Ctx, ref: AccountRef, change: AccessChange): Promise<void> {
    for (const list of UNSUPPORTED_LISTS) {
      if ((change.add[list]?.length ?? 0) > 0 || (change.remove[list]?.length ?? 0) > 0) {
        throw this.permanent('update', `SCIM apps take group changes only; the change also has ${list}`)
      }
    }
    const add = change.add.groups ?? []
    const remove = change.remove.groups ?? []
    if (add.length === 0 && remove.length === 0) return
    this.assertGroupsManaged('update')
    const fetched = await this.getUserOrThrow(ctx, ref.accountId, 'update')
    const known = this.knownMemberships(fetched)
    await this.addGroups(ctx, ref.accountId, add, known)
    for (const name of remove) {
      const groupId = await this.resolveGroup(ctx, name)
      if (groupId === undefined) continue // no such group: nothing to leave
      if (known && !known.has(groupId)) continue
      await this.removeMember(ctx, groupId, ref.accountId)
    }
  }

  async enable(ctx: Ctx, ref: AccountRef): Promise<void> {
    const fetched = await this.getUserOrThrow(ctx, ref.accountId, 'enable')
    if (this.quirks.deactivateWith === 'delete') return // an existing account is an enabled one
    if (fetched.user.active === true) return
    await this.setUser(ctx, fetched, { active: true })
  }

  async suspend(ctx: Ctx, ref: AccountRef): Promise<void> {
    if (this.quirks.deactivateWith === 'delete') {
      throw this.permanent('suspend', 'this app can only be cut off by DELETE (quirks.deactivateWith); a leave of absence must not delete')
    }
    const fetched = await this.getUserOrThrow(ctx, ref.accountId, 'suspend')
    if (fetched.user.active === false) return
    await this.setUser(ctx, fetched, { active: false })
  }

  async deprovision(ctx: Ctx, ref: AccountRef, plan: RevocationPlan): Promise<RevocationEvidence> {
    const steps: StepEvidence[] = []
    const residual: ResidualAccess[] = []
    const readIds: string[] = []
    let current = await this.getUser(collecting(ctx, readIds), ref.accountId, 'scim.Users.get')
    let deletedNow = false

    for (const step of plan.steps) {
      const ids = steps.length === 0 ? [...readIds] : []
      const sctx = collecting(ctx, ids)
      const record = (status: StepStatus, detail?: string) =>
        steps.push({ step, status, at: new Date(this.now()).toISOString(), ...(detail ? { detail } : {}), requestIds: ids })

      if (!current) {
        record('already_done', deletedNow ? 'account deleted by an earlier step' : 'account does not exist at the app (404)')
        continue
      }
      const notInScim = NOT_IN_SCIM[step]
      if (notInScim) {
        record('not_supported', notInScim)
        continue
      }
      const keepAccount = plan.options.legalHold === true || plan.options.retainAccount === true
      const why = plan.options.legalHold ? 'legal hold' : 'retain-account exception'

      if (step === 'disable') {
        if (this.quirks.deactivateWith === 'delete') {
          if (keepAccount) {
            residual.push({ kind: 'account', id: ref.accountId, reason: `the app is cut off only by DELETE, forbidden by the ${why}` })
            record('skipped', `not deleted: ${why}; the account stays usable at the app`)
            continue
          }
          const gone = await this.deleteUser(sctx, current)
          current = undefined
          deletedNow = true
          record(gone ? 'done' : 'already_done', 'account deleted (quirks.deactivateWith=delete)')
          continue
        }
        if (current.user.active === false) {
          record('already_done', 'active was already false')
          continue
        }
        current = await this.setUser(sctx, current, { active: false })
        record('done', 'active=false')
        continue
      }

      if (step === 'remove_groups') {
        const result = await this.removeAllGroups(sctx, current)
        residual.push(...result.residual)
        record(result.status, result.detail)
        continue
      }

      if (step === 'delete') {
        if (keepAccount) {
          record('skipped', `not deleted: ${why}`)
          continue
        }
        const gone = await this.deleteUser(sctx, current)
        current = undefined
        deletedNow = true
        record(gone ? 'done' : 'already_done', gone ? 'DELETE /Users/{id}' : 'account was already gone (404)')
        continue
      }
      record('not_supported', `step ${step} is not known to the SCIM provisioner`)
    }
    return { steps, residual }
  }

  async verify(ctx: Ctx, ref: AccountRef): Promise<AccountState> {
    const fetched = await this.getUser(ctx, ref.accountId, 'scim.Users.get')
    if (!fetched) {
      return {
        accountId: ref.accountId,
        exists: false,
        active: false,
        groups: [],
        licences: [],
        roles: [],
        checks: [{ name: 'account_inactive', ok: true, detail: 'account does not exist at the app (404)' }],
        revoked: true,
      }
    }
    const memberships = await this.membershipsOf(ctx, fetched)
    const groups: string[] = []
    for (const m of memberships) groups.push(await this.groupLabel(ctx, m))
    return this.stateOf(fetched.user, groups)
  }

  async listAccounts(ctx: Ctx, page?: string): Promise<Page<AccountState>> {
    const startIndex = page === undefined ? 1 : Number(page)
    if (!Number.isInteger(startIndex) || startIndex < 1) {
      throw this.permanent('listAccounts', `page token "${page}" is not a SCIM startIndex`)
    }
    const list = await this.listPage(ctx, '/Users', 'scim.Users.list', startIndex, {})
    const items = list.resources.map((raw) => {
      const user = this.client.parse(scimUserSchema, { ...list.res, body: raw }, 'scim.Users.list')
      const groups = (user.groups ?? []).flatMap((g) => {
        if (g.value === undefined) return []
        return [this.config.attributeMapping.groupsBy === 'id' ? g.value : (g.display ?? g.value)]
      })
      return this.stateOf(user, groups)
    })
    return list.next === undefined ? { items } : { items, nextPage: String(list.next) }
  }

  // ---------------------------------------------------------------- users

  private userNameOf(employee: EmployeeProfile): string {
    const userName = renderTemplate(this.config.attributeMapping.userName, employee)
    if (!userName) {
      throw this.permanent(
        'provision',
        `attributeMapping.userName "${this.config.attributeMapping.userName}" renders empty for employee ${employee.employeeId}`,
      )
    }
    return userName
  }

  private refOf(fetched: FetchedUser, employeeId: string): AccountRef {
    return {
      system: this.system,
      accountId: fetched.user.id,
      ...(fetched.user.userName ? { login: fetched.user.userName } : {}),
      employeeId,
    }
  }

  private stateOf(user: ScimUser, groups: string[]): AccountState {
    // RFC 7643 §4.1.1 makes `active` optional. Absent means we cannot prove the cut-off, so it
    // counts as active: a false "revoked" is worse than a retried verification.
    const active = user.active ?? true
    const check: VerifyCheck = {
      name: 'account_inactive',
      ok: !active,
      detail: user.active == null ? 'the app does not return "active"; treated as active' : `active=${String(user.active)}`,
    }
    return {
      accountId: user.id,
      exists: true,
      active,
      ...(user.userName ? { login: user.userName } : {}),
      ...(user.externalId ? { employeeId: user.externalId } : {}),
      groups,
      licences: [],
      roles: (user.roles ?? []).flatMap((r) => (r.value === undefined ? [] : [r.value])),
      checks: [check],
      revoked: check.ok,
    }
  }

  private toFetchedUser(res: ScimResponse, operation: string): FetchedUser {
    const user = this.client.parse(scimUserSchema, res, operation)
    return { raw: asRecord(res.raw), user, etag: res.etag ?? user.meta?.version ?? undefined, complete: true }
  }

  private async getUser(ctx: Ctx, id: string, operation: string): Promise<FetchedUser | undefined> {
    try {
      const res = await this.client.request(ctx, { operation, method: 'GET', path: `/Users/${encodeURIComponent(id)}` })
      return this.toFetchedUser(res, operation)
    } catch (err) {
      if (err instanceof NotFoundError) return undefined
      throw err
    }
  }

  private async getUserOrThrow(ctx: Ctx, id: string, action: string): Promise<FetchedUser> {
    const fetched = await this.getUser(ctx, id, 'scim.Users.get')
    if (!fetched) {
      throw new NotFoundError(`${action}: SCIM user ${id} does not exist`, { system: this.system, operation: 'scim.Users.get', status: 404 })
    }
    return fetched
  }

  /**
   * Find this employee's account: externalId first, then userName. Never returns an account
   * whose externalId names another employee.
   */
  private async find(ctx: Ctx, employee: EmployeeProfile, userName: string | undefined): Promise<FetchedUser | undefined> {
    const byExternalId = this.send.has('externalId')
    const owned = (u: ScimUser) => !byExternalId || u.externalId == null || u.externalId === employee.employeeId
    const sameLogin = (u: ScimUser) => userName !== undefined && (u.userName ?? '').toLowerCase() === userName.toLowerCase()

    if (this.quirks.filterSupported) {
      if (byExternalId) {
        const hits = await this.searchUsers(ctx, `${this.attr('externalId')} eq ${scimString(employee.employeeId)}`)
        // externalId is caseExact (RFC 7643 §3.1); a server that matched loosely must not fool us.
        const exact = hits.filter((h) => h.user.externalId === employee.employeeId)
        if (exact.length > 1) {
          throw this.permanent('lookup', `${exact.length} SCIM users carry externalId ${employee.employeeId}; resolve the duplicate at the app`)
        }
        if (exact[0]) return exact[0]
      }
      if (userName === undefined) return undefined
      const hits = await this.searchUsers(ctx, `${this.attr('userName')} eq ${scimString(userName)}`)
      return hits.find((h) => sameLogin(h.user) && owned(h.user))
    }

    // No filter support: page through /Users once, preferring an externalId match.
    let byLogin: FetchedUser | undefined
    let startIndex: number | undefined = 1
    while (startIndex !== undefined) {
      const list = await this.listPage(ctx, '/Users', 'scim.Users.list', startIndex, {})
      for (const raw of list.resources) {
        const user = this.client.parse(scimUserSchema, { ...list.res, body: raw }, 'scim.Users.list')
        const fetched = { raw: raw as Record<string, unknown>, user, etag: user.meta?.version ?? undefined, complete: false }
        if (byExternalId && user.externalId === employee.employeeId) return fetched
        if (!byLogin && sameLogin(user) && owned(user)) byLogin = fetched
      }
      startIndex = list.next
    }
    return byLogin
  }

  private async searchUsers(ctx: Ctx, filter: string): Promise<FetchedUser[]> {
    const res = await this.client.request(ctx, {
      operation: 'scim.Users.search',
      method: 'GET',
      path: '/Users',
      query: { filter, startIndex: 1, count: 10 },
    })
    const list = this.client.parse(listResponseSchema, res, 'scim.Users.search')
    return list.Resources.map((raw) => {
      const user = this.client.parse(scimUserSchema, { ...res, body: raw }, 'scim.Users.search')
      return { raw: raw as Record<string, unknown>, user, etag: user.meta?.version ?? undefined, complete: false }
    })
  }

  /** The manager's id at the app, for enterprise manager.value; undefined when not there (yet). */
  private async managerIdOf(ctx: Ctx, employee: EmployeeProfile): Promise<string | undefined> {
    if (!this.send.has('manager') || !employee.managerId) return undefined
    const manager = await this.find(
      ctx,
      { employeeId: employee.managerId, firstName: '', lastName: '' },
      undefined,
    )
    return manager?.user.id
  }

  /**
   * Change attributes of a User: PATCH with a PatchOp, or read-modify-PUT for PUT-only apps.
   * With ETags the write carries If-Match; on 412 the user is read once more and the write
   * repeated once. That re-read belongs to the same logical operation (RFC 7644 §3.14 expects a
   * client to re-fetch after a mid-air collision); a second 412 goes to the job layer as Conflict.
   */
  private async setUser(ctx: Ctx, current: FetchedUser, changes: Record<string, unknown>): Promise<FetchedUser> {
    const write = async (given: FetchedUser): Promise<FetchedUser> => {
      const cur = this.quirks.updateMethod === 'put' && !given.complete ? await this.getUserOrThrow(ctx, given.user.id, 'update') : given
      const ifMatch = this.quirks.etag ? cur.etag : undefined
      const path = `/Users/${encodeURIComponent(cur.user.id)}`
      if (this.quirks.updateMethod === 'patch') {
        const res = await this.client.request(ctx, {
          operation: 'scim.Users.patch',
          method: 'PATCH',
          path,
          body: this.patchBody(
            Object.entries(changes).map(([attr, value]) => ({ op: 'replace' as const, attr, value })),
          ),
          ...(ifMatch ? { ifMatch } : {}),
        })
        // RFC 7644 §3.5.2: 200 with the resource or 204 without one.
        if (res.status === 204 || res.body === undefined) {
          return { raw: withKeys(cur.raw, changes), user: { ...cur.user, ...changes }, etag: res.etag, complete: cur.complete }
        }
        return this.toFetchedUser(res, 'scim.Users.patch')
      }
      // Read-only attributes (RFC 7643 §3.1 meta, §4.1.2 groups) are ignored or refused in PUT.
      const body = withKeys(withoutKeys(cur.raw, ['meta', 'groups']), changes)
      const res = await this.client.request(ctx, {
        operation: 'scim.Users.replace',
        method: 'PUT',
        path,
        body: wireKeys(body, this.config),
        ...(ifMatch ? { ifMatch } : {}),
      })
      if (res.body === undefined) return { raw: body, user: { ...cur.user, ...changes }, etag: res.etag, complete: true }
      return this.toFetchedUser(res, 'scim.Users.replace')
    }
    try {
      return await write(current)
    } catch (err) {
      if (!(this.quirks.etag && isPreconditionFailed(err))) throw err
      const fresh = await this.getUserOrThrow(ctx, current.user.id, 'update')
      if (Object.entries(changes).every(([k, v]) => (fresh.user as Record<string, unknown>)[k] === v)) return fresh
      return await write(fresh)
    }
  }

  /** DELETE /Users/{id}; false when it was already gone. */
  private async deleteUser(ctx: Ctx, current: FetchedUser): Promise<boolean> {
    const del = (etag: string | undefined) =>
      this.client.request(ctx, {
        operation: 'scim.Users.delete',
        method: 'DELETE',
        path: `/Users/${encodeURIComponent(current.user.id)}`,
        ...(this.quirks.etag && etag ? { ifMatch: etag } : {}),
      })
    try {
      await del(current.etag)
      return true
    } catch (err) {
      if (err instanceof NotFoundError) return false
      if (!(this.quirks.etag && isPreconditionFailed(err))) throw err
      const fresh = await this.getUser(ctx, current.user.id, 'scim.Users.get')
      if (!fresh) return false
      try {
        await del(fresh.etag)
        return true
      } catch (again) {
        if (again instanceof NotFoundError) return false
        throw again
      }
    }
  }

  /** Attribute name as sent on the wire (paths, filters). */
  private attr(name: string): string {
    return this.quirks.attributeNameCase === 'lower' ? name.toLowerCase() : name
  }

  private patchBody(ops: Array<{ op: 'add' | 'replace' | 'remove'; attr: string; value?: unknown; filter?: string }>): unknown {
    const opName = (op: string) => (this.quirks.patchOpCase === 'capitalized' ? op[0]!.toUpperCase() + op.slice(1) : op)
    const operations: unknown[] = []
    const valueObjects = new Map<string, Record<string, unknown>>()
    for (const o of ops) {
      if (o.op === 'remove') {
        // RFC 7644 §3.5.2.2: remove needs a path; a value filter selects the member.
        operations.push({ op: opName('remove'), path: `${this.attr(o.attr)}${o.filter ? `[${o.filter}]` : ''}` })
      } else if (this.quirks.patchValueStyle === 'path') {
        operations.push({ op: opName(o.op), path: this.attr(o.attr), value: wireKeys(o.value, this.config) })
      } else {
        // SailPoint/Entra-style: {"op":"replace","value":{"active":false}} (no path).
        let target = valueObjects.get(o.op)
        if (!target) {
          target = {}
          valueObjects.set(o.op, target)
          operations.push({ op: opName(o.op), value: target })
        }
        target[this.attr(o.attr)] = wireKeys(o.value, this.config)
      }
    }
    return { schemas: [SCHEMA.patchOp], Operations: operations }
  }

  // ---------------------------------------------------------------- groups

  private assertGroupsManaged(action: string): void {
    if (this.quirks.groupMembership === 'none') {
      throw this.permanent(action, 'the policy grants groups but this app is configured with quirks.groupMembership="none"')
    }
  }

  /** Group ids the user is known to be in, or undefined when the app does not say on the User. */
  private knownMemberships(fetched: FetchedUser): Set<string> | undefined {
    if (!this.quirks.groupsOnUser) return undefined
    return new Set((fetched.user.groups ?? []).flatMap((g) => (g.value === undefined ? [] : [g.value])))
  }

  private async addGroups(ctx: Ctx, userId: string, names: string[], known: Set<string> | undefined): Promise<void> {
    for (const name of names) {
      const groupId = await this.resolveGroup(ctx, name)
      if (groupId === undefined) {
        throw new NotFoundError(`SCIM group "${name}" does not exist in ${this.system}`, {
          system: this.system,
          operation: 'scim.Groups.search',
        })
      }
      if (known?.has(groupId)) continue
      await this.addMember(ctx, groupId, userId)
    }
  }

  /** A policy group name → SCIM Group id (undefined when there is no such group). */
  private async resolveGroup(ctx: Ctx, name: string): Promise<string | undefined> {
    if (this.config.attributeMapping.groupsBy === 'id') return name
    const key = name.toLowerCase()
    const cached = this.groupIdByName.get(key)
    if (cached) return cached
    if (this.quirks.filterSupported) {
      const res = await this.client.request(ctx, {
        operation: 'scim.Groups.search',
        method: 'GET',
        path: '/Groups',
        query: { filter: `${this.attr('displayName')} eq ${scimString(name)}`, excludedAttributes: 'members', count: 10 },
      })
      const list = this.client.parse(listResponseSchema, res, 'scim.Groups.search')
      for (const raw of list.Resources) this.cacheGroup(this.client.parse(scimGroupSchema, { ...res, body: raw }, 'scim.Groups.search'))
      return this.groupIdByName.get(key)
    }
    let startIndex: number | undefined = 1
    while (startIndex !== undefined) {
      const list = await this.listPage(ctx, '/Groups', 'scim.Groups.list', startIndex, { excludedAttributes: 'members' })
      for (const raw of list.resources) this.cacheGroup(this.client.parse(scimGroupSchema, { ...list.res, body: raw }, 'scim.Groups.list'))
      const hit = this.groupIdByName.get(key)
      if (hit) return hit
      startIndex = list.next
    }
    return undefined
  }

  private cacheGroup(group: ScimGroup): void {
    if (!group.displayName) return
    this.groupIdByName.set(group.displayName.toLowerCase(), group.id)
    this.groupNameById.set(group.id, group.displayName)
  }

  private forgetGroup(groupId: string): void {
    const name = this.groupNameById.get(groupId)
    if (name) this.groupIdByName.delete(name.toLowerCase())
    this.groupNameById.delete(groupId)
  }

  /** How a membership is reported in AccountState.groups: the policy's vocabulary. */
  private async groupLabel(ctx: Ctx, m: Membership): Promise<string> {
    if (this.config.attributeMapping.groupsBy === 'id') return m.id
    if (m.display) return m.display
    const cached = this.groupNameById.get(m.id)
    if (cached) return cached
    const group = await this.getGroup(ctx, m.id, true)
    if (group) this.cacheGroup(group.group)
    return group?.group.displayName ?? m.id
  }

  private async getGroup(ctx: Ctx, id: string, withoutMembers: boolean): Promise<FetchedGroup | undefined> {
    try {
      const res = await this.client.request(ctx, {
        operation: 'scim.Groups.get',
        method: 'GET',
        path: `/Groups/${encodeURIComponent(id)}`,
        ...(withoutMembers ? { query: { excludedAttributes: 'members' } } : {}),
      })
      const group = this.client.parse(scimGroupSchema, res, 'scim.Groups.get')
      return { raw: asRecord(res.raw), group, etag: res.etag ?? group.meta?.version ?? undefined }
    } catch (err) {
      if (err instanceof NotFoundError) {
        this.forgetGroup(id)
        return undefined
      }
      throw err
    }
  }

  /** Groups the user is in: from User.groups, or by searching Groups where the app omits it. */
  private async membershipsOf(ctx: Ctx, fetched: FetchedUser): Promise<Membership[]> {
    const fromUser = (fetched.user.groups ?? []).flatMap((g) =>
      g.value === undefined ? [] : [{ id: g.value, ...(g.display ? { display: g.display } : {}) }],
    )
    if (this.quirks.groupsOnUser || this.quirks.groupMembership === 'none') return fromUser
    const userId = fetched.user.id
    const found: Membership[] = []
    const filter = this.quirks.filterSupported ? `${this.attr('members')}.${this.attr('value')} eq ${scimString(userId)}` : undefined
    let startIndex: number | undefined = 1
    while (startIndex !== undefined) {
      const list = await this.listPage(ctx, '/Groups', filter ? 'scim.Groups.search' : 'scim.Groups.list', startIndex, {
        ...(filter ? { filter, excludedAttributes: 'members' } : {}),
      })
      for (const raw of list.resources) {
        const group = this.client.parse(scimGroupSchema, { ...list.res, body: raw }, 'scim.Groups.list')
        this.cacheGroup(group)
        const member = filter !== undefined || (group.members ?? []).some((m) => m.value === userId)
        if (member) found.push({ id: group.id, ...(group.displayName ? { display: group.displayName } : {}) })
      }
      startIndex = list.next
    }
    return found
  }

  private async addMember(ctx: Ctx, groupId: string, userId: string): Promise<MemberResult> {
    try {
      return await this.changeMember(ctx, groupId, userId, 'add')
    } catch (err) {
      if (err instanceof NotFoundError) {
        this.forgetGroup(groupId)
        throw err
      }
      // Some servers answer 409 to adding an existing member instead of ignoring it.
      if (err instanceof ConflictError && err.status === 409) return 'unchanged'
      throw err
    }
  }

  private async removeMember(ctx: Ctx, groupId: string, userId: string): Promise<MemberResult> {
    try {
      return await this.changeMember(ctx, groupId, userId, 'remove')
    } catch (err) {
      // The group is gone, or (RFC 7644 §3.5.2.2 leaves it open) the server says noTarget for a
      // filter that matched no member: either way the user is not in the group.
      if (err instanceof NotFoundError) {
        this.forgetGroup(groupId)
        return 'unchanged'
      }
      if (err instanceof PermanentError && err.vendorCode === 'noTarget') return 'unchanged'
      throw err
    }
  }

  private async changeMember(ctx: Ctx, groupId: string, userId: string, action: 'add' | 'remove'): Promise<MemberResult> {
    const path = `/Groups/${encodeURIComponent(groupId)}`
    if (this.quirks.groupMembership === 'patch_group') {
      const body = this.patchBody(
        action === 'add'
          ? [{ op: 'add', attr: 'members', value: [{ value: userId }] }]
          : [{ op: 'remove', attr: 'members', filter: `${this.attr('value')} eq ${scimString(userId)}` }],
      )
      const patch = async () => {
        const etag = this.quirks.etag ? (await this.getGroup(ctx, groupId, true))?.etag : undefined
        await this.client.request(ctx, {
          operation: 'scim.Groups.patch',
          method: 'PATCH',
          path,
          body,
          ...(etag ? { ifMatch: etag } : {}),
        })
        return 'changed' as const
      }
      try {
        return await patch()
      } catch (err) {
        if (!(this.quirks.etag && isPreconditionFailed(err))) throw err
        return await patch()
      }
    }
    // put_group: read the whole group, change members, PUT it back (RFC 7644 §3.5.1).
    const put = async (): Promise<MemberResult> => {
      const current = await this.getGroup(ctx, groupId, false)
      if (!current) {
        throw new NotFoundError(`SCIM group ${groupId} does not exist`, { system: this.system, operation: 'scim.Groups.get', status: 404 })
      }
      const members = (current.group.members ?? []).filter((m) => m.value !== undefined)
      const isMember = members.some((m) => m.value === userId)
      if ((action === 'add') === isMember) return 'unchanged'
      const next =
        action === 'add'
          ? [...members.map(memberOut), { value: userId }]
          : members.filter((m) => m.value !== userId).map(memberOut)
      const body = withKeys(withoutKeys(current.raw, ['meta']), { members: next })
      await this.client.request(ctx, {
        operation: 'scim.Groups.replace',
        method: 'PUT',
        path,
        body: wireKeys(body, this.config),
        ...(this.quirks.etag && current.etag ? { ifMatch: current.etag } : {}),
      })
      return 'changed'
    }
    try {
      return await put()
    } catch (err) {
      if (!(this.quirks.etag && isPreconditionFailed(err))) throw err
      return await put()
    }
  }

  private async removeAllGroups(
    ctx: Ctx,
    fetched: FetchedUser,
  ): Promise<{ status: StepStatus; detail: string; residual: ResidualAccess[] }> {
    const memberships = await this.membershipsOf(ctx, fetched)
    if (this.quirks.groupMembership === 'none') {
      return {
        status: 'not_supported',
        detail: 'quirks.groupMembership="none": group membership is not managed over SCIM',
        residual: memberships.map((m) => ({
          kind: 'group',
          id: m.id,
          reason: 'the app reports this membership but is configured without SCIM group management',
        })),
      }
    }
    if (memberships.length === 0) return { status: 'already_done', detail: 'member of no groups', residual: [] }
    const residual: ResidualAccess[] = []
    let removed = 0
    for (const m of memberships) {
      try {
        if ((await this.removeMember(ctx, m.id, fetched.user.id)) === 'changed') removed += 1
      } catch (err) {
        // Retryable failures go back to the job layer; a refusal a retry will not change
        // (403 on this group, 400) is left for a human as residual access.
        if (isProvisionerError(err) && (err.kind === 'Permanent' || (err.kind === 'AuthFailed' && err.status === 403))) {
          residual.push({ kind: 'group', id: m.id, reason: err.message })
          continue
        }
        throw err
      }
    }
    if (residual.length > 0) {
      return { status: 'failed', detail: `removed from ${removed} of ${memberships.length} groups`, residual }
    }
    return {
      status: removed === 0 ? 'already_done' : 'done',
      detail: `removed from ${removed} group${removed === 1 ? '' : 's'}`,
      residual,
    }
  }

  // ---------------------------------------------------------------- paging

  /**
   * One page of a list (RFC 7644 §3.4.2.4): startIndex is 1-based, the server may return fewer
   * than `count` (its maxResults), so the next index follows what actually came back.
   */
  private async listPage(
    ctx: Ctx,
    path: '/Users' | '/Groups',
    operation: string,
    startIndex: number,
    query: Record<string, string>,
  ): Promise<{ res: ScimResponse; resources: unknown[]; next: number | undefined }> {
    const res = await this.client.request(ctx, {
      operation,
      method: 'GET',
      path,
      query: { ...query, startIndex, count: this.quirks.pageSize },
    })
    const list = this.client.parse(listResponseSchema, res, operation)
    const served = list.startIndex ?? startIndex
    const next = served + list.Resources.length
    return { res, resources: list.Resources, next: list.Resources.length > 0 && next <= list.totalResults ? next : undefined }
  }

  private permanent(operation: string, message: string): ProvisionerError {
    return new PermanentError(`${this.system} ${operation}: ${message}`, { system: this.system, operation })
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
}

/** A copy without the named attributes, whatever their case (RFC 7643 §2.1). */
function withoutKeys(resource: Record<string, unknown>, names: string[]): Record<string, unknown> {
  const drop = new Set(names.map((n) => n.toLowerCase()))
  return Object.fromEntries(Object.entries(resource).filter(([key]) => !drop.has(key.toLowerCase())))
}

/** A copy with the attributes set, replacing any differently cased spelling of the same name. */
function withKeys(resource: Record<string, unknown>, values: Record<string, unknown>): Record<string, unknown> {
  return { ...withoutKeys(resource, Object.keys(values)), ...values }
}

function memberOut(m: { value?: string; display?: string; type?: string }): Record<string, string> {
  return { value: m.value ?? '', ...(m.type ? { type: m.type } : {}) }
}

function isPreconditionFailed(err: unknown): boolean {
  return err instanceof ConflictError && err.status === 412
}

/** A ctx whose calls also land in `ids` (request ids for one evidence step). */
function collecting(ctx: Ctx, ids: string[]): Ctx {
  return {
    ...ctx,
    recordCall: (call) => {
      if (call.requestId) ids.push(call.requestId)
      ctx.recordCall(call)
    },
  }
}
