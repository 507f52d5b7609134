/**
 * Slack: users live in SCIM (https://docs.slack.dev/reference/scim-api), memberships in the Web API.
 *
 * - Lifecycle (create, deactivate, reactivate, read back, list) goes through SCIM 2.0 with plain
 *   fetch: Slack ships no Node SDK for SCIM. Bearer = an org/admin user token with the `admin` scope.
 * - Channels and user groups go through @slack/web-api with the app's bot token. The WebClient is
 *   built with `rejectRateLimitedCalls: true` and `retries: 0`: by default it would pause its whole
 *   queue and retry for ~30 minutes on a 429, holding a worker past its job expiry. Here a 429 surfaces
 *   at once as RateLimitedError(Retry-After) and the job layer waits.
 * - The leaver cut-off is ONE SCIM write per person (PATCH active=false or DELETE /Users/{id}).
 *   Deactivation signs the person out on all devices, removes them from every channel and makes
 *   their tokens fail with `account_inactive` (https://slack.com/help/articles/204475027). The
 *   per-user Tier 2 method admin.users.session.reset (20/min) never runs in the cut-off: at that
 *   pace 5,000 leavers take 250 minutes and miss the four-hour deadline, while SCIM writes run at 180/min.
 * - The clean-up's remove_groups shares one `usergroups.list include_users` (Tier 2) among the
 *   clean-ups in flight and serialises writes per user group (usergroups.ts): one listing per
 *   leaver would cap the clean-up at 20 leavers a minute.
 */
import { LogLevel, WebAPIPlatformError, WebClient, type FetchFunction, type Logger as SlackLogger } from '@slack/web-api'
import { z } from 'zod'
import type { Logger } from '../../src/log.ts'
import {
  ConflictError,
  NotFoundError,
  PermanentError,
  parseRetryAfter,
  type ProvisionerError,
  isProvisionerError,
} from '../errors.ts'
import type {
  AccessChange,
  AccessGrant,
  AccountRef,
  AccountSpec,
  AccountState,
  Ctx,
  EmployeeProfile,
  ListedAccess,
  Page,
  Provisioner,
  RateLimitSpec,
  ResidualAccess,
  RevocationEvidence,
  RevocationPlan,
  RevocationStepKind,
  StepStatus,
  GroupChangeStore,
  TargetLock,
  VerifyOptions,
} from '../types.ts'
import { nextStartIndex, resourcePath, ScimCoreClient, type ScimTransport } from '../scim-core/client.ts'
import { SLACK_DIALECT } from '../scim-core/dialect.ts'
import { filterEq } from '../scim-core/filter.ts'
import { classifyNetworkError, classifyScimResponse, classifyWebApiError, type CallFacts } from './classify.ts'
import type { SlackConfig } from './config.ts'
import { SLACK_RATE_LIMITS, type WebApiMethod } from './limits.ts'
import { SLACK_MAPPING, SLACK_USERNAME_MAX } from './mapping.ts'
import { buildTargetAttributes } from '../mapping.ts'
import { UserGroupDirectory, type MembershipOutcome } from './usergroups.ts'
import { vendorCall } from '../kit/call.ts'
import { accountGone, runRevocation, type StepOutcome } from '../kit/revocation.ts'

/** The vendor's published limits per limiter bucket (see limits.ts for sources). */
export const rateLimitBuckets: Record<string, RateLimitSpec> = SLACK_RATE_LIMITS

/** Slack ids: channels C/G, user groups S. Channel names are lower case, so an upper-case token is an id. */
const CHANNEL_ID = /^[CG][A-Z0-9]{6,}$/
const USERGROUP_ID = /^S[A-Z0-9]{6,}$/

const DEACTIVATION_HELP = 'https://slack.com/help/articles/204475027'

/** The shortest time between two name listings sent because a name was not in the last one. */
const MISS_RELIST_MS = 30_000

// ---------------------------------------------------------------------------------------------
// Vendor response shapes (read as unknown, validated)

const scimUserSchema = z.object({
  id: z.string().min(1),
  externalId: z.string().nullish(),
  userName: z.string(),
  active: z.boolean(),
  emails: z
    .array(z.object({ value: z.string().nullish(), primary: z.unknown().optional(), type: z.string().nullish() }))
    .nullish(),
  groups: z.array(z.object({ value: z.string(), display: z.string().nullish() })).nullish(),
})
type ScimUser = z.infer<typeof scimUserSchema>

const scimListSchema = z.object({
  totalResults: z.number().int().min(0),
  startIndex: z.number().int().optional(),
  itemsPerPage: z.number().int().optional(),
  Resources: z.array(scimUserSchema).default([]),
})

const channelPageSchema = z.object({
  channels: z.array(z.object({ id: z.string(), name: z.string().optional(), is_archived: z.boolean().optional() })),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
})
const usergroupListSchema = z.object({
  usergroups: z.array(
    z.object({
      id: z.string(),
      handle: z.string().optional(),
      name: z.string().optional(),
      users: z.array(z.string()).optional(),
    }),
  ),
})
const usergroupUsersSchema = z.object({ users: z.array(z.string()) })
/** users.info: `deleted` is true for a deactivated member, "otherwise false, or the field may not appear at all". */
const userInfoSchema = z.object({ user: z.object({ id: z.string(), deleted: z.boolean().optional() }) })
const usergroupUpdateSchema = z.object({ usergroup: z.object({ id: z.string(), users: z.array(z.string()).optional() }) })

// ---------------------------------------------------------------------------------------------

interface ScimRequest {
  operation: string
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  /** Relative to scimBaseUrl, e.g. `Users/U123`. */
  path: string
  query?: Record<string, string>
  body?: unknown
  /** Limiter buckets to take a token from, in order. */
  buckets: string[]
}

/** What the SCIM core client hands back to `scim()` per call: the limiter buckets and the evidence trace. */
interface ScimCall {
  ctx: Ctx
  buckets: string[]
  trace?: string[] | undefined
}

interface WebOptions {
  /** `admin` uses config.adminToken when set (admin.* methods, admin-only user-group edits). */
  token?: 'bot' | 'admin'
  /** Slack error strings that mean "already so" for this call (e.g. already_in_channel). */
  accept?: readonly string[]
  trace?: string[]
}

interface ItemFailure {
  ref: string
  code: string
}

/** Codes about one channel or group: the rest of the grant is still applied, then Permanent is thrown. */
const CHANNEL_ITEM_ERRORS = new Set([
  'channel_not_found',
  'is_archived',
  'not_in_channel',
  'cant_invite',
  'cant_kick_from_general',
  'method_not_supported_for_channel_type',
  'invitee_cant_see_channel',
  'ura_max_channels',
  'not_supported',
])
const GROUP_ITEM_ERRORS = new Set(['no_such_subteam', 'invalid_users', 'failed_for_some_users'])

/**
 * SCIM refusals about this particular account (owners, bots, GDPR-forgotten users): the step
 * fails and is reported as residual access for a human, the other steps still run.
 */
const TARGET_REFUSALS = new Set([
  'cannot_disable_primary_owner',
  'primary_owner_check_failure',
  'cannot_modify_owner',
  'cannot_modify_gdpr',
  'cannot_disable_bot_user_with_scim',
])

interface StepState {
  active: boolean
  /**
   * User groups the SCIM read at the start of this deprovision lists (fresh, unlike a shared
   * usergroups.list); undefined when the record carried no `groups` attribute (unknown, not none).
   */
  scimGroups: string[] | undefined
  /** Deactivated by this deprovision call (status `done`), as opposed to found deactivated (`already_done`). */
  deactivatedNow: boolean
  deactivationIds: string[]
}

