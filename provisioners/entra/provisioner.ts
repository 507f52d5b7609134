/**
 * Microsoft Entra ID / Microsoft 365 provisioner: users, licences, groups and directory roles
 * through Microsoft Graph v1.0 with app-only auth. docs/systems/entra.md explains the setup,
 * the permissions and what each lifecycle step does.
 *
 * Identity rule. The identity key Tenure hands over (`EmployeeProfile.employeeId`: the HR id, or
 * `<source>:<id>` when two HR sources share an id; up to 200 characters, any shape) lives in the
 * configured `onPremisesExtensionAttributes.extensionAttributeN` (Graph stores up to 1024
 * characters there), and also in `employeeId` when it fits that property's 16 characters (never
 * truncated: a cut id could be someone else's). A Graph user belongs to an employee when its
 * identity attribute equals the key; when that attribute is empty, when its employeeId equals the
 * key (accounts Tenure stamped before the attribute existed); when both are empty, when its
 * userPrincipalName is the one the pattern (or HR's work email) gives. Such an account is adopted
 * and stamped. An account carrying another key or another employeeId is never taken over.
 * docs/systems/entra.md ("Where the HR id goes") explains the choice of attribute.
 */
import { randomInt } from 'node:crypto'
import { z } from 'zod'
import {
  AuthFailedError,
  ConflictError,
  NotFoundError,
  PermanentError,
  type ProvisionerError,
  TransientError,
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
  ResidualAccess,
  RevocationEvidence,
  RevocationPlan,
  RevocationStepKind,
  StepEvidence,
  VerifyCheck,
  VerifyOptions,
} from '../types.ts'
import { type EntraConfig, GUID_PATTERN } from './config.ts'
import { GraphApi, type GraphCallSpec, type GraphResult } from './graph.ts'
import { ENTRA_RATE_LIMITS } from './limits.ts'
import { accountGone, runRevocation } from '../kit/revocation.ts'
import { ENTRA_MAPPING, fitsEmployeeId } from './mapping.ts'
import { buildTargetAttributes } from '../mapping.ts'
import { ClientCredentialsTokenSource } from './token.ts'

/** The vendor's published limits per bucket (see limits.ts); config.rateLimits may override. */
export const rateLimitBuckets = ENTRA_RATE_LIMITS

/**
 * Advanced query parameters: Graph answers `$filter` on onPremisesExtensionAttributes only with
 * the ConsistencyLevel: eventual header and $count=true (https://learn.microsoft.com/graph/aad-advanced-queries).
 */
const ADVANCED_QUERY_HEADERS = { ConsistencyLevel: 'eventual' }

/** Graph keeps signInSessionsValidFromDateTime in whole seconds: a revocation may read up to 1 s early. */
const SESSION_CLOCK_TOLERANCE_MS = 1_000

/**
 * Where Graph's clock stood against this host's, from one answer's `Date` header (RFC 9110
 * §6.6.1: an origin server with a clock sends it; whole seconds, §5.6.7): the offset (vendor −
 * ours) lies in [low, high], since Graph read its clock somewhere between our send and our
 * receipt and the header drops the milliseconds.
 */
export interface VendorClock {
  date: string
  low: number
  high: number
}

export function vendorClock(result: Pick<GraphResult, 'date' | 'sentAt' | 'receivedAt'>): VendorClock | undefined {
  const at = result.date ? Date.parse(result.date) : Number.NaN
  if (!Number.isFinite(at) || result.sentAt === undefined || result.receivedAt === undefined) return undefined
  return { date: result.date!, low: at - result.receivedAt, high: at + 999 - result.sentAt }
}

/**
 * Our revokeSignInSessions took effect when signInSessionsValidFromDateTime is no earlier than the
 * cut-off's start (`revokedAt`, our clock), read on Graph's clock: Graph stamps the field with its
 * own time, and either clock may run ahead. With the verify read's `Date` header the cut-off's
 * start is moved onto Graph's clock at the earliest it can have been (revokedAt + low), so a
 * clock of ours running ahead does not fail a revocation that happened, and a Graph clock running
 * ahead does not pass an older revocation (by someone else, before the cut-off) as ours. Without
 * the header the clocks are taken to agree. Either way the field must have been read: an absent
 * value fails the check.
 */
export function sessionsRevokedCheck(validFromText: string | null | undefined, revokedAtText: string, clock: VendorClock | undefined): VerifyCheck {
  const revokedAt = Date.parse(revokedAtText)
  const validFrom = validFromText ? Date.parse(validFromText) : Number.NaN
  const offset = clock?.low ?? 0
  const ok = Number.isFinite(validFrom) && Number.isFinite(revokedAt) && validFrom >= revokedAt + offset - SESSION_CLOCK_TOLERANCE_MS
  const clockText = clock
    ? `Graph's clock ${clock.low >= 0 ? '+' : ''}${clock.low}..${clock.high >= 0 ? '+' : ''}${clock.high} ms from ours (Date: ${clock.date})`
    : "no Date header: Graph's clock taken to agree with ours"
  return {
    name: 'sessions_revoked',
    ok,
    detail: `signInSessionsValidFromDateTime=${validFromText ?? 'null'}, revokedAt=${revokedAtText}; ${clockText}`,
  }
}

const USER_SELECT = [
  'id',
  'userPrincipalName',
  'employeeId',
  'onPremisesExtensionAttributes',
  'onPremisesSyncEnabled',
  'accountEnabled',
  'displayName',
  'usageLocation',
  'signInSessionsValidFromDateTime',
  'assignedLicenses',
  'licenseAssignmentStates',
].join(',')

const MEMBER_OF_SELECT = [
  'id',
  'displayName',
  'groupTypes',
  'membershipRule',
  'onPremisesSyncEnabled',
  'isAssignableToRole',
  'mailEnabled',
  'securityEnabled',
].join(',')

const userSchema = z.object({
  id: z.string().min(1),
  userPrincipalName: z.string().nullish(),
  employeeId: z.string().nullish(),
  onPremisesExtensionAttributes: z.record(z.string(), z.string().nullish()).nullish(),
  onPremisesSyncEnabled: z.boolean().nullish(),
  accountEnabled: z.boolean().nullish(),
  displayName: z.string().nullish(),
  usageLocation: z.string().nullish(),
  signInSessionsValidFromDateTime: z.string().nullish(),
  assignedLicenses: z.array(z.object({ skuId: z.string() })).nullish(),
  licenseAssignmentStates: z
    .array(z.object({ skuId: z.string().nullish(), assignedByGroup: z.string().nullish(), state: z.string().nullish() }))
    .nullish(),
})
type GraphUser = z.infer<typeof userSchema>

