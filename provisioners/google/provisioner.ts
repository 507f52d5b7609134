/**
 * Google Workspace: users and group memberships through the Admin SDK Directory API, Drive
 * hand-over through the Data Transfer API, as a service account impersonating an admin
 * (domain-wide delegation). Official SDK: googleapis (its Admin SDK module, `admin()`).
 *
 * Leaver cut-off, in this order: suspend, sign out of every session, delete OAuth tokens and
 * app passwords and invalidate backup codes. Clean-up: group memberships (read from Google, so
 * hand-added groups go too), Drive transfer to the manager, leavers org unit, delete.
 */
// Only the Admin SDK: `googleapis`' index loads all of Google's ~340 API clients (about 94 MB of
// RSS and 1.7 s of start-up, measured in docs/benchmarks.md); this module is the same client.
import { admin, type admin_datatransfer_v1, type admin_directory_v1 } from 'googleapis/build/src/apis/admin/index.js'
import type { MethodOptions } from 'googleapis-common'
import { randomBytes, randomInt } from 'node:crypto'
import { z } from 'zod'
import {
  ConflictError,
  PermanentError,
  isProvisionerError,
  type ProvisionerError,
} from '../errors.ts'
import type {
  AccessChange,
  AccountRef,
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
  VerifyCheck,
} from '../types.ts'
import { vendorCall } from '../kit/call.ts'
import { accountGone, runRevocation } from '../kit/revocation.ts'
import { JwtBearerClient, type TokenCallRecord } from './auth.ts'
import { classifyGoogleError, requestIdOf } from './classify.ts'
import { scopesFor, type GoogleConfig } from './config.ts'
import { candidateEmails } from './primary-email.ts'
import { GOOGLE_MAPPING } from './mapping.ts'
import { buildTargetAttributes } from '../mapping.ts'

/**
 * Limiter buckets. `directory`: every Admin SDK call (Directory and Data Transfer are both
 * served by admin.googleapis.com and draw on its per-user quota): 2,400 queries per minute per
 * user per project (https://developers.google.com/workspace/admin/directory/v1/limits), read
 * literally as a sliding minute: at most 2,400 calls in any 60 s, so a mass layoff may spend a
 * whole minute's quota at once and is never over quota however Google aligns its minutes. (A
 * token bucket of burst 2,400 could send 4,800 in one minute after idling: over quota; one of
 * burst 100 wasted most of the first minute.) The concurrent-request limit behind 403
 * quotaExceeded is unpublished; the job layer's worker concurrency bounds it, not the limiter.
 * `token`: JWT bearer grants; Google publishes no limit, one grant per hour per process is
 * normal, so this only stops a misconfiguration from hammering the token endpoint.
 */
export const rateLimitBuckets: Record<string, RateLimitSpec> = {
  directory: { perMinute: 2400, burst: 2400, window: 'sliding-minute' },
  token: { perMinute: 60, burst: 10 },
}

/** The Data Transfer application that moves Drive files ("Drive and Docs"). */
const DRIVE_APPLICATION = /^drive\b/i

/** Fixed order for leaver steps: cut-off first; Drive must move before the account can go. */
const STEP_ORDER: readonly RevocationStepKind[] = [
  'disable',
  'revoke_sessions',
  'revoke_tokens',
  'remove_groups',
  'remove_roles',
  'remove_licences',
  'remove_products',
  'remove_channels',
  'transfer_data',
  'move_org_unit',
  'convert_mailbox',
  'delete',
]

/** Steps deprovision reports not_supported, and why (the what-if plan shows them: src/lifecycle/what-if.ts). */
const NOT_IN_GOOGLE: Partial<Record<RevocationStepKind, string>> = {
  remove_licences: 'Workspace licences are not managed by Tenure; a deleted user frees the seat',
  remove_products: 'no such thing in Google Workspace',
  remove_channels: 'no such thing in Google Workspace',
  convert_mailbox: 'no such thing in Google Workspace',
}

const externalIdSchema = z.object({
  value: z.string().optional(),
  type: z.string().optional(),
  customType: z.string().optional(),
})

/** The user fields Tenure reads; everything else Google sends is ignored. */
const userSchema = z.object({
  id: z.string().min(1),
  primaryEmail: z.string().min(1),
  suspended: z.boolean().optional(),
  suspensionReason: z.string().optional(),
  isAdmin: z.boolean().optional(),
  isDelegatedAdmin: z.boolean().optional(),
  orgUnitPath: z.string().optional(),
  externalIds: z.array(externalIdSchema).nullish(),
})
type GoogleUser = z.infer<typeof userSchema>