interface NameCache {
  loadedAt: number
  ids: Map<string, string>
}

export interface SlackProvisionerOptions {
  systemId?: string
  /** Clock for the name caches; tests may pass a controllable one. */
  now?: () => number
  /** Cross-process lock for user-group read-modify-writes (the registry passes PostgreSQL advisory locks). */
  lock?: TargetLock
  /** Where user-group changes wait for a round, across processes (the registry passes PostgreSQL's). */
  groupChanges?: GroupChangeStore
}

export function createSlackProvisioner(config: SlackConfig, options: SlackProvisionerOptions = {}): Provisioner {
  return new SlackProvisioner(config, options)
}

class SlackProvisioner implements Provisioner {
  readonly system: string
  readonly kind = 'slack' as const
  readonly rateLimitBuckets: Record<string, RateLimitSpec>
  private readonly config: SlackConfig
  private readonly scimBase: URL
  /** The SCIM core client with Slack's dialect; requests go out through `scim()`. */
  private readonly scimClient: ScimCoreClient<ScimCall>
  private readonly apiBase: string
  private readonly now: () => number
  private channelCache: NameCache | undefined
  private groupCache: NameCache | undefined
  /** user-group id → handle, for listAccounts (refreshed like the name caches). */
  private handleCache: NameCache | undefined
  private readonly userGroups: UserGroupDirectory
  /** Name listings in flight (single-flight per cache, see loadNames). */
  private readonly nameLoads = new Map<'channelCache' | 'groupCache', Promise<NameCache>>()

  constructor(config: SlackConfig, options: SlackProvisionerOptions) {
    this.config = config
    this.system = options.systemId ?? 'slack'
    this.now = options.now ?? Date.now
    this.rateLimitBuckets = { ...rateLimitBuckets, ...config.rateLimits }
    this.scimBase = new URL(config.scimBaseUrl.endsWith('/') ? config.scimBaseUrl : `${config.scimBaseUrl}/`)
    this.scimClient = new ScimCoreClient<ScimCall>(SLACK_DIALECT, this.scimTransport, (operation, res, error) =>
      this.badResponse(operation, res.requestId, error),
    )
    this.apiBase = config.apiBaseUrl.endsWith('/') ? config.apiBaseUrl : `${config.apiBaseUrl}/`
    this.userGroups = new UserGroupDirectory(
      {
        list: async (ctx) => {
          const { result, requestId } = await this.web(ctx, 'usergroups.list', (c) => c.usergroups.list({ include_users: true }))
          const list = this.parse(usergroupListSchema, result, 'usergroups.list', requestId)
          return { groups: list.usergroups.map((g) => ({ id: g.id, users: g.users ?? [] })), requestId }
        },
        read: (ctx, groupId) => this.userGroupMembers(ctx, groupId),
        write: (ctx, groupId, users) => this.setUserGroupMembers(ctx, groupId, users),
        deactivated: (ctx, userIds, trace) => this.deactivatedUsers(ctx, userIds, trace),
      },
      { system: this.system, listingTtlMs: config.userGroupListingCacheSeconds * 1000, now: this.now, ...(options.lock ? { lock: options.lock } : {}), ...(options.groupChanges ? { store: options.groupChanges } : {}) },
    )
  }

  // -------------------------------------------------------------------------------------------
  // Provisioner contract

  async provision(ctx: Ctx, spec: AccountSpec): Promise<AccountRef> {
    const employee = spec.employee
    const email = this.primaryEmail(employee)
    const userName = deriveUserName(email)
    let user: ScimUser | undefined
    if (ctx.repeat) {
      // A job that ran before (a hand-back after Slack's rate limit, a retry) most likely created
      // the user already: look first, and create only when the search shows nobody. Was: create,
      // 409, search on every round (run 5 of the chaos suite: 5,441 creates, 4,950 answered 409).
      const found = await this.findAccount(ctx, employee, email, userName)
      if (found.mine) user = await this.adopt(ctx, spec, found.mine)
    }
    try {
      user ??= await this.createUser(ctx, spec, email, userName)
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err
      // 409 email_taken / username_taken: a retry of our own create, a rehire, or an account made
      // by hand. Adopt it only when it is provably this person (see findAccount).
      const found = await this.findAccount(ctx, employee, email, userName)
      if (found.mine === undefined) {
        if (found.foreign.length === 0) throw err
        const other = found.foreign[0]!
        throw new ConflictError(
          `Slack user ${other.id} already holds ${err.vendorCode === 'username_taken' ? `userName ${userName}` : 'this email'} ` +
            `but belongs to externalId ${other.externalId || '(none)'}, not employee ${employee.employeeId}`,
          { system: this.system, operation: 'scim.Users.create', status: 409, vendorCode: err.vendorCode, requestId: err.requestId },
        )
      }
      user = await this.adopt(ctx, spec, found.mine)
    }
    const ref: AccountRef = { system: this.system, accountId: user.id, login: scimPrimaryEmail(user) ?? email, employeeId: employee.employeeId }
    if (!user.active) {
      // Slack drops deactivated members from every channel and refuses to invite them, so
      // memberships wait for the day-one provision (enabled: true) or enable() + update().
      ctx.log.info({ system: this.system, accountId: user.id }, 'slack user created deactivated; memberships deferred until activation')
      return ref
    }
    const failures = await this.grant(ctx, user.id, [...this.config.defaultChannels, ...spec.access.channels], userGroupsOf(spec.access))
    if (failures.length > 0) throw this.partialGrantError('scim.Users.create', user.id, failures)
    return ref
  }

  /** Take over the user that is provably this employee's (see findAccount). */
  private async adopt(ctx: Ctx, spec: AccountSpec, user: ScimUser): Promise<ScimUser> {
    ctx.log.info({ system: this.system, accountId: user.id, active: user.active }, 'slack user already exists; adopting it')
    // A rehire or the day-one provision of an account created deactivated: make it usable.
    if (spec.enabled && !user.active) return this.setActive(ctx, user.id, true)
    return user
  }

  async lookup(ctx: Ctx, employee: EmployeeProfile): Promise<AccountRef | undefined> {
    let email: string
    try {
      email = this.primaryEmail(employee)
    } catch {
      return undefined
    }
    const found = await this.findAccount(ctx, employee, email, deriveUserName(email))
    if (found.mine === undefined) return undefined
    return { system: this.system, accountId: found.mine.id, login: scimPrimaryEmail(found.mine) ?? email, employeeId: employee.employeeId }
  }

  async update(ctx: Ctx, ref: AccountRef, change: AccessChange): Promise<void> {
    const ignored = (['licences', 'projects', 'roles', 'products'] as const).filter(
      (list) => (change.add[list]?.length ?? 0) + (change.remove[list]?.length ?? 0) > 0,
    )
    if (ignored.length > 0 || change.orgUnit !== undefined) {
      ctx.log.warn({ system: this.system, ignored, orgUnit: change.orgUnit !== undefined }, 'slack has no such access; ignored')
    }
    const addGroups = [...(change.add.userGroups ?? []), ...(change.add.groups ?? [])]
    const removeGroups = [...(change.remove.userGroups ?? []), ...(change.remove.groups ?? [])]
    const failures = await this.grant(ctx, ref.accountId, change.add.channels ?? [], addGroups)
    if ((change.remove.channels?.length ?? 0) > 0) {
      failures.push(...(await this.kickFromChannels(ctx, ref.accountId, change.remove.channels ?? [])))
    }
    if (removeGroups.length > 0) {
      const { resolved, missing } = await this.resolveUserGroups(ctx, removeGroups)
      failures.push(...missing.map((refName) => ({ ref: refName, code: 'no_such_subteam' })))
      for (const { ref: groupRef, id } of resolved) {
        const outcome = await this.removeFromUserGroup(ctx, ref.accountId, id)
        if (typeof outcome === 'object') failures.push({ ref: groupRef, code: outcome.code })
      }
    }
    if (failures.length > 0) throw this.partialGrantError('update', ref.accountId, failures)
  }

