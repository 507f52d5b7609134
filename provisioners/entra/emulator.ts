/**
 * A local twin of the parts of Microsoft Graph v1.0 and the Microsoft identity platform token
 * endpoint that the Entra provisioner uses, for tests and the sandbox. Shapes follow the vendor:
 * - errors: `{ error: { code, message, innerError: { date, request-id, client-request-id } } }`
 *   (https://learn.microsoft.com/graph/errors), a `request-id` header on every answer;
 * - token errors: `{ error, error_description, error_codes, timestamp, trace_id, correlation_id }`;
 * - uniqueness clashes as 400 Request_BadRequest sentences, as Graph sends them (not 409);
 * - `$filter` only for what Graph supports on these paths and the provisioner needs
 *   (`employeeId eq`, `userPrincipalName eq`, `mail eq`, `principalId eq`, and
 *   `onPremisesExtensionAttributes/extensionAttributeN eq`, which Graph answers only as an advanced
 *   query), `$select` with Graph's default property set when absent, `$top` +
 *   `@odata.nextLink`/`$skiptoken` paging;
 * - the documented length limits of the user properties it stores (employeeId 16, each
 *   extensionAttribute 1024, …), refused with Graph's 400 property-validation sentence;
 * - throttling as in limits.ts: a resource-unit bucket for reads and a write bucket, 429 with
 *   Retry-After, `x-ms-throttle-scope` and `x-ms-throttle-information`.
 * Users created with `searchable: false` are readable by key but not yet returned by queries,
 * like a directory whose query index has not caught up (Graph is eventually consistent).
 * The emulator's clock (`now`, EmulatorOptions) is Graph's: it stamps
 * signInSessionsValidFromDateTime ("resets … to the current date-time",
 * https://learn.microsoft.com/graph/api/user-revokesigninsessions) and every answer's `Date` header
 * (RFC 9110 §6.6.1: an origin server with a clock sends one, in whole seconds), so a test can run
 * Graph's clock ahead of or behind the provisioner's.
 */
import { randomUUID } from 'node:crypto'
import express, { type NextFunction, type Request, type Response } from 'express'
import {
  decodePageToken,
  type EmulatorOptions,
  EmulatorKit,
  encodePageToken,
  type Fault,
  type InventoryAccount,
} from '../../src/sandbox/emulator-kit.ts'
import type { EntraConfigInput } from './config.ts'
import { ENTRA_RATE_LIMITS, type GraphBucket, graphRequestCost } from './limits.ts'

export const ENTRA_EMULATOR_TENANT_ID = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f'
export const ENTRA_EMULATOR_CLIENT_ID = '0b5e9c6a-2f4d-4e8b-9a1c-3d7f5e2b8c90'
/** A public development secret: the sandbox is not a place for real credentials. */
export const ENTRA_EMULATOR_CLIENT_SECRET = 'tenure-sandbox-entra-client-secret'
export const ENTRA_EMULATOR_DOMAIN = 'tenure.example'

/** Real Microsoft 365 SKU ids (GET /subscribedSkus skuId), so configs read like production ones. */
export const ENTRA_SKUS = {
  M365_E3: '05e9a617-0261-4cee-bb44-138d3ef5d965',
  O365_E3: '6fd2c87f-b296-42f0-b197-1e91e994b900',
  EXCHANGE_ONLINE_P1: '4b9405b0-7788-4568-add1-99614e613b69',
  EXCHANGE_ONLINE_P2: '19ec0d23-8335-4cbd-94ac-6050e30712fa',
} as const

/** Built-in role definition ids (= role template ids), from "Microsoft Entra built-in roles". */
export const ENTRA_ROLES = {
  GLOBAL_ADMINISTRATOR: '62e90394-69f5-4237-9190-012177145e10',
  PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: '7be44c8a-adaf-4e2a-84d6-ab2649e08a13',
  USER_ADMINISTRATOR: 'fe930be7-5e62-47db-91af-98c3a49a38b1',
  HELPDESK_ADMINISTRATOR: '729827e3-9c14-49f7-bb1b-9608f156bbb8',
  GLOBAL_READER: 'f2ef992c-3afb-46b9-b7cf-a126ee74c451',
} as const

const ROLE_NAMES: Record<string, string> = {
  [ENTRA_ROLES.GLOBAL_ADMINISTRATOR]: 'Global Administrator',
  [ENTRA_ROLES.PRIVILEGED_AUTHENTICATION_ADMINISTRATOR]: 'Privileged Authentication Administrator',
  [ENTRA_ROLES.USER_ADMINISTRATOR]: 'User Administrator',
  [ENTRA_ROLES.HELPDESK_ADMINISTRATOR]: 'Helpdesk Administrator',
  [ENTRA_ROLES.GLOBAL_READER]: 'Global Reader',
}

/**
 * Roles whose holders only a Privileged Authentication Administrator or Global Administrator may
 * disable or delete ("Who can perform sensitive actions",
 * https://learn.microsoft.com/graph/api/resources/users#who-can-perform-sensitive-actions).
 */
const PRIVILEGED_TARGET_ROLES = new Set<string>([
  ENTRA_ROLES.GLOBAL_ADMINISTRATOR,
  ENTRA_ROLES.PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
  ENTRA_ROLES.USER_ADMINISTRATOR,
  ENTRA_ROLES.HELPDESK_ADMINISTRATOR,
])

/** The application permissions docs/systems/entra.md asks admins to grant. */
export const ENTRA_DEFAULT_PERMISSIONS = [
  'User.ReadWrite.All',
  'User.RevokeSessions.All',
  'GroupMember.ReadWrite.All',
  'LicenseAssignment.ReadWrite.All',
  'RoleManagement.ReadWrite.Directory',
] as const

export interface EntraEmulatorOptions extends EmulatorOptions {
  tenantId?: string
  clientId?: string
  clientSecret?: string
  /** Domains users may be created in (the tenant's verified domains). */
  verifiedDomains?: string[]
  /** Subscribed SKUs and their seat counts. */
  skus?: Array<{ skuId: string; skuPartNumber: string; seats?: number }>
  /** Application permissions (app roles) in issued tokens. */
  permissions?: string[]
  /** Directory roles held by the app's service principal (Privileged Authentication Administrator by default). */
  appDirectoryRoles?: string[]
}

interface StoredUser {
  id: string
  userPrincipalName: string
  mailNickname: string
  displayName: string
  givenName: string | null
  surname: string | null
  jobTitle: string | null
  department: string | null
  mail: string | null
  employeeId: string | null
  /** extensionAttribute1…15 (null when unset). */
  extensionAttributes: ExtensionAttributes
  /** True for users synced from on-premises AD: their extension attributes and employeeId are read-only here. */
  onPremisesSyncEnabled: boolean | null
  accountEnabled: boolean
  usageLocation: string | null
  createdDateTime: string
  signInSessionsValidFromDateTime: string
  forceChangePasswordNextSignIn: boolean
  /** skuId → disabled plans, directly assigned. */
  licences: Map<string, string[]>
  searchable: boolean
}

interface StoredGroup {
  id: string
  displayName: string
  mailNickname: string
  groupTypes: string[]
  membershipRule: string | null
  mailEnabled: boolean
  securityEnabled: boolean
  onPremisesSyncEnabled: boolean | null
  isAssignableToRole: boolean
  /** Group-based licensing: SKUs every member inherits. */
  assignedLicenses: string[]
  members: Set<string>
}

interface StoredAssignment {
  id: string
  principalId: string
  roleDefinitionId: string
  directoryScopeId: string
}

export interface SeedUser {
  id?: string
  userPrincipalName: string
  displayName?: string
  employeeId?: string | null
  /** e.g. { extensionAttribute15: 'hibob:1234' } */
  onPremisesExtensionAttributes?: Partial<ExtensionAttributes>
  /** True: synced from on-premises AD (extension attributes and employeeId read-only through Graph). */
  onPremisesSyncEnabled?: boolean | null
  accountEnabled?: boolean
  usageLocation?: string | null
  licences?: string[]
  /** False: readable by id/UPN but not yet returned by $filter queries (index lag). */
  searchable?: boolean
}

