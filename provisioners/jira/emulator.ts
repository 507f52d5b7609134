/**
 * Local twin of the parts of Jira Cloud and Atlassian's user provisioning (SCIM) API that the Jira
 * provisioner uses, on 127.0.0.1. Paths, JSON shapes and error bodies follow:
 * - Jira Cloud platform REST v3, users / user search / groups:
 *   https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-users/
 *   https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-groups/
 *   Errors are ErrorCollections `{ "errorMessages": [], "errors": {} }`; basic auth failures are
 *   Jira's plain-text 401 "Client must be authenticated to access this resource."
 * - Rate limits: https://developer.atlassian.com/cloud/jira/platform/rate-limiting/ — token buckets,
 *   429 with Retry-After and `RateLimit-Reason: jira-burst-based`.
 * - Atlassian user provisioning: https://developer.atlassian.com/cloud/admin/user-provisioning/rest/
 *   `/scim/directory/{directoryId}/Users[/{id}]`, bearer token, filters `userName eq` and
 *   `externalId eq` only, SCIM Error schema bodies.
 *
 * Model: Atlassian accounts (shared by Jira and SCIM; a SCIM deactivation makes the Jira user
 * `active: false`), Jira site membership, groups, and products whose access comes from groups
 * (a user's applicationRoles are derived from their groups, as in Jira).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import express, { type NextFunction, type Request, type Response } from 'express'
import { z } from 'zod'
import { EmulatorKit, type Admission, type EmulatorOptions, type InventoryAccount } from '../../src/sandbox/emulator-kit.ts'
import type { RateLimitSpec } from '../types.ts'
import type { JiraConfigInput } from './config.ts'
import { ATLASSIAN_DIALECT, filterGrammarOf } from '../scim-core/dialect.ts'
import { matchesFilter, parseFilter, ScimFilterError } from '../scim-core/filter.ts'
import { SCHEMA } from '../scim-core/schemas.ts'

/** Atlassian's filter language: one `userName eq` or `externalId eq`, nothing else (see the SCIM list route). */
const SCIM_FILTER_GRAMMAR = filterGrammarOf(ATLASSIAN_DIALECT)

/** Development credentials the emulator accepts out of the box (the sandbox uses them). */
export const JIRA_SANDBOX_CREDENTIALS = {
  email: 'tenure-admin@example.com',
  apiToken: 'jira-sandbox-api-token',
  directoryId: 'sandbox-directory',
  scimToken: 'atlassian-scim-sandbox-token',
} as const

/**
 * Published burst limits (GET 100/s, PUT/DELETE 50/s; POST is 100/s but writes share the lower
 * figure here, as the issue asks). The SCIM API publishes none: unlimited unless set.
 */
export const JIRA_EMULATOR_LIMITS: Record<string, RateLimitSpec> = {
  read: { perMinute: 6_000, burst: 100 },
  write: { perMinute: 3_000, burst: 50 },
}

export interface JiraProduct {
  name: string
  /** Groups that grant the product (the first is the default group new users are put in). */
  groups: string[]
}

export const DEFAULT_EMULATED_PRODUCTS: Record<string, JiraProduct> = {
  'jira-software': { name: 'Jira Software', groups: ['jira-software-users'] },
  'jira-servicedesk': { name: 'Jira Service Management', groups: ['jira-servicemanagement-users'] },
  'jira-core': { name: 'Jira Work Management', groups: ['jira-core-users'] },
  'jira-product-discovery': { name: 'Jira Product Discovery', groups: ['jira-product-discovery-users'] },
}

export interface JiraEmulatorOptions extends EmulatorOptions {
  /** Accounts whose email + API token pass basic auth. Default: the sandbox credentials. */
  credentials?: { email: string; apiToken: string }[]
  /** The SCIM directory served under /scim/directory/{directoryId}; null disables SCIM. */
  scim?: { directoryId: string; token: string } | null
  products?: Record<string, JiraProduct>
}

interface Account {
  accountId: string
  email: string
  displayName: string
  accountType: 'atlassian' | 'app' | 'customer'
  /** The Atlassian account is active (SCIM or an admin may deactivate it). */
  active: boolean
  /** A user of this Jira site (DELETE /rest/api/3/user removes them from the site, not Atlassian). */
  onSite: boolean
}

interface Group {
  groupId: string
  name: string
  members: Set<string>
  /** Changes to membership answer 403 (site-admins, groups synced from an identity provider). */
  forbidden: boolean
}

interface ScimRecord {
  id: string
  userName: string
  externalId: string | undefined
  email: string
  givenName: string | undefined
  familyName: string | undefined
  displayName: string | undefined
  title: string | undefined
  department: string | undefined
  accountId: string
  created: string
  lastModified: string
}

/** Stored view of a user, for tests. */
export interface EmulatedJiraUser {
  accountId: string
  email: string
  displayName: string
  accountType: string
  active: boolean
  onSite: boolean
  groups: string[]
  products: string[]
}