  async enable(ctx: Ctx, ref: AccountRef): Promise<void> {
    await this.setActive(ctx, ref.accountId, true)
    // Reactivation does not restore channel memberships (deactivation dropped them); the default
    // channels are known here, the rest of the grant comes from provision(enabled) or update().
    if (this.config.defaultChannels.length > 0) {
      const failures = await this.inviteToChannels(ctx, ref.accountId, this.config.defaultChannels)
      if (failures.length > 0) throw this.partialGrantError('enable', ref.accountId, failures)
    }
  }

  async suspend(ctx: Ctx, ref: AccountRef): Promise<void> {
    await this.deactivate(ctx, ref.accountId, [])
  }

  async deprovision(ctx: Ctx, ref: AccountRef, plan: RevocationPlan): Promise<RevocationEvidence> {
    // The rules (order, already gone, a failed step) are ../kit/revocation.ts's.
    const residual: ResidualAccess[] = []
    const readTrace: string[] = []
    const notFound = (err: NotFoundError): RevocationEvidence =>
      accountGone(plan.steps, `Slack user ${ref.accountId} not found (HTTP 404${err.vendorCode ? ` ${err.vendorCode}` : ''}): no account, nothing to revoke`, {
        requestIds: [err.requestId],
      })
    let state: StepState | undefined
    // The cut-off writes first. Every read of a user counts against GET /Users/{id} (300/min), and
    // verification reads each leaver back: a read before the write as well made 2 reads per leaver,
    // so in a layoff the read limit bound (5,000 leavers: 32.5 min) instead of the writes' 180/min
    // (27.7 min). PATCH active=false is idempotent and answers 404 for no such user, as the read
    // did. The clean-up still reads first: it needs the user's groups.
    if (plan.phase === 'cutoff' && plan.steps.includes('disable') && this.config.deactivateWith === 'patch') {
      const trace: string[] = []
      try {
        const patched = await this.setActive(ctx, ref.accountId, false, trace)
        state = { active: patched.active, scimGroups: patched.groups?.map((g) => g.value), deactivatedNow: !patched.active, deactivationIds: trace }
      } catch (err) {
        if (err instanceof NotFoundError) return notFound(err)
        // Refused (the primary owner, say): read, and let the disable step meet the refusal.
        if (!isProvisionerError(err) || !isStepLevelFailure(err)) throw err
      }
    }
    if (!state) {
      let user: ScimUser
      try {
        user = await this.getUser(ctx, ref.accountId, readTrace)
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err
        return notFound(err)
      }
      state = {
        active: user.active,
        scimGroups: user.groups?.map((g) => g.value),
        deactivatedNow: false,
        deactivationIds: readTrace,
      }
    }
    const run = state
    // resetSessionsExplicitly: the clean-up resets sessions once more, as a revoke_sessions step
    // after the plan's own, belt and braces after the cut-off deactivation.
    const beltAndBraces = plan.phase === 'cleanup' && this.config.resetSessionsExplicitly && !plan.steps.includes('revoke_sessions')
    return runRevocation({
      system: this.system,
      phase: plan.phase,
      accountId: ref.accountId,
      steps: beltAndBraces ? [...plan.steps, 'revoke_sessions'] : plan.steps,
      residual,
      runStep: async (step) => {
        try {
          return await this.runStep(ctx, ref, step, plan, run, readTrace, residual, beltAndBraces)
        } catch (err) {
          throw refusalAsPermanent(err)
        }
      },
      exists: async () => {
        try {
          await this.getUser(ctx, ref.accountId)
          return true
        } catch (err) {
          if (err instanceof NotFoundError) return false
          throw err
        }
      },
      goneDetail: `Slack user ${ref.accountId} no longer exists`,
    })
  }

  /**
   * Reads the SCIM user (the cut-off check: active=false) and, when Tenure says what it granted,
   * reads those user groups back too, and the granted channels of an account that is still active
   * (a lower bound: the SCIM record's own `groups` are reported as well). What could not be read
   * goes to `unknown`; a rate limit or outage on one of these reads is thrown, so the job retries
   * instead of reporting a gap.
   */
  async verify(ctx: Ctx, ref: AccountRef, opts: VerifyOptions = {}): Promise<AccountState> {
    let user: ScimUser
    try {
      user = await this.getUser(ctx, ref.accountId)
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err
      return {
        accountId: ref.accountId,
        exists: false,
        active: false,
        groups: [],
        licences: [],
        roles: [],
        checks: [{ name: 'account_deactivated', ok: true, detail: `SCIM GET /Users/${ref.accountId}: 404, no such user` }],
        revoked: true,
      }
    }
    const state = this.toAccountState(user)
    const granted = opts.granted
    if (granted) {
      await this.readGrantedUserGroups(ctx, user, userGroupsOf(granted), state)
      // Channels are read while the account is active: then membership is access. A deactivated
      // account's channels are read by the clean-up's remove_channels (users.conversations), not
      // here: verification is on the cut-off path, and one Tier 3 read (50/min) per leaver would
      // make it, not GET /Users/{id} (300/min), bind a layoff (5,000 leavers: 100 min, not 17).
      if (user.active) await this.readGrantedChannels(ctx, user.id, granted.channels, state)
    }
    return state
  }

  /**
   * Each user group Tenure granted is checked: on the SCIM record's `groups` when Slack returned
   * that attribute, otherwise with usergroups.users.list. A member is added to `state.groups`; a
   * group that could not be read goes to `state.unknown`.
   */
  private async readGrantedUserGroups(ctx: Ctx, user: ScimUser, refs: string[], state: AccountState): Promise<void> {
    if (refs.length === 0) return
    const { resolved, missing } = await this.resolveUserGroups(ctx, refs)
    const unreadable: string[] = []
    for (const { ref, id } of resolved) {
      if (user.groups != null) continue // the SCIM record lists memberships; toAccountState reported them
      try {
        const { users } = await this.userGroupMembers(ctx, id)
        if (users.includes(user.id) && !state.groups.includes(id)) state.groups.push(id)
      } catch (err) {
        if (err instanceof NotFoundError && err.vendorCode === 'no_such_subteam') continue // deleted or disabled: no membership
        if (isProvisionerError(err) && (err.kind === 'RateLimited' || err.kind === 'Transient')) throw err
        unreadable.push(`${ref} (${isProvisionerError(err) ? `${err.kind}${err.vendorCode ? ` ${err.vendorCode}` : ''}` : String(err)})`)
      }
    }
    if (user.groups == null) {
      // Granted groups were read one by one, but groups granted by hand are not visible this way.
      addUnknown(state, 'userGroups', 'SCIM returned no groups attribute; only the user groups Tenure granted were read (usergroups.users.list)')
    }
    if (unreadable.length > 0) addUnknown(state, 'userGroups', `could not read ${unreadable.join(', ')}`)
    state.checks.push({
      name: 'granted_user_groups_read',
      ok: unreadable.length === 0,
      detail:
        `${resolved.length} granted user group(s) read` +
        (missing.length > 0 ? `; ${missing.join(', ')} not in usergroups.list (deleted or disabled: no membership)` : '') +
        `; member of ${resolved.filter((g) => state.groups.includes(g.id)).map((g) => g.ref).join(', ') || 'none'}`,
    })
  }