const directoryObjectSchema = z.object({
  '@odata.type': z.string().optional(),
  id: z.string(),
  displayName: z.string().nullish(),
  groupTypes: z.array(z.string()).nullish(),
  membershipRule: z.string().nullish(),
  onPremisesSyncEnabled: z.boolean().nullish(),
  isAssignableToRole: z.boolean().nullish(),
  mailEnabled: z.boolean().nullish(),
  securityEnabled: z.boolean().nullish(),
})
type DirectoryObject = z.infer<typeof directoryObjectSchema>

const roleAssignmentSchema = z.object({
  id: z.string(),
  principalId: z.string().nullish(),
  roleDefinitionId: z.string(),
  directoryScopeId: z.string().nullish(),
})
type RoleAssignment = z.infer<typeof roleAssignmentSchema>

const collection = <T extends z.ZodType>(item: T) =>
  z.object({ value: z.array(item), '@odata.nextLink': z.string().optional() })

/**
 * Graph's semantics fix the order whatever the plan lists: disable before revoking sessions (else
 * the user can sign in again in between), groups before licences (group-based licences go with
 * the membership), delete last.
 */
const STEP_ORDER: readonly RevocationStepKind[] = [
  'disable',
  'revoke_sessions',
  'revoke_tokens',
  'remove_roles',
  'remove_groups',
  'remove_licences',
  'convert_mailbox',
  'transfer_data',
  'remove_products',
  'remove_channels',
  'move_org_unit',
  'delete',
]

/** Steps deprovision reports not_supported, and why (the what-if plan shows them: src/lifecycle/what-if.ts). */
const NOT_IN_GRAPH: Partial<Record<RevocationStepKind, string>> = {
  convert_mailbox: 'Microsoft Graph cannot convert mailboxes; manual follow-up recorded',
  transfer_data: 'Microsoft Graph has no data-transfer operation for users',
  remove_products: 'Microsoft Entra has no such concept',
  remove_channels: 'Microsoft Entra has no such concept',
  move_org_unit: 'Microsoft Entra has no such concept',
}

export interface EntraProvisionerOptions {
  systemId?: string
  /** Clock for token caching; tests pass a fake one. */
  now?: () => number
}

export function createEntraProvisioner(config: EntraConfig, options: EntraProvisionerOptions = {}): Provisioner {
  return new EntraProvisioner(config, options)
}

class EntraProvisioner implements Provisioner {
  readonly system: string
  readonly kind = 'entra' as const
  readonly revocationOrder = STEP_ORDER
  readonly unsupportedSteps = NOT_IN_GRAPH
  readonly rateLimitBuckets: Provisioner['rateLimitBuckets']
  readonly #config: EntraConfig
  readonly #graph: GraphApi
  readonly #skuNames: Map<string, string>
  readonly #mailboxSkus: Set<string>