const JSON_TYPES = ['application/json', 'application/scim+json', 'application/*+json']

const createUserBody = z.object({
  emailAddress: z.string().min(1),
  products: z.array(z.string()),
  displayName: z.unknown().optional(),
})

const groupMemberBody = z.object({ accountId: z.string().min(1).max(128) })

const scimCreateBody = z
  .object({
    userName: z.string().min(1),
    externalId: z.string().min(1).optional(),
    emails: z.array(z.object({ value: z.string().min(3), type: z.string().optional(), primary: z.boolean().optional() })).optional(),
    name: z.object({ givenName: z.string().optional(), familyName: z.string().optional() }).loose().optional(),
    displayName: z.string().optional(),
    title: z.string().optional(),
    department: z.string().optional(),
    active: z.boolean().optional(),
  })
  .loose()

const scimPatchBody = z.object({
  schemas: z.array(z.string()).refine((s) => s.includes(SCHEMA.patchOp), 'schemas must include the PatchOp schema'),
  Operations: z
    .array(z.object({ op: z.string(), path: z.string().optional(), value: z.unknown().optional() }))
    .min(1),
})

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

function first(value: unknown): string | undefined {
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined
  return typeof value === 'string' ? value : undefined
}

function intParam(value: unknown, fallback: number): number | undefined {
  const text = first(value)
  if (text === undefined || text === '') return fallback
  const n = Number(text)
  return Number.isInteger(n) && n >= 0 ? n : undefined
}

function jiraError(res: Response, status: number, errorMessages: string[], errors: Record<string, string> = {}): void {
  res.status(status).json({ errorMessages, errors })
}

export class JiraEmulator {
  readonly kit: EmulatorKit
  private readonly accounts = new Map<string, Account>()
  private readonly byEmail = new Map<string, string>()
  private readonly groups = new Map<string, Group>()
  private readonly scimRecords = new Map<string, ScimRecord>()
  private readonly credentials = new Set<string>()
  private readonly products: Record<string, JiraProduct>
  private readonly scimDirectory: { directoryId: string; token: string } | null
  private baseUrl = 'http://127.0.0.1'
  private requestCounter = 0

  constructor(options: JiraEmulatorOptions = {}) {
    this.kit = new EmulatorKit(JIRA_EMULATOR_LIMITS, options)
    this.products = options.products ?? DEFAULT_EMULATED_PRODUCTS
    const credentials = options.credentials ?? [
      { email: JIRA_SANDBOX_CREDENTIALS.email, apiToken: JIRA_SANDBOX_CREDENTIALS.apiToken },
    ]
    for (const c of credentials) this.addCredential(c.email, c.apiToken)
    this.scimDirectory =
      options.scim === null
        ? null
        : (options.scim ?? { directoryId: JIRA_SANDBOX_CREDENTIALS.directoryId, token: JIRA_SANDBOX_CREDENTIALS.scimToken })
    if (this.scimDirectory) this.kit.addStaticToken(this.scimDirectory.token)

    for (const product of Object.values(this.products)) for (const g of product.groups) this.seedGroup(g)
    this.seedGroup('site-admins', { forbidden: true })
    this.seedGroup('jira-admins')
    // The API account itself: a site admin with product access, as Jira requires of the caller.
    const admin = this.seedUser({ email: credentials[0]?.email ?? 'admin@example.com', displayName: 'Tenure Admin', products: ['jira-software'] })
    this.groupByRef('site-admins')?.members.add(admin)
    this.mount()
  }

  // ------------------------------------------------------------------ lifecycle

  async start(port = 0): Promise<string> {
    this.baseUrl = await this.kit.listen(port)
    return this.baseUrl
  }

  async close(): Promise<void> {
    await this.kit.close()
  }

  // ------------------------------------------------------------------ inspection and seeding (tests, sandbox)

  addCredential(email: string, apiToken: string): void {
    this.credentials.add(`${email}:${apiToken}`)
  }

  seedGroup(name: string, options: { groupId?: string; forbidden?: boolean } = {}): string {
    const existing = this.groupByRef(name)
    if (existing) {
      if (options.forbidden !== undefined) existing.forbidden = options.forbidden
      return existing.groupId
    }
    const groupId = options.groupId ?? randomUUID()
    this.groups.set(groupId, { groupId, name, members: new Set(), forbidden: options.forbidden ?? false })
    return groupId
  }

  /** Create a site user directly (as an admin would in the UI). Returns the accountId. */
  seedUser(user: {
    email: string
    displayName?: string
    active?: boolean
    groups?: string[]
    products?: string[]
    accountType?: 'atlassian' | 'app' | 'customer'
    /** A directory (SCIM) record linked to the account, as an identity provider's provisioning would have made it. */
    scim?: { externalId: string }
  }): string {
    const account = this.ensureAccount(user.email, user.displayName)
    account.onSite = true
    if (user.active !== undefined) account.active = user.active
    if (user.accountType) account.accountType = user.accountType
    for (const product of user.products ?? []) this.grantProduct(account.accountId, product)
    for (const g of user.groups ?? []) this.addToGroup(account.accountId, g)
    if (user.scim) {
      const at = new Date(this.kit.now()).toISOString()
      const record: ScimRecord = {
        id: randomUUID(),
        userName: user.email,
        externalId: user.scim.externalId,
        email: user.email,
        givenName: undefined,
        familyName: undefined,
        displayName: user.displayName,
        title: undefined,
        department: undefined,
        accountId: account.accountId,
        created: at,
        lastModified: at,
      }
      this.scimRecords.set(record.id, record)
    }
    return account.accountId
  }