  /**
   * The channels Tenure granted (and the default channels), read with users.conversations. A
   * granted channel the app cannot see (private, app not in it) cannot be read: `unknown`.
   */
  private async readGrantedChannels(ctx: Ctx, userId: string, refs: string[], state: AccountState): Promise<void> {
    const wanted = [...new Set([...this.config.defaultChannels, ...refs])]
    if (wanted.length === 0) return
    const { resolved, missing } = await this.resolveChannels(ctx, wanted)
    if (missing.length > 0) addUnknown(state, 'channels', `not visible to the Tenure app (archived, private without the app, or gone): ${missing.join(', ')}`)
    let member: string[]
    try {
      member = await this.channelsOf(ctx, userId, [])
    } catch (err) {
      if (isProvisionerError(err) && (err.kind === 'RateLimited' || err.kind === 'Transient')) throw err
      addUnknown(state, 'channels', `users.conversations failed (${isProvisionerError(err) ? `${err.kind}${err.vendorCode ? ` ${err.vendorCode}` : ''}` : String(err)})`)
      return
    }
    const still = resolved.filter((ch) => member.includes(ch.id)).map((ch) => ch.ref)
    state.checks.push({
      name: 'granted_channels_left',
      ok: still.length === 0,
      detail: still.length === 0 ? `in none of the ${resolved.length} granted channel(s) (users.conversations)` : `still in ${still.join(', ')} (users.conversations)`,
    })
  }

  async listAccounts(ctx: Ctx, page?: string): Promise<Page<AccountState>> {
    // SCIM paging is 1-based startIndex/count (RFC 7644 §3.4.2.4); nextPage is the next startIndex.
    const startIndex = page === undefined ? 1 : Number(page)
    if (!Number.isInteger(startIndex) || startIndex < 1) {
      throw new PermanentError(`listAccounts: page token ${JSON.stringify(page)} is not a SCIM startIndex`, { system: this.system, operation: 'scim.Users.list' })
    }
    const query = { startIndex, count: this.config.listPageSize }
    const res = await this.scimClient.get({ ctx, buckets: ['scim_read'] }, '/Users', 'scim.Users.list', query)
    const list = this.scimClient.parse(scimListSchema, res, 'scim.Users.list')
    const next = nextStartIndex(list, startIndex)
    // Reconciliation compares these with the policy's `userGroups`, which name groups by handle
    // (`engineers`, `@engineers`): SCIM lists ids (S…), so each is reported as its handle. A group
    // usergroups.list does not show (disabled since) keeps its id.
    const handles = list.Resources.some((u) => (u.groups?.length ?? 0) > 0) ? await this.userGroupHandles(ctx) : new Map<string, string>()
    return {
      items: list.Resources.map((u) => {
        const state = this.toAccountState(u)
        return { ...state, groups: state.groups.map((id) => handles.get(id) ?? id) }
      }),
      ...(next === undefined ? {} : { nextPage: String(next) }),
    }
  }

  /**
   * SCIM lists a user's user groups as `groups[].value`, the group's id
   * (https://docs.slack.dev/reference/scim-api#user-attributes), while a policy names them by handle, name or
   * id (under `userGroups` or `groups`, see userGroupsOf). listAccounts reports each group as its
   * handle (the id where the group has none), so the policy's names are resolved to the same
   * spelling; a name that resolves to nothing stays as written and matches nothing.
   */
  async listedAccess(ctx: Ctx, grant: AccessGrant): Promise<ListedAccess> {
    const { resolved, missing } = await this.resolveUserGroups(ctx, userGroupsOf(grant))
    const handles = resolved.length > 0 ? await this.userGroupHandles(ctx) : new Map<string, string>()
    return { groups: [...resolved.map((r) => handles.get(r.id) ?? r.id), ...missing], licences: [], roles: [] }
  }

  // -------------------------------------------------------------------------------------------
  // Revocation steps

