/**
 * A local twin of the parts of Slack that Tenure uses, on one port:
 *
 * - Web API at `/api/<method>` (https://docs.slack.dev/apis/web-api/): form or JSON bodies, token
 *   in `Authorization: Bearer` (or the legacy `token` form field), logical errors as HTTP 200
 *   `{ ok: false, error }`, 429 + Retry-After per method tier. Methods: auth.test, conversations.list
 *   (cursor paging), conversations.invite, conversations.kick, users.conversations, users.info,
 *   usergroups.list, usergroups.users.list, usergroups.users.update, admin.users.session.reset and chat.postMessage
 *   (for the SLA escalation feature; `messages(channel)` reads posts back).
 * - SCIM 2.0 at `/scim/v2/` (https://docs.slack.dev/reference/scim-api): Users (list with filter and
 *   startIndex/count paging, get, create, PATCH, DELETE = deactivate) and read-only Groups (Slack's
 *   SCIM groups are its user groups). Errors in Slack's v2 shape `{ schemas: [Error], detail: code, status }`.
 *
 * Behaviour copied from Slack because Tenure relies on it:
 * - deactivation (PATCH active=false or DELETE) removes the member from every channel, signs them
 *   out, and makes their own tokens fail with `account_inactive` (https://slack.com/help/articles/204475027);
 *   deactivated users stay listed by SCIM with active=false;
 * - userName is normalised like Slack does (email local part, [a-z0-9._-], max 21 chars) and must be
 *   unique among users and channel names; emails are unique across active and deactivated users;
 * - SCIM filters only on userName and email; usergroups.users.update replaces the whole list and
 *   cannot empty a group; conversations.invite refuses deactivated users; the primary owner cannot
 *   be deactivated.
 *
 * Deactivated members and user groups. What Slack documents: deactivation removes the member "from
 * all channels" (https://slack.com/help/articles/204475027); it says nothing of user groups.
 * usergroups.users.update takes "the entire list of users for the user group", guests and bots in
 * it are refused, and `invalid_users` means "Value passed for `users` was empty or invalid"
 * (https://docs.slack.dev/reference/methods/usergroups.users.update). `include_disabled` on
 * usergroups.list / usergroups.users.list is about disabled *groups*, not deactivated users
 * (https://docs.slack.dev/reference/methods/usergroups.users.list). Where the docs are silent the
 * emulator takes the reading that is inconvenient for a client, so Tenure copes with it:
 * - a deactivated member stays in every user group: usergroups.list include_users,
 *   usergroups.users.list and the SCIM user's `groups` keep listing them (nothing documents a removal);
 * - a member list sent to usergroups.users.update that names a deactivated user is refused with
 *   `invalid_users`, like any other user who may not be a member;
 * - users.info reports them with `deleted: true` ("This user has been deactivated when the value of
 *   this field is true", https://docs.slack.dev/reference/objects/user-object).
 */
import { randomUUID } from 'node:crypto'
import express, { type NextFunction, type Request, type Response } from 'express'
import { EmulatorKit, encodePageToken, type Admission, type EmulatorOptions, type InventoryAccount } from '../../src/sandbox/emulator-kit.ts'
import type { SlackConfigInput } from './config.ts'
import { EMULATOR_RATE_LIMITS } from './limits.ts'
import { filterGrammarOf, SLACK_DIALECT } from '../scim-core/dialect.ts'
import { matchesFilter, parseFilter, ScimFilterError, type FilterRefusal } from '../scim-core/filter.ts'
import { SCHEMA } from '../scim-core/schemas.ts'

/** Development credentials the emulator accepts out of the box (the sandbox config uses them). */
export const SLACK_DEV_BOT_TOKEN = 'xoxb-tenure-sandbox-bot'
export const SLACK_DEV_SCIM_TOKEN = 'xoxp-tenure-sandbox-scim'
export const SLACK_DEV_ADMIN_TOKEN = 'xoxp-tenure-sandbox-admin'

const USERNAME_MAX = 21
const RESERVED_USERNAMES = new Set(['channel', 'here', 'everyone', 'group', 'slackbot', 'system', 'admin'])
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
/**
 * Slack's filter language (https://docs.slack.dev/reference/scim-api#filter): operators eq, co, sw,
 * pr, gt, ge, lt, le with and/or and parentheses, on `userName` and `email` only; string literals
 * are JSON strings, single quotes are accepted too (Slack's own `restricted eq '1'` example).
 * Anything else (externalId, displayName ...) is refused, so a client that relies on an
 * undocumented filter fails against the emulator the way it could fail against Slack.
 */
const SCIM_FILTER_GRAMMAR = filterGrammarOf(SLACK_DIALECT, { singleQuotes: true, bareValues: true })
/** Slack's error codes for bad filters (https://docs.slack.dev/reference/scim-api#errors). */
const FILTER_ERRORS: Record<FilterRefusal, string> = {
  empty: 'no_filters',
  incomplete: 'incomplete_filter',
  group: 'invalid_filter_group',
  unsupported: 'invalid_query',
}
const BLOCK_TYPES = new Set(['section', 'header', 'divider', 'context', 'actions', 'image', 'rich_text', 'input', 'file', 'video', 'markdown'])

const BOT_SCOPES = ['channels:read', 'groups:read', 'channels:manage', 'groups:write', 'usergroups:read', 'usergroups:write', 'chat:write', 'users:read']
const ADMIN_SCOPES = ['admin.users:write', 'usergroups:read', 'usergroups:write', 'channels:read', 'groups:read']

/** Scopes a Web API method accepts (any one of them). */
const METHOD_SCOPES: Record<string, string[]> = {
  'auth.test': [],
  'conversations.list': ['channels:read', 'groups:read'],
  'conversations.invite': ['channels:manage', 'groups:write'],
  'conversations.kick': ['channels:manage', 'groups:write'],
  'users.conversations': ['channels:read', 'groups:read'],
  'users.info': ['users:read'],
  'usergroups.list': ['usergroups:read'],
  'usergroups.users.list': ['usergroups:read'],
  'usergroups.users.update': ['usergroups:write'],
  'admin.users.session.reset': ['admin.users:write'],
  'chat.postMessage': ['chat:write'],
}