export interface SeedGroup {
  id?: string
  displayName: string
  groupTypes?: string[]
  membershipRule?: string | null
  mailEnabled?: boolean
  securityEnabled?: boolean
  onPremisesSyncEnabled?: boolean | null
  isAssignableToRole?: boolean
  assignedLicenses?: string[]
  members?: string[]
}

/** A user as the emulator stores it, for test assertions. */
export interface EmulatedUser {
  id: string
  userPrincipalName: string
  mailNickname: string
  displayName: string
  employeeId: string | null
  onPremisesExtensionAttributes: ExtensionAttributes
  accountEnabled: boolean
  usageLocation: string | null
  signInSessionsValidFromDateTime: string
  forceChangePasswordNextSignIn: boolean
  jobTitle: string | null
  department: string | null
  licences: string[]
  directLicences: string[]
  groups: string[]
  roles: string[]
  eligibleRoles: string[]
}

/** The 15 names of onPremisesExtensionAttributes (https://learn.microsoft.com/graph/api/resources/onpremisesextensionattributes). */
export const EXTENSION_ATTRIBUTE_NAMES = Array.from({ length: 15 }, (_, i) => `extensionAttribute${i + 1}`)
export type ExtensionAttributes = Record<string, string | null>

const emptyExtensionAttributes = (): ExtensionAttributes => Object.fromEntries(EXTENSION_ATTRIBUTE_NAMES.map((n) => [n, null]))

/**
 * Documented maximum lengths of the user properties the emulator stores
 * (user resource type, https://learn.microsoft.com/graph/api/resources/user: "employeeId … The
 * maximum length is 16 characters", displayName 256, givenName/surname 64, jobTitle 128,
 * department 64, mailNickname 64, userPrincipalName 113; and onPremisesExtensionAttributes,
 * https://learn.microsoft.com/graph/api/resources/onpremisesextensionattributes: "Each attribute
 * can store up to 1024 characters"). Graph refuses a longer value with 400 Request_BadRequest
 * "Invalid value specified for property '<name>' of resource '<type>'." (its property-validation
 * sentence; error shape per https://learn.microsoft.com/graph/errors).
 */
export const USER_PROPERTY_MAX_LENGTH = {
  employeeId: 16,
  extensionAttribute: 1024,
  displayName: 256,
  givenName: 64,
  surname: 64,
  jobTitle: 128,
  department: 64,
  mailNickname: 64,
  userPrincipalName: 113,
} as const

class GraphHttpError extends Error {
  readonly status: number
  readonly code: string
  readonly headers: Record<string, string>
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.status = status
    this.code = code
    this.headers = headers
  }
}

const badRequest = (message: string, code = 'Request_BadRequest') => new GraphHttpError(400, code, message)
const notFound = (id: string) =>
  new GraphHttpError(
    404,
    'Request_ResourceNotFound',
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  )
const denied = () => new GraphHttpError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.')

const USER_PROPERTIES = [
  'id',
  'userPrincipalName',
  'displayName',
  'givenName',
  'surname',
  'jobTitle',
  'department',
  'mail',
  'mailNickname',
  'employeeId',
  'onPremisesExtensionAttributes',
  'onPremisesSyncEnabled',
  'accountEnabled',
  'usageLocation',
  'createdDateTime',
  'signInSessionsValidFromDateTime',
  'assignedLicenses',
  'licenseAssignmentStates',
  'businessPhones',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
]
/** What Graph returns for a user when no $select is given (https://learn.microsoft.com/graph/api/resources/user). */
const USER_DEFAULT_SELECT = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
]
const DIRECTORY_OBJECT_PROPERTIES = [
  'id',
  'displayName',
  'description',
  'groupTypes',
  'membershipRule',
  'mailEnabled',
  'securityEnabled',
  'mailNickname',
  'onPremisesSyncEnabled',
  'isAssignableToRole',
  'roleTemplateId',
  'mail',
]
const USER_FILTERABLE = new Set(['employeeId', 'userPrincipalName', 'mail', 'displayName', 'accountEnabled', 'onPremisesExtensionAttributes'])

type Handler = (req: Request, res: Response, match: RegExpExecArray) => void | Promise<void>
interface Route {
  method: string
  pattern: RegExp
  /** Path template for cost lookup (limits.ts patterns). */
  costPath: (match: RegExpExecArray) => string
  permissions: string[]
  handler: Handler
}

const READ_USERS = ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All']
const WRITE_USERS = ['User.ReadWrite.All', 'Directory.ReadWrite.All']
const READ_ROLES = ['RoleManagement.Read.Directory', 'RoleManagement.ReadWrite.Directory', 'Directory.Read.All']
const WRITE_ROLES = ['RoleManagement.ReadWrite.Directory']

export class EntraEmulator {
  readonly kit: EmulatorKit
  readonly tenantId: string
  readonly clientId: string
  readonly #clientSecret: string
  readonly #domains: Set<string>
  readonly #skus: Map<string, { skuPartNumber: string; seats: number }>
  #permissions: Set<string>
  #appRoles: Set<string>
  readonly #users = new Map<string, StoredUser>()
  readonly #deleted = new Map<string, StoredUser>()
  readonly #groups = new Map<string, StoredGroup>()
  readonly #assignments = new Map<string, StoredAssignment>()
  readonly #eligibility = new Map<string, StoredAssignment>()
  readonly #routes: Route[]
  #baseUrl: string | undefined

