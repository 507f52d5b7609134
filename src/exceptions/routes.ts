/**
 * The exceptions API: request, list, show, approve, reject, revoke. The same operations as
 * `tenure exceptions …` (the CLI calls these endpoints). docs/exceptions.md shows them with curl.
 */
import { randomUUID } from 'node:crypto'
import type { Request } from 'express'
import { z } from 'zod'
import { EXCEPTION_KINDS } from '../../state-machines/lifecycle-types.ts'
import { emptyGrant, normaliseGrant, ACCESS_LISTS } from '../../state-machines/access.ts'
import type { AccessGrant } from '../domain/access.ts'
import type { Principal } from '../auth/roles.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { decodeCursor, defineRoute, encodeCursor, pageOf, pageQuery, reply, timestamp, type ApiDeps } from '../http/routes.ts'
import { grantSchema } from '../policy/schema.ts'
import { REASON_MIN_LENGTH } from './config.ts'
import { decideException, extendException, requestException, type Caller, type Decision, type ExceptionDeps } from './service.ts'
import { EXCEPTION_STATUSES, countExceptions, findException, listExceptions, type ExceptionRecord } from './store.ts'

/** What the service enforces at its floor, stated here so the OpenAPI document says it (it said 1 where the server asked for 10). */
const reasonSchema = z.string().trim().min(REASON_MIN_LENGTH, `give a reason of at least ${REASON_MIN_LENGTH} characters`).max(2000)

export const exceptionSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(EXCEPTION_KINDS),
    employeeId: z.uuid().describe("Tenure's employee id."),
    system: z.string().nullable().describe('The system it affects; null = every system of the employee.'),
    reason: z.string(),
    requestedBy: z.string().describe('Actor id of the requester (API token id or SSO `sub`), as in the audit trail.'),
    requestedByType: z.enum(['api_token', 'oidc', 'system']),
    requestedByName: z.string().nullable().describe("The requester's display name (the API token's name or the SSO name) when it was known; null: only the id is known."),
    requestedAt: timestamp,
    startsAt: timestamp,
    endsAt: timestamp,
    status: z
      .enum(EXCEPTION_STATUSES)
      .describe(
        'requested → awaiting_second_approval (sla_waiver) → approved (start in the future) → active → expired; or rejected, revoked, ' +
          'or lapsed (nobody answered in time: the default policy applies).',
      ),
    approvalsNeeded: z.number().int().describe('2 for sla_waiver (the second by a distinct admin), otherwise 1.'),
    approvals: z.array(
      z.object({
        actorId: z.string(),
        actorName: z.string().nullable().describe("The approver's display name when it was known; null: only the id is known."),
        role: z.enum(['approver', 'admin']),
        at: timestamp,
        reason: z.string().nullable(),
      }),
    ),
    decidedAt: timestamp.nullable().describe('The final approval or the rejection.'),
    rejectedBy: z.string().nullable(),
    rejectedByName: z.string().nullable(),
    rejectionReason: z.string().nullable(),
    revokedAt: timestamp.nullable(),
    revokedBy: z.string().nullable(),
    revokedByName: z.string().nullable(),
    revokeReason: z.string().nullable(),
    expiredAt: timestamp.nullable().describe('When it ended (expired) or lapsed unanswered.'),
    caseId: z.uuid().nullable().describe('The leaver case it was requested against (always set for sla_waiver).'),
    details: z
      .record(z.string(), z.unknown())
      .describe(
        '`grant` for extra_access; for sla_waiver `originalDeadlineAt` and `newDeadlineAt` (while pending: the current deadline and where approving would move it; ' +
          'once decided: what was applied, `newDeadlineAt` null when the deadline had passed), `breachNotHidden` and per-system `systems`; ' +
          '`extensions` [{ by, at, from, to, reason }] once extended.',
      ),
  })
  .meta({ id: 'Exception', description: 'An exception to the default policy and its approval record.' })

function namesOf(r: ExceptionRecord): Record<string, string> {
  const names = r.details.approverNames
  return typeof names === 'object' && names !== null ? (names as Record<string, string>) : {}
}

