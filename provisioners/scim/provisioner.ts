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
import { ConflictError, NotFoundError, PermanentError, lockFailure, type ProvisionerError, isProvisionerError } from '../errors.ts'
import { z } from 'zod'
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
  StepStatus,
  TargetLock,
  UnknownRead,
  VerifyCheck,
  VerifyOptions,
} from '../types.ts'
import { accountGone, runRevocation, type StepOutcome } from '../kit/revocation.ts'
import {
  capabilitiesOf,
  listResponseSchema,
  resourcePath,
  ScimCoreClient,
  wireName,
  type ListPage,
  type PatchChange,
  type ScimResponse,
} from '../scim-core/client.ts'
import { genericDialect } from '../scim-core/dialect.ts'
import { filterEq } from '../scim-core/filter.ts'
import { SCHEMA } from '../scim-core/schemas.ts'
import type { ScimAppConfig, ScimQuirks } from './config.ts'
import { ScimHttp } from './http.ts'
import { buildUser, renderTemplate, scimGroupSchema, scimUserSchema, type ScimGroup, type ScimUser } from './resources.ts'

/**
 * SCIM itself defines no rate limit (see ../shared/reference/rate-limits-and-timings.md §1.5:
 * SAP IAS 200/min, Eptura 500/min per client, Okta-like targets 600/min). What apps publish is a
 * limit on all requests together, so every request takes a token from `requests` (default 600/min,
 * burst 100, the common figure); `read` (GET) and `write` (POST/PUT/PATCH/DELETE) are taken too
 * but pace nothing unless config `rateLimits` sets them, for an app that publishes separate limits.
 *
 * The defaults used to split the 600/min evenly, 300 for reads and 300 for writes. A cut-off reads
 * the user, writes it, and its verification reads it again: 2 reads per write, so reads ran at
 * their 300/min while the app's other 300 went unused, and a layoff took a third longer than the
 * app's limit needs (the 2,000-leaver run: 792 s where 590 s was the floor, docs/benchmarks.md).
 */
export const rateLimitBuckets: Record<'requests' | 'token', RateLimitSpec> = {
  requests: { perMinute: 600, burst: 100 },
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

/** A group whose membership could not be read: its id, the policy name, or `unknown`. */
interface Unread {
  id: string
  /** The SCIM Group id when known (a removal can still be attempted). */
  groupId?: string
  reason: string
}

/** What a membership read showed, and what it could not show. */
interface MembershipRead {
  memberships: Membership[]
  unread: Unread[]
  /** How it was read (`User.groups`, `filter members.value eq`, `listing /Groups`, `N granted groups read`). */
  how: string[]
}

/** The quirks with every capability decided: configured, else discovered, else the old default. */
type ResolvedQuirks = Omit<ScimQuirks, 'updateMethod' | 'filterSupported' | 'etag' | 'groupMembership' | 'groupsOnUser'> & {
  updateMethod: 'patch' | 'put'
  filterSupported: boolean
  etag: boolean
  groupMembership: 'patch_group' | 'put_group' | 'none'
  groupsOnUser: boolean
}

/** What the app's discovery endpoints said (RFC 7644 §4); undefined where it said nothing. */
interface Discovered {
  patch?: boolean
  filter?: boolean
  etag?: boolean
  /** The User schema lists `groups` (RFC 7643 §4.1.2, §8.7.1). */
  userGroups?: boolean
  /** The Group schema lists `members`. */
  groupMembers?: boolean
  /** /ResourceTypes has a Group type. */
  groupResource?: boolean
}

/**
 * How long discovery results are trusted. Capabilities change with the app's releases, not by the
 * minute; an hour keeps it to three GETs per system per hour and picks a change up the same day.
 */
export const DISCOVERY_TTL_MS = 60 * 60_000

const schemaDefinitionSchema = z
  .object({ id: z.string(), attributes: z.array(z.object({ name: z.string() }).loose()).default([]) })
  .loose()
const resourceTypeSchema = z.object({ name: z.string().optional(), endpoint: z.string().optional() }).loose()

function resolveQuirks(quirks: ScimQuirks, found: Discovered): ResolvedQuirks {
  const patch = found.patch ?? true
  return {
    ...quirks,
    updateMethod: quirks.updateMethod ?? (patch ? 'patch' : 'put'),
    filterSupported: quirks.filterSupported ?? found.filter ?? true,
    etag: quirks.etag ?? found.etag ?? false,
    groupMembership: quirks.groupMembership ?? (patch ? 'patch_group' : 'put_group'),
    groupsOnUser: quirks.groupsOnUser ?? found.userGroups ?? true,
  }
}

/** A read failure a retry will not change (refused, forbidden, not served): the membership is unknown. */
function isUnreadable(err: unknown): err is ProvisionerError {
  return isProvisionerError(err) && (err.kind === 'Permanent' || err.kind === 'NotFound' || (err.kind === 'AuthFailed' && err.status === 403))
}

/**
 * The app declined a filtered GET. RFC 7644 §3.4.2.2 / §3.12 say that is 400 invalidFilter; some
 * servers answer another 400 when their filter code trips (SCIMMY 1.3.5 answers `members.value eq`
 * with 400 invalidValue once any Group has no members). A GET carries nothing else to refuse, so
 * any 400 to a filtered search means "cannot filter this": page instead, which is always correct.
 */
function isInvalidFilter(err: unknown): boolean {
  return isProvisionerError(err) && err.status === 400
}

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
  options: { systemId?: string; now?: () => number; lock?: TargetLock } = {},
): Provisioner {
  return new ScimProvisioner(config, options.systemId ?? `scim:${config.name}`, options.now ?? Date.now, options.lock)
}