  constructor(options: EntraEmulatorOptions = {}) {
    this.kit = new EmulatorKit(ENTRA_RATE_LIMITS, options)
    this.tenantId = options.tenantId ?? ENTRA_EMULATOR_TENANT_ID
    this.clientId = options.clientId ?? ENTRA_EMULATOR_CLIENT_ID
    this.#clientSecret = options.clientSecret ?? ENTRA_EMULATOR_CLIENT_SECRET
    this.#domains = new Set((options.verifiedDomains ?? [ENTRA_EMULATOR_DOMAIN, 'tenuresandbox.onmicrosoft.com']).map((d) => d.toLowerCase()))
    this.#skus = new Map(
      (
        options.skus ?? [
          { skuId: ENTRA_SKUS.M365_E3, skuPartNumber: 'SPE_E3' },
          { skuId: ENTRA_SKUS.O365_E3, skuPartNumber: 'ENTERPRISEPACK' },
          { skuId: ENTRA_SKUS.EXCHANGE_ONLINE_P1, skuPartNumber: 'EXCHANGESTANDARD' },
          { skuId: ENTRA_SKUS.EXCHANGE_ONLINE_P2, skuPartNumber: 'EXCHANGEENTERPRISE' },
        ]
      ).map((s) => [s.skuId.toLowerCase(), { skuPartNumber: s.skuPartNumber, seats: s.seats ?? 100_000 }]),
    )
    this.#permissions = new Set(options.permissions ?? ENTRA_DEFAULT_PERMISSIONS)
    this.#appRoles = new Set(options.appDirectoryRoles ?? [ENTRA_ROLES.PRIVILEGED_AUTHENTICATION_ADMINISTRATOR])
    this.#routes = this.#buildRoutes()
    this.#mount()
  }

  // ─── lifecycle ─────────────────────────────────────────────────────────────────────────────

  async start(port = 0): Promise<string> {
    this.#baseUrl = await this.kit.listen(port)
    return this.#baseUrl
  }

  async close(): Promise<void> {
    await this.kit.close()
  }

  get baseUrl(): string {
    if (!this.#baseUrl) throw new Error('EntraEmulator is not started')
    return this.#baseUrl
  }

  // ─── inspection and seeding for tests and the sandbox ──────────────────────────────────────

  getUser(idOrUpn: string): EmulatedUser | undefined {
    const user = this.#findUser(idOrUpn)
    return user ? this.#snapshot(user) : undefined
  }

  /** A soft-deleted user (DELETE /users/{id}), as it sits in deleted items. */
  getDeletedUser(id: string): EmulatedUser | undefined {
    const user = this.#deleted.get(id)
    return user ? this.#snapshot(user) : undefined
  }

  /** Every (not deleted) user with the access it holds. */
  inventory(): InventoryAccount[] {
    return [...this.#users.values()].map((stored) => {
      const u = this.#snapshot(stored)
      return {
        accountId: u.id,
        // Tenure's identity key: extensionAttribute15 by default (docs/systems/entra.md), else employeeId.
        ...(u.onPremisesExtensionAttributes.extensionAttribute15 ? { key: u.onPremisesExtensionAttributes.extensionAttribute15 } : u.employeeId ? { key: u.employeeId } : {}),
        email: u.userPrincipalName,
        active: u.accountEnabled,
        access: { groups: u.groups, licences: u.licences, roles: [...u.roles, ...u.eligibleRoles] },
      }
    })
  }

  userCount(): number {
    return this.#users.size
  }

  seedUser(input: SeedUser): string {
    const id = input.id ?? randomUUID()
    const upn = input.userPrincipalName.toLowerCase()
    if (this.#findUser(upn)) throw new Error(`userPrincipalName ${upn} exists`)
    const now = this.#isoSeconds(this.kit.now())
    this.#users.set(id, {
      id,
      userPrincipalName: upn,
      mailNickname: upn.split('@')[0] ?? upn,
      displayName: input.displayName ?? upn,
      givenName: null,
      surname: null,
      jobTitle: null,
      department: null,
      mail: upn,
      employeeId: input.employeeId ?? null,
      extensionAttributes: this.#extensionAttributes(input.onPremisesExtensionAttributes, emptyExtensionAttributes()),
      onPremisesSyncEnabled: input.onPremisesSyncEnabled ?? null,
      accountEnabled: input.accountEnabled ?? true,
      usageLocation: input.usageLocation === undefined ? 'US' : input.usageLocation,
      createdDateTime: now,
      signInSessionsValidFromDateTime: now,
      forceChangePasswordNextSignIn: false,
      licences: new Map((input.licences ?? []).map((sku) => [sku.toLowerCase(), []])),
      searchable: input.searchable ?? true,
    })
    return id
  }

  seedGroup(input: SeedGroup): string {
    const id = input.id ?? randomUUID()
    this.#groups.set(id, {
      id,
      displayName: input.displayName,
      mailNickname: input.displayName.toLowerCase().replace(/[^a-z0-9]/g, ''),
      groupTypes: input.groupTypes ?? [],
      membershipRule: input.membershipRule ?? null,
      mailEnabled: input.mailEnabled ?? false,
      securityEnabled: input.securityEnabled ?? true,
      onPremisesSyncEnabled: input.onPremisesSyncEnabled ?? null,
      isAssignableToRole: input.isAssignableToRole ?? false,
      assignedLicenses: (input.assignedLicenses ?? []).map((s) => s.toLowerCase()),
      members: new Set(input.members ?? []),
    })
    return id
  }

  addMember(groupId: string, userId: string): void {
    const group = this.#groups.get(groupId)
    if (!group) throw new Error(`no group ${groupId}`)
    group.members.add(userId)
  }

  seedRoleAssignment(principalId: string, roleDefinitionId: string, directoryScopeId = '/'): string {
    const id = randomUUID()
    this.#assignments.set(id, { id, principalId, roleDefinitionId, directoryScopeId })
    return id
  }

  seedRoleEligibility(principalId: string, roleDefinitionId: string, directoryScopeId = '/'): string {
    const id = randomUUID()
    this.#eligibility.set(id, { id, principalId, roleDefinitionId, directoryScopeId })
    return id
  }

  /** Simulate an admin flipping accountEnabled by hand in the Entra admin center. */
  setActive(accountId: string, active: boolean): void {
    const user = this.#findUser(accountId)
    if (!user) throw new Error(`no user ${accountId}`)
    user.accountEnabled = active
  }

  /** Let a `searchable: false` user show up in queries (the index caught up). */
  makeSearchable(accountId: string): void {
    const user = this.#findUser(accountId)
    if (user) user.searchable = true
  }

  setPermissions(permissions: string[]): void {
    this.#permissions = new Set(permissions)
  }

  setAppDirectoryRoles(roles: string[]): void {
    this.#appRoles = new Set(roles)
  }

  groupMembers(groupId: string): string[] {
    return [...(this.#groups.get(groupId)?.members ?? [])]
  }

  // ─── HTTP surface ──────────────────────────────────────────────────────────────────────────

  #mount(): void {
    const app = this.kit.app
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (req.path.startsWith('/_emulator/')) return next()
      const requestId = randomUUID()
      res.locals.requestId = requestId
      res.setHeader('request-id', requestId)
      res.setHeader('client-request-id', req.get('client-request-id') ?? requestId)
      // Graph's clock, not this machine's (Node would stamp its own): see the header comment.
      res.setHeader('Date', new Date(this.kit.now()).toUTCString())
      res.setHeader('x-ms-ags-diagnostic', JSON.stringify({ ServerInfo: { DataCenter: 'Local', Slice: 'E', Ring: '1', ScaleUnit: '000', RoleInstance: 'EMULATOR' } }))
      next()
    })
    app.post('/:tenant/oauth2/v2.0/token', express.urlencoded({ extended: false }), (req, res, next) => {
      this.#token(req, res).catch(next)
    })
    app.use(
      '/v1.0',
      express.json({ type: () => true, limit: '1mb' }),
      (req: Request, res: Response, next: NextFunction) => {
        this.#dispatch(req, res).catch(next)
      },
    )
    app.use((req: Request, res: Response) => {
      this.#sendError(req, res, new GraphHttpError(400, 'BadRequest', `Resource not found for the segment '${req.path.split('/')[1] ?? ''}'.`))
    })
    app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
      if (err instanceof GraphHttpError) return this.#sendError(req, res, err)
      const parseFailure = err instanceof SyntaxError || (err as { type?: string } | null)?.type === 'entity.parse.failed'
      if (parseFailure) {
        return this.#sendError(
          req,
          res,
          new GraphHttpError(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.'),
        )
      }
      this.#sendError(req, res, new GraphHttpError(500, 'InternalServerError', err instanceof Error ? err.message : String(err)))
    })
  }

  async #token(req: Request, res: Response): Promise<void> {
    const admission = await this.kit.admit(req, undefined)
    if (admission.kind === 'dropped') return
    if (admission.kind === 'fault' && admission.fault.status) {
      const status = admission.fault.status
      if (admission.fault.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(admission.fault.retryAfterSeconds))
      return this.#tokenError(res, status, admission.fault.code ?? (status === 429 ? 'temporarily_unavailable' : 'server_error'), status === 429 ? 'Too many requests.' : 'An error occurred on the server.', [])
    }
    const body = (req.body ?? {}) as Record<string, unknown>
    const tenant = String(req.params.tenant ?? '').toLowerCase()
    if (tenant !== this.tenantId.toLowerCase() && !this.#domains.has(tenant)) {
      return this.#tokenError(res, 400, 'invalid_request', `AADSTS90002: Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`, [90002])
    }
    if (body.grant_type !== 'client_credentials') {
      return this.#tokenError(res, 400, 'unsupported_grant_type', 'The provided value for the input parameter \'grant_type\' is not valid.', [])
    }
    if (body.client_id !== this.clientId) {
      return this.#tokenError(res, 400, 'unauthorized_client', `AADSTS700016: Application with identifier '${String(body.client_id)}' was not found in the directory '${this.tenantId}'.`, [700016])
    }
    if (typeof body.scope !== 'string' || !body.scope.endsWith('/.default')) {
      return this.#tokenError(res, 400, 'invalid_scope', `AADSTS1002012: The provided value for scope ${String(body.scope)} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`, [1002012])
    }
    if (body.client_secret !== this.#clientSecret) {
      return this.#tokenError(res, 401, 'invalid_client', `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${this.clientId}'.`, [7000215])
    }
    const { accessToken, expiresIn } = this.kit.issueToken()
    res.setHeader('x-ms-request-id', String(res.locals.requestId))
    res.setHeader('cache-control', 'no-store, no-cache')
    res.status(200).json({ token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: accessToken })
  }

  #tokenError(res: Response, status: number, error: string, description: string, codes: number[]): void {
    const traceId = String(res.locals.requestId)
    const correlationId = randomUUID()
    const timestamp = new Date(this.kit.now()).toISOString().replace(/\.\d{3}Z$/, 'Z')
    res.setHeader('x-ms-request-id', traceId)
    res.status(status).json({
      error,
      error_description: `${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: codes,
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      ...(codes[0] ? { error_uri: `https://login.microsoftonline.com/error?code=${codes[0]}` } : {}),
    })
  }

  async #dispatch(req: Request, res: Response): Promise<void> {
    const path = req.path.replace(/\/+$/, '') || '/'
    let route: Route | undefined
    let match: RegExpExecArray | null = null
    for (const candidate of this.#routes) {
      if (candidate.method !== req.method) continue
      match = candidate.pattern.exec(path)
      if (match) {
        route = candidate
        break
      }
    }
    if (!route || !match) {
      const known = this.#routes.some((r) => r.pattern.test(path))
      if (known) throw new GraphHttpError(405, 'Request_BadRequest', `The HTTP method '${req.method}' is not allowed for this resource.`)
      throw new GraphHttpError(400, 'BadRequest', `Resource not found for the segment '${path.split('/')[1] ?? ''}'.`)
    }
    const query = this.#odata(req)
    const cost = graphRequestCost(req.method, route.costPath(match), query)
    const admission = await this.kit.admit(req, cost.bucket, cost.cost)
    if (admission.kind === 'dropped') return
    if (admission.kind === 'rate_limited') throw this.#throttled(cost.bucket, admission.retryAfterSeconds)
    if (admission.kind === 'fault' && admission.fault.status) throw this.#fault(admission.fault)
    this.#authenticate(req)
    if (!route.permissions.some((p) => this.#permissions.has(p))) throw denied()
    if (cost.bucket === 'read') res.setHeader('x-ms-resource-unit', String(cost.cost))
    await route.handler(req, res, match)
  }

  #authenticate(req: Request): void {
    const verdict = this.kit.checkToken(req.get('authorization'))
    if (verdict === 'ok') return
    const message =
      verdict === 'missing'
        ? 'Access token is empty.'
        : verdict === 'expired'
          ? 'Access token has expired or is not yet valid.'
          : 'Access token validation failure. Invalid audience.'
    throw new GraphHttpError(401, 'InvalidAuthenticationToken', message, {
      'WWW-Authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
    })
  }

  #throttled(bucket: GraphBucket, retryAfterSeconds: number): GraphHttpError {
    const limit = bucket === 'write' ? 'Write' : 'Read'
    return new GraphHttpError(429, 'TooManyRequests', 'Too many requests. Please retry after the time given in Retry-After.', {
      'Retry-After': String(retryAfterSeconds),
      'x-ms-throttle-scope': `Tenant_Application/${limit}/${this.clientId}/${this.tenantId}`,
      'x-ms-throttle-information': bucket === 'write' ? 'WriteLimitExceeded' : 'ResourceUnitLimitExceeded',
    })
  }

  #fault(fault: Fault): GraphHttpError {
    const status = fault.status ?? 500
    const headers: Record<string, string> = {}
    if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds)
    const defaults: Record<number, [string, string]> = {
      400: ['Request_BadRequest', 'Bad request.'],
      401: ['InvalidAuthenticationToken', 'Access token has expired or is not yet valid.'],
      403: ['Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'],
      404: ['Request_ResourceNotFound', 'Resource does not exist or one of its queried reference-property objects are not present.'],
      429: ['TooManyRequests', 'Too many requests. Please retry after the time given in Retry-After.'],
      500: ['InternalServerError', 'An internal server error occurred.'],
      502: ['BadGateway', 'Bad gateway.'],
      503: ['ServiceUnavailable', 'The service is temporarily unavailable. Please retry later.'],
      504: ['GatewayTimeout', 'The operation timed out.'],
    }
    const [code, message] = defaults[status] ?? ['UnknownError', `Injected fault ${status}`]
    if (status === 429) {
      headers['x-ms-throttle-information'] ??= 'WriteLimitExceeded'
      headers['Retry-After'] ??= '1'
    }
    return new GraphHttpError(status, fault.code ?? code, message, headers)
  }

  #sendError(_req: Request, res: Response, err: GraphHttpError): void {
    for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v)
    const requestId = String(res.locals.requestId ?? randomUUID())
    res
      .status(err.status)
      .type('application/json')
      .send(
        JSON.stringify({
          error: {
            code: err.code,
            message: err.message,
            innerError: {
              date: new Date(this.kit.now()).toISOString().slice(0, 19),
              'request-id': requestId,
              'client-request-id': String(res.getHeader('client-request-id') ?? requestId),
            },
          },
        }),
      )
  }

  #json(res: Response, status: number, body: unknown): void {
    res
      .status(status)
      .type('application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8')
      .send(JSON.stringify(body))
  }

  // ─── routes ────────────────────────────────────────────────────────────────────────────────

  #buildRoutes(): Route[] {
    const seg = '([^/]+)'
    const r = (method: string, path: string, costPath: string, permissions: string[], handler: Handler): Route => ({
      method,
      pattern: new RegExp(`^${path.replace(/\$/g, '\\$').replace(/\{seg\}/g, seg)}$`),
      costPath: () => costPath,
      permissions,
      handler,
    })
    return [
      r('GET', '/users', '/users', READ_USERS, (req, res) => this.#listUsers(req, res)),
      r('POST', '/users', '/users', WRITE_USERS, (req, res) => this.#createUser(req, res)),
      r('GET', '/users/{seg}', '/users/x', READ_USERS, (req, res, m) => this.#getUserRoute(req, res, m)),
      r('PATCH', '/users/{seg}', '/users/x', [...WRITE_USERS, 'User.EnableDisableAccount.All'], (req, res, m) => this.#patchUser(req, res, m)),
      r('DELETE', '/users/{seg}', '/users/x', WRITE_USERS, (req, res, m) => this.#deleteUser(req, res, m)),
      r(
        'POST',
        '/users/{seg}/(?:microsoft\\.graph\\.)?revokeSignInSessions',
        '/users/x/revokeSignInSessions',
        ['User.RevokeSessions.All', ...WRITE_USERS],
        (req, res, m) => this.#revokeSessions(req, res, m),
      ),
      r(
        'POST',
        '/users/{seg}/(?:microsoft\\.graph\\.)?assignLicense',
        '/users/x/assignLicense',
        ['LicenseAssignment.ReadWrite.All', ...WRITE_USERS],
        (req, res, m) => this.#assignLicense(req, res, m),
      ),
      r(
        'GET',
        '/users/{seg}/memberOf',
        '/users/x/memberOf',
        ['GroupMember.Read.All', 'GroupMember.ReadWrite.All', 'Group.Read.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
        (req, res, m) => this.#memberOf(req, res, m),
      ),
      r(
        'POST',
        '/groups/{seg}/members/$ref',
        '/groups/x/members/$ref',
        ['GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
        (req, res, m) => this.#addMemberRoute(req, res, m),
      ),
      r(
        'DELETE',
        '/groups/{seg}/members/{seg}/$ref',
        '/groups/x/members/x/$ref',
        ['GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
        (req, res, m) => this.#removeMemberRoute(req, res, m),
      ),
      r('GET', '/roleManagement/directory/roleAssignments', '/roleAssignments', READ_ROLES, (req, res) =>
        this.#listAssignments(req, res, this.#assignments, 'roleAssignments'),
      ),
      r('POST', '/roleManagement/directory/roleAssignments', '/roleAssignments', WRITE_ROLES, (req, res) =>
        this.#createAssignment(req, res),
      ),
      r('DELETE', '/roleManagement/directory/roleAssignments/{seg}', '/roleAssignments/x', WRITE_ROLES, (req, res, m) =>
        this.#deleteAssignment(req, res, m),
      ),
      r(
        'GET',
        '/roleManagement/directory/roleEligibilitySchedules',
        '/roleEligibilitySchedules',
        ['RoleEligibilitySchedule.Read.Directory', 'RoleEligibilitySchedule.ReadWrite.Directory', ...READ_ROLES],
        (req, res) => this.#listAssignments(req, res, this.#eligibility, 'roleEligibilitySchedules'),
      ),
      r(
        'POST',
        '/roleManagement/directory/roleEligibilityScheduleRequests',
        '/roleEligibilityScheduleRequests',
        ['RoleEligibilitySchedule.ReadWrite.Directory', ...WRITE_ROLES],
        (req, res) => this.#eligibilityRequest(req, res),
      ),
      r(
        'GET',
        '/subscribedSkus',
        '/subscribedSkus',
        ['LicenseAssignment.Read.All', 'LicenseAssignment.ReadWrite.All', 'Organization.Read.All', 'Directory.Read.All'],
        (_req, res) => this.#subscribedSkus(res),
      ),
    ]
  }

  #listUsers(req: Request, res: Response): void {
    const q = this.#odata(req)
    const select = this.#select(q.$select, USER_PROPERTIES, 'microsoft.graph.user')
    let users = [...this.#users.values()].filter((u) => u.searchable)
    // "Advanced query parameters": the ConsistencyLevel: eventual header and $count=true
    // (https://learn.microsoft.com/graph/aad-advanced-queries). Without the header Graph silently
    // ignores $count=true; with both it adds @odata.count.
    const advanced = (req.get('consistencylevel') ?? '').toLowerCase() === 'eventual' && q.$count === 'true'
    if (q.$filter !== undefined) {
      const { property, value } = this.#parseFilter(q.$filter, USER_FILTERABLE, 'microsoft.graph.user', 'User')
      const extension = /^onPremisesExtensionAttributes\/(extensionAttribute(?:[1-9]|1[0-5]))$/.exec(property)
      if (extension) {
        // "onPremisesExtensionAttributes | eq: Advanced" in the filter table of
        // https://learn.microsoft.com/graph/aad-advanced-queries (the extension attributes are only
        // in the separate advanced-query index): without both advanced query parameters Graph
        // answers 400 Request_UnsupportedQuery ("If a property or query parameter in the URL is
        // supported only in advanced queries but either the ConsistencyLevel header or the
        // $count=true query string is missing, the request returns an error").
        if (!advanced) {
          throw badRequest(
            `Unsupported or invalid query filter clause specified for property '${property}' of resource 'User'. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information`,
            'Request_UnsupportedQuery',
          )
        }
        const name = extension[1] ?? ''
        users = users.filter((u) => u.extensionAttributes[name] === value)
      } else {
        users = users.filter((u) => {
          const actual = (u as unknown as Record<string, unknown>)[property]
          // Graph compares userPrincipalName and mail without regard to case.
          if (property === 'userPrincipalName' || property === 'mail') return String(actual ?? '').toLowerCase() === value.toLowerCase()
          return actual === value || (typeof actual === 'boolean' && String(actual) === value)
        })
      }
    }
    this.#page(req, res, users.map((u) => this.#renderUser(u, select)), q, 'users', select, advanced ? users.length : undefined)
  }

  #createUser(req: Request, res: Response): void {
    const body = this.#bodyObject(req)
    const required = ['accountEnabled', 'displayName', 'mailNickname', 'userPrincipalName', 'passwordProfile'] as const
    for (const property of required) {
      if (body[property] === undefined || body[property] === null || body[property] === '') {
        throw badRequest(`Invalid value specified for property '${property}' of resource 'User'.`)
      }
    }
    if (typeof body.accountEnabled !== 'boolean') throw badRequest("Invalid value specified for property 'accountEnabled' of resource 'User'.")
    const max = USER_PROPERTY_MAX_LENGTH
    const upn = this.#string(body, 'userPrincipalName', max.userPrincipalName).toLowerCase()
    const displayName = this.#string(body, 'displayName', max.displayName)
    const mailNickname = this.#string(body, 'mailNickname', max.mailNickname)
    if (!/^[^\s@()\\[\]";:<>,]+$/.test(mailNickname)) throw badRequest("Invalid value specified for property 'mailNickname' of resource 'User'.")
    const at = upn.lastIndexOf('@')
    const local = upn.slice(0, at)
    if (at <= 0 || local.length > 64 || !/^[a-z0-9'._!#^~-]+$/.test(local) || local.startsWith('.') || local.endsWith('.')) {
      throw badRequest("Invalid value specified for property 'userPrincipalName' of resource 'User'.")
    }
    if (!this.#domains.has(upn.slice(at + 1))) {
      throw badRequest(
        'The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.',
      )
    }
    const profile = body.passwordProfile as Record<string, unknown> | undefined
    const password = typeof profile?.password === 'string' ? profile.password : ''
    const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(password)).length
    if (password.length < 8 || password.length > 256 || classes < 3) {
      throw badRequest('The specified password does not comply with password complexity requirements. Please provide a different password.')
    }
    const employeeId = body.employeeId === undefined || body.employeeId === null ? null : this.#string(body, 'employeeId', max.employeeId)
    const extensionAttributes = this.#extensionAttributes(body.onPremisesExtensionAttributes, emptyExtensionAttributes())
    const usageLocation = this.#usageLocation(body.usageLocation)
    if ([...this.#users.values()].some((u) => u.userPrincipalName === upn)) {
      throw badRequest('Another object with the same value for property userPrincipalName already exists.')
    }
    if ([...this.#users.values()].some((u) => u.mailNickname.toLowerCase() === mailNickname.toLowerCase() && u.mail !== null)) {
      throw badRequest('Another object with the same value for property proxyAddresses already exists.')
    }
    const now = this.#isoSeconds(this.kit.now())
    const user: StoredUser = {
      id: randomUUID(),
      userPrincipalName: upn,
      mailNickname,
      displayName,
      givenName: this.#optionalString(body, 'givenName', max.givenName),
      surname: this.#optionalString(body, 'surname', max.surname),
      jobTitle: this.#optionalString(body, 'jobTitle', max.jobTitle),
      department: this.#optionalString(body, 'department', max.department),
      mail: upn,
      employeeId,
      extensionAttributes,
      onPremisesSyncEnabled: null,
      accountEnabled: body.accountEnabled,
      usageLocation: usageLocation ?? null,
      createdDateTime: now,
      signInSessionsValidFromDateTime: now,
      forceChangePasswordNextSignIn: profile?.forceChangePasswordNextSignIn !== false,
      licences: new Map(),
      searchable: true,
    }
    this.#users.set(user.id, user)
    res.setHeader('Location', `${this.#origin(req)}/v1.0/directoryObjects/${user.id}/Microsoft.DirectoryServices.User`)
    this.#json(res, 201, {
      '@odata.context': `${this.#origin(req)}/v1.0/$metadata#users/$entity`,
      ...this.#renderUser(user, USER_DEFAULT_SELECT),
    })
  }

  #getUserRoute(req: Request, res: Response, m: RegExpExecArray): void {
    const user = this.#requireUser(m[1])
    const select = this.#select(this.#odata(req).$select, USER_PROPERTIES, 'microsoft.graph.user')
    this.#json(res, 200, { '@odata.context': `${this.#origin(req)}/v1.0/$metadata#users/$entity`, ...this.#renderUser(user, select) })
  }

  #patchUser(req: Request, res: Response, m: RegExpExecArray): void {
    const user = this.#requireUser(m[1])
    const body = this.#bodyObject(req)
    const writable = new Set([
      'accountEnabled',
      'employeeId',
      'onPremisesExtensionAttributes',
      'usageLocation',
      'displayName',
      'jobTitle',
      'department',
      'givenName',
      'surname',
    ])
    for (const key of Object.keys(body)) {
      if (!writable.has(key)) throw badRequest(`Property '${key}' is read-only and cannot be set.`)
    }
    // For a synced user "the source of authority for this set of properties is the on-premises
    // Active Directory … and is read-only" (onPremisesExtensionAttributes resource type); the same
    // holds for employeeId, which Entra Connect syncs. Graph refuses the write with this sentence.
    if (user.onPremisesSyncEnabled === true && ('onPremisesExtensionAttributes' in body || 'employeeId' in body)) {
      throw badRequest('Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.')
    }
    const max = USER_PROPERTY_MAX_LENGTH
    if ('accountEnabled' in body) {
      if (typeof body.accountEnabled !== 'boolean') throw badRequest("Invalid value specified for property 'accountEnabled' of resource 'User'.")
      this.#requireSensitiveRight(user)
    }
    const next = { ...user }
    if ('accountEnabled' in body) next.accountEnabled = body.accountEnabled as boolean
    if ('employeeId' in body) next.employeeId = body.employeeId === null ? null : this.#string(body, 'employeeId', max.employeeId)
    if ('onPremisesExtensionAttributes' in body) {
      next.extensionAttributes = this.#extensionAttributes(body.onPremisesExtensionAttributes, user.extensionAttributes)
    }
    if ('usageLocation' in body) next.usageLocation = this.#usageLocation(body.usageLocation) ?? null
    if ('displayName' in body) next.displayName = this.#string(body, 'displayName', max.displayName)
    if ('jobTitle' in body) next.jobTitle = this.#optionalString(body, 'jobTitle', max.jobTitle)
    if ('department' in body) next.department = this.#optionalString(body, 'department', max.department)
    if ('givenName' in body) next.givenName = this.#optionalString(body, 'givenName', max.givenName)
    if ('surname' in body) next.surname = this.#optionalString(body, 'surname', max.surname)
    Object.assign(user, next)
    res.status(204).end()
  }

  #deleteUser(_req: Request, res: Response, m: RegExpExecArray): void {
    const user = this.#requireUser(m[1])
    this.#requireSensitiveRight(user)
    this.#users.delete(user.id)
    this.#deleted.set(user.id, user)
    for (const group of this.#groups.values()) group.members.delete(user.id)
    for (const [id, a] of this.#assignments) if (a.principalId === user.id) this.#assignments.delete(id)
    for (const [id, a] of this.#eligibility) if (a.principalId === user.id) this.#eligibility.delete(id)
    res.status(204).end()
  }

  #revokeSessions(req: Request, res: Response, m: RegExpExecArray): void {
    const user = this.#requireUser(m[1])
    user.signInSessionsValidFromDateTime = this.#isoSeconds(this.kit.now())
    this.#json(res, 200, { '@odata.context': `${this.#origin(req)}/v1.0/$metadata#Edm.Boolean`, value: true })
  }

  #assignLicense(req: Request, res: Response, m: RegExpExecArray): void {
    const user = this.#requireUser(m[1])
    const body = this.#bodyObject(req)
    const missing = ['addLicenses', 'removeLicenses'].filter((k) => !Array.isArray(body[k]))
    if (missing.length > 0) {
      throw badRequest(
        `One or more parameters of the function import 'assignLicense' are missing from the request payload. The missing parameters are: ${missing.join(', ')}.`,
      )
    }
    const add = (body.addLicenses as unknown[]).map((entry) => {
      const skuId = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).skuId : undefined
      if (typeof skuId !== 'string') throw badRequest("Invalid value specified for property 'skuId' of resource 'AssignedLicense'.")
      const disabled = (entry as Record<string, unknown>).disabledPlans
      return { skuId: skuId.toLowerCase(), disabledPlans: Array.isArray(disabled) ? disabled.map(String) : [] }
    })
    const remove = (body.removeLicenses as unknown[]).map((s) => String(s).toLowerCase())
    for (const { skuId } of add) {
      const sku = this.#skus.get(skuId)
      if (!sku) throw badRequest(`License ${skuId} does not correspond to a valid company License.`)
      const used = [...this.#users.values()].filter((u) => this.#licenceStates(u).some((s) => s.skuId === skuId)).length
      if (!user.licences.has(skuId) && used >= sku.seats) throw badRequest(`Subscription ${skuId} does not have any available licenses.`)
    }
    if (add.length > 0 && !user.usageLocation) throw badRequest('License assignment cannot be done for user with invalid usage location.')
    for (const skuId of remove) {
      if (user.licences.has(skuId)) continue
      if (this.#licenceStates(user).some((s) => s.skuId === skuId)) {
        throw badRequest('User license is inherited from a group membership and it cannot be removed directly from the user.')
      }
      throw badRequest('User does not have a corresponding license.')
    }
    for (const skuId of remove) user.licences.delete(skuId)
    for (const { skuId, disabledPlans } of add) user.licences.set(skuId, disabledPlans)
    this.#json(res, 200, {
      '@odata.context': `${this.#origin(req)}/v1.0/$metadata#users/$entity`,
      ...this.#renderUser(user, USER_DEFAULT_SELECT),
    })
  }

  #memberOf(req: Request, res: Response, m: RegExpExecArray): void {
    const user = this.#requireUser(m[1])
    const q = this.#odata(req)
    const select = this.#select(q.$select, DIRECTORY_OBJECT_PROPERTIES, 'microsoft.graph.directoryObject')
    const objects: Array<Record<string, unknown>> = []
    for (const group of this.#groups.values()) {
      if (!group.members.has(user.id)) continue
      objects.push(
        this.#pick(
          {
            '@odata.type': '#microsoft.graph.group',
            id: group.id,
            displayName: group.displayName,
            description: null,
            groupTypes: group.groupTypes,
            membershipRule: group.membershipRule,
            mailEnabled: group.mailEnabled,
            securityEnabled: group.securityEnabled,
            mailNickname: group.mailNickname,
            onPremisesSyncEnabled: group.onPremisesSyncEnabled,
            isAssignableToRole: group.isAssignableToRole,
            mail: group.mailEnabled ? `${group.mailNickname}@${[...this.#domains][0] ?? 'example.com'}` : null,
          },
          select,
        ),
      )
    }
    // Activated directory roles show up in memberOf as directoryRole objects (legacy roles API).
    const roles = new Set([...this.#assignments.values()].filter((a) => a.principalId === user.id && a.directoryScopeId === '/').map((a) => a.roleDefinitionId))
    for (const roleTemplateId of roles) {
      objects.push(
        this.#pick(
          {
            '@odata.type': '#microsoft.graph.directoryRole',
            id: `${roleTemplateId.slice(0, 24)}${roleTemplateId.slice(-12).split('').reverse().join('')}`,
            displayName: ROLE_NAMES[roleTemplateId] ?? 'Custom role',
            description: null,
            roleTemplateId,
          },
          select,
        ),
      )
    }
    this.#page(req, res, objects, q, `users('${user.id}')/memberOf`, select)
  }

  #addMemberRoute(req: Request, res: Response, m: RegExpExecArray): void {
    const group = this.#requireGroup(m[1])
    const body = this.#bodyObject(req)
    const ref = body['@odata.id']
    if (typeof ref !== 'string') throw badRequest("Invalid value specified for property '@odata.id'.")
    const memberId = /\/(?:directoryObjects|users)(?:\/|\(')([0-9a-f-]{36})/i.exec(ref)?.[1]
    if (!memberId) throw badRequest(`Invalid object identifier '${ref}'.`)
    const user = this.#users.get(memberId)
    if (!user) throw notFound(memberId)
    this.#requireMembershipWritable(group)
    if (group.members.has(user.id)) {
      throw badRequest("One or more added object references already exist for the following modified properties: 'members'.")
    }
    group.members.add(user.id)
    res.status(204).end()
  }

  #removeMemberRoute(_req: Request, res: Response, m: RegExpExecArray): void {
    const group = this.#requireGroup(m[1])
    const memberId = decodeURIComponent(m[2] ?? '')
    this.#requireMembershipWritable(group)
    if (!group.members.has(memberId)) throw notFound(memberId)
    group.members.delete(memberId)
    res.status(204).end()
  }

  #requireMembershipWritable(group: StoredGroup): void {
    if (group.groupTypes.includes('DynamicMembership')) {
      throw badRequest('Insufficient privileges to complete the operation. Members of a group with dynamic membership cannot be added or removed.')
    }
    if (group.onPremisesSyncEnabled) {
      throw badRequest(
        'Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.',
      )
    }
    if (group.mailEnabled && !group.groupTypes.includes('Unified')) {
      throw badRequest('Cannot Update a mail-enabled security groups and or distribution list.')
    }
    // Role-assignable groups also need RoleManagement.ReadWrite.Directory
    // (https://learn.microsoft.com/graph/api/group-delete-members).
    if (group.isAssignableToRole && !this.#permissions.has('RoleManagement.ReadWrite.Directory')) throw denied()
  }

  #listAssignments(req: Request, res: Response, store: Map<string, StoredAssignment>, entitySet: string): void {
    const q = this.#odata(req)
    let items = [...store.values()]
    if (q.$filter !== undefined) {
      const { property, value } = this.#parseFilter(
        q.$filter,
        new Set(['principalId', 'roleDefinitionId', 'directoryScopeId']),
        'microsoft.graph.unifiedRoleAssignment',
        'unifiedRoleAssignment',
      )
      items = items.filter((a) => String((a as unknown as Record<string, unknown>)[property]).toLowerCase() === value.toLowerCase())
    }
    const rendered = items.map((a) => ({
      id: a.id,
      principalId: a.principalId,
      roleDefinitionId: a.roleDefinitionId,
      directoryScopeId: a.directoryScopeId,
      ...(entitySet === 'roleEligibilitySchedules' ? { memberType: 'Direct', status: 'Provisioned', scheduleInfo: { expiration: { type: 'noExpiration' } } } : {}),
    }))
    this.#page(req, res, rendered, q, `roleManagement/directory/${entitySet}`, undefined)
  }

  #createAssignment(req: Request, res: Response): void {
    const body = this.#bodyObject(req)
    const principalId = this.#string(body, 'principalId', 36)
    const roleDefinitionId = this.#string(body, 'roleDefinitionId', 36).toLowerCase()
    const directoryScopeId = typeof body.directoryScopeId === 'string' ? body.directoryScopeId : '/'
    if (!this.#users.has(principalId) && !this.#groups.has(principalId)) throw notFound(principalId)
    if (!ROLE_NAMES[roleDefinitionId]) throw notFound(roleDefinitionId)
    const group = this.#groups.get(principalId)
    if (group && !group.isAssignableToRole) throw badRequest('The group is not role-assignable.')
    if ([...this.#assignments.values()].some((a) => a.principalId === principalId && a.roleDefinitionId === roleDefinitionId && a.directoryScopeId === directoryScopeId)) {
      throw badRequest('A conflicting object with one or more of the specified property values is present in the directory.')
    }
    const id = randomUUID()
    this.#assignments.set(id, { id, principalId, roleDefinitionId, directoryScopeId })
    this.#json(res, 201, {
      '@odata.context': `${this.#origin(req)}/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity`,
      id,
      principalId,
      roleDefinitionId,
      directoryScopeId,
    })
  }

  #deleteAssignment(_req: Request, res: Response, m: RegExpExecArray): void {
    const id = decodeURIComponent(m[1] ?? '')
    if (!this.#assignments.delete(id)) throw notFound(id)
    res.status(204).end()
  }

  #eligibilityRequest(req: Request, res: Response): void {
    const body = this.#bodyObject(req)
    const action = this.#string(body, 'action', 32)
    const principalId = this.#string(body, 'principalId', 36)
    const roleDefinitionId = this.#string(body, 'roleDefinitionId', 36).toLowerCase()
    const directoryScopeId = typeof body.directoryScopeId === 'string' ? body.directoryScopeId : '/'
    if (action !== 'adminRemove' && action !== 'adminAssign') {
      throw badRequest(`Invalid value specified for property 'action' of resource 'UnifiedRoleEligibilityScheduleRequest'.`)
    }
    const existing = [...this.#eligibility.values()].find(
      (a) => a.principalId === principalId && a.roleDefinitionId === roleDefinitionId && a.directoryScopeId === directoryScopeId,
    )
    if (action === 'adminRemove') {
      if (!existing) throw new GraphHttpError(404, 'RoleAssignmentDoesNotExist', 'The Role assignment does not exist.')
      this.#eligibility.delete(existing.id)
    } else if (!existing) {
      const id = randomUUID()
      this.#eligibility.set(id, { id, principalId, roleDefinitionId, directoryScopeId })
    }
    this.#json(res, 201, {
      '@odata.context': `${this.#origin(req)}/v1.0/$metadata#roleManagement/directory/roleEligibilityScheduleRequests/$entity`,
      id: randomUUID(),
      action,
      principalId,
      roleDefinitionId,
      directoryScopeId,
      status: action === 'adminRemove' ? 'Revoked' : 'Provisioned',
      createdDateTime: new Date(this.kit.now()).toISOString(),
    })
  }

  #subscribedSkus(res: Response): void {
    const value = [...this.#skus.entries()].map(([skuId, sku]) => ({
      skuId,
      skuPartNumber: sku.skuPartNumber,
      capabilityStatus: 'Enabled',
      consumedUnits: [...this.#users.values()].filter((u) => this.#licenceStates(u).some((s) => s.skuId === skuId)).length,
      prepaidUnits: { enabled: sku.seats, suspended: 0, warning: 0 },
    }))
    this.#json(res, 200, { value })
  }

  // ─── helpers ───────────────────────────────────────────────────────────────────────────────

  #odata(req: Request): Record<string, string | undefined> {
    const out: Record<string, string | undefined> = {}
    for (const [key, value] of new URL(req.originalUrl, 'http://x').searchParams) out[key.toLowerCase() === '$skiptoken' ? '$skiptoken' : key] = value
    return out
  }

  #select(raw: string | undefined, allowed: string[], type: string): string[] | undefined {
    if (raw === undefined) return undefined
    const fields = raw.split(',').map((f) => f.trim()).filter(Boolean)
    for (const field of fields) {
      if (!allowed.includes(field)) throw badRequest(`Could not find a property named '${field}' on type '${type}'.`)
    }
    return fields
  }

  #parseFilter(raw: string, allowed: Set<string>, type: string, resource: string): { property: string; value: string } {
    const m = /^\s*([A-Za-z]+(?:\/[A-Za-z0-9]+)?)\s+eq\s+(?:'((?:[^']|'')*)'|(true|false))\s*$/.exec(raw)
    if (!m) {
      const property = /^\s*(?:[a-z]+\()?([A-Za-z]+)/.exec(raw)?.[1] ?? 'unknown'
      if (!allowed.has(property)) throw badRequest(`Invalid filter clause: Could not find a property named '${property}' on type '${type}'.`)
      throw badRequest(`Unsupported or invalid query filter clause specified for property '${property}' of resource '${resource}'.`, 'Request_UnsupportedQuery')
    }
    const property = m[1] ?? ''
    const root = property.split('/')[0] ?? ''
    if (!allowed.has(root)) throw badRequest(`Invalid filter clause: Could not find a property named '${root}' on type '${type}'.`)
    if (root !== property && !(root === 'onPremisesExtensionAttributes' && EXTENSION_ATTRIBUTE_NAMES.includes(property.slice(root.length + 1)))) {
      throw badRequest(`Invalid filter clause: Could not find a property named '${property.slice(root.length + 1)}' on type 'microsoft.graph.onPremisesExtensionAttributes'.`)
    }
    return { property, value: m[3] ?? (m[2] ?? '').replaceAll("''", "'") }
  }

  #page(
    req: Request,
    res: Response,
    items: Array<Record<string, unknown>>,
    q: Record<string, string | undefined>,
    entitySet: string,
    select: string[] | undefined,
    count?: number,
  ): void {
    const top = q.$top === undefined ? 100 : Number(q.$top)
    if (!Number.isInteger(top) || top < 1 || top > 999) {
      throw badRequest(`Invalid page size specified: '${q.$top}'. Must be between 1 and 999 inclusive.`, 'Request_UnsupportedQuery')
    }
    const offset = decodePageToken(q.$skiptoken)
    const page = items.slice(offset, offset + top)
    const body: Record<string, unknown> = {
      '@odata.context': `${this.#origin(req)}/v1.0/$metadata#${entitySet}${select ? `(${select.join(',')})` : ''}`,
      ...(count === undefined ? {} : { '@odata.count': count }),
    }
    if (offset + top < items.length) {
      const params: Record<string, string> = {}
      for (const [k, v] of Object.entries(q)) if (k !== '$skiptoken' && v !== undefined) params[k] = v
      params.$top = String(top)
      params.$skiptoken = encodePageToken(offset + top)
      const query = Object.entries(params)
        .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
        .join('&')
      body['@odata.nextLink'] = `${this.#origin(req)}/v1.0${req.path}?${query}`
    }
    body.value = page
    this.#json(res, 200, body)
  }

  #origin(req: Request): string {
    return this.#baseUrl ?? `${req.protocol}://${req.get('host') ?? '127.0.0.1'}`
  }

  #renderUser(user: StoredUser, select: string[] | undefined): Record<string, unknown> {
    const states = this.#licenceStates(user)
    const full: Record<string, unknown> = {
      id: user.id,
      userPrincipalName: user.userPrincipalName,
      displayName: user.displayName,
      givenName: user.givenName,
      surname: user.surname,
      jobTitle: user.jobTitle,
      department: user.department,
      mail: user.mail,
      mailNickname: user.mailNickname,
      employeeId: user.employeeId,
      onPremisesExtensionAttributes: { ...user.extensionAttributes },
      onPremisesSyncEnabled: user.onPremisesSyncEnabled,
      accountEnabled: user.accountEnabled,
      usageLocation: user.usageLocation,
      createdDateTime: user.createdDateTime,
      signInSessionsValidFromDateTime: user.signInSessionsValidFromDateTime,
      assignedLicenses: [...new Map(states.map((s) => [s.skuId, { skuId: s.skuId, disabledPlans: s.disabledPlans }])).values()],
      licenseAssignmentStates: states,
      businessPhones: [],
      mobilePhone: null,
      officeLocation: null,
      preferredLanguage: null,
    }
    return this.#pick(full, select ?? USER_DEFAULT_SELECT)
  }

  #pick(full: Record<string, unknown>, select: string[] | undefined): Record<string, unknown> {
    if (!select) return full
    const out: Record<string, unknown> = {}
    if ('@odata.type' in full) out['@odata.type'] = full['@odata.type']
    for (const key of select) if (key in full) out[key] = full[key]
    return out
  }

  #licenceStates(user: StoredUser): Array<{ skuId: string; disabledPlans: string[]; assignedByGroup: string | null; state: string; error: string }> {
    const states = [...user.licences.entries()].map(([skuId, disabledPlans]) => ({
      skuId,
      disabledPlans,
      assignedByGroup: null as string | null,
      state: 'Active',
      error: 'None',
    }))
    for (const group of this.#groups.values()) {
      if (!group.members.has(user.id)) continue
      for (const skuId of group.assignedLicenses) states.push({ skuId, disabledPlans: [], assignedByGroup: group.id, state: 'Active', error: 'None' })
    }
    return states
  }

  #snapshot(user: StoredUser): EmulatedUser {
    const states = this.#licenceStates(user)
    return {
      id: user.id,
      userPrincipalName: user.userPrincipalName,
      mailNickname: user.mailNickname,
      displayName: user.displayName,
      employeeId: user.employeeId,
      onPremisesExtensionAttributes: { ...user.extensionAttributes },
      accountEnabled: user.accountEnabled,
      usageLocation: user.usageLocation,
      signInSessionsValidFromDateTime: user.signInSessionsValidFromDateTime,
      forceChangePasswordNextSignIn: user.forceChangePasswordNextSignIn,
      jobTitle: user.jobTitle,
      department: user.department,
      licences: [...new Set(states.map((s) => s.skuId))],
      directLicences: [...user.licences.keys()],
      groups: [...this.#groups.values()].filter((g) => g.members.has(user.id)).map((g) => g.id),
      roles: [...this.#assignments.values()].filter((a) => a.principalId === user.id).map((a) => a.roleDefinitionId),
      eligibleRoles: [...this.#eligibility.values()].filter((a) => a.principalId === user.id).map((a) => a.roleDefinitionId),
    }
  }

  #findUser(idOrUpn: string | undefined): StoredUser | undefined {
    if (!idOrUpn) return undefined
    const key = decodeURIComponent(idOrUpn)
    const byId = this.#users.get(key)
    if (byId) return byId
    const lower = key.toLowerCase()
    return [...this.#users.values()].find((u) => u.userPrincipalName === lower)
  }

  #requireUser(idOrUpn: string | undefined): StoredUser {
    const user = this.#findUser(idOrUpn)
    if (!user) throw notFound(decodeURIComponent(idOrUpn ?? ''))
    return user
  }

  #requireGroup(id: string | undefined): StoredGroup {
    const group = this.#groups.get(decodeURIComponent(id ?? ''))
    if (!group) throw notFound(decodeURIComponent(id ?? ''))
    return group
  }

  /** Disabling or deleting a privileged admin needs a Privileged Authentication Administrator (or Global Administrator) app. */
  #requireSensitiveRight(target: StoredUser): void {
    const privileged = [...this.#assignments.values()].some((a) => a.principalId === target.id && PRIVILEGED_TARGET_ROLES.has(a.roleDefinitionId))
    if (!privileged) return
    if (this.#appRoles.has(ENTRA_ROLES.PRIVILEGED_AUTHENTICATION_ADMINISTRATOR) || this.#appRoles.has(ENTRA_ROLES.GLOBAL_ADMINISTRATOR)) return
    throw denied()
  }

  #bodyObject(req: Request): Record<string, unknown> {
    const body: unknown = req.body
    if (body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body))) return (body ?? {}) as Record<string, unknown>
    throw badRequest('The request body must be a JSON object.')
  }

  #string(body: Record<string, unknown>, key: string, max: number): string {
    const value = body[key]
    if (typeof value !== 'string' || value.length === 0 || value.length > max) {
      throw badRequest(`Invalid value specified for property '${key}' of resource 'User'.`)
    }
    return value
  }

  #optionalString(body: Record<string, unknown>, key: string, max: number): string | null {
    if (body[key] === undefined || body[key] === null) return null
    return this.#string(body, key, max)
  }

  /**
   * Merge an onPremisesExtensionAttributes body into `current`: only the attributes named change,
   * null clears one (update user: "only the properties you specify are changed").
   */
  #extensionAttributes(value: unknown, current: ExtensionAttributes): ExtensionAttributes {
    if (value === undefined || value === null) return { ...current }
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw badRequest("Invalid value specified for property 'onPremisesExtensionAttributes' of resource 'User'.")
    }
    const next = { ...current }
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
      if (!EXTENSION_ATTRIBUTE_NAMES.includes(name)) {
        throw badRequest(`The property '${name}' does not exist on type 'microsoft.graph.onPremisesExtensionAttributes'. Make sure to only use property names that are defined by the type.`)
      }
      if (v === null) {
        next[name] = null
        continue
      }
      if (typeof v !== 'string' || v.length > USER_PROPERTY_MAX_LENGTH.extensionAttribute) {
        throw badRequest(`Invalid value specified for property '${name}' of resource 'OnPremisesExtensionAttributes'.`)
      }
      next[name] = v
    }
    return next
  }

  #usageLocation(value: unknown): string | undefined {
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'string' || !/^[A-Z]{2}$/.test(value)) {
      throw badRequest("Invalid value specified for property 'usageLocation' of resource 'User'.")
    }
    return value
  }

  /** Graph reports date-times with whole seconds, e.g. 2026-03-01T10:15:02Z. */
  #isoSeconds(ms: number): string {
    return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z')
  }
}

/**
 * A config that points the provisioner at an emulator on `baseUrl` with credentials the
 * emulator accepts out of the box (the sandbox uses this).
 */
export function entraSandboxConfig(baseUrl: string): EntraConfigInput {
  return {
    tenantId: ENTRA_EMULATOR_TENANT_ID,
    clientId: ENTRA_EMULATOR_CLIENT_ID,
    clientSecret: ENTRA_EMULATOR_CLIENT_SECRET,
    domain: ENTRA_EMULATOR_DOMAIN,
    userPrincipalNamePattern: '{first}.{last}@{domain}',
    defaultUsageLocation: 'US',
    licences: {
      'Microsoft 365 E3': ENTRA_SKUS.M365_E3,
      'Office 365 E3': ENTRA_SKUS.O365_E3,
      'Exchange Online (Plan 1)': ENTRA_SKUS.EXCHANGE_ONLINE_P1,
      'Exchange Online (Plan 2)': ENTRA_SKUS.EXCHANGE_ONLINE_P2,
    },
    mailboxLicenceSkus: ['Exchange Online (Plan 1)', 'Exchange Online (Plan 2)'],
    deleteOnLeave: false,
    baseUrl,
    authorityHost: baseUrl,
  }
}