export interface SlackEmulatorUser {
  id: string
  userName: string
  externalId: string
  givenName: string
  familyName: string
  displayName: string
  title: string
  timezone: string
  /** First entry is the primary address. */
  emails: string[]
  enterprise: Record<string, unknown>
  active: boolean
  isPrimaryOwner: boolean
  created: string
  /** When deactivation (or admin.users.session.reset) last ended this person's sessions. */
  sessionsEndedAt: string | undefined
  sessionResets: number
}

interface Channel {
  id: string
  name: string
  isPrivate: boolean
  isArchived: boolean
  isGeneral: boolean
  created: number
  members: Set<string>
}

interface UserGroup {
  id: string
  handle: string
  name: string
  description: string
  users: string[]
  disabled: boolean
  created: number
  updated: number
}

export interface SlackEmulatorMessage {
  channel: string
  ts: string
  text: string | undefined
  blocks: unknown[] | undefined
  user: string
}

interface TokenInfo {
  kind: 'bot' | 'user'
  userId: string
  scopes: Set<string>
  expired: boolean
}

export interface SlackEmulatorOptions extends EmulatorOptions {
  /** When true, only admins may edit user groups: usergroups.users.update with a bot token gets permission_denied. */
  userGroupsAdminOnly?: boolean
  /**
   * False: SCIM Users come back without `groups`. The attribute is optional and read-only in SCIM
   * (RFC 7643 §4.1.2), and Slack's SCIM reference (https://docs.slack.dev/reference/scim-api)
   * does not promise it on every read; a client must not take its absence for "in no group".
   */
  scimUserGroups?: boolean
}

class WebError extends Error {
  readonly code: string
  readonly extra: Record<string, unknown>
  constructor(code: string, extra: Record<string, unknown> = {}) {
    super(code)
    this.code = code
    this.extra = extra
  }
}

class ScimError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string) {
    super(code)
    this.status = status
    this.code = code
  }
}

type Params = Record<string, unknown>
type WebHandler = (params: Params, token: TokenInfo) => Record<string, unknown>

export class SlackEmulator {
  readonly kit: EmulatorKit
  readonly teamId: string
  readonly botUserId: string
  readonly botId: string
  /** The Org primary owner who installed the SCIM app (the SCIM and admin dev tokens are theirs). */
  readonly ownerId: string
  private readonly options: SlackEmulatorOptions
  private readonly users = new Map<string, SlackEmulatorUser>()
  private readonly channels = new Map<string, Channel>()
  private readonly groups = new Map<string, UserGroup>()
  private readonly tokens = new Map<string, TokenInfo>()
  private readonly posted: SlackEmulatorMessage[] = []
  private counter = 0
  private lastTs = 0
  private baseUrl = ''