  constructor(config: EntraConfig, options: EntraProvisionerOptions) {
    this.system = options.systemId ?? 'entra'
    this.#config = config
    this.rateLimitBuckets = { ...ENTRA_RATE_LIMITS, ...config.rateLimits }
    const tokens = new ClientCredentialsTokenSource({
      system: this.system,
      authorityHost: config.authorityHost,
      tenantId: config.tenantId,
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      scope: config.scope,
      timeoutMs: config.timeoutMs,
      ...(options.now ? { now: options.now } : {}),
    })
    this.#graph = new GraphApi({ system: this.system, baseUrl: config.baseUrl, timeoutMs: config.timeoutMs, tokens })
    this.#skuNames = new Map(Object.entries(config.licences).map(([name, sku]) => [sku.toLowerCase(), name]))
    this.#mailboxSkus = new Set(
      config.mailboxLicenceSkus.map((entry) => (config.licences[entry] ?? entry).toLowerCase()),
    )
  }

  // ─── joiner ────────────────────────────────────────────────────────────────────────────────

  async provision(ctx: Ctx, spec: AccountSpec): Promise<AccountRef> {
    const employee = spec.employee
    // Check everything that needs no API call first, so a bad policy never leaves a half-made user.
    const skuIds = this.#resolveLicences(spec.access.licences)
    const groups = this.#requireGuids(spec.access.groups, 'group')
    const roles = this.#requireGuids(spec.access.roles, 'role definition')
    const usageLocation = employee.countryCode?.toUpperCase() ?? this.#config.defaultUsageLocation
    if (skuIds.length > 0 && !usageLocation) {
      throw this.#permanent(
        'provision',
        `licences need a usageLocation: employee ${employee.employeeId} has no countryCode and defaultUsageLocation is not set`,
      )
    }
    let user = await this.#findUser(ctx, employee)
    if (!user) {
      const upn = this.upnFor(employee)
      try {
        user = await this.#createUser(ctx, spec, upn, usageLocation)
        ctx.log.info({ system: this.system, employeeId: employee.employeeId, accountId: user.id }, 'entra: user created')
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err
        // The UPN is taken: a previous attempt of this job created it (and Graph's $filter index
        // had not caught up), or someone else holds it. A read by key is consistent; decide by
        // the identity key (and employeeId).
        const holder = await this.#getUser(ctx, upn, 'GET /users/{userPrincipalName}').catch((e: unknown) => {
          if (e instanceof NotFoundError) throw err // conflicting on mailNickname/proxyAddresses, not on UPN
          throw e
        })
        if (!this.#belongsTo(holder, employee, [upn])) {
          throw new ConflictError(
            `userPrincipalName ${upn} is held by another account (${this.#config.identityKeyAttribute} ${this.#keyOf(holder) ?? 'none'}, employeeId ${holder.employeeId ?? 'none'}); ` +
              'change userPrincipalNamePattern or resolve the clash in Entra',
            {
              system: this.system,
              operation: 'POST /users',
              status: err.status,
              vendorCode: err.vendorCode,
              requestId: err.requestId,
              cause: err,
            },
          )
        }
        user = holder
      }
    }
    await this.#stampIdentity(ctx, user, employee)

    if (skuIds.length > 0) {
      if (!user.usageLocation && usageLocation) await this.#patchUser(ctx, user.id, { usageLocation })
      const assigned = new Set((user.assignedLicenses ?? []).map((l) => l.skuId.toLowerCase()))
      const missing = skuIds.filter((sku) => !assigned.has(sku.toLowerCase()))
      if (missing.length > 0) await this.#assignLicences(ctx, user.id, missing, [])
    }
    for (const groupId of groups) await this.#addMember(ctx, groupId, user.id)
    if (roles.length > 0) await this.#addRoles(ctx, user.id, roles)

    return {
      system: this.system,
      accountId: user.id,
      ...(user.userPrincipalName ? { login: user.userPrincipalName } : {}),
      employeeId: employee.employeeId,
    }
  }

  async lookup(ctx: Ctx, employee: EmployeeProfile): Promise<AccountRef | undefined> {
    const user = await this.#findUser(ctx, employee)
    if (!user) return undefined
    return {
      system: this.system,
      accountId: user.id,
      ...(user.userPrincipalName ? { login: user.userPrincipalName } : {}),
      employeeId: employee.employeeId,
    }
  }

  // ─── mover ─────────────────────────────────────────────────────────────────────────────────

  async update(ctx: Ctx, ref: AccountRef, change: AccessChange): Promise<void> {
    const addSkus = this.#resolveLicences(change.add.licences ?? [])
    const removeSkus = this.#resolveLicences(change.remove.licences ?? [])
    const addGroups = this.#requireGuids(change.add.groups ?? [], 'group')
    const removeGroups = this.#requireGuids(change.remove.groups ?? [], 'group')
    const addRoles = this.#requireGuids(change.add.roles ?? [], 'role definition')
    const removeRoles = this.#requireGuids(change.remove.roles ?? [], 'role definition')
    if (change.orgUnit !== undefined) {
      ctx.log.debug({ system: this.system, accountId: ref.accountId }, 'entra: orgUnit has no meaning in Entra; ignored')
    }

    if (addSkus.length > 0 || removeSkus.length > 0) {
      // Graph refuses to remove a SKU the user does not hold; read first and send only real changes.
      const user = await this.#getUser(ctx, ref.accountId)
      const held = new Set((user.assignedLicenses ?? []).map((l) => l.skuId.toLowerCase()))
      const add = addSkus.filter((s) => !held.has(s.toLowerCase()))
      const remove = removeSkus.filter((s) => held.has(s.toLowerCase()))
      if (add.length > 0 && !user.usageLocation) {
        const usageLocation = this.#config.defaultUsageLocation
        if (!usageLocation) throw this.#permanent('update', `user ${ref.accountId} has no usageLocation and defaultUsageLocation is not set`)
        await this.#patchUser(ctx, ref.accountId, { usageLocation })
      }
      if (add.length > 0 || remove.length > 0) await this.#assignLicences(ctx, ref.accountId, add, remove)
    }
    for (const groupId of addGroups) await this.#addMember(ctx, groupId, ref.accountId)
    for (const groupId of removeGroups) await this.#removeMember(ctx, groupId, ref.accountId)
    if (addRoles.length > 0) await this.#addRoles(ctx, ref.accountId, addRoles)
    if (removeRoles.length > 0) {
      const wanted = new Set(removeRoles.map((r) => r.toLowerCase()))
      for (const assignment of await this.#listRoleAssignments(ctx, ref.accountId)) {
        if (wanted.has(assignment.roleDefinitionId.toLowerCase())) await this.#deleteRoleAssignment(ctx, assignment.id)
      }
    }
  }

  async enable(ctx: Ctx, ref: AccountRef): Promise<void> {
    await this.#patchUser(ctx, ref.accountId, { accountEnabled: true })
  }

  async suspend(ctx: Ctx, ref: AccountRef): Promise<void> {
    await this.#patchUser(ctx, ref.accountId, { accountEnabled: false })
    await this.#revokeSessions(ctx, ref.accountId)
  }

  // ─── leaver ────────────────────────────────────────────────────────────────────────────────

  async deprovision(ctx: Ctx, ref: AccountRef, plan: RevocationPlan): Promise<RevocationEvidence> {
    // The rules (order, already gone, a failed step) are ../kit/revocation.ts's.
    let user: GraphUser
    try {
      user = await this.#getUser(ctx, ref.accountId)
    } catch (err) {
      if (err instanceof NotFoundError) return accountGone(plan.steps, `user ${ref.accountId} does not exist (deleted or never created)`, { order: STEP_ORDER })
      throw err
    }
    const run: RunState = { user, sessionsRevoked: false, removedGroups: new Set(), memberOf: undefined }
    const residual: ResidualAccess[] = []
    const evidence = await runRevocation({
      system: this.system,
      phase: plan.phase,
      accountId: ref.accountId,
      steps: plan.steps,
      order: STEP_ORDER,
      residual,
      runStep: (step) => this.#runStep(ctx, step, plan, run, residual),
      // Per-item 404s (a membership or assignment already gone) are handled inside the steps;
      // a 404 that escapes is about the user. Confirm by key before calling it gone.
      exists: () => this.#exists(ctx, ref.accountId),
      goneDetail: `user ${ref.accountId} disappeared during revocation`,
    })
    ctx.log.info(
      {
        system: this.system,
        employeeId: ref.employeeId,
        accountId: ref.accountId,
        phase: plan.phase,
        steps: evidence.steps.map((s) => `${s.step}:${s.status}`),
        residual: evidence.residual.length,
      },
      'entra: revocation phase finished',
    )
    return evidence
  }

  async #runStep(
    ctx: Ctx,
    step: RevocationStepKind,
    plan: RevocationPlan,
    run: RunState,
    residual: ResidualAccess[],
  ): Promise<StepEvidence> {
    const id = run.user.id
    const upn = run.user.userPrincipalName ?? id
    switch (step) {
      case 'disable': {
        if (run.user.accountEnabled === false) return stepEvidence(step, 'already_done', 'accountEnabled was already false')
        const r = await this.#patchUser(ctx, id, { accountEnabled: false })
        run.user = { ...run.user, accountEnabled: false }
        return stepEvidence(step, 'done', 'accountEnabled set to false', [r.requestId])
      }
      case 'revoke_sessions': {
        const r = await this.#revokeSessions(ctx, id)
        run.sessionsRevoked = true
        return stepEvidence(step, 'done', 'revokeSignInSessions: refresh tokens and session cookies invalidated', [r.requestId])
      }
      case 'revoke_tokens': {
        // Entra has no separate per-app token revocation for a user: revokeSignInSessions resets
        // signInSessionsValidFromDateTime, which invalidates every refresh token issued to any app.
        if (run.sessionsRevoked) {
          return stepEvidence(step, 'already_done', 'covered by revokeSignInSessions (all refresh tokens of all apps)')
        }
        const r = await this.#revokeSessions(ctx, id)
        run.sessionsRevoked = true
        return stepEvidence(step, 'done', 'revokeSignInSessions: refresh tokens of all apps invalidated', [r.requestId])
      }
      case 'remove_roles':
        return this.#removeRoles(ctx, run, residual)
      case 'remove_groups':
        return this.#removeGroups(ctx, run, residual)
      case 'remove_licences':
        return this.#removeLicences(ctx, run, plan, residual)
      case 'convert_mailbox':
        addResidual(residual, {
          kind: 'mailbox',
          id: upn,
          reason:
            'converting to a shared mailbox is an Exchange Online PowerShell operation (Set-Mailbox -Identity <upn> -Type Shared), not available in Microsoft Graph; do it by hand before the mailbox licence is removed',
        })
        return stepEvidence(step, 'not_supported', NOT_IN_GRAPH.convert_mailbox!)
      case 'transfer_data': {
        if (plan.options.legalHold) return stepEvidence(step, 'skipped', 'legal hold: data must not be transferred')
        if (plan.options.transferTo) {
          addResidual(residual, {
            kind: 'data_transfer',
            id: upn,
            reason: `transfer of OneDrive/mailbox data to ${plan.options.transferTo.email} is not available through Graph app-only calls; use OneDrive retention (manager access) or Exchange delegation`,
          })
        }
        return stepEvidence(step, 'not_supported', NOT_IN_GRAPH.transfer_data!)
      }
      case 'remove_products':
      case 'remove_channels':
      case 'move_org_unit':
        return stepEvidence(step, 'not_supported', NOT_IN_GRAPH[step]!)
      case 'delete':
        return this.#deleteUser(ctx, run, plan)
      default:
        // Job payloads are read as unknown upstream: a step this code does not know is reported.
        return stepEvidence(step, 'not_supported', `unknown step ${String(step)}`)
    }
  }

  async #removeRoles(ctx: Ctx, run: RunState, residual: ResidualAccess[]): Promise<StepEvidence> {
    const id = run.user.id
    const requestIds: Array<string | undefined> = []
    let removed = 0
    let failed = 0

    // 1. Active directory role assignments (unified RBAC). Admin leavers are the riskiest: every
    //    assignment is attempted; what Graph refuses is reported, never silently skipped.
    for (const assignment of await this.#listRoleAssignments(ctx, id)) {
      const outcome = await tolerate(() => this.#deleteRoleAssignment(ctx, assignment.id))
      if (outcome.ok) {
        removed += 1
        requestIds.push(outcome.value.requestId)
      } else {
        failed += 1
        addResidual(residual, {
          kind: 'directory_role',
          id: assignment.roleDefinitionId,
          reason: `role assignment ${assignment.id} (scope ${assignment.directoryScopeId ?? '/'}) could not be removed: ${outcome.error.message}`,
        })
      }
    }

    // 2. PIM-eligible assignments: not active, but the person could activate them on a re-enabled account.
    if (this.#config.removeEligibleRoles) {
      const eligible = await tolerate(() => this.#listEligibleRoles(ctx, id))
      if (!eligible.ok) {
        addResidual(residual, {
          kind: 'role_eligibility',
          id,
          reason: `PIM eligible role assignments could not be listed: ${eligible.error.message} (set removeEligibleRoles false on tenants without PIM)`,
        })
      } else {
        for (const schedule of eligible.value) {
          const outcome = await tolerate(() =>
            this.#graph.call(ctx, {
              method: 'POST',
              path: '/roleManagement/directory/roleEligibilityScheduleRequests',
              operation: 'POST /roleManagement/directory/roleEligibilityScheduleRequests',
              body: {
                action: 'adminRemove',
                principalId: id,
                roleDefinitionId: schedule.roleDefinitionId,
                directoryScopeId: schedule.directoryScopeId ?? '/',
                justification: 'Tenure: leaver revocation',
              },
            }),
          )
          if (outcome.ok) {
            removed += 1
            requestIds.push(outcome.value.requestId)
          } else {
            failed += 1
            addResidual(residual, {
              kind: 'role_eligibility',
              id: schedule.roleDefinitionId,
              reason: `PIM eligibility could not be removed: ${outcome.error.message}`,
            })
          }
        }
      }
    }

    // 3. Role-assignable groups confer directory roles through membership.
    for (const group of (await this.#memberOf(ctx, run)).filter((g) => g.isAssignableToRole === true)) {
      const result = await this.#tryRemoveGroup(ctx, run, group, residual, requestIds)
      if (result === 'removed') removed += 1
      else if (result === 'residual') failed += 1
    }

    const detail = `${removed} role assignment(s)/eligibilities/role-assignable memberships removed${failed ? `, ${failed} left as residual access` : ''}`
    if (removed === 0 && failed === 0) return stepEvidence('remove_roles', 'already_done', 'no directory roles held')
    return stepEvidence('remove_roles', 'done', detail, requestIds)
  }

  async #removeGroups(ctx: Ctx, run: RunState, residual: ResidualAccess[]): Promise<StepEvidence> {
    let removed = 0
    let left = 0
    const requestIds: Array<string | undefined> = []
    for (const group of await this.#memberOf(ctx, run)) {
      if (run.removedGroups.has(group.id)) continue
      const result = await this.#tryRemoveGroup(ctx, run, group, residual, requestIds)
      if (result === 'removed') removed += 1
      else if (result === 'residual') left += 1
    }
    if (removed === 0 && left === 0) return stepEvidence('remove_groups', 'already_done', 'no group memberships')
    return stepEvidence(
      'remove_groups',
      'done',
      `${removed} membership(s) removed${left ? `, ${left} left as residual access (dynamic, synced or Exchange-managed)` : ''}`,
      requestIds,
    )
  }

  /** Remove one membership, or record why it stays. Memberships already gone count as removed. */
  async #tryRemoveGroup(
    ctx: Ctx,
    run: RunState,
    group: DirectoryObject,
    residual: ResidualAccess[],
    requestIds: Array<string | undefined>,
  ): Promise<'removed' | 'residual' | 'skipped'> {
    if (run.removedGroups.has(group.id)) return 'skipped'
    const blocker = membershipBlocker(group)
    if (blocker) {
      addResidual(residual, { kind: 'group', id: group.id, reason: `${group.displayName ?? group.id}: ${blocker}` })
      return 'residual'
    }
    const outcome = await tolerate(() => this.#removeMember(ctx, group.id, run.user.id))
    if (!outcome.ok) {
      const hint = group.isAssignableToRole
        ? ' (role-assignable groups also need RoleManagement.ReadWrite.Directory)'
        : ''
      addResidual(residual, {
        kind: 'group',
        id: group.id,
        reason: `${group.displayName ?? group.id}: removal refused: ${outcome.error.message}${hint}`,
      })
      return 'residual'
    }
    run.removedGroups.add(group.id)
    requestIds.push(outcome.value?.requestId)
    return 'removed'
  }

  async #removeLicences(
    ctx: Ctx,
    run: RunState,
    plan: RevocationPlan,
    residual: ResidualAccess[],
  ): Promise<StepEvidence> {
    const user = run.user
    const keep = plan.options.keepMailbox ? this.#mailboxSkus : new Set<string>()
    const states = user.licenseAssignmentStates ?? (user.assignedLicenses ?? []).map((l) => ({ skuId: l.skuId, assignedByGroup: null }))
    const direct = new Set<string>()
    const kept = new Set<string>()
    for (const state of states) {
      const sku = state.skuId?.toLowerCase()
      if (!sku) continue
      if (state.assignedByGroup) {
        // Group-based licensing: Graph refuses to remove it from the user ("User license is
        // inherited from a group membership ..."); it goes when the membership goes.
        if (!run.removedGroups.has(state.assignedByGroup)) {
          addResidual(residual, {
            kind: 'licence',
            id: this.#skuLabel(sku),
            reason: `assigned through group ${state.assignedByGroup}; it is released when that membership ends`,
          })
        }
        continue
      }
      if (keep.has(sku)) kept.add(sku)
      else direct.add(sku)
    }
    for (const sku of kept) {
      addResidual(residual, {
        kind: 'mailbox',
        id: user.userPrincipalName ?? user.id,
        reason: `licence ${this.#skuLabel(sku)} kept under the approved keepMailbox exception so the mailbox is retained; conversion to a shared mailbox needs Exchange Online PowerShell (Set-Mailbox -Type Shared)`,
      })
    }
    if (direct.size === 0) {
      return stepEvidence('remove_licences', 'already_done', kept.size ? `only kept mailbox licence(s) remain` : 'no directly assigned licences')
    }
    const skus = [...direct]
    const outcome = await tolerate(() => this.#assignLicences(ctx, user.id, [], skus))
    if (!outcome.ok) {
      for (const sku of skus) {
        addResidual(residual, { kind: 'licence', id: this.#skuLabel(sku), reason: `assignLicense refused: ${outcome.error.message}` })
      }
      return stepEvidence('remove_licences', 'failed', outcome.error.message, [outcome.error.requestId])
    }
    return stepEvidence(
      'remove_licences',
      'done',
      `removed ${skus.map((s) => this.#skuLabel(s)).join(', ')}${kept.size ? `; kept ${[...kept].map((s) => this.#skuLabel(s)).join(', ')}` : ''}`,
      [outcome.value.requestId],
    )
  }

  async #deleteUser(ctx: Ctx, run: RunState, plan: RevocationPlan): Promise<StepEvidence> {
    if (plan.options.legalHold) return stepEvidence('delete', 'skipped', 'legal hold: the account must be kept')
    if (plan.options.retainAccount) return stepEvidence('delete', 'skipped', 'approved retain-account exception')
    if (plan.options.keepMailbox) {
      return stepEvidence('delete', 'skipped', 'keepMailbox exception: deleting the user would delete the mailbox')
    }
    if (!this.#config.deleteOnLeave) return stepEvidence('delete', 'skipped', 'deleteOnLeave is false in config')
    try {
      const r = await this.#graph.call(ctx, {
        method: 'DELETE',
        path: `/users/${enc(run.user.id)}`,
        operation: 'DELETE /users/{id}',
      })
      return stepEvidence('delete', 'done', 'user soft-deleted (restorable from deleted items for 30 days)', [r.requestId])
    } catch (err) {
      if (err instanceof NotFoundError) return stepEvidence('delete', 'already_done', 'user was already deleted')
      throw err
    }
  }

  // ─── read back ─────────────────────────────────────────────────────────────────────────────

  async verify(ctx: Ctx, ref: AccountRef, opts: VerifyOptions = {}): Promise<AccountState> {
    let user: GraphUser
    let clock: VendorClock | undefined
    try {
      ;({ user, clock } = await this.#readUser(ctx, ref.accountId))
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err
      return {
        accountId: ref.accountId,
        exists: false,
        active: false,
        employeeId: ref.employeeId,
        groups: [],
        licences: [],
        roles: [],
        checks: [{ name: 'account_deleted', ok: true, detail: `GET /users/${ref.accountId} → 404` }],
        revoked: true,
      }
    }
    const checks: VerifyCheck[] = [
      {
        name: 'account_disabled',
        ok: user.accountEnabled === false,
        detail: `accountEnabled=${String(user.accountEnabled)}`,
      },
    ]
    if (opts.revokedAt !== undefined) checks.push(sessionsRevokedCheck(user.signInSessionsValidFromDateTime, opts.revokedAt, clock))
    const groups = (await this.#memberOf(ctx, { user, sessionsRevoked: false, removedGroups: new Set(), memberOf: undefined })).map(
      (g) => g.id,
    )
    const roles = (await this.#listRoleAssignments(ctx, user.id)).map((a) => a.roleDefinitionId)
    return {
      accountId: user.id,
      exists: true,
      active: user.accountEnabled === true,
      ...(user.userPrincipalName ? { login: user.userPrincipalName } : {}),
      employeeId: this.#keyOf(user) ?? user.employeeId ?? ref.employeeId,
      groups,
      licences: (user.assignedLicenses ?? []).map((l) => this.#skuLabel(l.skuId)),
      roles,
      checks,
      revoked: checks.every((c) => c.ok),
    }
  }

  async listAccounts(ctx: Ctx, page?: string): Promise<Page<AccountState>> {
    const spec: GraphCallSpec = page
      ? { method: 'GET', path: this.#graph.relativeFromNextLink(page), operation: 'GET /users' }
      : {
          method: 'GET',
          path: '/users',
          operation: 'GET /users',
          query: { $select: 'id,userPrincipalName,employeeId,onPremisesExtensionAttributes,accountEnabled,assignedLicenses', $top: this.#config.pageSize },
        }
    const result = await this.#graph.call(ctx, spec)
    const body = this.#parse(collection(userSchema), result, 'GET /users')
    const items = body.value.map((user): AccountState => {
      const checks = [{ name: 'account_disabled', ok: user.accountEnabled === false }]
      const employeeId = this.#keyOf(user) ?? user.employeeId
      return {
        accountId: user.id,
        exists: true,
        active: user.accountEnabled === true,
        ...(user.userPrincipalName ? { login: user.userPrincipalName } : {}),
        ...(employeeId ? { employeeId } : {}),
        // Memberships and roles cost one call each per user, so the listing does not read them:
        // they are unknown here, never "none" (verify() reads them for one account).
        groups: [],
        roles: [],
        licences: (user.assignedLicenses ?? []).map((l) => this.#skuLabel(l.skuId)),
        checks,
        revoked: checks.every((c) => c.ok),
        unknown: [
          { attribute: 'groups', reason: 'GET /users does not return memberships (GET /users/{id}/memberOf per user)' },
          { attribute: 'roles', reason: 'GET /users does not return directory roles (roleManagement per user)' },
        ],
      }
    })
    const next = body['@odata.nextLink']
    return next ? { items, nextPage: next } : { items }
  }

  // ─── user principal names ──────────────────────────────────────────────────────────────────

  /** The userPrincipalName the configured pattern gives for `employee`. */
  upnFor(employee: EmployeeProfile): string {
    return deriveUserPrincipalName(this.#config.userPrincipalNamePattern, this.#config.domain, employee, (message) =>
      this.#permanent('provision', message),
    )
  }

  // ─── Graph calls ───────────────────────────────────────────────────────────────────────────

  /**
   * 1. by the full identity key in the identity attribute (an advanced query);
   * 2. by employeeId, only when the key fits it (accounts Tenure stamped before the attribute
   *    existed); a holder whose identity attribute carries another key is someone else's: Conflict;
   * 3. by userPrincipalName (pattern, then HR's work email), adopted only per #belongsTo.
   */
  async #findUser(ctx: Ctx, employee: EmployeeProfile): Promise<GraphUser | undefined> {
    const key = employee.employeeId
    const attribute = this.#config.identityKeyAttribute
    const byKey = await this.#queryUsers(
      ctx,
      `onPremisesExtensionAttributes/${attribute} eq ${odataString(key)}`,
      `GET /users?$filter=onPremisesExtensionAttributes/${attribute}`,
      true,
    )
    if (byKey.length > 1) {
      throw new ConflictError(
        `${byKey.length} users carry ${attribute} ${key} (${byKey.map((u) => u.userPrincipalName ?? u.id).join(', ')}); resolve the duplicate in Entra`,
        { system: this.system, operation: `GET /users?$filter=onPremisesExtensionAttributes/${attribute}` },
      )
    }
    if (byKey[0]) return byKey[0]
    if (fitsEmployeeId(key)) {
      const byId = await this.#queryUsers(ctx, `employeeId eq ${odataString(key)}`, 'GET /users?$filter=employeeId')
      if (byId.length > 1) {
        throw new ConflictError(
          `${byId.length} users carry employeeId ${key} (${byId.map((u) => u.userPrincipalName ?? u.id).join(', ')}); resolve the duplicate in Entra`,
          { system: this.system, operation: 'GET /users?$filter=employeeId' },
        )
      }
      const holder = byId[0]
      if (holder) {
        const holderKey = this.#keyOf(holder)
        if (holderKey === undefined || holderKey === key) return holder
        throw new ConflictError(
          `user ${holder.userPrincipalName ?? holder.id} carries employeeId ${key} but ${attribute} ${holderKey}: it belongs to another identity; resolve in Entra`,
          { system: this.system, operation: 'GET /users?$filter=employeeId' },
        )
      }
    }
    const candidates = [...new Set([this.#tryUpn(employee), employee.workEmail?.toLowerCase()].filter((x): x is string => !!x))]
    for (const upn of candidates) {
      const [holder] = await this.#queryUsers(ctx, `userPrincipalName eq ${odataString(upn)}`, 'GET /users?$filter=userPrincipalName')
      if (holder && this.#belongsTo(holder, employee, candidates)) return holder
    }
    return undefined
  }

  #tryUpn(employee: EmployeeProfile): string | undefined {
    try {
      return this.upnFor(employee)
    } catch {
      return undefined
    }
  }

  /** The key a user carries (another one means another person; an employeeId alone decides when the attribute is empty). */
  #belongsTo(user: GraphUser, employee: EmployeeProfile, upns: string[]): boolean {
    const key = this.#keyOf(user)
    if (key !== undefined) return key === employee.employeeId
    if (user.employeeId) return user.employeeId === employee.employeeId
    return upns.some((u) => u.toLowerCase() === user.userPrincipalName?.toLowerCase())
  }

  /** The identity key stored on the user, or undefined when the attribute is empty (or was not returned). */
  #keyOf(user: GraphUser): string | undefined {
    return user.onPremisesExtensionAttributes?.[this.#config.identityKeyAttribute] || undefined
  }

  /**
   * Write the key onto an account found by employeeId or userPrincipalName (or created by an
   * earlier attempt): the identity attribute, and employeeId when it is empty and the key fits.
   * Graph keeps both read-only for accounts synced from on-premises AD; those must be stamped in
   * AD (Entra Connect syncs extensionAttribute1–15 and employeeID), so Tenure only warns.
   */
  async #stampIdentity(ctx: Ctx, user: GraphUser, employee: EmployeeProfile): Promise<void> {
    const key = employee.employeeId
    const attribute = this.#config.identityKeyAttribute
    const patch: Record<string, unknown> = {}
    if (this.#keyOf(user) !== key) patch.onPremisesExtensionAttributes = { [attribute]: key }
    if (!user.employeeId && fitsEmployeeId(key)) patch.employeeId = key
    if (Object.keys(patch).length === 0) return
    const log = { system: this.system, employeeId: key, accountId: user.id }
    if (user.onPremisesSyncEnabled === true) {
      ctx.log.warn(log, `entra: account is synced from on-premises AD; set ${attribute} there so Tenure finds it by its identity key`)
      return
    }
    await this.#patchUser(ctx, user.id, patch)
    ctx.log.warn({ ...log, stamped: Object.keys(patch) }, 'entra: adopted an existing user and stamped its identity key')
  }

  async #queryUsers(ctx: Ctx, filter: string, operation: string, advanced = false): Promise<GraphUser[]> {
    const result = await this.#graph.call(ctx, {
      method: 'GET',
      path: '/users',
      operation,
      query: { $filter: filter, $select: USER_SELECT, $top: 2, ...(advanced ? { $count: 'true' } : {}) },
      ...(advanced ? { headers: ADVANCED_QUERY_HEADERS } : {}),
    })
    return this.#parse(collection(userSchema), result, operation).value
  }

  async #exists(ctx: Ctx, id: string): Promise<boolean> {
    try {
      await this.#getUser(ctx, id)
      return true
    } catch (err) {
      if (err instanceof NotFoundError) return false
      throw err
    }
  }

  async #getUser(ctx: Ctx, idOrUpn: string, operation = 'GET /users/{id}'): Promise<GraphUser> {
    return (await this.#readUser(ctx, idOrUpn, operation)).user
  }

  /** The user and where Graph's clock stood against ours when it answered (vendorClock). */
  async #readUser(ctx: Ctx, idOrUpn: string, operation = 'GET /users/{id}'): Promise<{ user: GraphUser; clock: VendorClock | undefined }> {
    const result = await this.#graph.call(ctx, {
      method: 'GET',
      path: `/users/${enc(idOrUpn)}`,
      operation,
      query: { $select: USER_SELECT },
    })
    return { user: this.#parse(userSchema, result, operation), clock: vendorClock(result) }
  }

  async #createUser(ctx: Ctx, spec: AccountSpec, upn: string, usageLocation: string | undefined): Promise<GraphUser> {
    const e = spec.employee
    const body = {
      ...buildTargetAttributes(ENTRA_MAPPING, e, { enabled: spec.enabled, identityKeyAttribute: this.#config.identityKeyAttribute, usageLocation }),
      mailNickname: upn.split('@')[0],
      userPrincipalName: upn,
      // Nobody is told this password: it only satisfies Graph's required passwordProfile. People
      // get in with a Temporary Access Pass, SSPR or federation, and must change it on first use.
      passwordProfile: { forceChangePasswordNextSignIn: true, password: strongPassword() },
    }
    const result = await this.#graph.call(ctx, { method: 'POST', path: '/users', operation: 'POST /users', body })
    const created = this.#parse(userSchema, result, 'POST /users')
    return {
      ...created,
      userPrincipalName: created.userPrincipalName ?? upn,
      employeeId: created.employeeId ?? (fitsEmployeeId(e.employeeId) ? e.employeeId : null),
      onPremisesExtensionAttributes: created.onPremisesExtensionAttributes ?? { [this.#config.identityKeyAttribute]: e.employeeId },
      accountEnabled: spec.enabled,
      usageLocation: created.usageLocation ?? usageLocation ?? null,
      assignedLicenses: created.assignedLicenses ?? [],
    }
  }

  #patchUser(ctx: Ctx, id: string, body: Record<string, unknown>): Promise<GraphResult> {
    return this.#graph.call(ctx, { method: 'PATCH', path: `/users/${enc(id)}`, operation: 'PATCH /users/{id}', body })
  }

  async #revokeSessions(ctx: Ctx, id: string): Promise<GraphResult> {
    const result = await this.#graph.call(ctx, {
      method: 'POST',
      path: `/users/${enc(id)}/revokeSignInSessions`,
      operation: 'POST /users/{id}/revokeSignInSessions',
    })
    const body = this.#parse(z.object({ value: z.boolean() }), result, 'POST /users/{id}/revokeSignInSessions')
    if (!body.value) {
      throw new TransientError('revokeSignInSessions answered value=false', {
        system: this.system,
        operation: 'POST /users/{id}/revokeSignInSessions',
        status: result.status,
        requestId: result.requestId,
      })
    }
    return result
  }

  #assignLicences(ctx: Ctx, id: string, add: string[], remove: string[]): Promise<GraphResult> {
    return this.#graph.call(ctx, {
      method: 'POST',
      path: `/users/${enc(id)}/assignLicense`,
      operation: 'POST /users/{id}/assignLicense',
      body: { addLicenses: add.map((skuId) => ({ skuId, disabledPlans: [] })), removeLicenses: remove },
    })
  }

  async #addMember(ctx: Ctx, groupId: string, userId: string): Promise<void> {
    try {
      await this.#graph.call(ctx, {
        method: 'POST',
        path: `/groups/${enc(groupId)}/members/$ref`,
        operation: 'POST /groups/{id}/members/$ref',
        body: { '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${userId}` },
      })
    } catch (err) {
      // "One or more added object references already exist": already a member, which is the goal.
      if (err instanceof ConflictError) return
      if (err instanceof NotFoundError) {
        // Right after POST /users the new object may not have replicated to every directory
        // replica yet, so a 404 here is retryable; a wrong group id fails once retries run out.
        throw new TransientError(`${err.message} (group ${groupId} or user ${userId} not visible yet)`, {
          system: this.system,
          operation: err.operation,
          status: err.status,
          vendorCode: err.vendorCode,
          requestId: err.requestId,
          cause: err,
        })
      }
      throw err
    }
  }

  async #removeMember(ctx: Ctx, groupId: string, userId: string): Promise<GraphResult | undefined> {
    try {
      return await this.#graph.call(ctx, {
        method: 'DELETE',
        path: `/groups/${enc(groupId)}/members/${enc(userId)}/$ref`,
        operation: 'DELETE /groups/{id}/members/{id}/$ref',
      })
    } catch (err) {
      if (err instanceof NotFoundError) return undefined // not a member (any more)
      throw err
    }
  }

  async #addRoles(ctx: Ctx, userId: string, roleDefinitionIds: string[]): Promise<void> {
    const held = new Set((await this.#listRoleAssignments(ctx, userId)).map((a) => `${a.roleDefinitionId}|${a.directoryScopeId ?? '/'}`.toLowerCase()))
    for (const roleDefinitionId of roleDefinitionIds) {
      if (held.has(`${roleDefinitionId}|/`.toLowerCase())) continue
      try {
        await this.#graph.call(ctx, {
          method: 'POST',
          path: '/roleManagement/directory/roleAssignments',
          operation: 'POST /roleManagement/directory/roleAssignments',
          body: {
            '@odata.type': '#microsoft.graph.unifiedRoleAssignment',
            principalId: userId,
            roleDefinitionId,
            directoryScopeId: '/',
          },
        })
      } catch (err) {
        if (err instanceof ConflictError) continue
        throw err
      }
    }
  }

  async #listRoleAssignments(ctx: Ctx, userId: string): Promise<RoleAssignment[]> {
    return this.#listAll(ctx, roleAssignmentSchema, {
      method: 'GET',
      path: '/roleManagement/directory/roleAssignments',
      operation: 'GET /roleManagement/directory/roleAssignments',
      query: { $filter: `principalId eq ${odataString(userId)}` },
    })
  }

  async #listEligibleRoles(ctx: Ctx, userId: string): Promise<RoleAssignment[]> {
    return this.#listAll(ctx, roleAssignmentSchema, {
      method: 'GET',
      path: '/roleManagement/directory/roleEligibilitySchedules',
      operation: 'GET /roleManagement/directory/roleEligibilitySchedules',
      query: { $filter: `principalId eq ${odataString(userId)}` },
    })
  }

  async #deleteRoleAssignment(ctx: Ctx, assignmentId: string): Promise<GraphResult> {
    try {
      return await this.#graph.call(ctx, {
        method: 'DELETE',
        path: `/roleManagement/directory/roleAssignments/${enc(assignmentId)}`,
        operation: 'DELETE /roleManagement/directory/roleAssignments/{id}',
      })
    } catch (err) {
      if (err instanceof NotFoundError) return { body: undefined, status: err.status, requestId: err.requestId }
      throw err
    }
  }

  /** Groups the user is a direct member of (memberOf also lists directory roles and admin units; those are skipped). */
  async #memberOf(ctx: Ctx, run: RunState): Promise<DirectoryObject[]> {
    run.memberOf ??= (
      await this.#listAll(ctx, directoryObjectSchema, {
        method: 'GET',
        path: `/users/${enc(run.user.id)}/memberOf`,
        operation: 'GET /users/{id}/memberOf',
        query: { $select: MEMBER_OF_SELECT, $top: 999 },
      })
    ).filter((o) => o['@odata.type'] === undefined || o['@odata.type'] === '#microsoft.graph.group')
    return run.memberOf
  }

  async #listAll<T extends z.ZodType>(ctx: Ctx, item: T, first: GraphCallSpec): Promise<Array<z.output<T>>> {
    const out: Array<z.output<T>> = []
    let spec: GraphCallSpec | undefined = first
    while (spec) {
      const result: GraphResult = await this.#graph.call(ctx, spec)
      const body = this.#parse(collection(item), result, first.operation)
      out.push(...(body.value as Array<z.output<T>>))
      const next: string | undefined = body['@odata.nextLink']
      spec = next ? { method: 'GET', path: this.#graph.relativeFromNextLink(next), operation: first.operation } : undefined
    }
    return out
  }

  // ─── helpers ───────────────────────────────────────────────────────────────────────────────

  #parse<T extends z.ZodType>(schema: T, result: GraphResult, operation: string): z.output<T> {
    const parsed = schema.safeParse(result.body)
    if (parsed.success) return parsed.data
    throw new PermanentError(`${operation} answered with an unexpected shape: ${parsed.error.issues[0]?.message ?? 'invalid'}`, {
      system: this.system,
      operation,
      status: result.status,
      requestId: result.requestId,
    })
  }

  #resolveLicences(names: string[]): string[] {
    return names.map((name) => {
      const sku = this.#config.licences[name] ?? (GUID_PATTERN.test(name) ? name : undefined)
      if (!sku) throw this.#permanent('licences', `licence "${name}" is not in config licences (name → skuId)`)
      return sku
    })
  }

  #requireGuids(ids: string[], what: string): string[] {
    for (const id of ids) {
      if (!GUID_PATTERN.test(id)) throw this.#permanent('policy', `${what} "${id}" is not an object id GUID`)
    }
    return ids
  }

  #skuLabel(skuId: string): string {
    return this.#skuNames.get(skuId.toLowerCase()) ?? skuId
  }

  #permanent(operation: string, message: string): ProvisionerError {
    return new PermanentError(message, { system: this.system, operation })
  }
}