  /** Put a user in a group by hand (what an admin does outside Tenure). */
  addToGroup(accountId: string, group: string): void {
    const g = this.groupByRef(group) ?? this.groups.get(this.seedGroup(group))
    g?.members.add(accountId)
  }

  /** Simulate an admin re-enabling (or deactivating) an Atlassian account by hand. */
  setActive(accountId: string, active: boolean): void {
    const account = this.accounts.get(accountId)
    if (account) account.active = active
  }

  /** Every site user (app accounts aside) with the groups and products they hold. */
  inventory(): InventoryAccount[] {
    return [...this.accounts.values()]
      .filter((a) => a.accountType === 'atlassian')
      .map((a) => {
        const scim = [...this.scimRecords.values()].find((r) => r.accountId === a.accountId)
        return {
          accountId: a.accountId,
          ...(scim?.externalId ? { key: scim.externalId } : {}),
          email: a.email,
          active: a.active && a.onSite && this.productsOf(a.accountId).length > 0,
          access: a.onSite ? { groups: this.groupsOf(a.accountId).map((g) => g.name), products: this.productsOf(a.accountId) } : ({} as Record<string, string[]>),
        }
      })
  }

  getUser(accountId: string): EmulatedJiraUser | undefined {
    const a = this.accounts.get(accountId)
    if (!a) return undefined
    return {
      accountId: a.accountId,
      email: a.email,
      displayName: a.displayName,
      accountType: a.accountType,
      active: a.active,
      onSite: a.onSite,
      groups: this.groupsOf(a.accountId).map((g) => g.name),
      products: this.productsOf(a.accountId),
    }
  }

  findUserByEmail(email: string): EmulatedJiraUser | undefined {
    const id = this.byEmail.get(email.toLowerCase())
    return id ? this.getUser(id) : undefined
  }

  /** Users of the Jira site (the API account included). */
  userCount(): number {
    return [...this.accounts.values()].filter((a) => a.onSite).length
  }

  groupMembers(group: string): string[] {
    return [...(this.groupByRef(group)?.members ?? [])]
  }

  scimUser(id: string): (ScimRecord & { active: boolean }) | undefined {
    const r = this.scimRecords.get(id)
    return r ? { ...r, active: this.accounts.get(r.accountId)?.active ?? false } : undefined
  }

  scimUserByExternalId(externalId: string): (ScimRecord & { active: boolean }) | undefined {
    const r = [...this.scimRecords.values()].find((s) => s.externalId === externalId)
    return r ? this.scimUser(r.id) : undefined
  }

  scimUserCount(): number {
    return this.scimRecords.size
  }

  // ------------------------------------------------------------------ model

  private ensureAccount(email: string, displayName?: string): Account {
    const key = email.toLowerCase()
    const id = this.byEmail.get(key)
    const existing = id ? this.accounts.get(id) : undefined
    if (existing) return existing
    // Atlassian account ids look like 24 hex characters (older) or 712020:<uuid> (newer).
    const accountId = randomBytes(12).toString('hex')
    const account: Account = {
      accountId,
      email,
      // Jira sets the display name from the email for a new Atlassian account (NewUserDetails.displayName is ignored).
      displayName: displayName ?? email.split('@')[0] ?? email,
      accountType: 'atlassian',
      active: true,
      onSite: false,
    }
    this.accounts.set(accountId, account)
    this.byEmail.set(key, accountId)
    return account
  }

  private groupByRef(ref: string): Group | undefined {
    const byId = this.groups.get(ref)
    if (byId) return byId
    const lower = ref.toLowerCase()
    return [...this.groups.values()].find((g) => g.name.toLowerCase() === lower)
  }

  private groupsOf(accountId: string): Group[] {
    return [...this.groups.values()].filter((g) => g.members.has(accountId))
  }

  private productsOf(accountId: string): string[] {
    const names = new Set(this.groupsOf(accountId).map((g) => g.name.toLowerCase()))
    return Object.entries(this.products)
      .filter(([, p]) => p.groups.some((g) => names.has(g.toLowerCase())))
      .map(([key]) => key)
  }

  private grantProduct(accountId: string, product: string): void {
    const groupName = this.products[product]?.groups[0]
    if (!groupName) return
    const group = this.groupByRef(groupName) ?? this.groups.get(this.seedGroup(groupName))
    group?.members.add(accountId)
  }

  // ------------------------------------------------------------------ rendering

