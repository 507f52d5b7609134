/**
 * A reference SCIM 2.0 service provider (RFC 7643 / RFC 7644) on EmulatorKit. The options switch
 * on the same differences real servers have, so one provisioner test suite can run against a
 * PATCH-with-ETags server and a PUT-only server without filters:
 *
 * - `patchSupported` / `putSupported`: false answers 501 Not Implemented (RFC 7644 §3.12: "Service
 *   provider does not support the request operation, e.g., PATCH").
 * - `filterSupport` (`filterSupported: false` is the same as 'none'): 'full' (the grammar subset in
 *   scim-core/filter.ts RFC_GRAMMAR), 'eq' (only `attribute eq value` on a top-level attribute: `userName eq`,
 *   `externalId eq`, `displayName eq`, but not `members.value eq`, as many real servers) or 'none'.
 *   Filtering is OPTIONAL (RFC 7644 §3.4.2.2), and a provider "MUST decline to filter results if
 *   the specified filter operation is not recognized and return an HTTP 400 error with a scimType
 *   of invalidFilter"; §3.12 gives invalidFilter for "the specified attribute and filter comparison
 *   combination is not supported". 501 is kept for whole operations.
 * - `etagSupported`: ETag header + meta.version (weak, `W/"n"`); If-Match on PUT/PATCH/DELETE is
 *   enforced with 412, If-None-Match on GET answers 304 (§3.14). ETags are OPTIONAL (RFC 7644
 *   §3.14): with false there is no ETag header, no meta.version and etag.supported=false.
 * - `patchResponse`: PATCH answers 200 with the whole resource or 204 No Content; RFC 7644 §3.5.2
 *   allows either ("MUST return a 200 OK ... and the entire resource ... or MAY return HTTP status
 *   code 204 (No Content)"). Default: Users 200 with the resource, Groups 204.
 * - `strict`: exact attribute-name case and lower-case PATCH ops only. Off by default, because RFC
 *   7643 §2.1 makes attribute names case-insensitive.
 * - `userGroupsAttribute`: whether Users carry the read-only `groups` attribute. RFC 7643 §4.1.2
 *   lists `groups` among the User's optional multi-valued attributes (readOnly, changed only
 *   through the Group resource, §4.2); many service providers do not return it at all. With false
 *   the User schema at /Schemas does not list `groups` either.
 * - `discovery`: false answers /ServiceProviderConfig, /Schemas and /ResourceTypes with 404, as
 *   servers do that skip RFC 7644 §4 although it says they SHALL serve them.
 *
 * Served: /Users, /Users/{id}, /Groups, /Groups/{id}, /ServiceProviderConfig, /Schemas,
 * /ResourceTypes under `basePath` (default /scim/v2), and POST /oauth/token (client credentials).
 */
import { randomUUID } from 'node:crypto'
import express, { type NextFunction, type Request, type Response } from 'express'
import { EmulatorKit, type EmulatorOptions, type Fault, type InventoryAccount } from '../../src/sandbox/emulator-kit.ts'
import type { RateLimitSpec } from '../types.ts'
import type { ScimAppConfigInput } from './config.ts'
import { keyOf, matchesFilter, type AttributeRules } from '../scim-core/filter.ts'
import { SCHEMA, canonicalName } from '../scim-core/schemas.ts'
import { ScimHttpError, applyPatch, incoming, parseFilter, type PatchTarget } from './emulator-engine.ts'

/** The development credentials the emulator accepts out of the box (sandbox only). */
export const SCIM_DEV_TOKEN = 'scim-dev-token'
export const SCIM_DEV_CLIENT = { clientId: 'tenure-dev', clientSecret: 'scim-dev-secret' } as const

/** A generic server's limit: Okta-like 600/min with a burst of 100 (rate-limits-and-timings.md §1.5). */
export const SCIM_EMULATOR_LIMITS: Record<string, RateLimitSpec> = {
  requests: { perMinute: 600, burst: 100 },
}

export interface ScimEmulatorOptions extends EmulatorOptions {
  basePath?: string
  patchSupported?: boolean
  putSupported?: boolean
  filterSupported?: boolean
  /** 'full', 'eq' (top-level `attr eq value` only) or 'none'; overrides filterSupported. */
  filterSupport?: FilterSupport
  etagSupported?: boolean
  /** What a successful PATCH answers (RFC 7644 §3.5.2); default Users 'resource', Groups 'noContent'. */
  patchResponse?: 'resource' | 'noContent'
  /** Serve /ServiceProviderConfig, /Schemas and /ResourceTypes (RFC 7644 §4); default true. */
  discovery?: boolean
  strict?: boolean
  userGroupsAttribute?: boolean
  /** ServiceProviderConfig filter.maxResults: the largest page served. */
  maxResults?: number
  /** Static bearer tokens accepted; default the development token. */
  bearerTokens?: string[]
  /** OAuth clients accepted at /oauth/token; default the development client. */
  clients?: Array<{ clientId: string; clientSecret: string }>
}

export type FilterSupport = 'none' | 'eq' | 'full'