  constructor(options: SlackEmulatorOptions = {}) {
    this.options = options
    this.kit = new EmulatorKit(EMULATOR_RATE_LIMITS, options)
    this.teamId = this.newId('T')
    this.botUserId = this.newId('U')
    this.botId = this.newId('B')
    this.ownerId = this.seedUser({ userName: 'owner', email: 'owner@example.com', givenName: 'Org', familyName: 'Owner' })
    this.users.get(this.ownerId)!.isPrimaryOwner = true
    this.tokens.set(SLACK_DEV_BOT_TOKEN, { kind: 'bot', userId: this.botUserId, scopes: new Set(BOT_SCOPES), expired: false })
    this.tokens.set(SLACK_DEV_SCIM_TOKEN, { kind: 'user', userId: this.ownerId, scopes: new Set(['admin']), expired: false })
    this.tokens.set(SLACK_DEV_ADMIN_TOKEN, { kind: 'user', userId: this.ownerId, scopes: new Set(ADMIN_SCOPES), expired: false })
    this.seedChannel({ name: 'general', isGeneral: true })
    this.mount()
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** Listen on 127.0.0.1; the Web API is at `<url>/api/`, SCIM at `<url>/scim/v2/`. */
  async start(port = 0): Promise<string> {
    this.baseUrl = await this.kit.listen(port)
    return this.baseUrl
  }

  async close(): Promise<void> {
    await this.kit.close()
  }

  // -------------------------------------------------------------------------------------------
  // Inspection and mutation for tests and the sandbox

  seedUser(input: {
    userName: string
    email: string
    externalId?: string
    givenName?: string
    familyName?: string
    active?: boolean
  }): string {
    const id = this.newId('U')
    this.users.set(id, {
      id,
      userName: normaliseUserName(input.userName),
      externalId: input.externalId ?? '',
      givenName: input.givenName ?? '',
      familyName: input.familyName ?? '',
      displayName: '',
      title: '',
      timezone: 'America/Los_Angeles',
      emails: [input.email],
      enterprise: {},
      active: input.active ?? true,
      isPrimaryOwner: false,
      created: new Date(this.kit.now()).toISOString(),
      sessionsEndedAt: undefined,
      sessionResets: 0,
    })
    return id
  }

  seedChannel(input: { name: string; isPrivate?: boolean; isArchived?: boolean; isGeneral?: boolean; members?: string[]; botIsMember?: boolean }): string {
    const id = this.newId(input.isPrivate ? 'G' : 'C')
    const members = new Set(input.members ?? [])
    if (input.botIsMember ?? true) members.add(this.botUserId)
    this.channels.set(id, {
      id,
      name: input.name.replace(/^#/, '').toLowerCase(),
      isPrivate: input.isPrivate ?? false,
      isArchived: input.isArchived ?? false,
      isGeneral: input.isGeneral ?? false,
      created: Math.floor(this.kit.now() / 1000),
      members,
    })
    return id
  }

  seedUserGroup(input: { handle: string; name?: string; users?: string[]; disabled?: boolean }): string {
    const id = this.newId('S')
    const now = Math.floor(this.kit.now() / 1000)
    this.groups.set(id, {
      id,
      handle: input.handle.replace(/^@/, ''),
      name: input.name ?? input.handle,
      description: '',
      users: [...(input.users ?? [])],
      disabled: input.disabled ?? false,
      created: now,
      updated: now,
    })
    return id
  }

  /** Every member but the org owner who installed the app, with what they still hold. */
  inventory(): InventoryAccount[] {
    return [...this.users.values()]
      .filter((u) => !u.isPrimaryOwner)
      .map((u) => ({
        accountId: u.id,
        ...(u.externalId ? { key: u.externalId } : {}),
        ...(u.emails[0] ? { email: u.emails[0] } : {}),
        active: u.active,
        access: {
          channels: [...this.channels.values()].filter((c) => !c.isArchived && c.members.has(u.id)).map((c) => c.name),
          userGroups: [...this.groups.values()].filter((g) => !g.disabled && g.users.includes(u.id)).map((g) => g.handle),
        },
      }))
  }

  getUser(id: string): SlackEmulatorUser | undefined {
    const user = this.users.get(id)
    return user ? structuredClone(user) : undefined
  }

  findUserByEmail(email: string): SlackEmulatorUser | undefined {
    const user = this.userByEmail(email)
    return user ? structuredClone(user) : undefined
  }

  /** All users SCIM would list, the seeded primary owner included. */
  userCount(): number {
    return this.users.size
  }

  /** Simulate an admin (de)activating an account by hand in Slack's admin pages. */
  setActive(id: string, active: boolean): void {
    const user = this.users.get(id)
    if (!user) throw new Error(`no such user ${id}`)
    if (active) user.active = true
    else this.deactivate(user)
  }

  channelMembers(channel: string): string[] {
    const ch = this.channelByRef(channel)
    if (!ch) throw new Error(`no such channel ${channel}`)
    return [...ch.members].filter((m) => m !== this.botUserId)
  }

  userGroupMembers(groupId: string): string[] {
    const group = this.groups.get(groupId)
    if (!group) throw new Error(`no such user group ${groupId}`)
    return [...group.users]
  }

  /** Simulate an admin disabling (or re-enabling) a user group in Slack; disabled groups answer no_such_subteam. */
  setUserGroupDisabled(groupId: string, disabled: boolean): void {
    const group = this.groups.get(groupId)
    if (!group) throw new Error(`no such user group ${groupId}`)
    group.disabled = disabled
    group.updated = Math.floor(this.kit.now() / 1000)
  }

  /** Messages posted with chat.postMessage to a channel (by id or name), oldest first. */
  messages(channel: string): SlackEmulatorMessage[] {
    const ch = this.channelByRef(channel)
    if (!ch) return []
    return this.posted.filter((m) => m.channel === ch.id).map((m) => structuredClone(m))
  }

  sessionResets(userId: string): number {
    return this.users.get(userId)?.sessionResets ?? 0
  }

  /** A user token (xoxp) belonging to a member, e.g. to show it stops working once they are deactivated. */
  issueUserToken(userId: string, scopes: string[] = ['channels:read', 'users:read']): string {
    if (!this.users.has(userId)) throw new Error(`no such user ${userId}`)
    const token = `xoxp-${randomUUID()}`
    this.tokens.set(token, { kind: 'user', userId, scopes: new Set(scopes), expired: false })
    return token
  }

  /** Make a token answer token_expired (Web API) / 401 (SCIM) from now on. */
  expireToken(token: string): void {
    const info = this.tokens.get(token)
    if (info) info.expired = true
  }

  // -------------------------------------------------------------------------------------------
  // Routes

  private mount(): void {
    const app = this.kit.app
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (!req.path.startsWith('/_emulator/')) res.setHeader('x-slack-req-id', randomUUID())
      next()
    })

    const api = express.Router()
    api.use(express.urlencoded({ extended: false }), express.json())
    api.all('/:method', (req, res) => {
      void this.webApi(req, res)
    })
    api.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      res.json({ ok: false, error: isBodyParseError(err) ? 'invalid_json' : 'invalid_form_data' })
    })
    app.use('/api', api)

    const scim = express.Router()
    scim.use(express.json({ type: ['application/json', 'application/scim+json'] }))
    scim.get('/Users', this.scimRoute('scim_read', (req) => this.listUsers(req)))
    scim.post('/Users', this.scimRoute('scim_write', (req) => this.createUser(req)))
    scim.get('/Users/:id', this.scimRoute('scim_get_user', (req) => ({ status: 200, body: this.toScimUser(this.requireUser(param(req.params.id)), req) })))
    scim.patch('/Users/:id', this.scimRoute('scim_write', (req) => this.patchUser(req)))
    scim.delete('/Users/:id', this.scimRoute('scim_write', (req) => this.deleteUser(req)))
    scim.get('/Groups', this.scimRoute('scim_read', (req) => this.listGroups(req)))
    scim.get('/Groups/:id', this.scimRoute('scim_read', (req) => ({ status: 200, body: this.toScimGroup(this.requireGroup(param(req.params.id)), req) })))
    scim.use((req: Request, res: Response) => {
      scimError(res, 404, 'bad_endpoint')
    })
    scim.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      scimError(res, 400, isBodyParseError(err) ? 'invalid_request_payload' : 'bad_request')
    })
    app.use('/scim/v2', scim)
  }

  // -------------------------------------------------------------------------------------------
  // Web API

  private readonly webMethods: Record<string, WebHandler> = {
    'auth.test': (_p, token) => ({
      url: 'https://tenure-sandbox.slack.com/',
      team: 'Tenure Sandbox',
      user: token.kind === 'bot' ? 'tenure' : (this.users.get(token.userId)?.userName ?? ''),
      team_id: this.teamId,
      user_id: token.userId,
      ...(token.kind === 'bot' ? { bot_id: this.botId } : {}),
      is_enterprise_install: false,
    }),
    'conversations.list': (p) => {
      const types = parseTypes(str(p, 'types'))
      const excludeArchived = bool(p, 'exclude_archived')
      const visible = [...this.channels.values()].filter(
        (ch) => types.has(ch.isPrivate ? 'private_channel' : 'public_channel') && (!ch.isPrivate || ch.members.has(this.botUserId)) && !(excludeArchived && ch.isArchived),
      )
      return this.page(visible, p, 'channels', (ch) => this.channelJson(ch))
    },
    'conversations.invite': (p) => {
      const ch = this.requireChannel(str(p, 'channel'))
      const ids = (str(p, 'users') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
      if (ids.length === 0) throw new WebError('no_user')
      if (ids.length > 100) throw new WebError('invalid_arguments')
      if (ch.isArchived) throw new WebError('is_archived')
      if (!ch.members.has(this.botUserId)) throw new WebError('not_in_channel')
      const errors: Array<{ user: string; ok: false; error: string }> = []
      const toAdd: string[] = []
      for (const id of ids) {
        const user = this.users.get(id)
        const error =
          id === this.botUserId ? 'cant_invite_self' : !user ? 'user_not_found' : !user.active ? 'cant_invite' : ch.members.has(id) ? 'already_in_channel' : undefined
        if (error) errors.push({ user: id, ok: false, error })
        else toAdd.push(id)
      }
      if (errors.length > 0 && !bool(p, 'force')) throw new WebError(errors[0]!.error, ids.length > 1 ? { errors } : {})
      for (const id of toAdd) ch.members.add(id)
      return { channel: this.channelJson(ch) }
    },
    'conversations.kick': (p) => {
      const ch = this.requireChannel(str(p, 'channel'))
      const userId = str(p, 'user')
      if (!userId) throw new WebError('no_user')
      if (userId === this.botUserId) throw new WebError('cant_kick_self')
      if (!this.users.has(userId)) throw new WebError('user_not_found')
      if (ch.isGeneral) throw new WebError('cant_kick_from_general')
      // Slack answers not_in_channel both when the target is not a member and when the app is not.
      if (!ch.members.has(this.botUserId) || !ch.members.has(userId)) throw new WebError('not_in_channel')
      ch.members.delete(userId)
      return {}
    },
    'users.conversations': (p, token) => {
      const userId = str(p, 'user') ?? token.userId
      if (userId !== this.botUserId && !this.users.has(userId)) throw new WebError('user_not_found')
      const types = parseTypes(str(p, 'types'))
      const excludeArchived = bool(p, 'exclude_archived')
      const channels = [...this.channels.values()].filter(
        (ch) =>
          ch.members.has(userId) &&
          types.has(ch.isPrivate ? 'private_channel' : 'public_channel') &&
          (!ch.isPrivate || ch.members.has(token.userId)) &&
          !(excludeArchived && ch.isArchived),
      )
      return this.page(channels, p, 'channels', (ch) => this.channelJson(ch))
    },
    'usergroups.list': (p) => {
      const includeUsers = bool(p, 'include_users')
      const includeCount = bool(p, 'include_count')
      const groups = [...this.groups.values()].filter((g) => bool(p, 'include_disabled') || !g.disabled)
      return { usergroups: groups.map((g) => this.usergroupJson(g, includeUsers, includeCount)) }
    },
    'usergroups.users.list': (p) => {
      const group = this.requireGroupForWeb(str(p, 'usergroup'), bool(p, 'include_disabled'))
      return { users: [...group.users] }
    },
    'users.info': (p) => {
      // https://docs.slack.dev/reference/methods/users.info: user_not_found for an unknown id; a
      // deactivated member is still returned, with `deleted: true` (user object reference).
      const userId = str(p, 'user')
      if (!userId) throw new WebError('user_not_found')
      if (userId === this.botUserId) return { user: { id: userId, team_id: this.teamId, name: 'tenure', deleted: false, is_bot: true } }
      const user = this.users.get(userId)
      if (!user) throw new WebError('user_not_found')
      return {
        user: {
          id: user.id,
          team_id: this.teamId,
          name: user.userName,
          real_name: `${user.givenName} ${user.familyName}`.trim(),
          deleted: !user.active,
          is_bot: false,
          is_primary_owner: user.isPrimaryOwner,
          profile: { email: user.emails[0], display_name: user.displayName },
        },
      }
    },
    'usergroups.users.update': (p, token) => {
      if (this.options.userGroupsAdminOnly && token.kind === 'bot') throw new WebError('permission_denied')
      const group = this.requireGroupForWeb(str(p, 'usergroup'), true)
      // `users` is "the entire list of users for the user group" (form: comma separated; JSON: an array).
      const raw = p.users
      const listed = Array.isArray(raw) ? raw.filter((v): v is string => typeof v === 'string') : (str(p, 'users') ?? '').split(',')
      const ids = [...new Set(listed.map((s) => s.trim()).filter((s) => s !== ''))]
      // "You cannot use this method to remove all members from a user group" (docs.slack.dev).
      if (ids.length === 0) throw new WebError('no_users_provided')
      // Bots (and guests) "cannot be added to user groups"; unknown ids are invalid; a deactivated
      // member is refused too, the reading of the undocumented case described in the header.
      if (ids.some((id) => id === this.botUserId || !this.users.get(id)?.active)) throw new WebError('invalid_users')
      group.users = ids
      // No silent re-enable of a disabled group: Slack documents usergroups.enable for that.
      group.updated = Math.floor(this.kit.now() / 1000)
      return { usergroup: this.usergroupJson(group, true, bool(p, 'include_count')) }
    },
    'admin.users.session.reset': (p) => {
      const userId = str(p, 'user_id')
      if (!userId) throw new WebError('invalid_arguments')
      if (userId === this.botUserId) throw new WebError('cannot_reset_bot')
      const user = this.users.get(userId)
      if (!user) throw new WebError('user_not_found')
      user.sessionResets += 1
      user.sessionsEndedAt = new Date(this.kit.now()).toISOString()
      return {}
    },
    'chat.postMessage': (p, token) => {
      const ch = this.channelByRef(str(p, 'channel') ?? '')
      if (!ch || (ch.isPrivate && !ch.members.has(token.userId))) throw new WebError('channel_not_found')
      if (ch.isArchived) throw new WebError('is_archived')
      if (!ch.members.has(token.userId)) throw new WebError('not_in_channel')
      const text = str(p, 'text')
      const blocks = parseBlocks(p.blocks)
      const attachments = p.attachments
      if ((text === undefined || text.trim() === '') && blocks === undefined && attachments === undefined) throw new WebError('no_text')
      if (text !== undefined && text.length > 40_000) throw new WebError('msg_too_long')
      const ts = this.nextTs()
      const message: SlackEmulatorMessage = { channel: ch.id, ts, text, blocks, user: token.userId }
      this.posted.push(message)
      return {
        channel: ch.id,
        ts,
        message: { type: 'message', user: token.userId, ...(token.kind === 'bot' ? { bot_id: this.botId } : {}), ts, text: text ?? '', ...(blocks ? { blocks } : {}) },
      }
    },
  }

  private async webApi(req: Request, res: Response): Promise<void> {
    const method = param(req.params.method)
    const admission = await this.kit.admit(req, EMULATOR_RATE_LIMITS[method] ? method : undefined)
    if (this.renderWebAdmission(admission, res)) return
    const params: Params = { ...(req.query as Params), ...(isRecord(req.body) ? req.body : {}) }
    const handler = this.webMethods[method]
    if (!handler) {
      res.json({ ok: false, error: 'unknown_method' })
      return
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '')?.[1]
    const tokenValue = bearer ?? str(params, 'token')
    if (!tokenValue) {
      res.json({ ok: false, error: 'not_authed' })
      return
    }
    const token = this.tokens.get(tokenValue)
    if (!token) {
      res.json({ ok: false, error: 'invalid_auth' })
      return
    }
    if (token.expired) {
      res.json({ ok: false, error: 'token_expired' })
      return
    }
    if (token.kind === 'user' && !this.users.get(token.userId)?.active) {
      res.json({ ok: false, error: 'account_inactive' })
      return
    }
    if (method.startsWith('admin.') && token.kind === 'bot') {
      res.json({ ok: false, error: 'not_allowed_token_type' })
      return
    }
    const needed = METHOD_SCOPES[method] ?? []
    if (needed.length > 0 && !needed.some((s) => token.scopes.has(s))) {
      res.json({ ok: false, error: 'missing_scope', needed: needed.join(','), provided: [...token.scopes].join(',') })
      return
    }
    if (token.kind === 'user') res.setHeader('x-oauth-scopes', [...token.scopes].join(','))
    try {
      res.json({ ok: true, ...handler(params, token) })
    } catch (err) {
      // A bug in the twin must not take the test process down: answer like Slack's own outage.
      if (!(err instanceof WebError)) res.status(500).json({ ok: false, error: 'fatal_error' })
      else res.json({ ok: false, error: err.code, ...err.extra })
    }
  }

  /** Render what the kit decided in Slack's Web API dialect; true when the response is done. */
  private renderWebAdmission(admission: Admission, res: Response): boolean {
    switch (admission.kind) {
      case 'ok':
        return false
      case 'dropped':
        return true
      case 'rate_limited':
        res.status(429).set('Retry-After', String(admission.retryAfterSeconds)).json({ ok: false, error: 'ratelimited' })
        return true
      case 'fault': {
        const f = admission.fault
        // One request answered as if its token had expired (Slack's rotating tokens); use
        // expireToken() for a token that stays expired.
        if (f.expireToken) {
          res.json({ ok: false, error: 'token_expired' })
          return true
        }
        if (f.retryAfterSeconds !== undefined || f.status === 429) res.set('Retry-After', String(f.retryAfterSeconds ?? 30))
        if (f.status === 429) {
          res.status(429).json({ ok: false, error: f.code ?? 'ratelimited' })
          return true
        }
        if (f.status === undefined || f.status === 200) {
          res.json({ ok: false, error: f.code ?? 'internal_error' })
          return true
        }
        res.status(f.status).json({ ok: false, error: f.code ?? (f.status >= 500 ? 'service_unavailable' : 'invalid_request') })
        return true
      }
    }
  }

  private page<T>(items: T[], p: Params, key: string, render: (item: T) => unknown): Record<string, unknown> {
    const limitRaw = str(p, 'limit')
    const limit = limitRaw === undefined || limitRaw === '' || limitRaw === '0' ? 100 : Number(limitRaw)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new WebError('invalid_limit')
    const cursor = str(p, 'cursor')
    const offset = cursor ? decodeCursor(cursor) : 0
    if (offset === undefined) throw new WebError('invalid_cursor')
    const slice = items.slice(offset, offset + limit)
    const next = offset + limit < items.length ? encodePageToken(offset + limit) : ''
    return { [key]: slice.map(render), response_metadata: { next_cursor: next } }
  }

  private channelJson(ch: Channel): Record<string, unknown> {
    return {
      id: ch.id,
      name: ch.name,
      name_normalized: ch.name,
      is_channel: !ch.isPrivate,
      is_group: ch.isPrivate,
      is_im: false,
      is_mpim: false,
      is_private: ch.isPrivate,
      is_archived: ch.isArchived,
      is_general: ch.isGeneral,
      is_shared: false,
      is_ext_shared: false,
      is_org_shared: false,
      is_member: ch.members.has(this.botUserId),
      created: ch.created,
      creator: this.ownerId,
      num_members: [...ch.members].filter((m) => m !== this.botUserId).length,
      topic: { value: '', creator: '', last_set: 0 },
      purpose: { value: '', creator: '', last_set: 0 },
      previous_names: [],
    }
  }

  private usergroupJson(g: UserGroup, includeUsers: boolean, includeCount: boolean): Record<string, unknown> {
    return {
      id: g.id,
      team_id: this.teamId,
      is_usergroup: true,
      name: g.name,
      description: g.description,
      handle: g.handle,
      is_external: false,
      date_create: g.created,
      date_update: g.updated,
      date_delete: g.disabled ? g.updated : 0,
      auto_type: null,
      created_by: this.ownerId,
      updated_by: this.ownerId,
      deleted_by: null,
      prefs: { channels: [], groups: [] },
      ...(includeUsers ? { users: [...g.users] } : {}),
      ...(includeCount || includeUsers ? { user_count: g.users.length } : {}),
    }
  }

  private requireChannel(ref: string | undefined): Channel {
    const ch = ref ? this.channels.get(ref) : undefined
    if (!ch || (ch.isPrivate && !ch.members.has(this.botUserId))) throw new WebError('channel_not_found')
    return ch
  }

  private requireGroupForWeb(id: string | undefined, includeDisabled: boolean): UserGroup {
    if (!id) throw new WebError('missing_argument')
    const group = this.groups.get(id)
    if (!group || (group.disabled && !includeDisabled)) throw new WebError('no_such_subteam')
    return group
  }

  private channelByRef(ref: string): Channel | undefined {
    const byId = this.channels.get(ref)
    if (byId) return byId
    const name = ref.replace(/^#/, '').toLowerCase()
    return [...this.channels.values()].find((ch) => ch.name === name)
  }

  // -------------------------------------------------------------------------------------------
  // SCIM

  private scimRoute(bucket: string, handler: (req: Request) => { status: number; body?: unknown }) {
    return (req: Request, res: Response): void => {
      void (async () => {
        const admission = await this.kit.admit(req, bucket)
        if (this.renderScimAdmission(admission, res)) return
        const auth = this.scimAuth(req.get('authorization'))
        if (auth) {
          scimError(res, 401, auth)
          return
        }
        try {
          const { status, body } = handler(req)
          if (body === undefined) res.status(status).end()
          else res.status(status).type('application/json').send(JSON.stringify(body))
        } catch (err) {
          if (err instanceof ScimError) scimError(res, err.status, err.code)
          else scimError(res, 500, 'internal_error')
        }
      })()
    }
  }

  private renderScimAdmission(admission: Admission, res: Response): boolean {
    switch (admission.kind) {
      case 'ok':
        return false
      case 'dropped':
        return true
      case 'rate_limited':
        res.set('Retry-After', String(admission.retryAfterSeconds))
        scimError(res, 429, 'too_many_requests')
        return true
      case 'fault': {
        const f = admission.fault
        if (f.expireToken) {
          scimError(res, 401, 'invalid_authentication')
          return true
        }
        const status = f.status ?? 500
        if (f.retryAfterSeconds !== undefined || status === 429) res.set('Retry-After', String(f.retryAfterSeconds ?? 30))
        scimError(res, status, f.code ?? defaultScimCode(status))
        return true
      }
    }
  }

  /** undefined when the bearer token may use SCIM, else Slack's error code. */
  private scimAuth(authorization: string | undefined): string | undefined {
    const bearer = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]
    if (!bearer) return 'missing_authentication'
    const token = this.tokens.get(bearer)
    // Slack uses one code for a bad, expired, non-admin or non-user token.
    if (!token || token.expired || token.kind !== 'user' || !token.scopes.has('admin') || !this.users.get(token.userId)?.active) return 'invalid_authentication'
    return undefined
  }

  private listUsers(req: Request): { status: number; body: unknown } {
    const filterRaw = req.query.filter
    let users = [...this.users.values()]
    if (filterRaw !== undefined) {
      let node
      try {
        node = parseFilter(typeof filterRaw === 'string' ? filterRaw : '', SCIM_FILTER_GRAMMAR)
      } catch (err) {
        if (err instanceof ScimFilterError) throw new ScimError(400, FILTER_ERRORS[err.reason])
        throw err
      }
      // Slack compares both attributes case-insensitively.
      users = users.filter((u) => matchesFilter(node, { userName: u.userName, email: u.emails }, { strict: false }))
    }
    const { startIndex, count } = scimPaging(req)
    const slice = users.slice(startIndex - 1, startIndex - 1 + count)
    return {
      status: 200,
      body: { schemas: [SCHEMA.listResponse], Resources: slice.map((u) => this.toScimUser(u, req)), totalResults: users.length, itemsPerPage: slice.length, startIndex },
    }
  }

  private createUser(req: Request): { status: number; body: unknown } {
    const body: unknown = req.body
    if (!isRecord(body)) throw new ScimError(400, 'invalid_request_payload')
    if (!Array.isArray(body.schemas) || !body.schemas.includes(SCHEMA.user)) throw new ScimError(400, 'missing_schema_element')
    if (body.userName === undefined) throw new ScimError(400, 'username_required')
    if (typeof body.userName !== 'string') throw new ScimError(400, 'invalid_attribute_format')
    if (body.userName.trim() === '') throw new ScimError(400, 'username_empty')
    const userName = normaliseUserName(body.userName)
    if (userName.length > USERNAME_MAX) throw new ScimError(400, 'username_too_long')
    if (RESERVED_USERNAMES.has(userName)) throw new ScimError(400, 'username_not_allowed')
    const emails = parseEmails(body.emails)
    if (body.active !== undefined && typeof body.active !== 'boolean') throw new ScimError(400, 'invalid_attribute_format')
    const name = body.name === undefined ? {} : body.name
    if (!isRecord(name) || !optionalString(name.givenName) || !optionalString(name.familyName)) throw new ScimError(400, 'invalid_attribute_format')
    if (typeof name.givenName === 'string' && typeof name.familyName === 'string' && name.givenName.trim() === '' && name.familyName.trim() === '' && (name.givenName + name.familyName).length > 0) {
      throw new ScimError(400, 'invalid_name_required')
    }
    for (const key of ['displayName', 'title', 'externalId', 'timezone'] as const) if (!optionalString(body[key])) throw new ScimError(400, 'invalid_attribute_format')
    const displayName = typeof body.displayName === 'string' ? body.displayName : ''
    checkDisplayName(displayName)
    const enterprise = body[SCHEMA.enterprise] ?? {}
    if (!isRecord(enterprise)) throw new ScimError(400, 'invalid_attribute_format')
    if (enterprise.manager !== undefined && !(isRecord(enterprise.manager) && typeof enterprise.manager.managerId === 'string')) {
      throw new ScimError(400, 'improper_enterprise_schema_format')
    }
    if (emails.some((e) => this.userByEmail(e))) throw new ScimError(409, 'email_taken')
    if (this.userNameTaken(userName)) throw new ScimError(409, 'username_taken')
    const id = this.newId('U')
    const user: SlackEmulatorUser = {
      id,
      userName,
      externalId: typeof body.externalId === 'string' ? body.externalId : '',
      givenName: typeof name.givenName === 'string' ? name.givenName : '',
      familyName: typeof name.familyName === 'string' ? name.familyName : '',
      displayName,
      title: typeof body.title === 'string' ? body.title : '',
      timezone: typeof body.timezone === 'string' ? body.timezone : 'America/Los_Angeles',
      emails,
      enterprise: { ...enterprise },
      active: body.active ?? true,
      isPrimaryOwner: false,
      created: new Date(this.kit.now()).toISOString(),
      sessionsEndedAt: undefined,
      sessionResets: 0,
    }
    this.users.set(id, user)
    return { status: 201, body: this.toScimUser(user, req) }
  }

  private patchUser(req: Request): { status: number; body: unknown } {
    const user = this.requireUser(param(req.params.id))
    const body: unknown = req.body
    if (!isRecord(body)) throw new ScimError(400, 'invalid_request_payload')
    if (!Array.isArray(body.schemas) || !body.schemas.includes(SCHEMA.patchOp)) throw new ScimError(400, 'missing_schema_element')
    if (!Array.isArray(body.Operations) || body.Operations.length === 0) throw new ScimError(400, 'invalid_request_payload')
    // Validate everything on a copy, then commit: a bad operation changes nothing.
    const draft = structuredClone(user)
    for (const op of body.Operations as unknown[]) this.applyOperation(draft, op)
    if (draft.userName !== user.userName && this.userNameTaken(draft.userName, user.id)) throw new ScimError(409, 'username_taken')
    if (draft.emails.some((e) => this.userByEmail(e, user.id))) throw new ScimError(409, 'email_taken')
    if (user.active && !draft.active && user.isPrimaryOwner) throw new ScimError(403, 'cannot_disable_primary_owner')
    const deactivating = user.active && !draft.active
    Object.assign(user, draft, { active: user.active })
    if (deactivating) this.deactivate(user)
    else user.active = draft.active
    return { status: 200, body: this.toScimUser(user, req) }
  }

  private applyOperation(user: SlackEmulatorUser, raw: unknown): void {
    if (!isRecord(raw)) throw new ScimError(400, 'invalid_request_payload')
    const op = typeof raw.op === 'string' ? raw.op.toLowerCase() : ''
    if (op !== 'add' && op !== 'replace' && op !== 'remove') throw new ScimError(400, 'invalid_request_payload')
    if (raw.path === undefined) {
      if (op === 'remove' || !isRecord(raw.value)) throw new ScimError(400, 'invalid_request_payload')
      for (const [key, value] of Object.entries(raw.value)) this.applyAttribute(user, key, op, value)
      return
    }
    if (typeof raw.path !== 'string') throw new ScimError(400, 'invalid_request_payload')
    this.applyAttribute(user, raw.path, op, raw.value)
  }

  private applyAttribute(user: SlackEmulatorUser, path: string, op: 'add' | 'replace' | 'remove', value: unknown): void {
    const key = path.toLowerCase()
    const enterprisePrefix = SCHEMA.enterprise.toLowerCase()
    const text = (): string => {
      if (op === 'remove') return ''
      if (typeof value !== 'string') throw new ScimError(400, 'invalid_attribute_format')
      return value
    }
    switch (key) {
      case 'active':
        if (op === 'remove' || typeof value !== 'boolean') throw new ScimError(400, 'invalid_attribute_format')
        user.active = value
        return
      case 'username':
      case 'nickname': {
        const next = normaliseUserName(text())
        if (next === '') throw new ScimError(400, 'username_empty')
        if (next.length > USERNAME_MAX) throw new ScimError(400, key === 'nickname' ? 'long_nickname' : 'username_too_long')
        user.userName = next
        return
      }
      case 'displayname':
        user.displayName = text()
        checkDisplayName(user.displayName)
        return
      case 'title':
        user.title = text()
        return
      case 'timezone':
        user.timezone = text()
        return
      case 'name.givenname':
        user.givenName = text()
        return
      case 'name.familyname':
        user.familyName = text()
        return
      case 'name':
        if (op === 'remove') {
          user.givenName = ''
          user.familyName = ''
          return
        }
        if (!isRecord(value) || !optionalString(value.givenName) || !optionalString(value.familyName)) throw new ScimError(400, 'invalid_attribute_format')
        if (typeof value.givenName === 'string') user.givenName = value.givenName
        if (typeof value.familyName === 'string') user.familyName = value.familyName
        return
      case 'emails':
        if (op === 'remove') {
          user.emails = user.emails.slice(0, 1) // the primary email cannot be removed, the secondary can
          return
        }
        user.emails = mergeEmails(user.emails, parseEmails(Array.isArray(value) ? value : [value]))
        return
      case 'externalid':
        // "Updates to the password, externalId, and profileUrl attributes are not supported."
        throw new ScimError(400, 'invalid_request_payload')
    }
    if (key === enterprisePrefix) {
      if (op === 'remove') user.enterprise = {}
      else if (isRecord(value)) user.enterprise = { ...user.enterprise, ...value }
      else throw new ScimError(400, 'invalid_attribute_format')
      return
    }
    if (key.startsWith(`${enterprisePrefix}:`) || key.startsWith(`${enterprisePrefix}.`)) {
      const attr = path.slice(SCHEMA.enterprise.length + 1)
      if (op === 'remove') delete user.enterprise[attr]
      else user.enterprise[attr] = value
      return
    }
    throw new ScimError(400, 'invalid_request_payload')
  }

  private deleteUser(req: Request): { status: number } {
    const user = this.requireUser(param(req.params.id))
    if (user.isPrimaryOwner) throw new ScimError(403, 'cannot_disable_primary_owner')
    if (user.active) this.deactivate(user)
    return { status: 204 }
  }

  private listGroups(req: Request): { status: number; body: unknown } {
    const groups = [...this.groups.values()].filter((g) => !g.disabled)
    const { startIndex, count } = scimPaging(req)
    const slice = groups.slice(startIndex - 1, startIndex - 1 + count)
    return {
      status: 200,
      body: { schemas: [SCHEMA.listResponse], Resources: slice.map((g) => this.toScimGroup(g, req)), totalResults: groups.length, itemsPerPage: slice.length, startIndex },
    }
  }

  private toScimUser(user: SlackEmulatorUser, req: Request): Record<string, unknown> {
    const groups = [...this.groups.values()].filter((g) => !g.disabled && g.users.includes(user.id))
    return {
      schemas: [SCHEMA.user, SCHEMA.enterprise],
      id: user.id,
      externalId: user.externalId,
      meta: { created: user.created, location: `${origin(req)}/scim/v2/Users/${user.id}` },
      userName: user.userName,
      nickName: user.userName,
      name: { givenName: user.givenName, familyName: user.familyName },
      displayName: user.displayName,
      profileUrl: `https://tenure-sandbox.slack.com/team/${user.userName}`,
      title: user.title,
      timezone: user.timezone,
      active: user.active,
      emails: user.emails.map((value, i) => ({ value, primary: i === 0 })),
      [SCHEMA.enterprise]: {
        employeeNumber: null,
        costCenter: null,
        organization: null,
        division: null,
        department: null,
        manager: { managerId: null },
        ...user.enterprise,
      },
      ...(this.options.scimUserGroups === false ? {} : { groups: groups.map((g) => ({ value: g.id, display: g.name })) }),
    }
  }

  private toScimGroup(g: UserGroup, req: Request): Record<string, unknown> {
    return {
      schemas: [SCHEMA.group],
      id: g.id,
      meta: { created: new Date(g.created * 1000).toISOString(), location: `${origin(req)}/scim/v2/Groups/${g.id}` },
      displayName: g.name,
      members: g.users.map((id) => ({ value: id, display: this.users.get(id)?.displayName || this.users.get(id)?.userName || id })),
    }
  }

  private requireUser(id: string): SlackEmulatorUser {
    const user = this.users.get(id)
    if (!user) throw new ScimError(404, 'no_such_user')
    return user
  }

  private requireGroup(id: string): UserGroup {
    const group = this.groups.get(id)
    if (!group || group.disabled) throw new ScimError(404, 'no_such_group')
    return group
  }

  // -------------------------------------------------------------------------------------------
  // Shared state rules

  /**
   * What Slack does on deactivation (https://slack.com/help/articles/204475027): out of every
   * channel, signed out. User-group memberships stay (see the header: nothing documents removing them).
   */
  private deactivate(user: SlackEmulatorUser): void {
    user.active = false
    user.sessionsEndedAt = new Date(this.kit.now()).toISOString()
    for (const ch of this.channels.values()) ch.members.delete(user.id)
  }

  private userByEmail(email: string, exceptId?: string): SlackEmulatorUser | undefined {
    const want = email.toLowerCase()
    return [...this.users.values()].find((u) => u.id !== exceptId && u.emails.some((e) => e.toLowerCase() === want))
  }

  /** "usernames must be unique and must also be unique from channel names" (Slack's username_taken). */
  private userNameTaken(userName: string, exceptId?: string): boolean {
    return [...this.users.values()].some((u) => u.id !== exceptId && u.userName === userName) || [...this.channels.values()].some((ch) => ch.name === userName)
  }

  private newId(prefix: string): string {
    this.counter += 1
    return prefix + this.counter.toString(36).toUpperCase().padStart(10, '0')
  }

  private nextTs(): string {
    const micros = Math.max(this.kit.now() * 1000, this.lastTs + 1)
    this.lastTs = micros
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`
  }
}

/** A config that points the provisioner at a running emulator with its development tokens. */
export function slackSandboxConfig(baseUrl: string): SlackConfigInput {
  const base = baseUrl.replace(/\/+$/, '')
  return {
    botToken: SLACK_DEV_BOT_TOKEN,
    scimToken: SLACK_DEV_SCIM_TOKEN,
    adminToken: SLACK_DEV_ADMIN_TOKEN,
    apiBaseUrl: `${base}/api/`,
    scimBaseUrl: `${base}/scim/v2/`,
    emailDomain: 'example.com',
    defaultChannels: ['general'],
  }
}

// ---------------------------------------------------------------------------------------------

function scimError(res: Response, status: number, code: string): void {
  res.status(status).type('application/json').send(JSON.stringify({ schemas: [SCHEMA.error], detail: code, status }))
}

function defaultScimCode(status: number): string {
  if (status === 401) return 'invalid_authentication'
  if (status === 403) return 'permission_denied'
  if (status === 404) return 'no_such_user'
  if (status === 429) return 'too_many_requests'
  if (status >= 500) return 'internal_error'
  return 'invalid_request_payload'
}

/** RFC 7644 §3.4.2.4: startIndex < 1 is read as 1; Slack caps count at 1,000 and defaults to 10. */
function scimPaging(req: Request): { startIndex: number; count: number } {
  const start = Number(req.query.startIndex ?? 1)
  const count = Number(req.query.count ?? 10)
  return {
    startIndex: Number.isInteger(start) && start >= 1 ? start : 1,
    count: Number.isInteger(count) && count >= 0 ? Math.min(count, 1000) : 10,
  }
}

function normaliseUserName(raw: string): string {
  const local = raw.includes('@') ? (raw.split('@')[0] ?? '') : raw
  return local.trim().toLowerCase().replace(/[^a-z0-9._-]/g, '_')
}

function checkDisplayName(displayName: string): void {
  if (displayName.startsWith('@')) throw new ScimError(400, 'invalid_starts_with_at')
  if (displayName.length > 80) throw new ScimError(400, 'invalid_name_maxlength')
}

/** SCIM emails → addresses with the primary first (primary flag, else type work, else order). */
function parseEmails(raw: unknown): string[] {
  if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) throw new ScimError(400, 'email_empty')
  if (!Array.isArray(raw)) throw new ScimError(400, 'emails_invalid')
  const entries = raw.map((e: unknown) => {
    if (!isRecord(e) || typeof e.value !== 'string') throw new ScimError(400, 'emails_invalid')
    if (!EMAIL.test(e.value)) throw new ScimError(400, 'email_invalid')
    return { value: e.value, primary: e.primary === true || e.primary === 'true', work: e.type === 'work' }
  })
  const primary = entries.find((e) => e.primary) ?? entries.find((e) => e.work) ?? entries[0]!
  // Slack stores only a primary and a secondary address.
  return [primary.value, ...entries.filter((e) => e !== primary).map((e) => e.value)].slice(0, 2)
}

function mergeEmails(current: string[], incoming: string[]): string[] {
  return [incoming[0] ?? current[0]!, ...(incoming[1] !== undefined ? [incoming[1]] : current.slice(1))].slice(0, 2)
}

function parseTypes(raw: string | undefined): Set<string> {
  const types = new Set((raw ?? 'public_channel').split(',').map((t) => t.trim()).filter((t) => t !== ''))
  for (const t of types) if (!['public_channel', 'private_channel', 'mpim', 'im'].includes(t)) throw new WebError('invalid_types')
  return types
}

function parseBlocks(raw: unknown): unknown[] | undefined {
  if (raw === undefined || raw === '') return undefined
  let blocks: unknown = raw
  if (typeof raw === 'string') {
    try {
      blocks = JSON.parse(raw)
    } catch {
      throw new WebError('invalid_blocks_format')
    }
  }
  if (!Array.isArray(blocks)) throw new WebError('invalid_blocks_format')
  if (blocks.length > 50) throw new WebError('invalid_blocks')
  for (const block of blocks) {
    if (!isRecord(block) || typeof block.type !== 'string' || !BLOCK_TYPES.has(block.type)) throw new WebError('invalid_blocks')
  }
  return blocks
}

function decodeCursor(cursor: string): number | undefined {
  const text = Buffer.from(cursor, 'base64url').toString()
  const offset = Number(text.slice(2))
  return text.startsWith('o:') && Number.isInteger(offset) && offset >= 0 ? offset : undefined
}

function str(p: Params, key: string): string | undefined {
  const v = p[key]
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0]
  return undefined
}

function bool(p: Params, key: string): boolean {
  const v = str(p, key)
  return v === 'true' || v === '1'
}

function param(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '')
}

function optionalString(v: unknown): boolean {
  return v === undefined || v === null || typeof v === 'string'
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isBodyParseError(err: unknown): boolean {
  return isRecord(err) && err.type === 'entity.parse.failed'
}

function origin(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? '127.0.0.1'}`
}