  private groupJson(g: Group): { name: string; groupId: string; self: string } {
    return { name: g.name, groupId: g.groupId, self: `${this.baseUrl}/rest/api/3/group?groupId=${g.groupId}` }
  }

  private userJson(a: Account, expand: Set<string>): Record<string, unknown> {
    const groups = this.groupsOf(a.accountId)
    const products = this.productsOf(a.accountId)
    return {
      self: `${this.baseUrl}/rest/api/3/user?accountId=${a.accountId}`,
      accountId: a.accountId,
      accountType: a.accountType,
      emailAddress: a.email,
      avatarUrls: { '48x48': `${this.baseUrl}/avatar/${a.accountId}?s=48` },
      displayName: a.displayName,
      active: a.active,
      timeZone: 'Etc/UTC',
      locale: 'en_US',
      groups: { size: groups.length, items: expand.has('groups') ? groups.map((g) => this.groupJson(g)) : [] },
      applicationRoles: {
        size: products.length,
        items: expand.has('applicationroles')
          ? products.map((key) => ({ key, name: this.products[key]?.name ?? key, platform: false, defined: true }))
          : [],
      },
      expand: 'groups,applicationRoles',
    }
  }

  private scimJson(r: ScimRecord): Record<string, unknown> {
    const account = this.accounts.get(r.accountId)
    return {
      schemas: [SCHEMA.user, SCHEMA.atlassianExternal],
      id: r.id,
      userName: r.userName,
      emails: [{ value: r.email, type: 'work', primary: true }],
      name: {
        ...(r.givenName ? { givenName: r.givenName } : {}),
        ...(r.familyName ? { familyName: r.familyName } : {}),
        formatted: [r.givenName, r.familyName].filter(Boolean).join(' '),
      },
      ...(r.displayName ? { displayName: r.displayName } : {}),
      ...(r.externalId ? { externalId: r.externalId } : {}),
      ...(r.title ? { title: r.title } : {}),
      ...(r.department ? { department: r.department } : {}),
      active: account?.active ?? false,
      groups: [],
      [SCHEMA.atlassianExternal]: { atlassianAccountId: r.accountId },
      meta: {
        resourceType: 'User',
        created: r.created,
        lastModified: r.lastModified,
        location: `${this.scimBase()}/Users/${r.id}`,
      },
    }
  }

  private scimBase(): string {
    return `${this.baseUrl}/scim/directory/${this.scimDirectory?.directoryId ?? ''}`
  }

  private scimError(res: Response, status: number, detail: string, scimType?: string): void {
    res
      .status(status)
      .type('application/json')
      .send(JSON.stringify({ schemas: [SCHEMA.error], status: String(status), ...(scimType ? { scimType } : {}), detail }))
  }

  private jiraUnauthorized(res: Response): void {
    // What Jira Cloud sends for a wrong email/API token: plain text, with the Seraph login reason.
    res
      .status(401)
      .set('WWW-Authenticate', 'Basic realm="protected-area"')
      .set('X-Seraph-LoginReason', 'AUTHENTICATED_FAILED')
      .type('text/plain')
      .send('Client must be authenticated to access this resource.')
  }

  private jiraRateLimited(res: Response, retryAfterSeconds: number, reason: string, limit: number | undefined): void {
    res.set('Retry-After', String(retryAfterSeconds))
    res.set('RateLimit-Reason', reason)
    if (limit !== undefined) res.set('X-RateLimit-Limit', String(limit))
    res.set('X-RateLimit-Remaining', '0')
    res.set('X-RateLimit-Reset', new Date(this.kit.now() + retryAfterSeconds * 1000).toISOString().slice(0, 16) + 'Z')
    jiraError(res, 429, ['Rate limit exceeded.'])
  }

  /** Render what the kit decided for a Jira request; true when the handler may proceed. */
  private renderJiraAdmission(admission: Admission, res: Response, bucket: string): boolean {
    if (admission.kind === 'ok') return true
    if (admission.kind === 'dropped') return false
    if (admission.kind === 'rate_limited') {
      this.jiraRateLimited(res, admission.retryAfterSeconds, 'jira-burst-based', JIRA_EMULATOR_LIMITS[bucket]?.burst)
      return false
    }
    const f = admission.fault
    if (f.expireToken || f.status === 401) {
      this.jiraUnauthorized(res)
      return false
    }
    const status = f.status ?? 500
    if (status === 429) {
      this.jiraRateLimited(res, f.retryAfterSeconds ?? 1, f.code ?? 'jira-burst-based', undefined)
      return false
    }
    if (f.retryAfterSeconds !== undefined) res.set('Retry-After', String(f.retryAfterSeconds))
    if (status === 403) jiraError(res, 403, [f.code ?? 'You do not have permission to perform this operation.'])
    else if (status >= 500) jiraError(res, status, [f.code ?? 'Internal server error'])
    else jiraError(res, status, [f.code ?? 'Bad request'])
    return false
  }