const usersPageSchema = z.object({ users: z.array(userSchema).optional(), nextPageToken: z.string().nullish() })
const groupsPageSchema = z.object({
  groups: z.array(z.object({ id: z.string(), email: z.string() })).optional(),
  nextPageToken: z.string().nullish(),
})
const tokensSchema = z.object({ items: z.array(z.object({ clientId: z.string(), displayText: z.string().nullish() })).optional() })
const aspsSchema = z.object({ items: z.array(z.object({ codeId: z.number(), name: z.string().nullish() })).optional() })
const applicationsSchema = z.object({
  applications: z.array(z.object({ id: z.string(), name: z.string().nullish() })).optional(),
  nextPageToken: z.string().nullish(),
})
const transferSchema = z.object({
  id: z.string().nullish(),
  oldOwnerUserId: z.string().nullish(),
  newOwnerUserId: z.string().nullish(),
  overallTransferStatusCode: z.string().nullish(),
  applicationDataTransfers: z.array(z.object({ applicationId: z.string().nullish() })).nullish(),
})
const transfersPageSchema = z.object({ dataTransfers: z.array(transferSchema).optional(), nextPageToken: z.string().nullish() })

interface CallSpec {
  /** `directory.users.update`, `datatransfer.transfers.insert`. */
  operation: string
  method: string
  /** Path template: ids and emails are personal data and stay out of audit rows. */
  path: string
}

/** What every googleapis method resolves to (plain or HTTP/2 response). */
interface SdkResponse<T> {
  status: number
  data: T
  headers?: unknown
}

interface CallResult<T> {
  data: T
  requestId: string | undefined
}

const DIR = '/admin/directory/v1'
const DT = '/admin/datatransfer/v1'

/** A temporary password Google accepts (8–100 ASCII characters); never logged, never stored. */
function temporaryPassword(): string {
  return `${randomBytes(18).toString('base64url')}-${randomInt(10, 99)}`
}

function employeeIdOf(user: GoogleUser): string | undefined {
  return user.externalIds?.find((e) => e.type === 'organization' && e.value)?.value
}

function ownedBy(user: GoogleUser, employeeId: string): boolean {
  return (user.externalIds ?? []).some((e) => e.type === 'organization' && e.value === employeeId)
}