  private async runStep(
    ctx: Ctx,
    ref: AccountRef,
    step: RevocationStepKind,
    plan: RevocationPlan,
    state: StepState,
    readTrace: string[],
    residual: ResidualAccess[],
    beltAndBraces: boolean,
  ): Promise<StepOutcome> {
    const outcome = (status: StepStatus, detail: string, requestIds: string[] = []): StepOutcome => ({ status, detail, requestIds })
    // Evidence for an implicit step is the call that deactivated (this run) or the read that saw it deactivated.
    const implicit = (what: string) => outcome(state.deactivatedNow ? 'done' : 'already_done', `done implicitly by deactivation: ${what}`, state.deactivationIds)
    const explicitReset = async (reason: string): Promise<StepOutcome> => {
      const trace: string[] = []
      await this.web(ctx, 'admin.users.session.reset', (c) => c.admin.users.session.reset({ user_id: ref.accountId }), { token: 'admin', trace })
      return outcome('done', `admin.users.session.reset called (${reason})`, trace)
    }
    switch (step) {
      case 'disable': {
        // Already deactivated by this call: the cut-off wrote before reading (see deprovision).
        if (state.deactivatedNow) {
          return outcome('done', 'SCIM PATCH active=false, written without a read first (idempotent: an account already deactivated stays so)', state.deactivationIds)
        }
        if (!state.active) {
          return outcome('already_done', 'SCIM reads active=false: the account was already deactivated', readTrace)
        }
        const trace: string[] = []
        await this.deactivate(ctx, ref.accountId, trace)
        state.active = false
        state.deactivatedNow = true
        state.deactivationIds = trace
        return outcome('done', this.config.deactivateWith === 'delete' ? 'SCIM DELETE /Users/{id} (Slack deactivates, deletes nothing)' : 'SCIM PATCH active=false', trace)
      }
      case 'revoke_sessions': {
        if (plan.phase === 'cleanup' && this.config.resetSessionsExplicitly) {
          return explicitReset(
            beltAndBraces ? 'resetSessionsExplicitly: belt and braces after the cut-off deactivation' : 'resetSessionsExplicitly, clean-up phase',
          )
        }
        if (!state.active) {
          return implicit(
            `Slack signs a deactivated member out of every workspace on all devices (${DEACTIVATION_HELP}). ` +
              'admin.users.session.reset (Tier 2, 20/min) is deliberately not on the cut-off path' +
              (this.config.resetSessionsExplicitly ? '; an explicit reset follows in the clean-up phase' : ''),
          )
        }
        // Only reachable when the plan revokes sessions without deactivating (e.g. a suspected
        // compromise of an account that stays active): the explicit reset is the only way.
        return explicitReset('account stays active: the plan has no disable step')
      }
      case 'revoke_tokens': {
        if (!state.active) {
          return implicit("Slack refuses a deactivated member's OAuth tokens with account_inactive, and apps they installed may be disabled")
        }
        residual.push({ kind: 'slack_user_tokens', id: ref.accountId, reason: 'account is active: its OAuth tokens keep working until it is deactivated' })
        return outcome('not_supported', "Slack has no API to revoke another member's OAuth tokens; only deactivation invalidates them")
      }
      case 'remove_groups': {
        const trace: string[] = []
        // Which groups to look at: the listing shared by the clean-ups in flight (one Tier 2 call
        // for all of them, see usergroups.ts) plus the groups on the SCIM user read at the start of
        // this run, which is fresh, so a group the person joined after the listing is not missed.
        // Each removal then re-reads the group's members right before writing.
        const listed = await this.userGroups.membershipsOf(ctx, ref.accountId)
        if (listed.requestId) trace.push(listed.requestId)
        // The listing is per process and up to userGroupListingCacheSeconds old: a group the
        // person joined since, through another worker process, is not in it (this process's own
        // writes patch it; other processes' do not). The fresh SCIM record covers that. When the
        // record carries no groups (unknown), the user groups Tenure granted (plan.options.granted)
        // are added instead; otherwise they need no read of their own, since a fresh SCIM record
        // and the listing between them show every membership (one Tier 2 read per leaver and group saved).
        let fresh = state.scimGroups
        if (fresh === undefined) {
          const granted = plan.options.granted ? userGroupsOf(plan.options.granted) : []
          fresh = granted.length > 0 ? (await this.resolveUserGroups(ctx, granted)).resolved.map((g) => g.id) : []
        }
        const groups = [...new Set([...listed.groups, ...fresh])]
        const source =
          'usergroups.list include_users' +
          (listed.shared ? ` shared by the clean-ups in flight, ${Math.round(listed.ageMs / 1000)} s old` : '') +
          (state.scimGroups === undefined ? ', and the user groups Tenure granted (the SCIM user record carries no groups)' : ', and the SCIM user record')
        if (groups.length === 0) {
          return outcome('already_done', `member of no user group (${source})`, trace)
        }
        const removed: string[] = []
        const absent: string[] = []
        const left: string[] = []
        for (const groupId of groups) {
          let outcome: 'removed' | 'absent' | { code: string; reason: string }
          try {
            outcome = await this.removeFromUserGroup(ctx, ref.accountId, groupId, trace)
          } catch (err) {
            // Deleted or disabled since it was listed: nothing left to remove the person from.
            if (!(err instanceof NotFoundError && err.vendorCode === 'no_such_subteam')) throw err
            outcome = 'absent'
          }
          if (typeof outcome === 'object') {
            left.push(groupId)
            residual.push({ kind: 'slack_usergroup', id: groupId, reason: outcome.reason })
          } else if (outcome === 'removed') removed.push(groupId)
          else absent.push(groupId)
        }
        if (removed.length === 0 && left.length === 0) {
          return outcome('already_done', `member of no user group (${source}; usergroups.users.list of ${absent.join(', ')} reads no membership)`, trace)
        }
        const detail = `removed from ${removed.length} user group(s)${removed.length ? `: ${removed.join(', ')}` : ''}` + (left.length ? `; still in ${left.join(', ')} (see residual)` : '')
        return outcome(removed.length === 0 && left.length > 0 ? 'failed' : 'done', detail, trace)
      }
      case 'remove_channels': {
        // Read even for a deactivated account: Slack documents that deactivation removes a member
        // from all channels (help 204475027), and this is the read that shows it did.
        const trace: string[] = []
        const before = await this.channelsOf(ctx, ref.accountId, trace)
        if (before.length === 0) {
          const why = state.active ? '' : `; Slack removes a deactivated member from all channels (${DEACTIVATION_HELP})`
          return outcome('already_done', `member of no channel (users.conversations)${why}`, trace)
        }
        const refused = new Map<string, string>()
        for (const channel of before) {
          try {
            await this.web(ctx, 'conversations.kick', (c) => c.conversations.kick({ channel, user: ref.accountId }), { accept: ['not_in_channel'], trace })
          } catch (err) {
            if (!(isProvisionerError(err) && err.vendorCode !== undefined && CHANNEL_ITEM_ERRORS.has(err.vendorCode))) throw err
            refused.set(channel, err.vendorCode)
          }
        }
        // Read back: `not_in_channel` is also what Slack says when the app itself is not in a
        // private channel, so the second read is the evidence, not the kick answers.
        const after = await this.channelsOf(ctx, ref.accountId, trace)
        for (const channel of after) {
          const code = refused.get(channel)
          const reason =
            code === 'cant_kick_from_general'
              ? 'Slack never removes anyone from the workspace-wide #general channel; deactivation does'
              : `still a member after conversations.kick${code ? ` (${code})` : ''}: add the Tenure app to the channel or remove the member by hand`
          residual.push({ kind: 'slack_channel', id: channel, reason })
        }
        return outcome(after.length === before.length ? 'failed' : 'done', `removed from ${before.length - after.length} of ${before.length} channel(s)`, trace)
      }
      case 'remove_licences':
        return outcome('not_supported', "Slack has no per-user licence to remove; deactivated members are not billed (Slack's Fair Billing Policy)")
      case 'remove_roles':
        return outcome('not_supported', 'Slack owner/admin roles cannot be changed through SCIM or the Web API; deactivation ends their effect')
      case 'remove_products':
        return outcome('not_supported', 'Slack has no per-user products')
      case 'move_org_unit':
        return outcome('not_supported', 'Slack has no organisational units')
      case 'convert_mailbox':
        return outcome('not_supported', 'Slack has no mailbox')
      case 'transfer_data':
        return outcome('not_supported', "Slack keeps a deactivated member's messages and files in place for the workspace; there is nothing to transfer")
      case 'delete':
        return outcome('not_supported', 'Slack accounts cannot be deleted through its APIs (SCIM DELETE only deactivates); the account stays deactivated')
      default:
        // Job payloads are read as unknown upstream: a step this code does not know is reported.
        return outcome('not_supported', `unknown step ${String(step)}`)
    }
  }

  // -------------------------------------------------------------------------------------------
  // SCIM operations

  private async createUser(ctx: Ctx, spec: AccountSpec, email: string, userName: string): Promise<ScimUser> {
    // No manager: managerId must name an existing Slack user, and a manager who is not in
    // Slack (yet) would make the whole create fail.
    const body = {
      schemas: [...SLACK_DIALECT.userSchemas],
      userName,
      emails: [{ value: email, type: 'work', primary: true }],
      ...buildTargetAttributes(SLACK_MAPPING, spec.employee, { enabled: spec.enabled }),
    }
    const res = await this.scimClient.create({ ctx, buckets: ['scim_write'] }, '/Users', body, 'scim.Users.create')
    return this.scimClient.parse(scimUserSchema, res, 'scim.Users.create')
  }

  private async getUser(ctx: Ctx, id: string, trace?: string[]): Promise<ScimUser> {
    const res = await this.scimClient.get({ ctx, buckets: ['scim_read', 'scim_get_user'], trace }, resourcePath('/Users', id), 'scim.Users.get')
    return this.scimClient.parse(scimUserSchema, res, 'scim.Users.get')
  }

  private async setActive(ctx: Ctx, id: string, active: boolean, trace?: string[]): Promise<ScimUser> {
    const ops = [{ op: 'replace' as const, attr: 'active', value: active }]
    const res = await this.scimClient.patch({ ctx, buckets: ['scim_write'], trace }, resourcePath('/Users', id), ops, 'scim.Users.patch')
    return this.scimClient.parse(scimUserSchema, res, 'scim.Users.patch')
  }

  private async deactivate(ctx: Ctx, id: string, trace: string[]): Promise<void> {
    if (this.config.deactivateWith === 'delete') {
      // "DELETE /Users/<id>: Sets a Slack user to deactivated" (https://docs.slack.dev/reference/scim-api)
      await this.scimClient.delete({ ctx, buckets: ['scim_write'], trace }, resourcePath('/Users', id), 'scim.Users.delete')
      return
    }
    await this.setActive(ctx, id, false, trace)
  }

  private async searchUsers(ctx: Ctx, filter: string): Promise<ScimUser[]> {
    const res = await this.scimClient.search({ ctx, buckets: ['scim_read'] }, '/Users', filter, 'scim.Users.search')
    return this.scimClient.parse(scimListSchema, res, 'scim.Users.search').Resources
  }