  private renderScimAdmission(admission: Admission, res: Response): boolean {
    if (admission.kind === 'ok') return true
    if (admission.kind === 'dropped') return false
    if (admission.kind === 'rate_limited') {
      res.set('Retry-After', String(admission.retryAfterSeconds))
      this.scimError(res, 429, 'Too many requests', 'tooMany')
      return false
    }
    const f = admission.fault
    if (f.expireToken || f.status === 401) {
      this.scimError(res, 401, 'Unauthorized: the token is invalid or has been revoked')
      return false
    }
    const status = f.status ?? 500
    if (f.retryAfterSeconds !== undefined) res.set('Retry-After', String(f.retryAfterSeconds))
    this.scimError(res, status, status >= 500 ? 'Internal server error' : 'Request failed', f.code)
    return false
  }

  // ------------------------------------------------------------------ routes

  private mount(): void {
    const app = this.kit.app
    app.use(express.json({ type: JSON_TYPES, limit: '1mb' }))
    app.use((_req, res, next) => {
      this.requestCounter += 1
      res.set('X-AREQUESTID', `${Math.floor(this.kit.now() / 60_000) % 1440}x${this.requestCounter}x1`)
      res.set('ATL-TraceId', randomBytes(8).toString('hex'))
      next()
    })

    const jira = express.Router()
    jira.use(async (req, res, next) => {
      const bucket = req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write'
      const admission = await this.kit.admit(req, bucket)
      if (!this.renderJiraAdmission(admission, res, bucket)) return
      if (!this.checkBasic(req.headers.authorization)) return this.jiraUnauthorized(res)
      next()
    })
    jira.get('/user', (req, res) => this.getUserRoute(req, res))
    jira.post('/user', (req, res) => this.createUserRoute(req, res))
    jira.delete('/user', (req, res) => this.removeUserRoute(req, res))
    jira.get('/user/groups', (req, res) => this.userGroupsRoute(req, res))
    jira.get('/user/search', (req, res) => this.userSearchRoute(req, res))
    jira.get(['/users', '/users/search'], (req, res) => this.allUsersRoute(req, res))
    jira.post('/group/user', (req, res) => this.addMemberRoute(req, res))
    jira.delete('/group/user', (req, res) => this.removeMemberRoute(req, res))
    jira.get('/myself', (req, res) => {
      const email = this.basicEmail(req.headers.authorization)
      const id = email ? this.byEmail.get(email.toLowerCase()) : undefined
      const account = id ? this.accounts.get(id) : undefined
      if (!account) return jiraError(res, 404, ['User not found'])
      res.json(this.userJson(account, new Set()))
    })
    jira.use((req, res) => jiraError(res, 404, [`null for uri: ${this.baseUrl}${req.originalUrl.split('?')[0] ?? ''}`]))
    app.use('/rest/api/3', jira)

    const scim = express.Router({ mergeParams: true })
    scim.use(async (req, res, next) => {
      const admission = await this.kit.admit(req, 'scim')
      if (!this.renderScimAdmission(admission, res)) return
      const directoryId = (req.params as Record<string, string | undefined>).directoryId
      if (!this.scimDirectory || directoryId !== this.scimDirectory.directoryId) {
        return this.scimError(res, 404, `Directory ${directoryId ?? ''} was not found`)
      }
      const check = this.kit.checkToken(req.headers.authorization)
      if (check !== 'ok' || !/^Bearer\s/i.test(req.headers.authorization ?? '')) {
        return this.scimError(res, 401, check === 'missing' ? 'Unauthorized: no bearer token' : 'Unauthorized: the token is invalid or has been revoked')
      }
      next()
    })
    scim.get('/Users', (req, res) => this.scimListRoute(req, res))
    scim.post('/Users', (req, res) => this.scimCreateRoute(req, res))
    scim.get('/Users/:id', (req, res) => this.scimGetRoute(req, res))
    scim.patch('/Users/:id', (req, res) => this.scimPatchRoute(req, res))
    scim.delete('/Users/:id', (req, res) => this.scimDeleteRoute(req, res))
    scim.use((_req, res) => this.scimError(res, 404, 'Resource not found'))
    app.use('/scim/directory/:directoryId', scim)

    // Malformed JSON bodies: Jira's ErrorCollection or SCIM's Error, like the real services.
    app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) return next(err)
      const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500
      const message = err instanceof Error ? err.message : 'error'
      if (req.path.startsWith('/scim/')) return this.scimError(res, status, status === 400 ? `Invalid JSON: ${message}` : 'Internal server error', status === 400 ? 'invalidSyntax' : undefined)
      jiraError(res, status, [status === 400 ? `Unexpected character in JSON body: ${message}` : 'Internal server error'])
    })
  }

  private checkBasic(header: string | undefined): boolean {
    const match = /^Basic\s+(.+)$/i.exec(header ?? '')
    if (!match?.[1]) return false
    return this.credentials.has(Buffer.from(match[1], 'base64').toString('utf8'))
  }

  private basicEmail(header: string | undefined): string | undefined {
    const match = /^Basic\s+(.+)$/i.exec(header ?? '')
    return match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8').split(':')[0] : undefined
  }

  private siteUser(accountId: string | undefined): Account | undefined {
    const a = accountId ? this.accounts.get(accountId) : undefined
    return a?.onSite ? a : undefined
  }

  private expandOf(req: Request): Set<string> {
    const raw = req.query.expand
    const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]
    return new Set(values.flatMap((v) => String(v).split(',')).map((s) => s.trim().toLowerCase()))
  }

  private getUserRoute(req: Request, res: Response): void {
    const accountId = first(req.query.accountId)
    if (!accountId) return jiraError(res, 400, ["The 'accountId' query parameter needs to be provided."])
    const account = this.siteUser(accountId)
    if (!account) return jiraError(res, 404, [`User with accountId '${accountId}' does not exist or you do not have permission to view it.`])
    res.json(this.userJson(account, this.expandOf(req)))
  }

  private createUserRoute(req: Request, res: Response): void {
    const body: unknown = req.body
    const parsed = createUserBody.safeParse(body)
    if (!parsed.success) {
      const errors: Record<string, string> = {}
      for (const issue of parsed.error.issues) {
        const field = String(issue.path[0] ?? 'body')
        errors[field] ??= field === 'emailAddress' ? 'You must specify an email address.' : field === 'products' ? 'You must specify the products the user gets access to (an empty list for none).' : issue.message
      }
      return jiraError(res, 400, [], errors)
    }
    const { emailAddress, products } = parsed.data
    if (!EMAIL.test(emailAddress)) return jiraError(res, 400, [], { emailAddress: 'You must specify a valid email address.' })
    const unknown = products.filter((p) => !this.products[p])
    if (unknown.length > 0) {
      return jiraError(res, 400, [
        `Invalid product key(s): ${unknown.join(', ')}. Valid products are: ${Object.keys(this.products).join(', ')}.`,
      ])
    }
    const id = this.byEmail.get(emailAddress.toLowerCase())
    const existing = id ? this.accounts.get(id) : undefined
    // REST v3 Create user: "If the user exists and has access to Jira, the operation returns a 201 status.
    // If the user exists but does not have access to Jira & no new jira-products are requested, ... 400."
    if (existing && products.length === 0 && this.productsOf(existing.accountId).length === 0) {
      existing.onSite = true
      return jiraError(res, 400, [`The user with email address '${emailAddress}' already exists but does not have access to Jira.`])
    }
    const account = existing ?? this.ensureAccount(emailAddress)
    account.onSite = true
    for (const product of products) this.grantProduct(account.accountId, product)
    res.status(201).json(this.userJson(account, new Set()))
  }

  private removeUserRoute(req: Request, res: Response): void {
    const accountId = first(req.query.accountId)
    if (!accountId) return jiraError(res, 400, ["The 'accountId' query parameter needs to be provided."])
    const account = this.siteUser(accountId)
    if (!account) return jiraError(res, 404, [`User with accountId '${accountId}' does not exist.`])
    account.onSite = false
    for (const g of this.groups.values()) g.members.delete(accountId)
    res.status(204).end()
  }

  private userGroupsRoute(req: Request, res: Response): void {
    const accountId = first(req.query.accountId)
    if (!accountId) return jiraError(res, 400, ["The 'accountId' query parameter needs to be provided."])
    const account = this.siteUser(accountId)
    if (!account) return jiraError(res, 404, [`User with accountId '${accountId}' does not exist or you do not have permission to view it.`])
    res.json(this.groupsOf(account.accountId).map((g) => this.groupJson(g)))
  }

  private userSearchRoute(req: Request, res: Response): void {
    const query = first(req.query.query)?.toLowerCase()
    const accountId = first(req.query.accountId)
    const property = first(req.query.property)
    if (!query && !accountId && !property) {
      return jiraError(res, 400, ["One of 'query' or 'accountId' or 'property' query parameters must be provided."])
    }
    const startAt = intParam(req.query.startAt, 0)
    const maxResults = intParam(req.query.maxResults, 50)
    if (startAt === undefined || maxResults === undefined) return jiraError(res, 400, ['startAt and maxResults must be non-negative integers.'])
    // "Returns a list of active users that match the search string": prefix of display-name words or email.
    const matches = [...this.accounts.values()].filter((a) => {
      if (!a.onSite || !a.active) return false
      if (accountId && a.accountId !== accountId) return false
      if (!query) return true
      return a.email.toLowerCase().startsWith(query) || a.displayName.toLowerCase().split(/\s+/).some((w) => w.startsWith(query))
    })
    res.json(matches.slice(startAt, startAt + Math.min(maxResults, 1000)).map((a) => this.userJson(a, new Set())))
  }

  private allUsersRoute(req: Request, res: Response): void {
    const startAt = intParam(req.query.startAt, 0)
    const maxResults = intParam(req.query.maxResults, 50)
    if (startAt === undefined || maxResults === undefined) return jiraError(res, 400, ['startAt and maxResults must be non-negative integers.'])
    // Active, inactive and app users alike, in creation order; at most 1,000 per page.
    const all = [...this.accounts.values()].filter((a) => a.onSite)
    res.json(all.slice(startAt, startAt + Math.min(maxResults, 1000)).map((a) => this.userJson(a, new Set())))
  }

  /** groupname or groupId, exactly one: Jira rejects both and neither. */
  private resolveGroup(req: Request, res: Response): Group | undefined {
    const groupname = first(req.query.groupname)
    const groupId = first(req.query.groupId)
    if (groupname && groupId) {
      jiraError(res, 400, ['Only one of groupname and groupId can be specified.'])
      return undefined
    }
    if (!groupname && !groupId) {
      jiraError(res, 400, ['Either groupname or groupId must be specified.'])
      return undefined
    }
    const group = groupId ? this.groups.get(groupId) : this.groupByRef(groupname ?? '')
    if (!group) {
      jiraError(res, 404, [`Group '${groupId ?? groupname ?? ''}' does not exist.`])
      return undefined
    }
    return group
  }

  private addMemberRoute(req: Request, res: Response): void {
    const parsed = groupMemberBody.safeParse(req.body)
    if (!parsed.success) return jiraError(res, 400, [], { accountId: 'You must specify the accountId of the user to add.' })
    const group = this.resolveGroup(req, res)
    if (!group) return
    const account = this.siteUser(parsed.data.accountId)
    if (!account) return jiraError(res, 404, ['Specified user does not exist or you do not have required permissions'])
    if (group.forbidden) return jiraError(res, 403, [`You do not have permission to change the membership of the group '${group.name}'.`])
    if (group.members.has(account.accountId)) {
      return jiraError(res, 400, [`Cannot add user. User is already a member of '${group.name}'`])
    }
    group.members.add(account.accountId)
    res.status(201).json({
      ...this.groupJson(group),
      users: { size: group.members.size, items: [], 'max-results': 50, 'start-index': 0, 'end-index': 0 },
      expand: 'users',
    })
  }

  private removeMemberRoute(req: Request, res: Response): void {
    const accountId = first(req.query.accountId)
    if (!accountId) return jiraError(res, 400, ["The 'accountId' query parameter needs to be provided."])
    const group = this.resolveGroup(req, res)
    if (!group) return
    const account = this.siteUser(accountId)
    if (!account) return jiraError(res, 404, ['Specified user does not exist or you do not have required permissions'])
    if (group.forbidden) return jiraError(res, 403, [`You do not have permission to change the membership of the group '${group.name}'.`])
    if (!group.members.has(accountId)) return jiraError(res, 400, [`Cannot remove user. User is not a member of '${group.name}'`])
    group.members.delete(accountId)
    res.status(200).end()
  }

  // ------------------------------------------------------------------ SCIM routes

  private scimListRoute(req: Request, res: Response): void {
    const filter = first(req.query.filter)
    const startIndex = intParam(req.query.startIndex, 1)
    const count = intParam(req.query.count, 100)
    if (startIndex === undefined || count === undefined) return this.scimError(res, 400, 'startIndex and count must be integers', 'invalidValue')
    let records = [...this.scimRecords.values()]
    if (filter !== undefined) {
      // Atlassian: "Filtering is supported with a single exact match (eq) against the userName and
      // externalId attributes" (https://developer.atlassian.com/cloud/admin/user-provisioning/rest/api-group-users/).
      // userName matches case-insensitively, externalId exactly (RFC 7643 §3.1 caseExact).
      let node
      try {
        node = parseFilter(filter, SCIM_FILTER_GRAMMAR)
        // An exact match is against a string: `externalId eq 5` or `eq null` is refused too.
        if (node.type !== 'compare' || typeof node.value !== 'string') throw new ScimFilterError('unsupported', 'a string value is expected')
      } catch (err) {
        if (err instanceof ScimFilterError) return this.scimError(res, 400, `Unsupported filter: ${filter}`, 'invalidFilter')
        throw err
      }
      records = records.filter((r) => matchesFilter(node, { userName: r.userName, externalId: r.externalId }, { strict: false }))
    }
    const start = Math.max(1, startIndex)
    const page = records.slice(start - 1, start - 1 + Math.min(count, 100))
    res.type('application/json').send(
      JSON.stringify({
        schemas: [SCHEMA.listResponse],
        totalResults: records.length,
        startIndex: start,
        itemsPerPage: page.length,
        Resources: page.map((r) => this.scimJson(r)),
      }),
    )
  }

  private scimCreateRoute(req: Request, res: Response): void {
    const parsed = scimCreateBody.safeParse(req.body)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      return this.scimError(res, 400, `Invalid value for ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`, 'invalidValue')
    }
    const body = parsed.data
    const email = body.emails?.find((e) => e.primary)?.value ?? body.emails?.[0]?.value ?? body.userName
    if (!EMAIL.test(email)) return this.scimError(res, 400, 'A user needs an email address on a verified domain', 'invalidValue')
    if ([...this.scimRecords.values()].some((r) => r.userName.toLowerCase() === body.userName.toLowerCase())) {
      return this.scimError(res, 409, `A user with userName ${body.userName} already exists in this directory`, 'uniqueness')
    }
    // "If a managed Atlassian account already exists ... for the specified email address, the user in your
    // identity provider is linked to the user in your Atlassian organization."
    const account = this.ensureAccount(email, body.displayName)
    account.onSite = true
    if (body.active !== undefined) account.active = body.active
    const at = new Date(this.kit.now()).toISOString()
    const record: ScimRecord = {
      id: randomUUID(),
      userName: body.userName,
      externalId: body.externalId,
      email,
      givenName: body.name?.givenName,
      familyName: body.name?.familyName,
      displayName: body.displayName,
      title: body.title,
      department: body.department,
      accountId: account.accountId,
      created: at,
      lastModified: at,
    }
    this.scimRecords.set(record.id, record)
    res.status(201).type('application/json').send(JSON.stringify(this.scimJson(record)))
  }

  private scimGetRoute(req: Request, res: Response): void {
    const record = this.scimRecords.get(String(req.params.id))
    if (!record) return this.scimError(res, 404, `User ${String(req.params.id)} was not found`)
    res.type('application/json').send(JSON.stringify(this.scimJson(record)))
  }

  private scimPatchRoute(req: Request, res: Response): void {
    const record = this.scimRecords.get(String(req.params.id))
    if (!record) return this.scimError(res, 404, `User ${String(req.params.id)} was not found`)
    const parsed = scimPatchBody.safeParse(req.body)
    if (!parsed.success) return this.scimError(res, 400, parsed.error.issues[0]?.message ?? 'Invalid PatchOp', 'invalidSyntax')
    const account = this.accounts.get(record.accountId)
    const setAttribute = (path: string, value: unknown): string | undefined => {
      const text = typeof value === 'string' ? value : undefined
      switch (path) {
        case 'active': {
          // Entra sends "False" as a string; Okta and most clients a boolean.
          const active = typeof value === 'boolean' ? value : typeof value === 'string' ? value.toLowerCase() === 'true' ? true : value.toLowerCase() === 'false' ? false : undefined : undefined
          if (active === undefined) return 'active must be a boolean'
          if (account) account.active = active
          return undefined
        }
        case 'displayName':
          record.displayName = text
          return undefined
        case 'externalId':
          record.externalId = text
          return undefined
        case 'title':
          record.title = text
          return undefined
        case 'department':
          record.department = text
          return undefined
        case 'name.givenName':
          record.givenName = text
          return undefined
        case 'name.familyName':
          record.familyName = text
          return undefined
        default:
          return `Unsupported path ${path}`
      }
    }
    for (const op of parsed.data.Operations) {
      const kind = op.op.toLowerCase()
      if (kind !== 'replace' && kind !== 'add') return this.scimError(res, 400, `Unsupported op ${op.op}`, 'invalidSyntax')
      let problem: string | undefined
      if (op.path) {
        problem = setAttribute(op.path, op.value)
      } else if (op.value && typeof op.value === 'object' && !Array.isArray(op.value)) {
        for (const [key, value] of Object.entries(op.value as Record<string, unknown>)) {
          if (key === 'name' && value && typeof value === 'object') {
            for (const [sub, v] of Object.entries(value as Record<string, unknown>)) problem ??= setAttribute(`name.${sub}`, v)
          } else {
            problem ??= setAttribute(key, value)
          }
        }
      } else {
        problem = 'An operation without a path needs an object value'
      }
      if (problem) return this.scimError(res, 400, problem, problem.startsWith('Unsupported path') ? 'invalidPath' : 'invalidValue')
    }
    record.lastModified = new Date(this.kit.now()).toISOString()
    res.type('application/json').send(JSON.stringify(this.scimJson(record)))
  }

  private scimDeleteRoute(req: Request, res: Response): void {
    const record = this.scimRecords.get(String(req.params.id))
    if (!record) return this.scimError(res, 404, `User ${String(req.params.id)} was not found`)
    // "Deleting a user via the SCIM APIs will unlink the user from your identity provider and deactivate the user."
    const account = this.accounts.get(record.accountId)
    if (account) account.active = false
    this.scimRecords.delete(record.id)
    res.status(204).end()
  }
}

/** A config that points the provisioner at an emulator started with default options. */
export function jiraSandboxConfig(baseUrl: string): JiraConfigInput {
  return {
    host: baseUrl,
    email: JIRA_SANDBOX_CREDENTIALS.email,
    apiToken: JIRA_SANDBOX_CREDENTIALS.apiToken,
    scim: {
      directoryId: JIRA_SANDBOX_CREDENTIALS.directoryId,
      token: JIRA_SANDBOX_CREDENTIALS.scimToken,
      baseUrl: `${baseUrl}/scim/directory/${JIRA_SANDBOX_CREDENTIALS.directoryId}`,
    },
  }
}