/** Every configured app as its own provisioner. */
export function createScimProvisioners(apps: ScimAppConfig[]): Provisioner[] {
  return apps.map((app) => createScimProvisioner(app))
}

class ScimProvisioner implements Provisioner {
  readonly system: string
  readonly kind = 'scim' as const
  readonly unsupportedSteps = NOT_IN_SCIM
  readonly rateLimitBuckets: Record<string, RateLimitSpec>
  private readonly config: ScimAppConfig
  /** The SCIM core client; its dialect is this app's quirks, completed by discovery. */
  private readonly client: ScimCoreClient<Ctx>
  private readonly now: () => number
  /** Cross-process lock for a Group's read-modify-write (put_group, or PATCH behind an ETag read); see changeMember. */
  private readonly lock: TargetLock | undefined
  /**
   * displayName (lower case) → group id, and back; group ids do not change, names rarely. Per
   * process, and safe so: Tenure never creates or renames Groups, a name missing here is looked
   * up again, and a Group answering 404 is forgotten (forgetGroup), so a stale entry costs one
   * failed call, never a wrong membership.
   */
  private readonly groupIdByName = new Map<string, string>()
  private readonly groupNameById = new Map<string, string>()
  /** Configured quirks, completed by discovery (configured values always win). */
  private quirks: ResolvedQuirks
  private discovered: { at: number; found: Discovered } | undefined
  private discovering: Promise<void> | undefined
  /**
   * Filters this app answered 400 invalidFilter although it claims filter support (an eq-only
   * server asked for members.value eq): not sent again, the fallback (paging) is used instead.
   */
  private readonly refusedFilters = new Set<'users' | 'groups.displayName' | 'groups.members'>()

  constructor(config: ScimAppConfig, system: string, now: () => number, lock: TargetLock | undefined) {
    this.config = config
    this.lock = lock
    this.system = system
    this.now = now
    this.rateLimitBuckets = { ...rateLimitBuckets, ...config.rateLimits }
    this.quirks = resolveQuirks(config.quirks, {})
    const http = new ScimHttp(config, system, now)
    this.client = new ScimCoreClient<Ctx>(
      genericDialect(this.quirks),
      (ctx, req) => http.request(ctx, req),
      // A body that does not fit is the app's fault, not ours to retry.
      (operation, res, error) =>
        new PermanentError(`${operation}: unexpected response shape: ${z.prettifyError(error)}`, {
          system,
          operation,
          status: res.status,
          requestId: res.requestId,
          cause: error,
        }),
    )
  }

  /**
   * Read /ServiceProviderConfig, /Schemas and /ResourceTypes (RFC 7644 §4; RFC 7643 §5–§7) once per
   * DISCOVERY_TTL_MS and complete the quirks with them. An app that does not serve them (404, 501,
   * 400, 403) keeps the configured quirks and is not asked again within the lifetime; a passing
   * failure (5xx, 429, timeout, 401) is not cached, so the next call asks again.
   */
  private async discover(ctx: Ctx): Promise<void> {
    if (this.discovered && this.now() - this.discovered.at < DISCOVERY_TTL_MS) return
    this.discovering ??= this.readDiscovery(ctx).finally(() => {
      this.discovering = undefined
    })
    await this.discovering
  }

