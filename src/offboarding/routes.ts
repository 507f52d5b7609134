/**
 * The emergency off-boarding API: cut a person off now (`POST /api/v1/employees/:id/terminate`),
 * list and read the requests, approve or reject a pending one. The same operations as
 * `tenure employees terminate` and `tenure employees emergency …` (the CLI calls these).
 */
import { randomUUID } from 'node:crypto'
import type { Request } from 'express'
import { z } from 'zod'
import type { Principal } from '../auth/roles.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { defineRoute, reply, timestamp, type ApiDeps } from '../http/routes.ts'
import { REASON_MIN_LENGTH } from '../exceptions/config.ts'
import { decideTermination, expireEmergencyRequests, requestTermination, type Caller, type Decision, type OffboardingDeps, type TerminateResult } from './service.ts'
import { EMERGENCY_STATUSES, HR_STATUSES, emergencyById, leaverCaseOf, listEmergencies, type EmergencyRow } from './store.ts'

const reasonSchema = z.string().trim().min(REASON_MIN_LENGTH, `give a reason of at least ${REASON_MIN_LENGTH} characters`).max(2000)

export const emergencyTerminationSchema = z
  .object({
    id: z.uuid(),
    employeeId: z.uuid(),
    employeeName: z.string().nullable(),
    externalId: z.string().describe("The person's HR id."),
    status: z.enum(EMERGENCY_STATUSES).describe('pending (waits for a second approver) → applied; or rejected, or expired (nobody approved in time: nothing was cut).'),
    reason: z.string(),
    requestedBy: z.string().describe('Actor id of the requester (API token id or SSO `sub`), as in the audit trail.'),
    requestedByName: z.string().nullable(),
    requestedAt: timestamp,
    expiresAt: timestamp.nullable().describe('Pending only: after this moment it can no longer be approved.'),
    decidedBy: z.string().nullable().describe('The second approver (applied) or who rejected it.'),
    decidedByName: z.string().nullable(),
    decidedAt: timestamp.nullable(),
    decisionReason: z.string().nullable(),
    appliedAt: timestamp.nullable().describe('When access was cut (the leaver case opened).'),
    caseId: z.uuid().nullable().describe('The leaver case it opened (GET /api/v1/cases/:id).'),
    hrStatus: z
      .enum(HR_STATUSES)
      .describe('What HR said since: unconfirmed (nothing yet), confirmed (HR recorded the termination), discrepancy (HR still shows the person employed: see discrepancyTaskId).'),
    hrStatusAt: timestamp.nullable(),
    discrepancyTaskId: z.uuid().nullable().describe('The task for a person raised by a discrepancy (GET /api/v1/tasks).'),
  })
  .meta({ id: 'EmergencyTermination', description: 'An emergency termination: who cut whom off, why, who approved it, and what HR said since.' })

const caseSummary = z.object({ id: z.uuid(), status: z.string(), effectiveAt: timestamp.nullable(), deadlineAt: timestamp.nullable().describe('The SLA deadline: every system revoked and verified by then.') })

export const terminateResultSchema = z.object({
  outcome: z
    .enum(['terminated', 'pending_approval', 'already_leaving', 'already_requested', 'rejected'])
    .describe(
      'terminated: access is being cut now (the leaver case is open); pending_approval: waits for a second approver; ' +
        'already_leaving: the person was already leaving or gone, nothing new was done; already_requested: a request waits already (returned), nothing new was done; rejected: a pending request was rejected or withdrawn.',
    ),
  employeeId: z.uuid(),
  state: z.string().describe("The employee's lifecycle state after the call."),
  request: emergencyTerminationSchema.nullable().describe('The emergency termination (null when the person is leaving because of HR alone).'),
  case: caseSummary.nullable(),
  jobsEnqueued: z.number().int(),
})

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export function emergencyView(r: EmergencyRow): z.input<typeof emergencyTerminationSchema> {
  return {
    id: r.id,
    employeeId: r.employee_id,
    employeeName: r.display_name,
    externalId: r.external_id,
    status: r.status,
    reason: r.reason,
    requestedBy: r.requested_by,
    requestedByName: r.requested_by_name,
    requestedAt: r.requested_at.toISOString(),
    expiresAt: iso(r.expires_at),
    decidedBy: r.decided_by,
    decidedByName: r.decided_by_name,
    decidedAt: iso(r.decided_at),
    decisionReason: r.decision_reason,
    appliedAt: iso(r.applied_at),
    caseId: r.case_id,
    hrStatus: r.hr_status,
    hrStatusAt: iso(r.hr_status_at),
    discrepancyTaskId: r.discrepancy_task_id,
  }
}