/** Quote a value for a users.list search clause (https://developers.google.com/workspace/admin/directory/v1/guides/search-users). */
function searchValue(value: string): string {
  return /^[\w.@+-]+$/.test(value) ? value : `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
}

export function createGoogleProvisioner(config: GoogleConfig, options: { systemId?: string } = {}): Provisioner {
  const system = options.systemId ?? 'google'
  // An override changes the figures, not how Google counts them: a raised `directory` quota is still a sliding minute.
  const buckets: Record<string, RateLimitSpec> = { ...rateLimitBuckets }
  for (const [name, override] of Object.entries(config.rateLimits ?? {})) buckets[name] = { ...rateLimitBuckets[name], ...override }
  const auth = new JwtBearerClient({
    clientEmail: config.serviceAccount.clientEmail,
    privateKey: config.serviceAccount.privateKey,
    privateKeyId: config.serviceAccount.privateKeyId,
    subject: config.adminSubject,
    scopes: scopesFor(config),
    tokenUrl: config.tokenUrl,
    timeoutMs: config.timeoutMs,
  })
  const rootUrl = config.apiBaseUrl.endsWith('/') ? config.apiBaseUrl : `${config.apiBaseUrl}/`
  // retry:false: gaxios would otherwise retry 429/5xx GET/PUT/DELETE three times on its own;
  // the job layer retries, with backoff and the shared limiter (STYLE.md, "Provisioners").
  // fetchImplementation: Node's own fetch. gaxios otherwise falls back to node-fetch v3, which on
  // an abort after the response arrived emits 'error' on a body stream nobody listens to: an
  // uncaught exception that killed the process on Ctrl-C with a Google call in flight.
  const sdkOptions = { rootUrl, auth: auth.client, retry: false, timeout: config.timeoutMs, fetchImplementation: fetch }
  const directory: admin_directory_v1.Admin = admin({ version: 'directory_v1', ...sdkOptions })
  const dataTransfer: admin_datatransfer_v1.Admin = admin({ version: 'datatransfer_v1', ...sdkOptions })
  let driveApplicationId: string | undefined

  const methodOptions = (ctx: Ctx) => ({ signal: ctx.signal, timeout: config.timeoutMs, retry: false, fetchImplementation: fetch })

  async function ensureToken(ctx: Ctx): Promise<void> {
    if (auth.hasFreshToken()) return
    await ctx.throttle('token')
    let record: TokenCallRecord | undefined
    const report = (errorKind?: string) => {
      if (!record) return // another call's grant was shared; that call reports it
      ctx.recordCall({
        operation: 'oauth2.token',
        method: 'POST',
        path: new URL(config.tokenUrl).pathname,
        status: record.status,
        requestId: undefined,
        durationMs: Math.round(record.durationMs),
        ...(errorKind ? { errorKind } : {}),
      })
    }
    try {
      await auth.ensureToken((r) => {
        record = r
      })
    } catch (err) {
      const classified = classifyGoogleError(err, { system, operation: 'oauth2.token' })
      report(classified.kind)
      throw classified
    }
    report()
  }

  /**
   * One vendor call through the shared wrapper (../kit/call.ts). A 401 means Google no longer
   * accepts the cached token (revoked or expired early); the request was not executed, so it is
   * re-sent once with a new token, the way google-auth-library refreshes on 401. gaxios enforces
   * the timeout (sdkOptions), so the wrapper adds none.
   */
  async function call<T>(
    ctx: Ctx,
    spec: CallSpec,
    fn: (opts: MethodOptions) => Promise<SdkResponse<T>>,
  ): Promise<CallResult<T>> {
    const res = await vendorCall(ctx, {
      ...spec,
      buckets: ['directory'],
      credential: async () => {
        await ensureToken(ctx)
        return auth.currentToken()
      },
      send: async ({ signal, facts }) => {
        const res = await fn({ ...methodOptions(ctx), signal })
        facts.status = res.status
        facts.requestId = requestIdOf(res.headers)
        return res
      },
      classify: (err) => classifyGoogleError(err, { system, operation: spec.operation }),
      refused: (err, tokenUsed) => {
        if (err.status !== 401 || err.operation !== spec.operation) return false
        auth.invalidate(tokenUsed)
        ctx.log.info({ system, operation: spec.operation }, 'google rejected the access token; fetching a new one')
        return true
      },
    })
    return { data: res.data, requestId: requestIdOf(res.headers) }
  }

  function parse<S extends z.ZodType>(schema: S, data: unknown, operation: string): z.output<S> {
    const parsed = schema.safeParse(data)
    if (!parsed.success) {
      throw new PermanentError(`${operation}: unexpected response shape (${parsed.error.issues[0]?.message ?? 'invalid'})`, {
        system,
        operation,
      })
    }
    return parsed.data
  }

  // ---- Directory calls ---------------------------------------------------------------------

  async function getUser(ctx: Ctx, userKey: string): Promise<CallResult<GoogleUser>> {
    const res = await call(ctx, { operation: 'directory.users.get', method: 'GET', path: `${DIR}/users/{userKey}` }, (o) =>
      directory.users.get({ userKey, projection: 'basic' }, o),
    )
    return { data: parse(userSchema, res.data, 'directory.users.get'), requestId: res.requestId }
  }

  /** users.get that answers undefined on 404. */
  async function findUser(ctx: Ctx, userKey: string): Promise<GoogleUser | undefined> {
    try {
      return (await getUser(ctx, userKey)).data
    } catch (err) {
      if (isProvisionerError(err) && err.kind === 'NotFound') return undefined
      throw err
    }
  }

  async function updateUser(ctx: Ctx, userKey: string, body: admin_directory_v1.Schema$User): Promise<CallResult<GoogleUser>> {
    // users.update supports patch semantics: fields absent from the body are preserved
    // (https://developers.google.com/workspace/admin/directory/reference/rest/v1/users/update).
    const res = await call(ctx, { operation: 'directory.users.update', method: 'PUT', path: `${DIR}/users/{userKey}` }, (o) =>
      directory.users.update({ userKey, requestBody: body }, o),
    )
    return { data: parse(userSchema, res.data, 'directory.users.update'), requestId: res.requestId }
  }

  async function searchByEmployeeId(ctx: Ctx, employeeId: string): Promise<GoogleUser | undefined> {
    const res = await call(ctx, { operation: 'directory.users.list', method: 'GET', path: `${DIR}/users` }, (o) =>
      directory.users.list(
        { customer: config.customerId, query: `externalId=${searchValue(employeeId)}`, maxResults: 10, projection: 'basic' },
        o,
      ),
    )
    // "=" is the exact match (https://developers.google.com/admin-sdk/directory/v1/guides/search-users:
    // externalId takes "=, :"). ":" is a word match: `externalId:1002` also returns every
    // `bamboohr:1002`, `hibob:1002` or UUID with a 1002 segment, and with more than one page of
    // those the person's own account fell off the page. The search covers every externalId type;
    // keep exact organization ids only.
    const matches = (parse(usersPageSchema, res.data, 'directory.users.list').users ?? []).filter((u) => ownedBy(u, employeeId))
    if (matches.length > 1) {
      throw new PermanentError(
        `directory.users.list: ${matches.length} Google accounts carry employee id ${employeeId} (${matches.map((u) => u.id).join(', ')}); resolve by hand`,
        { system, operation: 'directory.users.list', vendorCode: 'ambiguous_external_id' },
      )
    }
    return matches[0]
  }

  function candidates(employee: EmployeeProfile) {
    try {
      return candidateEmails(employee, {
        pattern: config.primaryEmailPattern,
        domain: config.domain,
        useHrWorkEmail: config.useHrWorkEmail,
        strategy: config.emailCollision.strategy,
        maxAttempts: config.emailCollision.maxAttempts,
      })
    } catch (err) {
      throw new PermanentError(`primary email: ${(err as Error).message}`, { system, operation: 'primaryEmailPattern' })
    }
  }

  /** Is the account at an address this employee's? */
  function claim(user: GoogleUser, employee: EmployeeProfile, authoritative: boolean): 'ours' | 'theirs' {
    if (ownedBy(user, employee.employeeId)) return 'ours'
    // HR names this address as the person's: adopt an account nobody else has claimed.
    if (authoritative && employeeIdOf(user) === undefined) return 'ours'
    return 'theirs'
  }

  /**
   * Find the employee's account: the externalId search first, then the candidate addresses by
   * users.get. users.get is read-your-writes while the search index lags behind new accounts,
   * so a provision retried right after its create still finds the account. `free` is the index
   * of the first candidate address nobody holds (where a create should start).
   */
  async function find(ctx: Ctx, employee: EmployeeProfile): Promise<{ user?: GoogleUser; free: number }> {
    const byId = await searchByEmployeeId(ctx, employee.employeeId)
    if (byId) return { user: byId, free: 0 }
    const { authoritative, emails } = candidates(employee)
    for (const [index, email] of emails.entries()) {
      const user = await findUser(ctx, email)
      if (!user) return { free: index }
      if (claim(user, employee, authoritative) === 'ours') return { user, free: index }
    }
    return { free: emails.length }
  }

  function refOf(user: GoogleUser, employeeId: string): AccountRef {
    return { system, accountId: user.id, login: user.primaryEmail, employeeId }
  }

  async function addToGroup(ctx: Ctx, groupKey: string, email: string): Promise<void> {
    try {
      await call(ctx, { operation: 'directory.members.insert', method: 'POST', path: `${DIR}/groups/{groupKey}/members` }, (o) =>
        directory.members.insert({ groupKey, requestBody: { email, role: 'MEMBER' } }, o),
      )
    } catch (err) {
      if (isProvisionerError(err) && err.kind === 'Conflict') return // 409 "Member already exists."
      if (isProvisionerError(err) && err.kind === 'NotFound') {
        // Not NotFound: callers read NotFound as "the account is gone".
        throw new PermanentError(`group ${groupKey} does not exist in Google Workspace`, {
          system,
          operation: 'directory.members.insert',
          status: 404,
          vendorCode: err.vendorCode,
          requestId: err.requestId,
          cause: err,
        })
      }
      throw err
    }
  }

  /** members.delete; false when the membership was already gone (404). */
  async function removeFromGroup(ctx: Ctx, groupKey: string, memberKey: string): Promise<boolean> {
    try {
      await call(
        ctx,
        { operation: 'directory.members.delete', method: 'DELETE', path: `${DIR}/groups/{groupKey}/members/{memberKey}` },
        (o) => directory.members.delete({ groupKey, memberKey }, o),
      )
      return true
    } catch (err) {
      if (isProvisionerError(err) && err.kind === 'NotFound') return false
      throw err
    }
  }

  async function groupsOf(ctx: Ctx, userKey: string): Promise<Array<{ id: string; email: string }>> {
    const out: Array<{ id: string; email: string }> = []
    let pageToken: string | undefined
    do {
      const token = pageToken
      const res = await call(ctx, { operation: 'directory.groups.list', method: 'GET', path: `${DIR}/groups` }, (o) =>
        directory.groups.list({ userKey, maxResults: 200, ...(token ? { pageToken: token } : {}) }, o),
      )
      const page = parse(groupsPageSchema, res.data, 'directory.groups.list')
      out.push(...(page.groups ?? []))
      pageToken = page.nextPageToken ?? undefined
    } while (pageToken)
    return out
  }

  async function listTokens(ctx: Ctx, userKey: string) {
    const res = await call(ctx, { operation: 'directory.tokens.list', method: 'GET', path: `${DIR}/users/{userKey}/tokens` }, (o) =>
      directory.tokens.list({ userKey }, o),
    )
    return parse(tokensSchema, res.data, 'directory.tokens.list').items ?? []
  }

  async function listAsps(ctx: Ctx, userKey: string) {
    const res = await call(ctx, { operation: 'directory.asps.list', method: 'GET', path: `${DIR}/users/{userKey}/asps` }, (o) =>
      directory.asps.list({ userKey }, o),
    )
    return parse(aspsSchema, res.data, 'directory.asps.list').items ?? []
  }

  async function signOut(ctx: Ctx, userKey: string): Promise<string | undefined> {
    const res = await call(ctx, { operation: 'directory.users.signOut', method: 'POST', path: `${DIR}/users/{userKey}/signOut` }, (o) =>
      directory.users.signOut({ userKey }, o),
    )
    return res.requestId
  }

  /** Per-item failures that a human must look at; rate limits, outages and auth problems propagate. */
  function isResidual(err: unknown): err is ProvisionerError {
    return isProvisionerError(err) && (err.kind === 'Permanent' || err.kind === 'Conflict' || err.kind === 'AuthFailed')
  }

  // ---- Leaver steps ------------------------------------------------------------------------

  interface LeaverState {
    user: GoogleUser
    residual: ResidualAccess[]
    /** Set when Drive was meant to move and has not finished: the account must not be deleted yet. */
    transferPending?: string
  }

  const now = () => new Date().toISOString()
  const evidence = (step: RevocationStepKind, status: StepEvidence['status'], detail?: string, requestIds?: Array<string | undefined>): StepEvidence => {
    const ids = (requestIds ?? []).filter((id): id is string => id !== undefined)
    return { step, status, at: now(), ...(detail ? { detail } : {}), ...(ids.length > 0 ? { requestIds: ids } : {}) }
  }

  async function stepDisable(ctx: Ctx, s: LeaverState): Promise<StepEvidence> {
    if (s.user.suspended) {
      return evidence('disable', 'already_done', `already suspended${s.user.suspensionReason ? ` (${s.user.suspensionReason})` : ''}`)
    }
    const res = await updateUser(ctx, s.user.id, { suspended: true })
    s.user = res.data
    return evidence('disable', 'done', 'suspended', [res.requestId])
  }

  async function stepRevokeSessions(ctx: Ctx, s: LeaverState): Promise<StepEvidence> {
    // Google exposes no session list, so there is no "already signed out" to detect.
    const requestId = await signOut(ctx, s.user.id)
    return evidence('revoke_sessions', 'done', 'signed out of all web and device sessions', [requestId])
  }

  async function stepRevokeTokens(ctx: Ctx, s: LeaverState): Promise<StepEvidence> {
    const userKey = s.user.id
    const requestIds: Array<string | undefined> = []
    let tokensDeleted = 0
    for (const token of await listTokens(ctx, userKey)) {
      try {
        const res = await call(
          ctx,
          { operation: 'directory.tokens.delete', method: 'DELETE', path: `${DIR}/users/{userKey}/tokens/{clientId}` },
          (o) => directory.tokens.delete({ userKey, clientId: token.clientId }, o),
        )
        requestIds.push(res.requestId)
        tokensDeleted += 1
      } catch (err) {
        if (isProvisionerError(err) && err.kind === 'NotFound') continue
        if (!isResidual(err)) throw err
        s.residual.push({ kind: 'oauth_token', id: token.clientId, reason: err.message })
      }
    }
    let aspsDeleted = 0
    for (const asp of await listAsps(ctx, userKey)) {
      try {
        const res = await call(
          ctx,
          { operation: 'directory.asps.delete', method: 'DELETE', path: `${DIR}/users/{userKey}/asps/{codeId}` },
          (o) => directory.asps.delete({ userKey, codeId: asp.codeId }, o),
        )
        requestIds.push(res.requestId)
        aspsDeleted += 1
      } catch (err) {
        if (isProvisionerError(err) && err.kind === 'NotFound') continue
        if (!isResidual(err)) throw err
        s.residual.push({ kind: 'app_password', id: String(asp.codeId), reason: err.message })
      }
    }
    // Backup codes cannot be listed without reading them (they are credentials), so they are
    // invalidated every time; the call is idempotent.
    let codes = 'backup verification codes invalidated'
    try {
      const res = await call(
        ctx,
        {
          operation: 'directory.verificationCodes.invalidate',
          method: 'POST',
          path: `${DIR}/users/{userKey}/verificationCodes/invalidate`,
        },
        (o) => directory.verificationCodes.invalidate({ userKey }, o),
      )
      requestIds.push(res.requestId)
    } catch (err) {
      if (!isResidual(err)) throw err
      // Google has answered 400 "Invalid Input" here for some accounts (GAM-team issues); the
      // account is suspended, so the codes cannot sign anyone in, but a human should know.
      codes = `backup codes NOT invalidated (${err.vendorCode ?? err.kind})`
      s.residual.push({ kind: 'backup_codes', id: userKey, reason: err.message })
    }
    const detail = `deleted ${tokensDeleted} OAuth token(s) and ${aspsDeleted} app password(s); ${codes}`
    return evidence('revoke_tokens', tokensDeleted + aspsDeleted > 0 ? 'done' : 'already_done', detail, requestIds)
  }

  async function stepRemoveGroups(ctx: Ctx, s: LeaverState): Promise<StepEvidence> {
    // Read the memberships from Google rather than from what Tenure granted, so groups someone
    // added by hand are removed too.
    const groups = await groupsOf(ctx, s.user.id)
    const removed: string[] = []
    for (const group of groups) {
      try {
        if (await removeFromGroup(ctx, group.id, s.user.id)) removed.push(group.email)
      } catch (err) {
        if (!isResidual(err)) throw err
        s.residual.push({ kind: 'group', id: group.email, reason: err.message })
      }
    }
    if (removed.length === 0 && groups.length === 0) return evidence('remove_groups', 'already_done', 'member of no groups')
    return evidence('remove_groups', removed.length > 0 ? 'done' : 'already_done', `removed from ${removed.length} group(s): ${removed.join(', ')}`)
  }

  function stepRemoveRoles(s: LeaverState): StepEvidence {
    const roles = [s.user.isAdmin ? 'super_admin' : undefined, s.user.isDelegatedAdmin ? 'delegated_admin' : undefined].filter(
      (r): r is string => r !== undefined,
    )
    if (roles.length === 0) return evidence('remove_roles', 'already_done', 'holds no admin roles')
    for (const role of roles) {
      s.residual.push({ kind: 'admin_role', id: role, reason: 'admin roles are not removed automatically; revoke them in the Admin console' })
    }
    return evidence('remove_roles', 'not_supported', `holds ${roles.join(', ')}; left for a human`)
  }

  async function driveAppId(ctx: Ctx): Promise<string> {
    if (driveApplicationId) return driveApplicationId
    let pageToken: string | undefined
    do {
      const token = pageToken
      const res = await call(ctx, { operation: 'datatransfer.applications.list', method: 'GET', path: `${DT}/applications` }, (o) =>
        dataTransfer.applications.list({ customerId: config.customerId, maxResults: 100, ...(token ? { pageToken: token } : {}) }, o),
      )
      const page = parse(applicationsSchema, res.data, 'datatransfer.applications.list')
      const drive = page.applications?.find((a) => DRIVE_APPLICATION.test(a.name ?? ''))
      if (drive) {
        driveApplicationId = drive.id
        return drive.id
      }
      pageToken = page.nextPageToken ?? undefined
    } while (pageToken)
    throw new PermanentError('datatransfer.applications.list: no Drive application offered for transfer', {
      system,
      operation: 'datatransfer.applications.list',
    })
  }

  async function stepTransferData(ctx: Ctx, s: LeaverState, plan: RevocationPlan): Promise<StepEvidence> {
    if (plan.options.legalHold) return evidence('transfer_data', 'skipped', 'legal hold: data stays with the account')
    if (!config.transferDriveToManager) return evidence('transfer_data', 'skipped', 'transferDriveToManager is off')
    const to = plan.options.transferTo
    if (!to) {
      s.transferPending = 'no recipient (manager) known'
      return evidence('transfer_data', 'skipped', 'no recipient: the plan names no manager')
    }
    const recipient = await findUser(ctx, to.email)
    if (!recipient) {
      s.transferPending = `recipient ${to.email} has no Google account`
      s.residual.push({ kind: 'drive_data', id: s.user.id, reason: `transfer recipient ${to.email} not found in Google Workspace` })
      return evidence('transfer_data', 'failed', `recipient ${to.email} not found`)
    }
    const appId = await driveAppId(ctx)
    // transfers.insert is not idempotent: a retried clean-up must find the transfer it started.
    const existing = await call(ctx, { operation: 'datatransfer.transfers.list', method: 'GET', path: `${DT}/transfers` }, (o) =>
      dataTransfer.transfers.list({ customerId: config.customerId, oldOwnerUserId: s.user.id, newOwnerUserId: recipient.id }, o),
    )
    const previous = (parse(transfersPageSchema, existing.data, 'datatransfer.transfers.list').dataTransfers ?? []).find(
      (t) => t.overallTransferStatusCode !== 'failed' && (t.applicationDataTransfers ?? []).some((a) => a.applicationId === appId),
    )
    if (previous) {
      const status = previous.overallTransferStatusCode ?? 'unknown'
      if (status !== 'completed') s.transferPending = `Drive transfer ${previous.id ?? ''} is ${status}`
      return evidence('transfer_data', 'already_done', `Drive transfer ${previous.id ?? ''} to ${to.email}: ${status}`, [existing.requestId])
    }
    const res = await call(ctx, { operation: 'datatransfer.transfers.insert', method: 'POST', path: `${DT}/transfers` }, (o) =>
      dataTransfer.transfers.insert(
        {
          requestBody: {
            oldOwnerUserId: s.user.id,
            newOwnerUserId: recipient.id,
            applicationDataTransfers: [
              { applicationId: appId, applicationTransferParams: [{ key: 'PRIVACY_LEVEL', value: config.drivePrivacyLevels }] },
            ],
          },
        },
        o,
      ),
    )
    const transfer = parse(transferSchema, res.data, 'datatransfer.transfers.insert')
    const status = transfer.overallTransferStatusCode ?? 'new'
    if (status !== 'completed') s.transferPending = `Drive transfer ${transfer.id ?? ''} is ${status}`
    return evidence('transfer_data', 'done', `Drive transfer ${transfer.id ?? ''} to ${to.email}: ${status}`, [res.requestId])
  }

  async function stepMoveOrgUnit(ctx: Ctx, s: LeaverState, plan: RevocationPlan): Promise<StepEvidence> {
    const target = plan.options.leaversOrgUnit ?? config.leaversOrgUnit
    if (!target) return evidence('move_org_unit', 'skipped', 'no leavers org unit configured')
    if (s.user.orgUnitPath === target) return evidence('move_org_unit', 'already_done', `already in ${target}`)
    const res = await updateUser(ctx, s.user.id, { orgUnitPath: target })
    s.user = res.data
    return evidence('move_org_unit', 'done', `moved to ${target}`, [res.requestId])
  }

  async function stepDelete(ctx: Ctx, s: LeaverState, plan: RevocationPlan): Promise<StepEvidence> {
    if (plan.options.legalHold) return evidence('delete', 'skipped', 'legal hold: account retained')
    if (plan.options.retainAccount) return evidence('delete', 'skipped', 'retain_account exception: account retained')
    if (!config.deleteOnLeave) return evidence('delete', 'skipped', 'deleteOnLeave is off')
    if (s.transferPending) {
      s.residual.push({ kind: 'account', id: s.user.id, reason: `not deleted: ${s.transferPending}; delete once Drive data is safe` })
      return evidence('delete', 'skipped', `not deleted: ${s.transferPending}`)
    }
    try {
      const res = await call(ctx, { operation: 'directory.users.delete', method: 'DELETE', path: `${DIR}/users/{userKey}` }, (o) =>
        directory.users.delete({ userKey: s.user.id }, o),
      )
      return evidence('delete', 'done', 'deleted (restorable for 20 days)', [res.requestId])
    } catch (err) {
      if (isProvisionerError(err) && err.kind === 'NotFound') return evidence('delete', 'already_done', 'already deleted')
      throw err
    }
  }

  async function runStep(ctx: Ctx, step: RevocationStepKind, s: LeaverState, plan: RevocationPlan): Promise<StepEvidence> {
    switch (step) {
      case 'disable':
        return stepDisable(ctx, s)
      case 'revoke_sessions':
        return stepRevokeSessions(ctx, s)
      case 'revoke_tokens':
        return stepRevokeTokens(ctx, s)
      case 'remove_groups':
        return stepRemoveGroups(ctx, s)
      case 'remove_roles':
        return stepRemoveRoles(s)
      case 'transfer_data':
        return stepTransferData(ctx, s, plan)
      case 'move_org_unit':
        return stepMoveOrgUnit(ctx, s, plan)
      case 'delete':
        return stepDelete(ctx, s, plan)
      case 'remove_licences':
      case 'remove_products':
      case 'remove_channels':
      case 'convert_mailbox':
        return evidence(step, 'not_supported', NOT_IN_GOOGLE[step]!)
      default:
        return evidence(step, 'not_supported', `unknown step ${String(step)}`)
    }
  }

  function stateOf(user: GoogleUser, extra: Partial<AccountState> = {}): AccountState {
    const roles = [user.isAdmin ? 'super_admin' : undefined, user.isDelegatedAdmin ? 'delegated_admin' : undefined].filter(
      (r): r is string => r !== undefined,
    )
    const employeeId = employeeIdOf(user)
    return {
      accountId: user.id,
      exists: true,
      active: user.suspended !== true,
      login: user.primaryEmail,
      ...(employeeId ? { employeeId } : {}),
      groups: [],
      licences: [],
      roles,
      checks: [{ name: 'suspended', ok: user.suspended === true }],
      revoked: false,
      ...extra,
    }
  }

  return {
    system,
    kind: 'google',
    rateLimitBuckets: buckets,
    revocationOrder: STEP_ORDER,
    unsupportedSteps: NOT_IN_GOOGLE,

    async provision(ctx, spec) {
      const employee = spec.employee
      const found = await find(ctx, employee)
      let user = found.user
      if (!user) {
        const { authoritative, emails } = candidates(employee)
        if (authoritative && found.free >= emails.length) {
          throw new ConflictError(`${emails[0] ?? ''} (HR's work email) belongs to another Google account`, {
            system,
            operation: 'directory.users.get',
            status: 409,
            vendorCode: 'duplicate',
          })
        }
        for (const email of emails.slice(found.free)) {
          try {
            const res = await call(ctx, { operation: 'directory.users.insert', method: 'POST', path: `${DIR}/users` }, (o) =>
              directory.users.insert(
                {
                  requestBody: {
                    primaryEmail: email,
                    password: temporaryPassword(),
                    changePasswordAtNextLogin: true,
                    orgUnitPath: spec.access.orgUnit ?? config.defaultOrgUnit,
                    ...buildTargetAttributes(GOOGLE_MAPPING, employee, { enabled: spec.enabled }),
                  },
                },
                o,
              ),
            )
            user = parse(userSchema, res.data, 'directory.users.insert')
            ctx.log.info({ system, employeeId: employee.employeeId, accountId: user.id }, 'google account created')
            break
          } catch (err) {
            if (!(isProvisionerError(err) && err.kind === 'Conflict')) throw err
            // 409 duplicate: the address exists. Ours (a lost response, a concurrent run) →
            // adopt it; someone else's → next candidate.
            const holder = await findUser(ctx, email)
            if (holder && claim(holder, employee, authoritative) === 'ours') {
              user = holder
              break
            }
            if (authoritative) {
              throw new ConflictError(`${email} (HR's work email) belongs to another Google account`, {
                system,
                operation: 'directory.users.insert',
                status: 409,
                vendorCode: 'duplicate',
                cause: err,
              })
            }
          }
        }
        if (!user) {
          throw new ConflictError(
            `no free primary address for employee ${employee.employeeId} after ${emails.length} attempt(s) (collision strategy ${config.emailCollision.strategy})`,
            { system, operation: 'directory.users.insert', status: 409, vendorCode: 'duplicate' },
          )
        }
      }
      for (const group of spec.access.groups) await addToGroup(ctx, group, user.primaryEmail)
      return refOf(user, employee.employeeId)
    },

    async lookup(ctx, employee) {
      const { user } = await find(ctx, employee)
      return user ? refOf(user, employee.employeeId) : undefined
    },

    async update(ctx, ref, change: AccessChange) {
      const { data: user } = await getUser(ctx, ref.accountId)
      for (const group of change.add.groups ?? []) await addToGroup(ctx, group, user.primaryEmail)
      for (const group of change.remove.groups ?? []) await removeFromGroup(ctx, group, user.id)
      if (change.orgUnit && change.orgUnit !== user.orgUnitPath) await updateUser(ctx, user.id, { orgUnitPath: change.orgUnit })
    },

    async enable(ctx, ref) {
      await updateUser(ctx, ref.accountId, { suspended: false })
    },

    async suspend(ctx, ref) {
      await updateUser(ctx, ref.accountId, { suspended: true })
      await signOut(ctx, ref.accountId)
    },

    async deprovision(ctx, ref, plan): Promise<RevocationEvidence> {
      // The rules (order, already gone, a failed step) are ../kit/revocation.ts's; a step this
      // code does not know is reported by runStep, never silently dropped.
      const user = await findUser(ctx, ref.accountId)
      if (!user) return accountGone(plan.steps, 'user not found in Google Workspace (deleted)', { order: STEP_ORDER })
      const state: LeaverState = { user, residual: [] }
      const evidence = await runRevocation({
        system,
        phase: plan.phase,
        accountId: ref.accountId,
        steps: plan.steps,
        order: STEP_ORDER,
        residual: state.residual,
        runStep: (step) => runStep(ctx, step, state, plan),
        // Deleted while we worked (by hand, or a parallel clean-up): nothing left to revoke.
        exists: async () => (await findUser(ctx, ref.accountId)) !== undefined,
        goneDetail: 'user no longer exists',
      })
      ctx.log.info(
        { system, employeeId: ref.employeeId, accountId: ref.accountId, phase: plan.phase, residual: state.residual.length },
        'google revocation steps finished',
      )
      return evidence
    },

    async verify(ctx, ref): Promise<AccountState> {
      const user = await findUser(ctx, ref.accountId)
      if (!user) {
        return {
          accountId: ref.accountId,
          exists: false,
          active: false,
          groups: [],
          licences: [],
          roles: [],
          checks: [{ name: 'deleted', ok: true, detail: 'user not found in Google Workspace' }],
          revoked: true,
        }
      }
      const tokens = await listTokens(ctx, user.id)
      const asps = await listAsps(ctx, user.id)
      const groups = await groupsOf(ctx, user.id)
      const checks: VerifyCheck[] = [
        { name: 'suspended', ok: user.suspended === true, ...(user.suspended ? {} : { detail: 'account is active' }) },
        {
          name: 'no_oauth_tokens',
          ok: tokens.length === 0,
          ...(tokens.length ? { detail: `${tokens.length} token(s): ${tokens.map((t) => t.displayText ?? t.clientId).join(', ')}` } : {}),
        },
        { name: 'no_app_passwords', ok: asps.length === 0, ...(asps.length ? { detail: `${asps.length} app password(s)` } : {}) },
        // Clean-up, not cut-off: a suspended member of a group cannot use it.
        { name: 'no_groups', ok: groups.length === 0, ...(groups.length ? { detail: groups.map((g) => g.email).join(', ') } : {}) },
      ]
      const cutoff = new Set(['suspended', 'no_oauth_tokens', 'no_app_passwords'])
      return stateOf(user, {
        groups: groups.map((g) => g.email),
        checks,
        revoked: checks.filter((c) => cutoff.has(c.name)).every((c) => c.ok),
      })
    },

    async listAccounts(ctx, page): Promise<Page<AccountState>> {
      const res = await call(ctx, { operation: 'directory.users.list', method: 'GET', path: `${DIR}/users` }, (o) =>
        directory.users.list(
          { customer: config.customerId, maxResults: config.listPageSize, projection: 'basic', ...(page ? { pageToken: page } : {}) },
          o,
        ),
      )
      const data = parse(usersPageSchema, res.data, 'directory.users.list')
      // A list page reads suspension only; `revoked` needs tokens and app passwords: use verify.
      // Memberships are not on the user resource: unknown here, never "no groups".
      const items = (data.users ?? []).map((user) =>
        stateOf(user, { unknown: [{ attribute: 'groups', reason: 'directory.users.list does not return memberships (directory.groups.list?userKey per user)' }] }),
      )
      return { items, ...(data.nextPageToken ? { nextPage: data.nextPageToken } : {}) }
    },
  }
}