  private async readDiscovery(ctx: Ctx): Promise<void> {
    let passing = false
    const read = async (path: string, operation: string): Promise<unknown> => {
      try {
        return (await this.client.request(ctx, { operation, method: 'GET', path })).body
      } catch (err) {
        // Not served (404, 501, 400, 403): the configured quirks it is. A 401 is the credential,
        // not discovery: like 5xx, 429 and timeouts it is not cached, so the next call asks again.
        if (isUnreadable(err)) return undefined
        passing = true
        ctx.log.warn({ system: this.system, operation, err }, 'scim: discovery failed; using the configured quirks for now')
        return undefined
      }
    }
    const found: Discovered = {}
    const spc = capabilitiesOf(await read('/ServiceProviderConfig', 'scim.ServiceProviderConfig.get'))
    if (spc.patch !== undefined) found.patch = spc.patch
    if (spc.filter !== undefined) found.filter = spc.filter
    if (spc.etag !== undefined) found.etag = spc.etag
    const schemas = resourcesOf(await read('/Schemas', 'scim.Schemas.list')).flatMap((raw) => {
      const parsed = schemaDefinitionSchema.safeParse(raw)
      return parsed.success ? [parsed.data] : []
    })
    const attributesOf = (urn: string) =>
      schemas.find((sc) => sc.id.toLowerCase() === urn.toLowerCase())?.attributes.map((a) => a.name.toLowerCase())
    const userAttributes = attributesOf(SCHEMA.user)
    if (userAttributes) found.userGroups = userAttributes.includes('groups')
    const groupAttributes = attributesOf(SCHEMA.group)
    if (groupAttributes) found.groupMembers = groupAttributes.includes('members')
    const types = resourcesOf(await read('/ResourceTypes', 'scim.ResourceTypes.list')).flatMap((raw) => {
      const parsed = resourceTypeSchema.safeParse(raw)
      return parsed.success ? [parsed.data] : []
    })
    if (types.length > 0) {
      found.groupResource = types.some((t) => t.name?.toLowerCase() === 'group' || t.endpoint?.toLowerCase().replace(/\/+$/, '') === '/groups')
    }
    this.quirks = resolveQuirks(this.config.quirks, found)
    this.client.dialect = genericDialect(this.quirks)
    if (!passing) this.discovered = { at: this.now(), found }
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
    await this.discover(ctx)
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
        const res = await this.client.create(ctx, '/Users', body, 'scim.Users.create')
        fetched = this.toFetchedUser(res, 'scim.Users.create')
        created = true
      } catch (err) {
        // 409 uniqueness: an earlier attempt (whose answer was lost) or a concurrent job created
        // it. Return that account, but only if it is this employee's (RFC 7644 §3.3).
        if (!(err instanceof ConflictError && err.status === 409)) throw err
        const existing = await this.find(ctx, employee, userName)
        if (!existing) {
          // The app says the userName or externalId is taken, yet no account it returns is this
          // employee's: someone else's account holds the login (or one Tenure cannot see). No
          // retry changes that, so it goes to a person at once instead of ~20 minutes of Conflict
          // retries (src/jobs/system-worker.ts retries Conflict, not Permanent).
          throw new PermanentError(
            `${this.system} provision: the app refused to create userName "${userName}" (409 ${err.vendorCode ?? 'uniqueness'}) ` +
              `and no account it returns belongs to employee ${employee.employeeId}: the userName or externalId is held by ` +
              `another account. Rename or link that account at the app, or change attributeMapping.userName.`,
            { system: this.system, operation: 'scim.Users.create', status: 409, vendorCode: 'uniqueness', requestId: err.requestId, cause: err },
          )
        }
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
    await this.discover(ctx)
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
    await this.discover(ctx)
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
    await this.discover(ctx)
    const fetched = await this.getUserOrThrow(ctx, ref.accountId, 'enable')
    if (this.quirks.deactivateWith === 'delete') return // an existing account is an enabled one
    if (fetched.user.active === true) return
    await this.setUser(ctx, fetched, { active: true })
  }

  async suspend(ctx: Ctx, ref: AccountRef): Promise<void> {
    await this.discover(ctx)
    if (this.quirks.deactivateWith === 'delete') {
      throw this.permanent('suspend', 'this app can only be cut off by DELETE (quirks.deactivateWith); a leave of absence must not delete')
    }
    const fetched = await this.getUserOrThrow(ctx, ref.accountId, 'suspend')
    if (fetched.user.active === false) return
    await this.setUser(ctx, fetched, { active: false })
  }