interface RunState {
  user: GraphUser
  sessionsRevoked: boolean
  removedGroups: Set<string>
  memberOf: DirectoryObject[] | undefined
}

/** Why Graph cannot remove a member from this group, or undefined when it can. */
export function membershipBlocker(group: DirectoryObject): string | undefined {
  const types = group.groupTypes ?? []
  if (types.includes('DynamicMembership')) {
    return `dynamic membership rule (${group.membershipRule ?? 'rule not readable'}); Graph cannot remove members of dynamic groups, the user drops out only when the rule stops matching (e.g. a rule on accountEnabled)`
  }
  if (group.onPremisesSyncEnabled === true) {
    return 'synced from on-premises Active Directory; remove the membership in AD and let Entra Connect / Cloud Sync sync it'
  }
  if (group.mailEnabled === true && !types.includes('Unified')) {
    const kind = group.securityEnabled ? 'mail-enabled security group' : 'distribution list'
    return `${kind}: membership is managed in Exchange Online (Remove-DistributionGroupMember); Graph cannot change it`
  }
  return undefined
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: ProvisionerError }

/**
 * Run one clean-up item. A refusal that retrying cannot fix (Permanent, AuthFailed, Conflict) is
 * returned so the caller records residual access and goes on with the next item; throttling,
 * transient faults and a vanished user are thrown so the job layer retries the whole
 * (idempotent) phase.
 */