function offboardingDeps(deps: ApiDeps): OffboardingDeps {
  if (!deps.engine) {
    throw new ApiError(503, 'engine_unavailable', 'this server was started without the lifecycle engine; nobody can be cut off here', null, { 'Retry-After': '30' })
  }
  return { engine: deps.engine, config: deps.config.offboarding.emergency, ...(deps.notify ? { notify: deps.notify } : {}) }
}

function callerOf(principal: Principal): Caller {
  if (principal.kind === 'hr_source') throw new ApiError(403, 'forbidden', 'an HR source may only deliver webhooks')
  return { type: principal.kind, id: principal.id, name: principal.name, roles: principal.roles }
}

function correlationOf(req: Request): string {
  return req.id ? String(req.id) : randomUUID()
}

async function resultView(deps: ApiDeps, r: TerminateResult): Promise<z.input<typeof terminateResultSchema>> {
  const kase = await leaverCaseOf(deps.pool, r.employee.id, r.request?.generation ?? r.employee.generation)
  return {
    outcome: r.outcome,
    employeeId: r.employee.id,
    state: r.employee.state,
    request: r.request ? emergencyView(r.request) : null,
    case: kase ? { id: kase.id, status: kase.status, effectiveAt: iso(kase.effective_at), deadlineAt: iso(kase.deadline_at) } : null,
    jobsEnqueued: r.jobsEnqueued,
  }
}

const ROLE_NOTE =
  'The registry admits approver and operator (and admin) so that configuration can open it to them; offboarding.emergency.requestRoles narrows it (default: admin only), others get 403 forbidden.'

export const terminateEmployee = defineRoute({
  method: 'post',
  path: '/api/v1/employees/:id/terminate',
  summary: 'Emergency off-boarding: cut this person off now, without waiting for HR',
  description:
    'Sends an immediate `employee.terminated` through the lifecycle engine, as HR would: the leaver case opens with the same SLA deadline, ' +
    'revocation and verification jobs and evidence; the audit trail records `offboarding.emergency_terminated` with the caller and the reason. ' +
    'With offboarding.emergency.requireSecondApprover the call creates a pending request (202, outcome pending_approval) that a different person ' +
    'approves with POST /api/v1/emergency-terminations/:id/approve. Idempotent: for a person already leaving or gone, or with a request waiting, ' +
    'the answer is 200 with outcome already_leaving / already_requested and nothing new is done or audited. ' +
    ROLE_NOTE,
  tags: ['employees'],
  roles: ['approver', 'operator'],
  request: {
    params: z.object({ id: z.uuid() }),
    body: z.object({
      reason: reasonSchema.describe(`Why, in at least ${REASON_MIN_LENGTH} characters after trimming; goes into the audit trail and to the approver.`),
      effective: z.literal('now').default('now').describe('Only `now`: an emergency termination is immediate (a dated termination is HR\'s).'),
    }),
  },
  responses: {
    200: { description: 'Nothing new done: already leaving or gone, or a request already waits (outcome says which)', schema: terminateResultSchema },
    202: { description: 'Accepted: access is being cut now (terminated), or the request waits for a second approver (pending_approval)', schema: terminateResultSchema },
    403: { description: 'forbidden: the caller has none of offboarding.emergency.requestRoles' },
    404: { description: 'No such employee' },
    409: { description: 'not_applicable: the lifecycle cannot terminate from the current state (e.g. no HR record yet)' },
  },
  handler: async ({ params, body, principal, deps, req }) => {
    const result = await requestTermination(offboardingDeps(deps), callerOf(principal), params.id, body.reason, { correlationId: correlationOf(req) })
    const view = await resultView(deps, result)
    const created = result.outcome === 'terminated' || result.outcome === 'pending_approval'
    return reply(created ? 202 : 200, view, view.request ? { Location: `/api/v1/emergency-terminations/${view.request.id}` } : {})
  },
})