  async deprovision(ctx: Ctx, ref: AccountRef, plan: RevocationPlan): Promise<RevocationEvidence> {
    // The rules (order, already gone, a failed step) are ../kit/revocation.ts's.
    const residual: ResidualAccess[] = []
    const readIds: string[] = []
    await this.discover(collecting(ctx, readIds))
    const found = await this.getUser(collecting(ctx, readIds), ref.accountId, 'scim.Users.get')
    const now = () => new Date(this.now()).toISOString()
    if (!found) return accountGone(plan.steps, 'account does not exist at the app (404)', { requestIds: readIds, now })
    let current: FetchedUser = found
    const keepAccount = plan.options.legalHold === true || plan.options.retainAccount === true
    const why = plan.options.legalHold ? 'legal hold' : 'retain-account exception'
    let first = true

    const runStep = async (step: RevocationStepKind): Promise<StepOutcome> => {
      // Each step's evidence is the calls it made; the first step's also the read before it.
      const ids = first ? [...readIds] : []
      first = false
      const sctx = collecting(ctx, ids)
      const outcome = (status: StepStatus, detail?: string): StepOutcome => ({ status, ...(detail ? { detail } : {}), requestIds: ids })
      const deleted = (status: StepStatus, detail: string): StepOutcome => ({ ...outcome(status, detail), accountGone: 'account deleted by an earlier step' })
      const notInScim = NOT_IN_SCIM[step]
      if (notInScim) return outcome('not_supported', notInScim)

      if (step === 'disable') {
        if (this.quirks.deactivateWith === 'delete') {
          if (keepAccount) {
            residual.push({ kind: 'account', id: ref.accountId, reason: `the app is cut off only by DELETE, forbidden by the ${why}` })
            return outcome('skipped', `not deleted: ${why}; the account stays usable at the app`)
          }
          const gone = await this.deleteUser(sctx, current)
          return deleted(gone ? 'done' : 'already_done', 'account deleted (quirks.deactivateWith=delete)')
        }
        if (current.user.active === false) return outcome('already_done', 'active was already false')
        current = await this.setUser(sctx, current, { active: false })
        return outcome('done', 'active=false')
      }

      if (step === 'remove_groups') {
        const result = await this.removeAllGroups(sctx, current, plan.options.granted?.groups ?? [])
        residual.push(...result.residual)
        return outcome(result.status, result.detail)
      }

      if (step === 'delete') {
        if (keepAccount) return outcome('skipped', `not deleted: ${why}`)
        const gone = await this.deleteUser(sctx, current)
        return deleted(gone ? 'done' : 'already_done', gone ? 'DELETE /Users/{id}' : 'account was already gone (404)')
      }
      return outcome('not_supported', `step ${step} is not known to the SCIM provisioner`)
    }

    return runRevocation({
      system: this.system,
      phase: plan.phase,
      accountId: ref.accountId,
      steps: plan.steps,
      residual,
      runStep,
      exists: async () => (await this.getUser(ctx, ref.accountId, 'scim.Users.get')) !== undefined,
      goneDetail: 'account no longer exists at the app (404)',
      now,
    })
  }

  async verify(ctx: Ctx, ref: AccountRef, opts: VerifyOptions = {}): Promise<AccountState> {
    await this.discover(ctx)
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
    // Groups Tenure granted are read back even where the User lists none: an absent User.groups,
    // a refused filter or an unreadable group is unknown, never "member of no groups".
    const read = await this.readMemberships(ctx, fetched.user.id, fetched.user, { names: opts.granted?.groups ?? [] })
    const groups: string[] = []
    for (const m of read.memberships) groups.push(await this.groupLabel(ctx, m))
    return this.stateOf(fetched.user, groups, unknownOf(read.unread))
  }