export interface RecordedRequest {
  method: string
  /** Path below basePath, e.g. `/Users/abc`. */
  path: string
  query: Record<string, string>
  ifMatch: string | undefined
  contentType: string | undefined
  body: unknown
}

interface Stored {
  id: string
  version: number
  created: string
  lastModified: string
  /** Attributes with canonical keys (or verbatim in strict mode), without id/meta/groups. */
  data: Record<string, unknown>
}

const USER_MULTI = new Set(['emails', 'phoneNumbers', 'addresses', 'roles', 'entitlements', 'x509Certificates', 'ims', 'photos'])
const USER_ATTRIBUTES = new Set([
  'externalId', 'userName', 'name', 'displayName', 'nickName', 'profileUrl', 'title', 'userType',
  'preferredLanguage', 'locale', 'timezone', 'active', 'password', 'emails', 'phoneNumbers', 'addresses',
  'roles', 'entitlements', 'x509Certificates', 'ims', 'photos', SCHEMA.enterprise,
])
const USER_SPEC: PatchTarget = { multiValued: USER_MULTI, readOnly: new Set(['id', 'meta', 'groups']) }
const GROUP_SPEC: PatchTarget = { multiValued: new Set(['members']), readOnly: new Set(['id', 'meta']) }
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export class ScimEmulator {
  readonly kit: EmulatorKit
  readonly requests: RecordedRequest[] = []
  private readonly users = new Map<string, Stored>()
  private readonly groups = new Map<string, Stored>()
  private readonly opts: Required<
    Pick<
      ScimEmulatorOptions,
      'basePath' | 'patchSupported' | 'putSupported' | 'filterSupport' | 'etagSupported' | 'strict' | 'userGroupsAttribute' | 'maxResults' | 'discovery'
    >
  > & { patchResponse: 'resource' | 'noContent' | undefined }
  private readonly clients: Array<{ clientId: string; clientSecret: string }>
  private readonly rules: AttributeRules
  /** Groups left out of User.groups (see laggingUserGroups). */
  private readonly hiddenFromUserGroups = new Set<string>()
  private origin: string | undefined

  constructor(options: ScimEmulatorOptions = {}) {
    this.kit = new EmulatorKit(SCIM_EMULATOR_LIMITS, options)
    this.opts = {
      basePath: (options.basePath ?? '/scim/v2').replace(/\/+$/, ''),
      patchSupported: options.patchSupported ?? true,
      putSupported: options.putSupported ?? true,
      filterSupport: options.filterSupport ?? (options.filterSupported === false ? 'none' : 'full'),
      etagSupported: options.etagSupported ?? true,
      patchResponse: options.patchResponse,
      discovery: options.discovery ?? true,
      strict: options.strict ?? false,
      userGroupsAttribute: options.userGroupsAttribute ?? true,
      maxResults: options.maxResults ?? 100,
    }
    this.rules = { strict: this.opts.strict }
    this.clients = options.clients ?? [{ ...SCIM_DEV_CLIENT }]
    for (const token of options.bearerTokens ?? [SCIM_DEV_TOKEN]) this.kit.addStaticToken(token)
    this.mount()
  }

  async start(port = 0): Promise<string> {
    this.origin = await this.kit.listen(port)
    return this.origin
  }

  close(): Promise<void> {
    return this.kit.close()
  }

  /** The SCIM base URL (origin + basePath) once started. */
  get scimBaseUrl(): string {
    return `${this.requireOrigin()}${this.opts.basePath}`
  }

  get tokenUrl(): string {
    return `${this.requireOrigin()}/oauth/token`
  }

  // ---------------------------------------------------------------- inspection for tests

  /** A user as GET /Users/{id} would return it, or undefined. */
  /** Every user with the groups it is in. */
  inventory(): InventoryAccount[] {
    return [...this.users.values()].map((u) => {
      const data = u.data
      const key = data.externalId ?? data.externalid
      const userName = data.userName ?? data.username
      return {
        accountId: u.id,
        ...(typeof key === 'string' ? { key } : {}),
        ...(typeof userName === 'string' ? { email: userName } : {}),
        active: (data.active ?? true) !== false,
        access: { groups: this.groupsOf(u.id) },
      }
    })
  }

  getUser(id: string): Record<string, unknown> | undefined {
    const stored = this.users.get(id)
    return stored ? this.renderUser(stored) : undefined
  }

  findUser(by: { userName?: string; externalId?: string }): Record<string, unknown> | undefined {
    for (const stored of this.users.values()) {
      if (by.externalId !== undefined && stored.data.externalId !== by.externalId) continue
      if (by.userName !== undefined && String(stored.data.userName).toLowerCase() !== by.userName.toLowerCase()) continue
      return this.renderUser(stored)
    }
    return undefined
  }

  userCount(): number {
    return this.users.size
  }

  /** Create a user directly (an account that existed before Tenure, or one a concurrent job made). */
  seedUser(attributes: Record<string, unknown>): string {
    const data = this.validateUser({ schemas: [SCHEMA.user], ...attributes }, undefined)
    return this.insert(this.users, data).id
  }

  seedGroup(displayName: string, memberIds: string[] = []): string {
    const data = this.validateGroup({ schemas: [SCHEMA.group], displayName, members: memberIds.map((value) => ({ value })) }, undefined)
    return this.insert(this.groups, data).id
  }

  /** The id of the group with this displayName (case-insensitive), or undefined. */
  findGroup(displayName: string): string | undefined {
    for (const group of this.groups.values()) if (String(group.data.displayName).toLowerCase() === displayName.toLowerCase()) return group.id
    return undefined
  }

  /** Member ids of a group. */
  groupMembers(groupId: string): string[] {
    const group = this.groups.get(groupId)
    return group ? this.membersOf(group).map((m) => m.value) : []
  }

  /** Display names of the groups a user is in. */
  groupsOf(userId: string): string[] {
    return this.groupsContaining(userId).map((g) => String(g.data.displayName))
  }

  /** An admin flips `active` by hand at the app (a re-enabled leaver, for verify tests). */
  setActive(id: string, active: boolean): void {
    const stored = this.mustGet(this.users, id)
    stored.data.active = active
    this.touch(stored)
  }

  /**
   * User.groups stops showing this group although Group.members still has the user. RFC 7643
   * §4.1.2 makes User.groups a read-only value the provider derives ("direct membership, nested
   * groups, or dynamically calculated"); servers that compute it apart from Group.members (a cache,
   * an index that lags) can show less than the Group side, which is where membership lives (§4.2).
   */
  laggingUserGroups(groupId: string): void {
    this.hiddenFromUserGroups.add(groupId)
  }

  /** A change made at the app by someone else: the version (ETag) moves on. */
  touchUser(id: string): void {
    this.touch(this.mustGet(this.users, id))
  }

  deleteUser(id: string): void {
    this.removeUser(id)
  }

  clearRequests(): void {
    this.requests.length = 0
  }

  injectFault(fault: Fault): void {
    this.kit.injectFault(fault)
  }

  // ---------------------------------------------------------------- routes

  private mount(): void {
    const app = this.kit.app
    // Express would add its own weak ETag to every body (and answer If-None-Match with 304),
    // which would make a server with etagSupported=false look like it had ETags.
    app.set('etag', false)
    app.post('/oauth/token', express.urlencoded({ extended: false }), async (req, res) => {
      const admission = await this.kit.admit(req, undefined)
      if (admission.kind === 'dropped') return
      if (admission.kind === 'fault') {
        const status = admission.fault.status ?? 500
        if (admission.fault.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(admission.fault.retryAfterSeconds))
        res.status(status).json({ error: admission.fault.code ?? (status >= 500 ? 'server_error' : 'invalid_request') })
        return
      }
      this.token(req, res)
    })

    const router = express.Router({ caseSensitive: false })
    // RFC 7644 §3.1: application/scim+json; application/json is accepted as well, as most servers do.
    router.use(express.json({ type: ['application/scim+json', 'application/json'], limit: '1mb' }))
    router.use((req, res, next) => {
      res.setHeader('x-request-id', randomUUID())
      if (this.requests.length < 10_000) {
        this.requests.push({
          method: req.method,
          path: req.path,
          query: Object.fromEntries(new URL(req.originalUrl, 'http://x').searchParams),
          ifMatch: req.get('if-match'),
          contentType: req.get('content-type'),
          body: req.body as unknown,
        })
      }
      next()
    })
    router.use(async (req, res, next) => {
      const admission = await this.kit.admit(req, 'requests')
      if (admission.kind === 'dropped') return
      if (admission.kind === 'rate_limited') {
        res.setHeader('retry-after', String(admission.retryAfterSeconds))
        return this.error(res, new ScimHttpError(429, undefined, `Too many requests; retry after ${admission.retryAfterSeconds}s`))
      }
      if (admission.kind === 'fault') return this.renderFault(res, admission.fault)
      next()
    })
    // Discovery endpoints are readable without a token, as RFC 7644 §4 allows and most servers do.
    // They answer for the configured capabilities: what a client reads there is what it gets.
    if (this.opts.discovery) {
      router.get('/ServiceProviderConfig', (_req, res) => this.send(res, 200, this.serviceProviderConfig()))
      router.get('/Schemas', (_req, res) => this.send(res, 200, this.list(this.schemas(), 1, this.schemas().length)))
      router.get('/Schemas/:id', (req, res) => {
        const schema = this.schemas().find((s) => s.id.toLowerCase() === String(req.params.id).toLowerCase())
        if (!schema) throw new ScimHttpError(404, undefined, `Schema ${String(req.params.id)} not found`)
        this.send(res, 200, schema)
      })
      router.get('/ResourceTypes', (_req, res) => this.send(res, 200, this.list(this.resourceTypes(), 1, 2)))
    }
    router.use((req, res, next) => {
      const check = this.kit.checkToken(req.get('authorization'))
      if (check === 'ok') return next()
      const detail =
        check === 'missing' ? 'Authorization header missing' : check === 'expired' ? 'The access token expired' : 'The access token is invalid'
      res.setHeader('www-authenticate', `Bearer realm="scim", error="invalid_token", error_description="${detail}"`)
      this.error(res, new ScimHttpError(401, undefined, detail))
    })
    router.get('/Users', (req, res) => this.listResources(req, res, 'User'))
    router.post('/Users', (req, res) => this.createUser(req, res))
    router.get('/Users/:id', (req, res) => this.getOne(req, res, 'User'))
    router.put('/Users/:id', (req, res) => this.replace(req, res, 'User'))
    router.patch('/Users/:id', (req, res) => this.patch(req, res, 'User'))
    router.delete('/Users/:id', (req, res) => this.remove(req, res, 'User'))
    router.get('/Groups', (req, res) => this.listResources(req, res, 'Group'))
    router.post('/Groups', (req, res) => this.createGroup(req, res))
    router.get('/Groups/:id', (req, res) => this.getOne(req, res, 'Group'))
    router.put('/Groups/:id', (req, res) => this.replace(req, res, 'Group'))
    router.patch('/Groups/:id', (req, res) => this.patch(req, res, 'Group'))
    router.delete('/Groups/:id', (req, res) => this.remove(req, res, 'Group'))
    router.use((req, res) => this.error(res, new ScimHttpError(404, undefined, `No endpoint ${req.method} ${req.path}`)))
    router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) return next(err)
      if (err instanceof ScimHttpError) return this.error(res, err)
      const type = (err as { type?: string }).type
      if (type === 'entity.parse.failed') return this.error(res, new ScimHttpError(400, 'invalidSyntax', 'The body is not valid JSON'))
      if (type === 'entity.too.large') return this.error(res, new ScimHttpError(413, undefined, 'The body is too large'))
      this.error(res, new ScimHttpError(500, undefined, err instanceof Error ? err.message : 'internal error'))
    })
    app.use(this.opts.basePath, router)
  }

  /** OAuth 2.0 client credentials grant (RFC 6749 §4.4), client auth by Basic or form fields. */
  private token(req: Request, res: Response): void {
    res.setHeader('cache-control', 'no-store')
    const body = (req.body ?? {}) as Record<string, string | undefined>
    let clientId = body.client_id
    let clientSecret = body.client_secret
    const basic = /^Basic\s+(.+)$/i.exec(req.get('authorization') ?? '')
    if (basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString()
      const colon = decoded.indexOf(':')
      clientId = decodeURIComponent(decoded.slice(0, colon))
      clientSecret = decodeURIComponent(decoded.slice(colon + 1))
    }
    if (body.grant_type !== 'client_credentials') {
      res.status(400).json({ error: 'unsupported_grant_type', error_description: 'only client_credentials is supported' })
      return
    }
    const client = this.clients.find((c) => c.clientId === clientId && c.clientSecret === clientSecret)
    if (!client) {
      if (basic) res.setHeader('www-authenticate', 'Basic realm="scim"')
      res.status(401).json({ error: 'invalid_client', error_description: 'client authentication failed' })
      return
    }
    const issued = this.kit.issueToken()
    res.json({
      access_token: issued.accessToken,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      ...(body.scope ? { scope: body.scope } : {}),
    })
  }

  private listResources(req: Request, res: Response, kind: 'User' | 'Group'): void {
    const params = new URL(req.originalUrl, 'http://x').searchParams
    const filterText = params.get('filter')
    let items = [...(kind === 'User' ? this.users : this.groups).values()].map((s) =>
      kind === 'User' ? this.renderUser(s) : this.renderGroup(s),
    )
    if (filterText !== null) {
      if (this.opts.filterSupport === 'none') throw new ScimHttpError(400, 'invalidFilter', 'Filtering is not supported by this service provider')
      const filter = parseFilter(filterText)
      // RFC 7644 §3.12 invalidFilter: "the specified attribute and filter comparison combination is
      // not supported". An eq-only server takes `attr eq value` on top-level attributes only.
      if (this.opts.filterSupport === 'eq' && !(filter.type === 'compare' && filter.op === 'eq' && !filter.path.includes('.'))) {
        throw new ScimHttpError(400, 'invalidFilter', `Unsupported filter "${filterText}": only "attribute eq value" on a top-level attribute`)
      }
      items = items.filter((item) => matchesFilter(filter, item, this.rules))
    }
    // RFC 7644 §3.4.2.4: startIndex < 1 means 1; a negative count means 0; the server caps count.
    const startIndex = Math.max(1, Number.parseInt(params.get('startIndex') ?? '1', 10) || 1)
    const requested = params.get('count')
    const parsedCount = requested === null ? this.opts.maxResults : Number.parseInt(requested, 10)
    const count = Math.min(this.opts.maxResults, Math.max(0, Number.isNaN(parsedCount) ? this.opts.maxResults : parsedCount))
    const page = items.slice(startIndex - 1, startIndex - 1 + count).map((item) => this.project(item, params))
    this.send(res, 200, { ...this.list(page, startIndex, items.length), itemsPerPage: page.length })
  }

  private getOne(req: Request, res: Response, kind: 'User' | 'Group'): void {
    const stored = this.mustGet(kind === 'User' ? this.users : this.groups, String(req.params.id))
    const etag = this.etag(stored)
    const ifNoneMatch = req.get('if-none-match')
    if (this.opts.etagSupported && ifNoneMatch && weakEqual(ifNoneMatch, etag)) {
      res.setHeader('etag', etag)
      res.status(304).end()
      return
    }
    const body = kind === 'User' ? this.renderUser(stored) : this.renderGroup(stored)
    this.send(res, 200, this.project(body, new URL(req.originalUrl, 'http://x').searchParams), stored)
  }

  private createUser(req: Request, res: Response): void {
    const data = this.validateUser(this.body(req), undefined)
    const stored = this.insert(this.users, data)
    this.send(res, 201, this.renderUser(stored), stored)
  }

  private createGroup(req: Request, res: Response): void {
    const data = this.validateGroup(this.body(req), undefined)
    const stored = this.insert(this.groups, data)
    this.send(res, 201, this.renderGroup(stored), stored)
  }

  private replace(req: Request, res: Response, kind: 'User' | 'Group'): void {
    if (!this.opts.putSupported) throw new ScimHttpError(501, undefined, 'PUT is not supported by this service provider')
    const store = kind === 'User' ? this.users : this.groups
    const stored = this.mustGet(store, String(req.params.id))
    this.checkIfMatch(req, stored)
    const body = this.body(req)
    const id = body[keyOf('id', this.rules)]
    if (id !== undefined && id !== stored.id) throw new ScimHttpError(400, 'mutability', 'Attribute id is immutable')
    stored.data = kind === 'User' ? this.validateUser(body, stored.id) : this.validateGroup(body, stored.id)
    this.touch(stored)
    this.send(res, 200, kind === 'User' ? this.renderUser(stored) : this.renderGroup(stored), stored)
  }

  private patch(req: Request, res: Response, kind: 'User' | 'Group'): void {
    if (!this.opts.patchSupported) throw new ScimHttpError(501, undefined, 'PATCH is not supported by this service provider')
    const store = kind === 'User' ? this.users : this.groups
    const stored = this.mustGet(store, String(req.params.id))
    this.checkIfMatch(req, stored)
    const body = this.body(req)
    const schemas = body[keyOf('schemas', this.rules)]
    if (!Array.isArray(schemas) || !schemas.some((s) => sameUrn(s, SCHEMA.patchOp))) {
      throw new ScimHttpError(400, 'invalidSyntax', `schemas must contain ${SCHEMA.patchOp}`)
    }
    const copy = structuredClone(stored.data)
    applyPatch(copy, body[keyOf('Operations', this.rules)], kind === 'User' ? USER_SPEC : GROUP_SPEC, this.rules)
    const schemaUrns = kind === 'User' ? [SCHEMA.user, ...(copy[SCHEMA.enterprise] ? [SCHEMA.enterprise] : [])] : [SCHEMA.group]
    stored.data = kind === 'User' ? this.validateUser({ ...copy, schemas: schemaUrns }, stored.id) : this.validateGroup({ ...copy, schemas: schemaUrns }, stored.id)
    this.touch(stored)
    // By default Groups answer 204 (a large member list is not worth echoing) and Users 200 with
    // the resource. RFC 7644 §3.5.2 allows either, so clients must handle both.
    const noContent = this.opts.patchResponse === undefined ? kind === 'Group' : this.opts.patchResponse === 'noContent'
    if (noContent) {
      if (this.opts.etagSupported) res.setHeader('etag', this.etag(stored))
      res.status(204).end()
      return
    }
    this.send(res, 200, this.renderUser(stored), stored)
  }

  private remove(req: Request, res: Response, kind: 'User' | 'Group'): void {
    const store = kind === 'User' ? this.users : this.groups
    const stored = this.mustGet(store, String(req.params.id))
    this.checkIfMatch(req, stored)
    if (kind === 'User') this.removeUser(stored.id)
    else this.groups.delete(stored.id)
    res.status(204).end()
  }

  // ---------------------------------------------------------------- validation

  private body(req: Request): Record<string, unknown> {
    const body = req.body as unknown
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new ScimHttpError(400, 'invalidSyntax', 'Expected a JSON object body with Content-Type application/scim+json')
    }
    return body as Record<string, unknown>
  }

  /** Validate a User and return its stored attributes (RFC 7643 §4.1); throws 400/409. */
  private validateUser(raw: Record<string, unknown>, selfId: string | undefined): Record<string, unknown> {
    const body = incoming(raw, this.rules) as Record<string, unknown>
    const schemas = body.schemas
    if (!Array.isArray(schemas) || !schemas.some((s) => sameUrn(s, SCHEMA.user))) {
      throw new ScimHttpError(400, 'invalidSyntax', `schemas must contain ${SCHEMA.user}`)
    }
    const data: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(body)) {
      // Unknown attributes are ignored; in strict mode "username" is unknown, so userName is then missing.
      const name = key.toLowerCase().startsWith('urn:') ? canonicalName(key) : key
      if (USER_ATTRIBUTES.has(name) && value !== null) data[name] = value
    }
    const userName = data.userName
    if (typeof userName !== 'string' || userName.trim() === '') throw new ScimHttpError(400, 'invalidValue', 'userName is required')
    for (const key of ['externalId', 'displayName', 'title', 'nickName', 'userType', 'locale', 'timezone'] as const) {
      if (data[key] !== undefined && typeof data[key] !== 'string') throw new ScimHttpError(400, 'invalidValue', `${key} must be a string`)
    }
    if (data.active !== undefined && typeof data.active !== 'boolean') throw new ScimHttpError(400, 'invalidValue', 'active must be a boolean')
    if (data.name !== undefined && (typeof data.name !== 'object' || Array.isArray(data.name))) {
      throw new ScimHttpError(400, 'invalidValue', 'name must be a complex attribute')
    }
    for (const multi of USER_MULTI) {
      if (data[multi] !== undefined && !Array.isArray(data[multi])) throw new ScimHttpError(400, 'invalidValue', `${multi} must be an array`)
    }
    for (const email of (data.emails as unknown[] | undefined) ?? []) {
      const value = (email as { value?: unknown } | null)?.value
      if (typeof value !== 'string' || !EMAIL.test(value)) {
        throw new ScimHttpError(400, 'invalidValue', `emails.value ${JSON.stringify(value)} is not an email address`)
      }
    }
    const ext = data[SCHEMA.enterprise]
    if (ext !== undefined && (typeof ext !== 'object' || Array.isArray(ext))) {
      throw new ScimHttpError(400, 'invalidValue', 'the enterprise extension must be an object')
    }
    for (const other of this.users.values()) {
      if (other.id === selfId) continue
      // userName is caseExact=false, externalId caseExact=true (RFC 7643 §4.1.1, §3.1).
      if (String(other.data.userName).toLowerCase() === userName.toLowerCase()) {
        throw new ScimHttpError(409, 'uniqueness', `userName ${userName} is already in use`)
      }
      if (data.externalId !== undefined && other.data.externalId === data.externalId) {
        throw new ScimHttpError(409, 'uniqueness', `externalId ${String(data.externalId)} is already in use`)
      }
    }
    return data
  }

  private validateGroup(raw: Record<string, unknown>, selfId: string | undefined): Record<string, unknown> {
    const body = incoming(raw, this.rules) as Record<string, unknown>
    const schemas = body.schemas
    if (!Array.isArray(schemas) || !schemas.some((s) => sameUrn(s, SCHEMA.group))) {
      throw new ScimHttpError(400, 'invalidSyntax', `schemas must contain ${SCHEMA.group}`)
    }
    const displayName = body.displayName
    if (typeof displayName !== 'string' || displayName.trim() === '') throw new ScimHttpError(400, 'invalidValue', 'displayName is required')
    const members = body.members ?? []
    if (!Array.isArray(members)) throw new ScimHttpError(400, 'invalidValue', 'members must be an array')
    const seen = new Set<string>()
    const cleaned: Array<{ value: string; type?: string }> = []
    for (const m of members) {
      const value = (m as { value?: unknown } | null)?.value
      if (typeof value !== 'string') throw new ScimHttpError(400, 'invalidValue', 'members[].value must be a string')
      if (!this.users.has(value)) throw new ScimHttpError(400, 'invalidValue', `member ${value} does not exist`)
      if (seen.has(value)) continue
      seen.add(value)
      cleaned.push({ value, type: 'User' })
    }
    for (const other of this.groups.values()) {
      if (other.id !== selfId && String(other.data.displayName).toLowerCase() === displayName.toLowerCase()) {
        throw new ScimHttpError(409, 'uniqueness', `group ${displayName} already exists`)
      }
    }
    return {
      displayName,
      ...(typeof body.externalId === 'string' ? { externalId: body.externalId } : {}),
      members: cleaned,
    }
  }

  private checkIfMatch(req: Request, stored: Stored): void {
    if (!this.opts.etagSupported) return
    const ifMatch = req.get('if-match')
    if (ifMatch === undefined || ifMatch.trim() === '*') return
    const current = this.etag(stored)
    if (!ifMatch.split(',').some((candidate) => weakEqual(candidate.trim(), current))) {
      throw new ScimHttpError(412, undefined, 'Failed to update. Resource changed on the server.')
    }
  }

  // ---------------------------------------------------------------- storage and rendering

  private insert(store: Map<string, Stored>, data: Record<string, unknown>): Stored {
    const now = new Date(this.kit.now()).toISOString()
    const stored: Stored = { id: randomUUID(), version: 1, created: now, lastModified: now, data }
    store.set(stored.id, stored)
    return stored
  }

  private touch(stored: Stored): void {
    stored.version += 1
    stored.lastModified = new Date(this.kit.now()).toISOString()
  }

  private removeUser(id: string): void {
    this.mustGet(this.users, id)
    this.users.delete(id)
    // Deleting a user ends its memberships, as every server we know of does.
    for (const group of this.groupsContaining(id)) {
      group.data.members = this.membersOf(group).filter((m) => m.value !== id)
      this.touch(group)
    }
  }

  private mustGet(store: Map<string, Stored>, id: string): Stored {
    const stored = store.get(id)
    if (!stored) throw new ScimHttpError(404, undefined, `Resource ${id} not found`)
    return stored
  }

  private membersOf(group: Stored): Array<{ value: string; type?: string }> {
    return (group.data.members as Array<{ value: string; type?: string }> | undefined) ?? []
  }

  private groupsContaining(userId: string): Stored[] {
    return [...this.groups.values()].filter((g) => this.membersOf(g).some((m) => m.value === userId))
  }

  private etag(stored: Stored): string {
    return `W/"${stored.version}"`
  }

  private meta(stored: Stored, resourceType: 'User' | 'Group'): Record<string, unknown> {
    return {
      resourceType,
      created: stored.created,
      lastModified: stored.lastModified,
      location: `${this.origin ?? ''}${this.opts.basePath}/${resourceType}s/${stored.id}`,
      ...(this.opts.etagSupported ? { version: this.etag(stored) } : {}),
    }
  }

  private renderUser(stored: Stored): Record<string, unknown> {
    const base = this.origin ?? ''
    return {
      schemas: [SCHEMA.user, ...(stored.data[SCHEMA.enterprise] ? [SCHEMA.enterprise] : [])],
      id: stored.id,
      ...structuredClone(stored.data),
      ...(this.opts.userGroupsAttribute
        ? {
            groups: this.groupsContaining(stored.id).filter((g) => !this.hiddenFromUserGroups.has(g.id)).map((g) => ({
              value: g.id,
              display: g.data.displayName,
              $ref: `${base}${this.opts.basePath}/Groups/${g.id}`,
              type: 'direct',
            })),
          }
        : {}),
      meta: this.meta(stored, 'User'),
    }
  }

  private renderGroup(stored: Stored): Record<string, unknown> {
    const base = this.origin ?? ''
    return {
      schemas: [SCHEMA.group],
      id: stored.id,
      ...structuredClone(stored.data),
      members: this.membersOf(stored).map((m) => {
        const user = this.users.get(m.value)
        return {
          value: m.value,
          type: 'User',
          $ref: `${base}${this.opts.basePath}/Users/${m.value}`,
          ...(user ? { display: String(user.data.displayName ?? user.data.userName) } : {}),
        }
      }),
      meta: this.meta(stored, 'Group'),
    }
  }

  /** `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5), top-level names; id and schemas always stay. */
  private project(resource: Record<string, unknown>, params: URLSearchParams): Record<string, unknown> {
    const names = (p: string | null) => new Set((p ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))
    const only = names(params.get('attributes'))
    const excluded = names(params.get('excludedAttributes'))
    if (only.size === 0 && excluded.size === 0) return resource
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(resource)) {
      const lower = key.toLowerCase()
      const always = lower === 'id' || lower === 'schemas'
      if (!always && only.size > 0 && !only.has(lower) && lower !== 'meta') continue
      if (!always && excluded.has(lower)) continue
      out[key] = value
    }
    return out
  }

  private list(resources: unknown[], startIndex: number, total: number): Record<string, unknown> {
    return { schemas: [SCHEMA.listResponse], totalResults: total, itemsPerPage: resources.length, startIndex, Resources: resources }
  }

  private send(res: Response, status: number, body: unknown, stored?: Stored): void {
    if (stored && this.opts.etagSupported) res.setHeader('etag', this.etag(stored))
    if (stored && status === 201) res.setHeader('location', String((body as { meta?: { location?: string } }).meta?.location ?? ''))
    res.status(status).type('application/scim+json').send(JSON.stringify(body))
  }

  /** RFC 7644 §3.12: `status` is a string. */
  private error(res: Response, err: ScimHttpError): void {
    res
      .status(err.status)
      .type('application/scim+json')
      .send(
        JSON.stringify({
          schemas: [SCHEMA.error],
          status: String(err.status),
          ...(err.scimType ? { scimType: err.scimType } : {}),
          detail: err.message,
        }),
      )
  }

  private renderFault(res: Response, fault: Fault): void {
    if (fault.expireToken) {
      res.setHeader('www-authenticate', 'Bearer realm="scim", error="invalid_token", error_description="The access token expired"')
      return this.error(res, new ScimHttpError(401, undefined, 'The access token expired'))
    }
    const status = fault.status ?? 500
    if (fault.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(fault.retryAfterSeconds))
    const detail = status === 429 ? 'Too many requests' : status === 412 ? 'Failed to update. Resource changed on the server.' : `Injected fault ${status}`
    this.error(res, new ScimHttpError(status, fault.code, detail))
  }

  private serviceProviderConfig(): Record<string, unknown> {
    return {
      schemas: [SCHEMA.serviceProviderConfig],
      documentationUri: 'https://www.rfc-editor.org/rfc/rfc7644',
      patch: { supported: this.opts.patchSupported },
      bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
      // RFC 7643 §5 has no way to say "eq only": supported=true is the truthful answer for 'eq'.
      filter: { supported: this.opts.filterSupport !== 'none', maxResults: this.opts.maxResults },
      changePassword: { supported: false },
      sort: { supported: false },
      etag: { supported: this.opts.etagSupported },
      authenticationSchemes: [
        {
          type: 'oauthbearertoken',
          name: 'OAuth Bearer Token',
          description: 'A static bearer token, or one from POST /oauth/token (client credentials)',
          specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
          primary: true,
        },
      ],
      meta: { resourceType: 'ServiceProviderConfig', location: `${this.origin ?? ''}${this.opts.basePath}/ServiceProviderConfig` },
    }
  }

  /** /Schemas (RFC 7643 §7) for the configured capabilities: no `groups` on User when Users carry none. */
  private schemas(): Array<{ id: string } & Record<string, unknown>> {
    if (this.opts.userGroupsAttribute) return SCHEMA_DEFINITIONS
    return SCHEMA_DEFINITIONS.map((schema) =>
      schema.id === SCHEMA.user ? { ...schema, attributes: schema.attributes.filter((a) => a.name !== 'groups') } : schema,
    )
  }

  private resourceTypes(): unknown[] {
    return [
      { schemas: [SCHEMA.resourceType], id: 'User', name: 'User', endpoint: '/Users', schema: SCHEMA.user, schemaExtensions: [{ schema: SCHEMA.enterprise, required: false }] },
      { schemas: [SCHEMA.resourceType], id: 'Group', name: 'Group', endpoint: '/Groups', schema: SCHEMA.group },
    ]
  }

  private requireOrigin(): string {
    if (!this.origin) throw new Error('ScimEmulator: call start() first')
    return this.origin
  }
}