export const listEmergencyTerminations = defineRoute({
  method: 'get',
  path: '/api/v1/emergency-terminations',
  summary: 'Emergency terminations, newest first (pending ones wait for a second approver)',
  tags: ['employees'],
  roles: ['approver', 'operator', 'auditor'],
  request: {
    query: z.object({
      status: z.enum(EMERGENCY_STATUSES).optional(),
      hrStatus: z.enum(HR_STATUSES).optional(),
      employeeId: z.uuid().optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      offset: z.coerce.number().int().min(0).default(0),
    }),
  },
  responses: {
    200: {
      description: 'A page of emergency terminations, and the rules in effect (so a client can say who may cut off and whether a second approver is needed)',
      schema: z.object({
        items: z.array(emergencyTerminationSchema),
        total: z.number().int(),
        settings: z.object({
          requireSecondApprover: z.boolean(),
          requestRoles: z.array(z.string()).describe('Besides admin.'),
          approverRoles: z.array(z.string()).describe('Besides admin.'),
          requestExpiryMinutes: z.number().int(),
        }),
      }),
    },
  },
  handler: async ({ query, deps }) => {
    if (deps.engine) await expireEmergencyRequests(offboardingDeps(deps))
    const { rows, total } = await listEmergencies(deps.pool, query)
    const c = deps.config.offboarding.emergency
    return {
      items: rows.map(emergencyView),
      total,
      settings: { requireSecondApprover: c.requireSecondApprover, requestRoles: c.requestRoles, approverRoles: c.approverRoles, requestExpiryMinutes: c.requestExpiry },
    }
  },
})

export const getEmergencyTermination = defineRoute({
  method: 'get',
  path: '/api/v1/emergency-terminations/:id',
  summary: 'One emergency termination',
  tags: ['employees'],
  roles: ['approver', 'operator', 'auditor'],
  request: { params: z.object({ id: z.uuid() }) },
  responses: { 200: { description: 'The emergency termination', schema: emergencyTerminationSchema }, 404: { description: 'No such request' } },
  handler: async ({ params, deps }) => {
    if (deps.engine) await expireEmergencyRequests(offboardingDeps(deps))
    const row = await emergencyById(deps.pool, params.id)
    if (!row) throw notFound(`emergency termination ${params.id}`)
    return emergencyView(row)
  },
})

function decisionRoute(decision: Decision) {
  return defineRoute({
    method: 'post',
    path: `/api/v1/emergency-terminations/:id/${decision}`,
    summary: decision === 'approve' ? 'Approve a pending emergency termination: access is cut now' : 'Reject (or, as its requester, withdraw) a pending emergency termination',
    description:
      (decision === 'approve'
        ? 'Four-eyes: never by the requester. Needs one of offboarding.emergency.approverRoles (default: admin). The cut is recorded with both people. '
        : 'Nothing is cut. An approver, or the requester withdrawing their own request. ') + ROLE_NOTE.replace('requestRoles', 'approverRoles'),
    tags: ['employees'],
    roles: ['approver', 'operator'],
    request: {
      params: z.object({ id: z.uuid() }),
      body: z.object({ reason: decision === 'approve' ? reasonSchema.optional().describe('Optional note for the audit trail.') : reasonSchema.describe('Why, for the audit trail.') }),
    },
    responses: {
      200: { description: decision === 'approve' ? 'Applied: access is being cut (outcome terminated)' : 'Rejected: nothing was cut', schema: terminateResultSchema },
      403: { description: 'four_eyes (the requester approves their own request), forbidden (no approver role)' },
      404: { description: 'No such request' },
      409: { description: 'not_pending (decided already), expired (nobody approved in time), already_leaving, not_applicable' },
    },
    handler: async ({ params, body, principal, deps, req }) => {
      const result = await decideTermination(offboardingDeps(deps), callerOf(principal), params.id, decision, body.reason, { correlationId: correlationOf(req) })
      return resultView(deps, result)
    },
  })
}

export const OFFBOARDING_ROUTES = [terminateEmployee, listEmergencyTerminations, getEmergencyTermination, decisionRoute('approve'), decisionRoute('reject')]