  async listAccounts(ctx: Ctx, page?: string): Promise<Page<AccountState>> {
    const startIndex = page === undefined ? 1 : Number(page)
    if (!Number.isInteger(startIndex) || startIndex < 1) {
      throw this.permanent('listAccounts', `page token "${page}" is not a SCIM startIndex`)
    }
    await this.discover(ctx)
    const list = await this.listPage(ctx, '/Users', 'scim.Users.list', startIndex, {})
    const items = list.resources.map((raw) => {
      const user = this.client.parse(scimUserSchema, { ...list.res, body: raw }, 'scim.Users.list')
      const groups = (user.groups ?? []).flatMap((g) => {
        if (g.value === undefined) return []
        return [this.config.attributeMapping.groupsBy === 'id' ? g.value : (g.display ?? g.value)]
      })
      // Reconciliation reads Users only; without User.groups their memberships are unknown here.
      const unknown: Unread[] =
        this.quirks.groupsOnUser && Array.isArray(user.groups)
          ? []
          : [{ id: 'unknown', reason: 'the app did not return User.groups in the list; memberships were not read' }]
      return this.stateOf(user, groups, unknownOf(unknown))
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

  private stateOf(user: ScimUser, groups: string[], unknown: UnknownRead[] = []): AccountState {
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
      ...(unknown.length > 0 || user.active == null
        ? {
            unknown: [
              ...unknown,
              ...(user.active == null ? [{ attribute: 'active', reason: 'the app did not return "active" (RFC 7643 §4.1.1 makes it optional)' }] : []),
            ],
          }
        : {}),
    }
  }

  private toFetchedUser(res: ScimResponse, operation: string): FetchedUser {
    const user = this.client.parse(scimUserSchema, res, operation)
    return { raw: asRecord(res.raw), user, etag: res.etag ?? user.meta?.version ?? undefined, complete: true }
  }

  private async getUser(ctx: Ctx, id: string, operation: string): Promise<FetchedUser | undefined> {
    try {
      const res = await this.client.get(ctx, resourcePath('/Users', id), operation)
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

    if (this.quirks.filterSupported && !this.refusedFilters.has('users')) {
      try {
        return await this.findByFilter(ctx, employee, userName, byExternalId, owned, sameLogin)
      } catch (err) {
        if (!isInvalidFilter(err)) throw err
        this.refuseFilter(ctx, 'users', err)
      }
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

  private async findByFilter(
    ctx: Ctx,
    employee: EmployeeProfile,
    userName: string | undefined,
    byExternalId: boolean,
    owned: (u: ScimUser) => boolean,
    sameLogin: (u: ScimUser) => boolean,
  ): Promise<FetchedUser | undefined> {
    if (byExternalId) {
      const hits = await this.searchUsers(ctx, filterEq(this.attr('externalId'), employee.employeeId))
      // externalId is caseExact (RFC 7643 §3.1); a server that matched loosely must not fool us.
      const exact = hits.filter((h) => h.user.externalId === employee.employeeId)
      if (exact.length > 1) {
        throw this.permanent('lookup', `${exact.length} SCIM users carry externalId ${employee.employeeId}; resolve the duplicate at the app`)
      }
      if (exact[0]) return exact[0]
    }
    if (userName === undefined) return undefined
    const hits = await this.searchUsers(ctx, filterEq(this.attr('userName'), userName))
    return hits.find((h) => sameLogin(h.user) && owned(h.user))
  }

  /** Remember that the app refused a filter (a 400 to a filtered GET) and use the paging fallback from now on. */
  private refuseFilter(ctx: Ctx, which: 'users' | 'groups.displayName' | 'groups.members', err: unknown): void {
    this.refusedFilters.add(which)
    ctx.log.warn(
      { system: this.system, filter: which, err },
      'scim: the app refused a filter it claims to support (400); paging instead from now on',
    )
  }

  private async searchUsers(ctx: Ctx, filter: string): Promise<FetchedUser[]> {
    const res = await this.client.search(ctx, '/Users', filter, 'scim.Users.search')
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
        const ops = Object.entries(changes).map(([attr, value]) => ({ op: 'replace' as const, attr, value }))
        const res = await this.client.patch(ctx, path, ops, 'scim.Users.patch', ifMatch)
        // RFC 7644 §3.5.2: 200 with the resource or 204 without one.
        if (res.status === 204 || res.body === undefined) {
          return { raw: withKeys(cur.raw, changes), user: { ...cur.user, ...changes }, etag: res.etag, complete: cur.complete }
        }
        return this.toFetchedUser(res, 'scim.Users.patch')
      }
      // Read-only attributes (RFC 7643 §3.1 meta, §4.1.2 groups) are ignored or refused in PUT.
      const body = withKeys(withoutKeys(cur.raw, ['meta', 'groups']), changes)
      const res = await this.client.replace(ctx, path, body, 'scim.Users.replace', ifMatch)
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
      this.client.delete(ctx, resourcePath('/Users', current.user.id), 'scim.Users.delete', this.quirks.etag ? etag : undefined)
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
    return wireName(name, this.client.dialect)
  }

  // ---------------------------------------------------------------- groups

  private assertGroupsManaged(action: string): void {
    if (this.quirks.groupMembership === 'none') {
      throw this.permanent(action, 'the policy grants groups but this app is configured with quirks.groupMembership="none"')
    }
  }

  /**
   * Group ids the user is known to be in, or undefined when the app does not say on the User
   * (quirk off, or the attribute absent: RFC 7643 §4.1.2 makes it optional).
   */
  private knownMemberships(fetched: FetchedUser): Set<string> | undefined {
    if (!this.quirks.groupsOnUser || !Array.isArray(fetched.user.groups)) return undefined
    return new Set(fetched.user.groups.flatMap((g) => (g.value === undefined ? [] : [g.value])))
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
    if (this.quirks.filterSupported && !this.refusedFilters.has('groups.displayName')) {
      try {
        const res = await this.client.request(ctx, {
          operation: 'scim.Groups.search',
          method: 'GET',
          path: '/Groups',
          query: { filter: filterEq(this.attr('displayName'), name), excludedAttributes: 'members', count: 10 },
        })
        const list = this.client.parse(listResponseSchema, res, 'scim.Groups.search')
        for (const raw of list.Resources) this.cacheGroup(this.client.parse(scimGroupSchema, { ...res, body: raw }, 'scim.Groups.search'))
        return this.groupIdByName.get(key)
      } catch (err) {
        if (!isInvalidFilter(err)) throw err
        this.refuseFilter(ctx, 'groups.displayName', err)
      }
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

  /** Whether a `members.value eq` search may be sent to this app now. */
  private get memberFilterUsable(): boolean {
    return this.quirks.filterSupported && !this.refusedFilters.has('groups.members') && this.discovered?.found.groupResource !== false
  }

  /**
   * Groups the user is in, and what could not be read. Membership lives on the Group (RFC 7643
   * §4.1.2: User.groups is read-only and optional), so the Group side is read whenever Tenure has
   * something to check (what it granted, what it just removed) or the User does not list groups:
   * one `members.value eq` search where the app filters; otherwise, without User.groups, a listing
   * of /Groups with members; otherwise the members of each group to check, one GET each. The grant
   * list is a lower bound of what to check, never the answer.
   *
   * `user` undefined reads the Group side only (the clean-up's read-back, where a fresh User.groups
   * would add a call and nothing the Group side does not show).
   */
  private async readMemberships(
    ctx: Ctx,
    userId: string,
    user: ScimUser | undefined,
    check: { names?: string[]; ids?: string[] },
  ): Promise<MembershipRead> {
    const found = new Map<string, Membership>()
    const unread: Unread[] = []
    const how: string[] = []
    const add = (m: Membership) => {
      if (!found.has(m.id)) found.set(m.id, m)
    }
    const toCheck = (check.names?.length ?? 0) + (check.ids?.length ?? 0) > 0
    let complete = false
    if (user && this.quirks.groupsOnUser && Array.isArray(user.groups)) {
      for (const g of user.groups) if (g.value !== undefined) add({ id: g.value, ...(g.display ? { display: g.display } : {}) })
      complete = true
      how.push('User.groups')
    }
    let groupSide = false
    if (this.discovered?.found.groupResource === false) {
      if (!complete) unread.push({ id: 'unknown', reason: 'the app returns no User.groups and /ResourceTypes lists no Group resource' })
    } else if (!complete || (toCheck && this.memberFilterUsable)) {
      try {
        const searched = await this.searchMemberships(ctx, userId, !complete)
        if (searched) {
          for (const m of searched.memberships) add(m)
          unread.push(...searched.unread)
          how.push(searched.how)
          groupSide = searched.unread.length === 0
          complete ||= groupSide
        }
      } catch (err) {
        if (!isUnreadable(err)) throw err
        unread.push({ id: 'unknown', reason: `the app's Groups could not be searched or listed: ${err.message}` })
      }
    }
    if (groupSide || !toCheck) return { memberships: [...found.values()], unread, how }

    // The Group side was not read for every group: read each group to check directly.
    const ids = new Set(check.ids ?? [])
    for (const name of check.names ?? []) {
      try {
        const id = await this.resolveGroup(ctx, name)
        if (id !== undefined) ids.add(id)
        // A granted group the app no longer finds by name was renamed or deleted; where nothing
        // else showed every membership, that is a gap, not a "no".
        else if (!complete) unread.push({ id: name, reason: `granted group "${name}" was not found by displayName (renamed or deleted?)` })
      } catch (err) {
        if (!isUnreadable(err)) throw err
        unread.push({ id: name, reason: `granted group "${name}" could not be looked up: ${err.message}` })
      }
    }
    let readDirectly = 0
    for (const id of ids) {
      if (found.has(id) || unread.some((u) => u.groupId === id)) continue
      const result = await this.groupHasMember(ctx, id, userId)
      readDirectly += 1
      if (result.kind === 'member') add({ id, ...(result.display ? { display: result.display } : {}) })
      else if (result.kind === 'unknown') unread.push({ id, groupId: id, reason: result.reason })
    }
    if (readDirectly > 0) how.push(`${readDirectly} group${readDirectly === 1 ? '' : 's'} read directly`)
    return { memberships: [...found.values()], unread, how }
  }

  /**
   * Groups whose members include the user, read on the Group side: a `members.value eq` search, or
   * (filter unsupported or refused, and `listIfRefused`) a listing of /Groups with members.
   * Undefined when the filter is not usable and listing was not wanted.
   */
  private async searchMemberships(
    ctx: Ctx,
    userId: string,
    listIfRefused: boolean,
  ): Promise<{ memberships: Membership[]; unread: Unread[]; how: string } | undefined> {
    const memberships: Membership[] = []
    if (this.memberFilterUsable) {
      const filter = filterEq(`${this.attr('members')}.${this.attr('value')}`, userId)
      try {
        let startIndex: number | undefined = 1
        while (startIndex !== undefined) {
          const list = await this.listPage(ctx, '/Groups', 'scim.Groups.search', startIndex, { filter, excludedAttributes: 'members' })
          for (const raw of list.resources) {
            const group = this.client.parse(scimGroupSchema, { ...list.res, body: raw }, 'scim.Groups.search')
            this.cacheGroup(group)
            memberships.push({ id: group.id, ...(group.displayName ? { display: group.displayName } : {}) })
          }
          startIndex = list.next
        }
        return { memberships, unread: [], how: 'filter members.value eq' }
      } catch (err) {
        // RFC 7644 §3.12: invalidFilter also means "the specified attribute and filter comparison
        // combination is not supported" — an eq-only server refuses members.value. List instead.
        if (!isInvalidFilter(err)) throw err
        this.refuseFilter(ctx, 'groups.members', err)
        memberships.length = 0
      }
    }
    if (!listIfRefused) return undefined
    const unread: Unread[] = []
    const withoutMembers: string[] = []
    let startIndex: number | undefined = 1
    while (startIndex !== undefined) {
      const list = await this.listPage(ctx, '/Groups', 'scim.Groups.list', startIndex, {})
      for (const raw of list.resources) {
        const group = this.client.parse(scimGroupSchema, { ...list.res, body: raw }, 'scim.Groups.list')
        this.cacheGroup(group)
        // Some apps list Groups without members (returned "request", or to keep lists small):
        // those are read one by one below, never taken as empty.
        if (!Array.isArray(group.members)) withoutMembers.push(group.id)
        else if (group.members.some((m) => m.value === userId)) {
          memberships.push({ id: group.id, ...(group.displayName ? { display: group.displayName } : {}) })
        }
      }
      startIndex = list.next
    }
    for (const id of withoutMembers) {
      const result = await this.groupHasMember(ctx, id, userId)
      if (result.kind === 'member') memberships.push({ id, ...(result.display ? { display: result.display } : {}) })
      else if (result.kind === 'unknown') unread.push({ id, groupId: id, reason: result.reason })
    }
    return { memberships, unread, how: 'listing /Groups with members' }
  }

  /** Read one group's members: is the user one of them? */
  private async groupHasMember(
    ctx: Ctx,
    groupId: string,
    userId: string,
  ): Promise<{ kind: 'member'; display?: string } | { kind: 'not_member' } | { kind: 'unknown'; reason: string }> {
    let group: FetchedGroup | undefined
    try {
      group = await this.getGroup(ctx, groupId, false)
    } catch (err) {
      if (!isUnreadable(err)) throw err
      return { kind: 'unknown', reason: `group ${groupId} could not be read: ${err.message}` }
    }
    if (!group) return { kind: 'not_member' } // the group is gone (404): nobody is in it
    const display = group.group.displayName ?? undefined
    if (!Array.isArray(group.group.members)) {
      if (this.discovered?.found.groupMembers === false) {
        return { kind: 'unknown', reason: `the app's Group schema has no members attribute; group ${groupId} cannot show its members` }
      }
      // RFC 7643 §2.5: an unassigned multi-valued attribute and an empty one are the same state,
      // and members is returned by default (§4.2, §8.7.1): a whole Group without it has none.
      return { kind: 'not_member' }
    }
    return group.group.members.some((m) => m.value === userId) ? { kind: 'member', ...(display ? { display } : {}) } : { kind: 'not_member' }
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

  /**
   * A PUT-only app's membership change is read-modify-write of the whole Group (RFC 7644 §3.5.1
   * replaces every attribute, members included): two processes adding two joiners to one Group
   * at once would each PUT a list without the other. An ETag (If-Match, RFC 7644 §3.14) turns
   * that into a 412 and a retry, but ETags are optional and many PUT-only apps have none. So the
   * read and the write hold a PostgreSQL advisory lock on system + Group id (src/db/advisory-locks.ts),
   * which every Tenure process on the database honours. A PATCH add/remove of one member is applied
   * by the server as one operation (RFC 7644 §3.5.2) and needs no lock, unless it first reads the
   * Group's ETag: then the lock saves the 412s that concurrent PATCHes would cause.
   */
  private async changeMember(ctx: Ctx, groupId: string, userId: string, action: 'add' | 'remove'): Promise<MemberResult> {
    const readsFirst = this.quirks.groupMembership !== 'patch_group' || this.quirks.etag
    if (!this.lock || !readsFirst) return this.changeMemberNow(ctx, groupId, userId, action)
    let failed: { err: unknown } | undefined
    try {
      return await this.lock.hold(`tenure.scim.group:${this.system}:${groupId}`, ctx.signal, async () => {
        try {
          return await this.changeMemberNow(ctx, groupId, userId, action)
        } catch (err) {
          failed = { err }
          throw err
        }
      })
    } catch (err) {
      if (failed !== undefined && failed.err === err) throw err
      throw lockFailure(err, `SCIM group ${groupId}`, { system: this.system, operation: 'scim.Groups.lock' })
    }
  }

  private async changeMemberNow(ctx: Ctx, groupId: string, userId: string, action: 'add' | 'remove'): Promise<MemberResult> {
    const path = `/Groups/${encodeURIComponent(groupId)}`
    if (this.quirks.groupMembership === 'patch_group') {
      const ops: PatchChange[] =
        action === 'add'
          ? [{ op: 'add', attr: 'members', value: [{ value: userId }] }]
          : [{ op: 'remove', attr: 'members', filter: filterEq(this.attr('value'), userId) }]
      const patch = async () => {
        const etag = this.quirks.etag ? (await this.getGroup(ctx, groupId, true))?.etag : undefined
        await this.client.patch(ctx, path, ops, 'scim.Groups.patch', etag)
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
      await this.client.replace(ctx, path, body, 'scim.Groups.replace', this.quirks.etag ? current.etag : undefined)
      return 'changed'
    }
    try {
      return await put()
    } catch (err) {
      if (!(this.quirks.etag && isPreconditionFailed(err))) throw err
      return await put()
    }
  }

  /**
   * The clean-up's remove_groups: read what the user is in, remove each, then read back on the
   * Group side every group touched or granted (`granted`, a lower bound). What the read-back finds
   * that the first read missed (a User.groups that did not list it) is removed and read back once
   * more. Anything still there, or any membership that could not be read, is residual access and
   * the step `failed`: never "member of no groups" without having read it.
   */
  private async removeAllGroups(
    ctx: Ctx,
    fetched: FetchedUser,
    granted: string[],
  ): Promise<{ status: StepStatus; detail: string; residual: ResidualAccess[] }> {
    const userId = fetched.user.id
    // Where User.groups is there, it is the first read (no extra call); the granted groups are
    // then checked on the Group side by the read-back below, which runs whenever there is a grant.
    const userListsGroups = this.quirks.groupsOnUser && Array.isArray(fetched.user.groups)
    const first = await this.readMemberships(ctx, userId, fetched.user, userListsGroups ? {} : { names: granted })
    const unreadResidual = (read: MembershipRead): ResidualAccess[] =>
      read.unread.map((u) => ({ kind: 'group', id: u.groupId ?? u.id, reason: `membership could not be read: ${u.reason}` }))
    if (this.quirks.groupMembership === 'none') {
      return {
        status: 'not_supported',
        detail: 'quirks.groupMembership="none": group membership is not managed over SCIM',
        residual: [
          ...first.memberships.map((m) => ({
            kind: 'group',
            id: m.id,
            reason: 'the app reports this membership but is configured without SCIM group management',
          })),
          ...unreadResidual(first),
        ],
      }
    }
    const refused = new Map<string, string>()
    const attempted = new Set<string>()
    let removed = 0
    const removeAll = async (read: MembershipRead) => {
      // Members found, and groups whose membership could not be read but whose id is known: a
      // remove of a non-member is harmless (RFC 7644 §3.5.2.2), and the read-back decides.
      const targets = [...read.memberships.map((m) => m.id), ...read.unread.flatMap((u) => (u.groupId ? [u.groupId] : []))]
      for (const groupId of targets) {
        if (attempted.has(groupId)) continue
        attempted.add(groupId)
        try {
          if ((await this.removeMember(ctx, groupId, userId)) === 'changed') removed += 1
        } catch (err) {
          // Retryable failures go back to the job layer; a refusal a retry will not change
          // (403 on this group, 400) is left for a human as residual access.
          if (isProvisionerError(err) && (err.kind === 'Permanent' || (err.kind === 'AuthFailed' && err.status === 403))) {
            refused.set(groupId, err.message)
            continue
          }
          throw err
        }
      }
    }
    await removeAll(first)
    if (attempted.size === 0 && first.unread.length === 0 && granted.length === 0) {
      return { status: 'already_done', detail: `member of no groups (read: ${first.how.join(' + ') || 'nothing to read'})`, residual: [] }
    }

    // Read back. Where the app filters on members.value, one search of the Group side shows
    // every membership; otherwise a fresh User (its groups changed) and the groups themselves.
    const readBack = async (): Promise<MembershipRead | undefined> => {
      let freshUser: ScimUser | undefined
      if (!this.memberFilterUsable) {
        const fresh = await this.getUser(ctx, userId, 'scim.Users.get')
        if (!fresh) return undefined
        freshUser = fresh.user
      }
      return await this.readMemberships(ctx, userId, freshUser, { names: granted, ids: [...attempted] })
    }
    let after = await readBack()
    if (after && [...after.memberships.map((m) => m.id), ...after.unread.flatMap((u) => (u.groupId ? [u.groupId] : []))].some((id) => !attempted.has(id))) {
      await removeAll(after)
      after = await readBack()
    }
    if (!after) return { status: 'done', detail: `removed from ${removed} groups; the account is gone at the app (404)`, residual: [] }
    const residual: ResidualAccess[] = [
      ...after.memberships.map((m) => ({
        kind: 'group',
        id: m.id,
        reason: refused.get(m.id) ?? 'still a member when read back after removal',
      })),
      ...unreadResidual(after),
    ]
    const readHow = after.how.join(' + ') || 'nothing readable'
    if (residual.length > 0) {
      return {
        status: 'failed',
        detail: `removed from ${removed} group${removed === 1 ? '' : 's'}; read back: ${readHow}; ${residual.length} membership${residual.length === 1 ? '' : 's'} remain or could not be read`,
        residual,
      }
    }
    if (removed === 0) return { status: 'already_done', detail: `member of no groups (read back: ${readHow})`, residual }
    return { status: 'done', detail: `removed from ${removed} group${removed === 1 ? '' : 's'}; read back: ${readHow}`, residual }
  }

  // ---------------------------------------------------------------- paging

  /** One page of a list; the core follows RFC 7644 §3.4.2.4 (1-based, the server may serve fewer). */
  private listPage(ctx: Ctx, path: '/Users' | '/Groups', operation: string, startIndex: number, query: Record<string, string>): Promise<ListPage> {
    return this.client.listPage(ctx, path, operation, startIndex, query)
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

/** Resources of a ListResponse, or a bare array (some apps answer /Schemas that way). */
function resourcesOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body
  const resources = (body as { Resources?: unknown } | undefined)?.Resources
  return Array.isArray(resources) ? resources : []
}

/** Unread memberships as AccountState.unknown. */
function unknownOf(unread: Unread[]): UnknownRead[] {
  return unread.map((u) => ({ attribute: 'groups', reason: u.id === 'unknown' ? u.reason : `${u.id}: ${u.reason}` }))
}
