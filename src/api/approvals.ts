/**
 * What waits for the caller's decision: the figure beside Approvals in the console's navigation.
 *
 * One number per kind of request a person decides, counted for the viewer: four-eyes means a
 * request they made themselves (or an exception they already approved once) is not theirs to
 * decide, so it is not counted. Counting every pending request, as the console did from the
 * exceptions list, told a requester "1 waiting" for their own request, which they cannot act on,
 * and missed the emergency off-boardings that wait for a second approver altogether.
 */
import { z } from 'zod'
import type { Role } from '../auth/roles.ts'
import { defineRoute } from '../http/routes.ts'
import { countDecidableBy } from '../exceptions/store.ts'
import { countApprovableBy } from '../offboarding/store.ts'
import { mayApproveEmergency } from '../offboarding/service.ts'
import { countOpenHolds } from '../db/bulk-holds.ts'

export const pendingCountSchema = z
  .object({
    total: z.number().int().describe('Everything below, summed: what the navigation shows.'),
    byKind: z
      .object({
        exceptions: z
          .number()
          .int()
          .describe(
            'Exception requests (status requested or awaiting_second_approval) the caller may decide: approver or admin, not the requester, not already approved by them, not past their end; awaiting_second_approval only for an admin.',
          ),
        emergencyTerminations: z
          .number()
          .int()
          .describe('Emergency off-boarding requests waiting for a second approver that the caller may approve: one of offboarding.emergency.approverRoles, not the requester, not expired.'),
        massTerminationHolds: z
          .number()
          .int()
          .describe('Mass-termination holds (docs/hr-sources.md) still open: terminations over a source’s threshold that wait for an approver to confirm or reject them. Approver or admin; nobody requested them, so none is excluded.'),
      })
      .strict(),
  })
  .meta({ id: 'PendingCount', description: 'Requests waiting for the caller’s decision, in total and per kind.' })

export const pendingCountRoute = defineRoute({
  method: 'get',
  path: '/api/v1/approvals/pending-count',
  summary: 'How many requests wait for my decision (the navigation’s count)',
  description:
    'Counts what the caller could decide now, per kind: exception requests, emergency off-boarding requests awaiting a second approver, and open mass-termination holds. ' +
    'Four-eyes: requests the caller made, and exceptions they already approved, are not counted (they cannot decide them). ' +
    'A kind the caller may not decide at all counts 0. Reads only; expired requests are not counted even before a sweep marks them.',
  tags: ['exceptions'],
  roles: ['approver', 'operator'],
  responses: { 200: { description: 'The counts', schema: pendingCountSchema } },
  handler: async ({ principal, deps }) => {
    const now = deps.now()
    const roles: readonly Role[] = principal.roles
    const isAdmin = roles.includes('admin')
    const decidesExceptions = isAdmin || roles.includes('approver')
    const [exceptions, emergencyTerminations, massTerminationHolds] = await Promise.all([
      decidesExceptions ? countDecidableBy(deps.pool, { id: principal.id, isAdmin }, now) : 0,
      mayApproveEmergency(roles, deps.config.offboarding.emergency) ? countApprovableBy(deps.pool, principal.id, now) : 0,
      // The confirm and reject routes admit approvers (and admins).
      decidesExceptions ? countOpenHolds(deps.pool) : 0,
    ])
    return { total: exceptions + emergencyTerminations + massTerminationHolds, byKind: { exceptions, emergencyTerminations, massTerminationHolds } }
  },
})

export const APPROVAL_ROUTES = [pendingCountRoute]