export function exceptionView(r: ExceptionRecord): z.input<typeof exceptionSchema> {
  const names = namesOf(r)
  const nameOf = (id: string | null) => (id !== null ? (names[id] ?? null) : null)
  return {
    id: r.id,
    kind: r.kind,
    employeeId: r.employeeId,
    system: r.system,
    reason: r.reason,
    requestedBy: r.requestedBy,
    requestedByType: r.requestedByType,
    requestedByName: typeof r.details.requesterName === 'string' ? r.details.requesterName : null,
    requestedAt: r.requestedAt.toISOString(),
    startsAt: r.startsAt.toISOString(),
    endsAt: r.endsAt.toISOString(),
    status: r.status,
    approvalsNeeded: r.kind === 'sla_waiver' ? 2 : 1,
    approvals: r.approvals.map((a) => ({ actorId: a.actorId, actorName: nameOf(a.actorId), role: a.role, at: new Date(a.at).toISOString(), reason: a.reason })),
    decidedAt: r.decidedAt?.toISOString() ?? null,
    rejectedBy: r.rejectedBy,
    rejectedByName: nameOf(r.rejectedBy),
    rejectionReason: r.rejectionReason,
    revokedAt: r.revokedAt?.toISOString() ?? null,
    revokedBy: r.revokedBy,
    revokedByName: nameOf(r.revokedBy),
    revokeReason: r.revokeReason,
    expiredAt: r.expiredAt?.toISOString() ?? null,
    caseId: r.caseId,
    // The requester's e-mail is kept for routing decisions back to them (notify.routes), not shown.
    details: Object.fromEntries(Object.entries(r.details).filter(([k]) => k !== 'requesterEmail')),
  }
}

const requestBody = z
  .object({
    kind: z.enum(EXCEPTION_KINDS).describe('delay_revocation | retain_account | legal_hold | extra_access | sla_waiver (docs/exceptions.md).'),
    employeeId: z.uuid().describe("Tenure's employee id."),
    system: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('The system (`entra`, `google`, `scim:github` …). Required for delay_revocation and extra_access; omit to cover every system.'),
    startsAt: z.iso.datetime({ offset: true }).optional().describe('When it takes effect once approved; default: at approval.'),
    endsAt: z.iso.datetime({ offset: true }).describe('When it ends, within exceptions.maxDuration of its kind.'),
    reason: reasonSchema.describe(`Why, in at least ${REASON_MIN_LENGTH} characters after trimming (more when exceptions.minReasonLength says so); goes to the approvers and into the audit trail.`),
    grant: grantSchema.optional().describe('extra_access only: what it adds on `system`.'),
  })
  .strict()
  .meta({ id: 'ExceptionRequest' })

const decisionBody = z
  .object({ reason: reasonSchema.describe(`Why, in at least ${REASON_MIN_LENGTH} characters after trimming (more when exceptions.minReasonLength says so); goes to the requester and into the audit trail.`) })
  .strict()
  .meta({ id: 'ExceptionDecision' })

const extendBody = z
  .object({
    endsAt: z.iso.datetime({ offset: true }).describe('The new end: later than the current one, within exceptions.maxDuration of its kind counted from the start.'),
    reason: reasonSchema.describe(`Why, in at least ${REASON_MIN_LENGTH} characters after trimming; goes to the requester and into the audit trail.`),
  })
  .strict()
  .meta({ id: 'ExceptionExtension' })

const idParams = z.object({ id: z.uuid() })

function toGrant(g: z.output<typeof grantSchema>): AccessGrant {
  const out = emptyGrant(g.account)
  for (const list of ACCESS_LISTS) {
    const values = g[list]
    if (values !== undefined) out[list] = values
  }
  if (g.orgUnit !== undefined) out.orgUnit = g.orgUnit
  return normaliseGrant(out)
}