async function tolerate<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() }
  } catch (err) {
    if (err instanceof PermanentError || err instanceof ConflictError || err instanceof AuthFailedError) {
      return { ok: false, error: err }
    }
    throw err
  }
}

function addResidual(list: ResidualAccess[], item: ResidualAccess): void {
  if (!list.some((r) => r.kind === item.kind && r.id === item.id && r.reason === item.reason)) list.push(item)
}

function stepEvidence(
  step: RevocationStepKind,
  status: StepEvidence['status'],
  detail: string,
  requestIds: Array<string | undefined> = [],
): StepEvidence {
  const ids = requestIds.filter((x): x is string => !!x)
  return { step, status, at: new Date().toISOString(), detail, ...(ids.length ? { requestIds: ids } : {}) }
}

function enc(segment: string): string {
  return encodeURIComponent(segment)
}

/** An OData string literal: single quotes, embedded quotes doubled. */
export function odataString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}

const TRANSLITERATE: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
}

/** Lower-case ASCII for a name part: diacritics dropped, letters without a decomposition mapped. */
export function asciiNamePart(value: string): string {
  const lowered = value.toLowerCase()
  const mapped = [...lowered].map((ch) => TRANSLITERATE[ch] ?? ch).join('')
  return mapped
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9-]+/g, '')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
}