  /**
   * The core client's transport: `scim()` below (pacing, recording, Slack's error classification).
   * It sends Slack's own Accept/Content-Type (application/json, as SLACK_DIALECT says) and takes
   * paths relative to scimBaseUrl.
   */
  private readonly scimTransport: ScimTransport<ScimCall> = async (call, req) => {
    if (req.method === 'PUT') throw new Error('Slack SCIM: Tenure does not PUT users (SLACK_DIALECT patch.form is patch)')
    const query = Object.fromEntries(Object.entries(req.query ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])))
    return this.scim(
      call.ctx,
      { operation: req.operation, method: req.method, path: req.path.replace(/^\//, ''), query, ...(req.body === undefined ? {} : { body: req.body }), buckets: call.buckets },
      call.trace,
    )
  }

  /**
   * Slack documents SCIM filters on `userName` and `email` only (https://docs.slack.dev/reference/scim-api#filter),
   * so "by external id first" is done by *checking* externalId on what email/userName return:
   * - same externalId: ours (a retried create, a rehire);
   * - no externalId and the same email: an account made by hand or by an earlier tool, adopted;
   * - another externalId, or only the userName matches: someone else, never adopted.
   */
  private async findAccount(ctx: Ctx, employee: EmployeeProfile, email: string, userName: string): Promise<{ mine?: ScimUser; foreign: ScimUser[] }> {
    const foreign: ScimUser[] = []
    const byEmail = await this.searchUsers(ctx, filterEq('email', email))
    const exact = byEmail.find((u) => u.externalId === employee.employeeId)
    if (exact) return { mine: exact, foreign }
    const unclaimed = byEmail.find((u) => !u.externalId)
    if (unclaimed) return { mine: unclaimed, foreign }
    foreign.push(...byEmail)
    const byUserName = await this.searchUsers(ctx, filterEq('userName', userName))
    const mine = byUserName.find((u) => u.externalId === employee.employeeId)
    if (mine) return { mine, foreign }
    foreign.push(...byUserName.filter((u) => !foreign.some((f) => f.id === u.id)))
    return { foreign }
  }

  private toAccountState(user: ScimUser): AccountState {
    const groups = (user.groups ?? []).map((g) => g.value)
    const login = scimPrimaryEmail(user)
    // `groups` is optional in a SCIM user (RFC 7643 §4.1.2, read-only): absent is "not shown", not "none".
    const unknown = user.groups == null ? [{ attribute: 'userGroups', reason: `SCIM GET /Users/${user.id} returned no groups attribute` }] : []
    return {
      accountId: user.id,
      exists: true,
      active: user.active,
      ...(login ? { login } : {}),
      ...(user.externalId ? { employeeId: user.externalId } : {}),
      groups,
      licences: [],
      roles: [],
      checks: [
        {
          name: 'account_deactivated',
          ok: !user.active,
          detail: `SCIM GET /Users/${user.id} reads active=${user.active}` + (user.active ? '' : ' (signed out everywhere, tokens refused)'),
        },
      ],
      revoked: !user.active,
      ...(unknown.length > 0 ? { unknown } : {}),
    }
  }

  // -------------------------------------------------------------------------------------------
  // Channels and user groups (Web API)

  /** Invite to channels and add to user groups; returns per-item failures, throws on systemic ones. */
  private async grant(ctx: Ctx, userId: string, channels: string[], userGroups: string[]): Promise<ItemFailure[]> {
    const failures = channels.length > 0 ? await this.inviteToChannels(ctx, userId, channels) : []
    if (userGroups.length > 0) failures.push(...(await this.addToUserGroups(ctx, userId, userGroups)))
    return failures
  }

  private async inviteToChannels(ctx: Ctx, userId: string, refs: string[]): Promise<ItemFailure[]> {
    const { resolved, missing } = await this.resolveChannels(ctx, refs)
    const failures: ItemFailure[] = missing.map((ref) => ({ ref, code: 'channel_not_found' }))
    // A job that ran before may have made these invites already: one read of the user's channels
    // (200 a page) instead of an invite per channel answered already_in_channel.
    const joined = ctx.repeat && resolved.length > 1 ? new Set(await this.channelsOf(ctx, userId, [])) : new Set<string>()
    for (const { ref, id } of resolved) {
      if (joined.has(id)) continue
      try {
        await this.web(ctx, 'conversations.invite', (c) => c.conversations.invite({ channel: id, users: userId }), { accept: ['already_in_channel'] })
      } catch (err) {
        if (!(isProvisionerError(err) && err.vendorCode !== undefined && CHANNEL_ITEM_ERRORS.has(err.vendorCode))) throw err
        failures.push({ ref, code: err.vendorCode })
        if (err.vendorCode === 'channel_not_found') this.channelCache = undefined // renamed or deleted since cached
      }
    }
    return failures
  }

  private async kickFromChannels(ctx: Ctx, userId: string, refs: string[]): Promise<ItemFailure[]> {
    const { resolved, missing } = await this.resolveChannels(ctx, refs)
    const failures: ItemFailure[] = missing.map((ref) => ({ ref, code: 'channel_not_found' }))
    for (const { ref, id } of resolved) {
      try {
        await this.web(ctx, 'conversations.kick', (c) => c.conversations.kick({ channel: id, user: userId }), { accept: ['not_in_channel'] })
      } catch (err) {
        if (!(isProvisionerError(err) && err.vendorCode !== undefined && CHANNEL_ITEM_ERRORS.has(err.vendorCode))) throw err
        failures.push({ ref, code: err.vendorCode })
      }
    }
    return failures
  }

  private async channelsOf(ctx: Ctx, userId: string, trace: string[]): Promise<string[]> {
    const ids: string[] = []
    let cursor: string | undefined
    do {
      const { result, requestId } = await this.web(
        ctx,
        'users.conversations',
        (c) => c.users.conversations({ user: userId, types: 'public_channel,private_channel', limit: 200, ...(cursor ? { cursor } : {}) }),
        { trace },
      )
      const page = this.parse(channelPageSchema, result, 'users.conversations', requestId)
      ids.push(...page.channels.map((ch) => ch.id))
      cursor = page.response_metadata?.next_cursor || undefined
    } while (cursor)
    return ids
  }

  /**
   * usergroups.users.update REPLACES the member list (https://docs.slack.dev/reference/methods/usergroups.users.update),
   * so every add or remove is read-modify-write and two writers can lose each other's change.
   * Changes go through this.userGroups, which serialises them per group within this process (and
   * applies the ones that queue up together), reads the list with usergroups.users.list right
   * before the update (never from a cached or earlier usergroups.list) and checks the update's
   * answer for each change. Writers in other processes can still interleave between read and write.
   */
  private async addToUserGroups(ctx: Ctx, userId: string, refs: string[]): Promise<ItemFailure[]> {
    const { resolved, missing } = await this.resolveUserGroups(ctx, refs)
    const failures: ItemFailure[] = missing.map((ref) => ({ ref, code: 'no_such_subteam' }))
    for (const { ref, id } of resolved) {
      try {
        const outcome = await this.userGroups.change(ctx, id, { kind: 'add', userId })
        if (outcome.status === 'refused') {
          failures.push({ ref, code: outcome.code })
          if (outcome.code === 'no_such_subteam') this.groupCache = undefined
        }
      } catch (err) {
        if (!(isProvisionerError(err) && err.vendorCode !== undefined && GROUP_ITEM_ERRORS.has(err.vendorCode))) throw err
        failures.push({ ref, code: err.vendorCode })
        if (err.vendorCode === 'no_such_subteam') this.groupCache = undefined
      }
    }
    return failures
  }

  private async removeFromUserGroup(
    ctx: Ctx,
    userId: string,
    groupId: string,
    trace?: string[],
  ): Promise<'removed' | 'absent' | { code: string; reason: string }> {
    const outcome: MembershipOutcome = await this.userGroups.change(ctx, groupId, { kind: 'remove', userId }, trace)
    // Deleted or disabled (settled so by another job's round): no membership left to remove.
    if (outcome.status === 'refused' && outcome.code === 'no_such_subteam') return 'absent'
    if (outcome.status === 'refused') return { code: outcome.code, reason: outcome.reason }
    return outcome.status === 'changed' ? 'removed' : 'absent'
  }

  private async userGroupMembers(ctx: Ctx, groupId: string): Promise<{ users: string[]; requestId: string | undefined }> {
    const { result, requestId } = await this.web(ctx, 'usergroups.users.list', (c) => c.usergroups.users.list({ usergroup: groupId }))
    return { users: this.parse(usergroupUsersSchema, result, 'usergroups.users.list', requestId).users, requestId }
  }

  /** `users` undefined when Slack's answer leaves the member list out: the caller reads it back, never assumes what it sent. */
  private async setUserGroupMembers(ctx: Ctx, groupId: string, users: string[]): Promise<{ users: string[] | undefined; requestId: string | undefined }> {
    const { result, requestId } = await this.web(
      ctx,
      'usergroups.users.update',
      (c) => c.usergroups.users.update({ usergroup: groupId, users: users.join(',') }),
      { token: 'admin' },
    )
    return { users: this.parse(usergroupUpdateSchema, result, 'usergroups.users.update', requestId).usergroup.users, requestId }
  }

  /**
   * The ids users.info reads as deactivated (`deleted: true`, https://docs.slack.dev/reference/objects/user-object)
   * or as no user at all (`user_not_found`): members Slack will not take in a user group's list.
   * Any other failure is thrown: a member is never left out of a list on a guess.
   */
  private async deactivatedUsers(ctx: Ctx, userIds: string[], trace: string[]): Promise<string[]> {
    const out: string[] = []
    for (const user of userIds) {
      try {
        const { result, requestId } = await this.web(ctx, 'users.info', (c) => c.users.info({ user }), { trace })
        if (this.parse(userInfoSchema, result, 'users.info', requestId).user.deleted === true) out.push(user)
      } catch (err) {
        if (!(err instanceof NotFoundError && err.vendorCode === 'user_not_found')) throw err
        out.push(user)
      }
    }
    return out
  }

  private async resolveChannels(ctx: Ctx, refs: string[]): Promise<{ resolved: Array<{ ref: string; id: string }>; missing: string[] }> {
    return this.resolveNames(refs, CHANNEL_ID, (r) => r.replace(/^#/, '').toLowerCase(), 'channelCache', () => this.loadChannelNames(ctx))
  }

  private async resolveUserGroups(ctx: Ctx, refs: string[]): Promise<{ resolved: Array<{ ref: string; id: string }>; missing: string[] }> {
    return this.resolveNames(refs, USERGROUP_ID, (r) => r.replace(/^@/, '').toLowerCase(), 'groupCache', () => this.loadUserGroupNames(ctx))
  }

  /**
   * Ids pass through; names are looked up in a cache refreshed when stale or when a name is not
   * in it (a channel created since the last load), so a wave of joiners costs one listing.
   */
  private async resolveNames(
    refs: string[],
    idPattern: RegExp,
    normalise: (ref: string) => string,
    cacheKey: 'channelCache' | 'groupCache',
    load: () => Promise<Map<string, string>>,
  ): Promise<{ resolved: Array<{ ref: string; id: string }>; missing: string[] }> {
    const unique = [...new Set(refs.map((r) => r.trim()).filter((r) => r !== ''))]
    const resolved: Array<{ ref: string; id: string }> = []
    const names: string[] = []
    for (const ref of unique) {
      if (idPattern.test(ref)) resolved.push({ ref, id: ref })
      else names.push(ref)
    }
    if (names.length === 0) return { resolved, missing: [] }
    let cache = this[cacheKey]
    const age = cache === undefined ? Infinity : this.now() - cache.loadedAt
    const fresh = age < this.config.channelCacheSeconds * 1000
    // A name the listing lacks may be new since: list again, but not more than once per
    // MISS_RELIST_MS, so a wave of joiners granted a channel that does not exist (or that the app
    // cannot see) costs one conversations.list (Tier 2, 20/min) every 30 s, not one per joiner.
    const missed = cache === undefined || names.some((n) => !cache!.ids.has(normalise(n)))
    if (!fresh || (missed && age >= Math.min(MISS_RELIST_MS, this.config.channelCacheSeconds * 1000))) {
      cache = await this.loadNames(cacheKey, load)
    }
    const missing: string[] = []
    for (const ref of names) {
      const id = cache!.ids.get(normalise(ref))
      if (id) resolved.push({ ref, id })
      else missing.push(ref)
    }
    return { resolved, missing }
  }

  /**
   * One listing at a time per cache in this process: jobs that need names while it is in flight
   * wait for the same answer (a hiring wave starting with a cold cache would otherwise send one
   * conversations.list or usergroups.list each, and Slack's Tier 2 refuses all but 20). Only a
   * listing whose every page was read is cached: a page not read is unknown, so a failed listing
   * leaves the cache as it was and the error goes to every waiting job (retried).
   */
  private loadNames(cacheKey: 'channelCache' | 'groupCache', load: () => Promise<Map<string, string>>): Promise<NameCache> {
    const inFlight = this.nameLoads.get(cacheKey)
    if (inFlight) return inFlight
    const loadedAt = this.now()
    const promise = load()
      .then((ids) => {
        const cache = { loadedAt, ids }
        this[cacheKey] = cache
        return cache
      })
      .finally(() => this.nameLoads.delete(cacheKey))
    this.nameLoads.set(cacheKey, promise)
    return promise
  }

  private async loadChannelNames(ctx: Ctx): Promise<Map<string, string>> {
    const ids = new Map<string, string>()
    let cursor: string | undefined
    do {
      const { result, requestId } = await this.web(ctx, 'conversations.list', (c) =>
        c.conversations.list({ types: 'public_channel,private_channel', exclude_archived: true, limit: 200, ...(cursor ? { cursor } : {}) }),
      )
      const page = this.parse(channelPageSchema, result, 'conversations.list', requestId)
      for (const ch of page.channels) if (ch.name) ids.set(ch.name.toLowerCase(), ch.id)
      cursor = page.response_metadata?.next_cursor || undefined
    } while (cursor)
    return ids
  }

  private async userGroupHandles(ctx: Ctx): Promise<Map<string, string>> {
    const cache = this.handleCache
    if (cache !== undefined && this.now() - cache.loadedAt < this.config.channelCacheSeconds * 1000) return cache.ids
    const { result, requestId } = await this.web(ctx, 'usergroups.list', (c) => c.usergroups.list({}))
    const ids = new Map<string, string>()
    for (const g of this.parse(usergroupListSchema, result, 'usergroups.list', requestId).usergroups) {
      if (g.handle) ids.set(g.id, g.handle.toLowerCase())
    }
    this.handleCache = { loadedAt: this.now(), ids }
    return ids
  }

  private async loadUserGroupNames(ctx: Ctx): Promise<Map<string, string>> {
    const { result, requestId } = await this.web(ctx, 'usergroups.list', (c) => c.usergroups.list({}))
    const ids = new Map<string, string>()
    for (const g of this.parse(usergroupListSchema, result, 'usergroups.list', requestId).usergroups) {
      if (g.name) ids.set(g.name.toLowerCase(), g.id)
      if (g.handle) ids.set(g.handle.toLowerCase(), g.id) // handles win over display names
    }
    return ids
  }

  // -------------------------------------------------------------------------------------------
  // Transport

  private async scim(ctx: Ctx, req: ScimRequest, trace?: string[]): Promise<{ status: number; body: unknown; requestId: string | undefined }> {
    const url = new URL(req.path, this.scimBase)
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v)
    const details = { system: this.system, operation: req.operation }
    return vendorCall(ctx, {
      operation: req.operation,
      method: req.method,
      path: url.pathname,
      buckets: req.buckets,
      timeoutMs: this.config.timeoutMs,
      ...(trace ? { trace } : {}),
      send: async ({ signal, facts }) => {
        const headers: Record<string, string> = { Authorization: `Bearer ${this.config.scimToken.reveal()}`, Accept: 'application/json' }
        if (req.body !== undefined) headers['Content-Type'] = 'application/json'
        const res = await fetch(url, {
          method: req.method,
          headers,
          ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
          signal,
        })
        facts.status = res.status
        facts.requestId = res.headers.get('x-slack-req-id') ?? undefined
        const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'))
        const text = await res.text()
        if (!res.ok) throw classifyScimResponse(res.status, parseJson(text), { status: res.status, requestId: facts.requestId, retryAfterMs }, details)
        return { status: res.status, body: parseJson(text), requestId: facts.requestId }
      },
      classify: (err, facts) =>
        classifyNetworkError(err, { ...details, ...(facts.status === undefined ? {} : { status: facts.status }), ...(facts.requestId ? { requestId: facts.requestId } : {}) }, this.config.timeoutMs),
    })
  }

  /**
   * One Web API call through a fresh WebClient: the client's `fetch` hook sees the raw response,
   * which is the only place @slack/web-api exposes `x-slack-req-id`, and it adds ctx.signal to the
   * SDK's own timeout signal. A WebClient is cheap to build, and one per call keeps calls of
   * different jobs from sharing a request queue.
   */
  private async web(ctx: Ctx, method: WebApiMethod, call: (client: WebClient) => Promise<unknown>, opts: WebOptions = {}): Promise<{ result: unknown; error?: string; requestId: string | undefined }> {
    const slack: CallFacts = { status: undefined, requestId: undefined, retryAfterMs: undefined }
    return vendorCall(ctx, {
      operation: method,
      method: 'POST',
      path: new URL(method, this.apiBase).pathname,
      buckets: [method],
      ...(opts.trace ? { trace: opts.trace } : {}),
      send: async ({ signal, facts }) => {
        const fetchFn: FetchFunction = async (url, init) => {
          const res = await fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal })
          facts.status = slack.status = res.status
          facts.requestId = slack.requestId = res.headers.get('x-slack-req-id') ?? undefined
          slack.retryAfterMs = parseRetryAfter(res.headers.get('retry-after'))
          return res
        }
        const token = opts.token === 'admin' && this.config.adminToken ? this.config.adminToken : this.config.botToken
        const client = new WebClient(token.reveal(), {
          slackApiUrl: this.apiBase,
          rejectRateLimitedCalls: true,
          retryConfig: { retries: 0 },
          timeout: this.config.timeoutMs,
          fetch: fetchFn,
          logger: sdkLogger(ctx.log),
          ...(this.config.teamId ? { teamId: this.config.teamId } : {}),
        })
        try {
          return { result: await call(client), requestId: slack.requestId }
        } catch (err) {
          // "Already so" answers (already_in_channel) are a success for this call.
          if (err instanceof WebAPIPlatformError && opts.accept?.includes(err.data.error)) return { result: err.data, error: err.data.error, requestId: slack.requestId }
          throw err
        }
      },
      classify: (err) => classifyWebApiError(err, slack, { system: this.system, operation: method }, this.config.timeoutMs),
    })
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  private parse<T>(schema: z.ZodType<T>, value: unknown, operation: string, requestId: string | undefined): T {
    const parsed = schema.safeParse(value)
    if (parsed.success) return parsed.data
    throw this.badResponse(operation, requestId, parsed.error)
  }

  private badResponse(operation: string, requestId: string | undefined, error: z.ZodError): ProvisionerError {
    const issue = error.issues[0]
    return new PermanentError(`${operation}: unexpected response from Slack (${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'})`, {
      system: this.system,
      operation,
      requestId,
      cause: error,
    })
  }

  private primaryEmail(employee: EmployeeProfile): string {
    if (employee.workEmail) return employee.workEmail.trim()
    const domain = this.config.emailDomain
    const local = [employee.firstName, employee.lastName].map(asciiSlug).filter((s) => s !== '').join('.')
    if (domain && local) return `${local}@${domain}`
    throw new PermanentError(`employee ${employee.employeeId} has no work email and slack.emailDomain is not set`, {
      system: this.system,
      operation: 'provision',
    })
  }

  private partialGrantError(operation: string, userId: string, failures: ItemFailure[]): ProvisionerError {
    const list = failures.map((f) => `${f.ref} (${f.code})`).join(', ')
    return new PermanentError(`Slack user ${userId}: could not apply ${list}; the rest of the grant was applied`, {
      system: this.system,
      operation,
      vendorCode: failures[0]?.code,
    })
  }
}