function exceptionDeps(deps: ApiDeps): ExceptionDeps {
  if (!deps.engine || !deps.notify) {
    throw new ApiError(503, 'exceptions_unavailable', 'this server was started without the lifecycle engine; exceptions cannot be changed here', null, { 'Retry-After': '30' })
  }
  return { engine: deps.engine, notify: deps.notify, config: deps.config.exceptions }
}

function callerOf(principal: Principal): Caller {
  if (principal.kind === 'hr_source') throw new ApiError(403, 'forbidden', 'an HR source may only deliver webhooks')
  return { type: principal.kind, id: principal.id, name: principal.name, ...(principal.kind === 'oidc' ? { email: principal.email } : {}), roles: principal.roles }
}

function correlationOf(req: Request): string {
  return req.id ? String(req.id) : randomUUID()
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/

export const requestExceptionRoute = defineRoute({
  method: 'post',
  path: '/api/v1/exceptions',
  summary: 'Request an exception',
  description:
    'Asks for a deviation from the default policy. Approvers are notified (Slack approvals channel, webhooks) with what is asked, ' +
    'by whom, why, for how long and what it does to the revocation deadline. Send an `Idempotency-Key` header to make a retry ' +
    'return the same exception (200) instead of creating a second one.',
  tags: ['exceptions'],
  roles: ['approver', 'operator'],
  request: { body: requestBody },
  responses: {
    200: { description: 'Replay of an earlier request with the same Idempotency-Key', schema: exceptionSchema },
    201: { description: 'Requested; awaiting approval', schema: exceptionSchema },
    409: { description: 'An sla_waiver for an employee without an open or scheduled leaver case' },
  },
  handler: async ({ body, principal, deps, req }) => {
    const key = req.get('idempotency-key')
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new ApiError(400, 'validation_failed', 'headers.idempotency-key: 1 to 200 visible ASCII characters', {
        issues: [{ path: 'headers.idempotency-key', message: '1 to 200 visible ASCII characters', code: 'custom' }],
      })
    }
    const { record, created } = await requestException(
      exceptionDeps(deps),
      callerOf(principal),
      {
        kind: body.kind,
        employeeId: body.employeeId,
        system: body.system ?? null,
        endsAt: body.endsAt,
        reason: body.reason,
        ...(body.startsAt !== undefined ? { startsAt: body.startsAt } : {}),
        ...(body.grant !== undefined ? { grant: toGrant(body.grant) } : {}),
        ...(key !== undefined ? { idempotencyKey: key } : {}),
      },
      { correlationId: correlationOf(req) },
    )
    return reply(created ? 201 : 200, exceptionView(record), { Location: `/api/v1/exceptions/${record.id}` })
  },
})

const cursorSchema = z.object({ r: z.iso.datetime(), i: z.uuid() })

export const listExceptionsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/exceptions',
  summary: 'List exceptions, newest first',
  tags: ['exceptions'],
  roles: ['approver', 'operator', 'auditor'],
  request: {
    query: pageQuery().extend({
      status: z.enum(EXCEPTION_STATUSES).optional().describe('Only this status (e.g. requested: what awaits a decision).'),
      employeeId: z.uuid().optional().describe('Only this employee.'),
      kind: z.enum(EXCEPTION_KINDS).optional().describe('Only this kind.'),
      system: z.string().min(1).max(200).optional().describe('Only exceptions on this system.'),
    }),
  },
  responses: {
    200: { description: 'One page of exceptions', schema: pageOf(exceptionSchema).extend({ total: z.number().int().describe('Exceptions matching the filters, on every page.') }) },
  },
  handler: async ({ query, deps }) => {
    const after = decodeCursor(query.cursor, cursorSchema)
    const filters = {
      ...(query.status ? { status: query.status } : {}),
      ...(query.employeeId ? { employeeId: query.employeeId } : {}),
      ...(query.kind ? { kind: query.kind } : {}),
      ...(query.system ? { system: query.system } : {}),
    }
    const [rows, total] = await Promise.all([
      listExceptions(deps.pool, { ...filters, limit: query.limit, after: after ? { requestedAt: new Date(after.r), id: after.i } : null }),
      countExceptions(deps.pool, filters),
    ])
    const page = rows.slice(0, query.limit)
    const last = page.at(-1)
    return {
      items: page.map(exceptionView),
      nextCursor: rows.length > query.limit && last ? encodeCursor({ r: last.requestedAt.toISOString(), i: last.id }) : null,
      total,
    }
  },
})