/**
 * Fill the pattern. The local part may only hold letters, digits and . - _ (Entra also allows
 * ' ! # ^ ~, which break too many mail systems), must not start or end with a dot and must not
 * exceed 64 characters.
 */
export function deriveUserPrincipalName(
  pattern: string,
  domain: string,
  employee: EmployeeProfile,
  fail: (message: string) => Error,
): string {
  const first = asciiNamePart(employee.firstName)
  const last = asciiNamePart(employee.lastName)
  const values: Record<string, string> = {
    first,
    last,
    firstInitial: first.slice(0, 1),
    lastInitial: last.slice(0, 1),
    employeeId: asciiNamePart(employee.employeeId),
    domain: domain.toLowerCase(),
  }
  const filled = pattern.replace(/\{([a-zA-Z]+)\}/g, (_m, key: string) => values[key] ?? '')
  const at = filled.lastIndexOf('@')
  const local = filled
    .slice(0, at)
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '')
    .replace(/\.{2,}/g, '.')
    .replace(/^\.+|\.+$/g, '')
  const host = filled.slice(at + 1).toLowerCase()
  if (local === '' || !/[a-z0-9]/.test(local)) {
    throw fail(
      `cannot build a userPrincipalName for employee ${employee.employeeId}: the name has no Latin letters; add {employeeId} to userPrincipalNamePattern`,
    )
  }
  if (local.length > 64) throw fail(`userPrincipalName local part "${local}" is longer than 64 characters`)
  return `${local}@${host}`
}

const PASSWORD_SETS = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!#$%&*+-=?@^_~']

/** 24 characters from all four classes (Entra needs 3 of 4, 8–256 characters), from the CSPRNG. */
export function strongPassword(length = 24): string {
  const all = PASSWORD_SETS.join('')
  const chars = PASSWORD_SETS.map((set) => set[randomInt(set.length)] ?? 'x')
  while (chars.length < length) chars.push(all[randomInt(all.length)] ?? 'x')
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1)
    const tmp = chars[i] ?? ''
    chars[i] = chars[j] ?? ''
    chars[j] = tmp
  }
  return chars.join('')
}