function sameUrn(value: unknown, urn: string): boolean {
  return typeof value === 'string' && value.toLowerCase() === urn.toLowerCase()
}

/** Weak comparison (RFC 9110 §8.8.3.2): the W/ prefix does not matter. */
function weakEqual(a: string, b: string): boolean {
  const strip = (s: string) => s.trim().replace(/^W\//i, '')
  return strip(a) === strip(b)
}

const attribute = (name: string, type: string, extra: Record<string, unknown> = {}) => ({
  name,
  type,
  multiValued: false,
  required: false,
  caseExact: false,
  mutability: 'readWrite',
  returned: 'default',
  uniqueness: 'none',
  ...extra,
})

/** Minimal /Schemas (RFC 7643 §7): the attributes this emulator stores. */
const SCHEMA_DEFINITIONS = [
  {
    schemas: [SCHEMA.schema],
    id: SCHEMA.user,
    name: 'User',
    attributes: [
      attribute('userName', 'string', { required: true, uniqueness: 'server' }),
      attribute('externalId', 'string', { caseExact: true }),
      attribute('name', 'complex', {
        subAttributes: [attribute('givenName', 'string'), attribute('familyName', 'string'), attribute('formatted', 'string')],
      }),
      attribute('displayName', 'string'),
      attribute('title', 'string'),
      attribute('active', 'boolean'),
      attribute('emails', 'complex', {
        multiValued: true,
        subAttributes: [attribute('value', 'string'), attribute('type', 'string'), attribute('primary', 'boolean')],
      }),
      attribute('groups', 'complex', {
        multiValued: true,
        mutability: 'readOnly',
        subAttributes: [attribute('value', 'string', { mutability: 'readOnly' }), attribute('display', 'string', { mutability: 'readOnly' })],
      }),
    ],
  },
  {
    schemas: [SCHEMA.schema],
    id: SCHEMA.group,
    name: 'Group',
    attributes: [
      attribute('displayName', 'string', { required: true }),
      attribute('members', 'complex', {
        multiValued: true,
        subAttributes: [attribute('value', 'string', { mutability: 'immutable' }), attribute('display', 'string', { mutability: 'readOnly' })],
      }),
    ],
  },
  {
    schemas: [SCHEMA.schema],
    id: SCHEMA.enterprise,
    name: 'EnterpriseUser',
    attributes: [
      attribute('employeeNumber', 'string'),
      attribute('costCenter', 'string'),
      attribute('department', 'string'),
      attribute('manager', 'complex', { subAttributes: [attribute('value', 'string')] }),
    ],
  },
]

/**
 * A config that points the provisioner at a started emulator with its development credentials
 * (the sandbox uses it). `baseUrl` is what `start()` returned. The emulator's defaults are a
 * full-featured server, so the config uses PATCH, filters and ETags.
 */
export function scimSandboxConfig(baseUrl: string, name = 'sandbox'): ScimAppConfigInput {
  return {
    name,
    baseUrl: `${baseUrl.replace(/\/+$/, '')}/scim/v2`,
    auth: { type: 'bearer', token: SCIM_DEV_TOKEN },
    quirks: { updateMethod: 'patch', filterSupported: true, etag: true, groupMembership: 'patch_group' },
  }
}