export const getExceptionRoute = defineRoute({
  method: 'get',
  path: '/api/v1/exceptions/:id',
  summary: 'One exception with its approvals and decision',
  tags: ['exceptions'],
  roles: ['approver', 'operator', 'auditor'],
  request: { params: idParams },
  responses: {
    200: { description: 'The exception', schema: exceptionSchema },
    404: { description: 'No such exception' },
  },
  handler: async ({ params, deps }) => {
    const record = await findException(deps.pool, params.id)
    if (!record) throw notFound(`exception ${params.id}`)
    return exceptionView(record)
  },
})

const DECISIONS: Record<Decision, { summary: string; description: string }> = {
  approve: {
    summary: 'Approve an exception',
    description:
      'Four-eyes: the requester cannot approve. An sla_waiver stays awaiting_second_approval after one approval and needs a second ' +
      'from a distinct admin. Approving twice is refused with 409 (already_approved) and counted once.',
  },
  reject: { summary: 'Reject an exception', description: 'The requester is told why. A requester withdraws their own request with revoke.' },
  revoke: {
    summary: 'Revoke (withdraw or end early) an exception',
    description: 'Only the requester or an admin. An active exception ends at once: a delayed revocation runs immediately.',
  },
}

function decisionRoute(decision: Decision) {
  return defineRoute({
    method: 'post',
    path: `/api/v1/exceptions/:id/${decision}`,
    summary: DECISIONS[decision].summary,
    description: DECISIONS[decision].description,
    tags: ['exceptions'],
    roles: ['approver'],
    request: { params: idParams, body: decisionBody },
    responses: {
      200: { description: 'The exception after the decision', schema: exceptionSchema },
      403: { description: 'four_eyes (the requester decides their own request), second_approval_needs_admin, not_requester (revoke)' },
      404: { description: 'No such exception' },
      409: { description: 'already_approved, not_pending (decided already), not_revocable, past_end' },
    },
    handler: async ({ params, body, principal, deps, req }) => {
      const record = await decideException(exceptionDeps(deps), callerOf(principal), params.id, decision, body.reason, { correlationId: correlationOf(req) })
      return exceptionView(record)
    },
  })
}

export const approveExceptionRoute = decisionRoute('approve')
export const rejectExceptionRoute = decisionRoute('reject')
export const revokeExceptionRoute = decisionRoute('revoke')

export const extendExceptionRoute = defineRoute({
  method: 'post',
  path: '/api/v1/exceptions/:id/extend',
  summary: 'Extend an approved or active exception',
  description:
    'Moves the end later. Four-eyes: an approver or admin other than the requester. Not for sla_waiver (request a new one) nor for a ' +
    'delay_revocation in force (revoke it and request a new delay). An active exception keeps applying until the new end.',
  tags: ['exceptions'],
  roles: ['approver'],
  request: { params: idParams, body: extendBody },
  responses: {
    200: { description: 'The exception with its new end', schema: exceptionSchema },
    400: { description: 'validation_failed: endsAt not after the current end, or beyond exceptions.maxDuration' },
    403: { description: 'four_eyes (the requester extends their own exception)' },
    404: { description: 'No such exception' },
    409: { description: 'not_extendable (not approved or active, an sla_waiver, or a delay in force)' },
  },
  handler: async ({ params, body, principal, deps, req }) => {
    const record = await extendException(exceptionDeps(deps), callerOf(principal), params.id, body.endsAt, body.reason, { correlationId: correlationOf(req) })
    return exceptionView(record)
  },
})

export const EXCEPTION_ROUTES = [requestExceptionRoute, listExceptionsRoute, getExceptionRoute, approveExceptionRoute, rejectExceptionRoute, revokeExceptionRoute, extendExceptionRoute] as const