function addUnknown(state: AccountState, attribute: string, reason: string): void {
  ;(state.unknown ??= []).push({ attribute, reason })
}

function isStepLevelFailure(err: ProvisionerError): boolean {
  return err.kind === 'Permanent' || (err.vendorCode !== undefined && TARGET_REFUSALS.has(err.vendorCode))
}

/**
 * Slack answers a refusal about this account (the primary owner, a GDPR-forgotten user) with 403,
 * which reads as AuthFailed, a credential problem the job layer retries. No retry changes it: Permanent.
 */
function refusalAsPermanent(err: unknown): unknown {
  if (!isProvisionerError(err) || err.kind === 'Permanent' || err.vendorCode === undefined || !TARGET_REFUSALS.has(err.vendorCode)) return err
  return new PermanentError(err.message, {
    system: err.system,
    operation: err.operation,
    status: err.status,
    vendorCode: err.vendorCode,
    requestId: err.requestId,
    cause: err,
  })
}

function userGroupsOf(access: AccessGrant): string[] {
  // Slack has one kind of group; a policy may list them as `userGroups` or as generic `groups`.
  return [...(access.userGroups ?? []), ...access.groups]
}

/** Slack turns an email userName into a handle itself; doing it here lets lookup filter on it. */
export function deriveUserName(email: string): string {
  const local = (email.split('@')[0] ?? '').toLowerCase().replace(/[^a-z0-9._-]/g, '_')
  return (local || 'user').slice(0, SLACK_USERNAME_MAX)
}

function asciiSlug(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '')
}

function scimPrimaryEmail(user: ScimUser): string | undefined {
  const emails = user.emails ?? []
  const primary = emails.find((e) => e.primary === true || e.primary === 'true') ?? emails[0]
  return primary?.value ?? undefined
}

function parseJson(text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/** @slack/web-api's logger interface, forwarding only warnings and errors (debug output can echo arguments). */
function sdkLogger(log: Logger): SlackLogger {
  let level: LogLevel = LogLevel.WARN
  return {
    debug: () => {},
    info: () => {},
    warn: (...msg: unknown[]) => log.warn({ sdk: '@slack/web-api' }, msg.map(String).join(' ')),
    error: (...msg: unknown[]) => log.error({ sdk: '@slack/web-api' }, msg.map(String).join(' ')),
    setLevel: (l: LogLevel) => {
      level = l
    },
    getLevel: () => level,
    setName: () => {},
  }
}
