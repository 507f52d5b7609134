/**
 * Mass-termination holds (src/hr/bulk-hold.ts; docs/hr-sources.md): list them, see what each
 * holds, and confirm or reject one. Reading is for operators and approvers; deciding is for
 * approvers (and admins). One approver decides: the request comes from the HR source, not from
 * a colleague whose request a second person should check.
 */
import { z } from 'zod'
import { defineRoute, pageOf, pageQuery, encodeCursor, decodeCursor, type ApiDeps } from '../http/routes.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { HOLD_STATUSES, holdItems, listHolds, readHold, type HoldItemRow, type HoldRow } from '../db/bulk-holds.ts'
import { BulkHoldError, decideBulkHold, type BulkHoldDeps } from '../hr/bulk-hold.ts'
import { HR_SOURCES } from '../../state-machines/events.ts'

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null)

export const holdSchema = z.object({
  id: z.uuid(),
  source: z.string(),
  status: z.enum(HOLD_STATUSES),
  thresholdPerHour: z.number().int().describe('The source’s threshold when the hold opened.'),
  heldCount: z.number().int().describe('Notices in the hold.'),
  firstHeldAt: z.string(),
  lastHeldAt: z.string(),
  earliestEffectiveAt: z.string().nullable().describe('Earliest HR effective moment among the held terminations: the revocation SLA of those leavers counts from there.'),
  decidedBy: z.string().nullable(),
  decidedByType: z.string().nullable(),
  decidedAt: z.string().nullable(),
  reason: z.string().nullable(),
})

export const holdItemSchema = z.object({
  inboxId: z.uuid(),
  seq: z.number().int().describe('Acceptance order: the order the notices are applied in when confirmed.'),
  hrEmployeeId: z.string().describe("The HR system's id for the person."),
  employeeId: z.uuid().nullable().describe("Tenure's employee id, when the person is known."),
  employeeName: z.string().nullable(),
  vendorEventType: z.string(),
  eventTypes: z.array(z.string()).nullable().describe('Canonical events the notice carries; null when it was held unread behind an earlier held notice of the same person.'),
  effectiveAt: z.string().nullable().describe('HR effective moment of the termination.'),
  immediate: z.boolean().nullable(),
  why: z.enum(['over_threshold', 'hold_open', 'employee_held']),
  heldAt: z.string(),
  status: z.string().describe('The notice now: held; received or processed once confirmed; rejected.'),
})

function holdOut(h: HoldRow): z.input<typeof holdSchema> {
  return {
    id: h.id,
    source: h.source,
    status: h.status,
    thresholdPerHour: h.threshold_per_hour,
    heldCount: h.held_count,
    firstHeldAt: h.first_held_at.toISOString(),
    lastHeldAt: h.last_held_at.toISOString(),
    earliestEffectiveAt: iso(h.earliest_effective_at),
    decidedBy: h.decided_by,
    decidedByType: h.decided_by_type,
    decidedAt: iso(h.decided_at),
    reason: h.reason,
  }
}

function itemOut(i: HoldItemRow): z.input<typeof holdItemSchema> {
  return {
    inboxId: i.inbox_id,
    seq: Number(i.seq),
    hrEmployeeId: i.employee_external_id,
    employeeId: i.employee_id,
    employeeName: i.display_name,
    vendorEventType: i.vendor_event_type,
    eventTypes: i.event_types,
    effectiveAt: iso(i.effective_at),
    immediate: i.immediate,
    why: i.why,
    heldAt: i.held_at.toISOString(),
    status: i.status,
  }
}

export const listBulkHolds = defineRoute({
  method: 'get',
  path: '/api/v1/hr/holds',
  summary: 'Mass-termination holds, open ones first',
  description: 'A hold opens when an HR source that is not trusted for bulk sends more terminations in an hour than its threshold (hr.<name>.bulkHoldThresholdPerHour).',
  tags: ['hr'],
  roles: ['operator', 'approver'],
  request: {
    query: pageQuery().extend({
      status: z.enum(HOLD_STATUSES).optional(),
      source: z.enum(HR_SOURCES).optional(),
    }),
  },
  responses: { 200: { description: 'A page of holds', schema: pageOf(holdSchema) } },
  handler: async ({ query, deps }) => {
    const offset = decodeCursor(query.cursor, z.object({ o: z.number().int().min(0) }))?.o ?? 0
    const rows = await listHolds(deps.pool, { ...(query.status ? { status: query.status } : {}), ...(query.source ? { source: query.source } : {}), limit: query.limit + 1, offset })
    return { items: rows.slice(0, query.limit).map(holdOut), nextCursor: rows.length > query.limit ? encodeCursor({ o: offset + query.limit }) : null }
  },
})

export const getBulkHold = defineRoute({
  method: 'get',
  path: '/api/v1/hr/holds/:id',
  summary: 'One mass-termination hold with the notices it holds, in acceptance order',
  tags: ['hr'],
  roles: ['operator', 'approver'],
  request: { params: z.object({ id: z.uuid() }), query: pageQuery({ defaultLimit: 500, maxLimit: 5000 }) },
  responses: {
    200: { description: 'The hold and a page of its notices', schema: holdSchema.extend({ items: z.array(holdItemSchema), nextCursor: z.string().nullable() }) },
    404: { description: 'No such hold' },
  },
  handler: async ({ params, query, deps }) => {
    const hold = await readHold(deps.pool, params.id)
    if (!hold) throw notFound(`hold ${params.id}`)
    const after = decodeCursor(query.cursor, z.object({ seq: z.string().regex(/^\d+$/) }))?.seq
    const rows = await holdItems(deps.pool, params.id, after, query.limit + 1)
    const page = rows.slice(0, query.limit)
    return { ...holdOut(hold), items: page.map(itemOut), nextCursor: rows.length > query.limit ? encodeCursor({ seq: page[page.length - 1]!.seq }) : null }
  },
})

function holdDeps(deps: ApiDeps): BulkHoldDeps {
  if (!deps.boss) throw new ApiError(503, 'queue_unavailable', 'the job queue is not running in this process')
  return {
    pool: deps.pool,
    boss: deps.boss,
    log: deps.log,
    now: deps.now,
    ...(deps.notify ? { notify: deps.notify } : {}),
    schedule: { dateOnlyMeans: deps.config.lifecycle.dateOnlyTerminationMeans, defaultTimeZone: deps.config.lifecycle.defaultTimeZone },
  }
}

const decisionBody = z.object({ reason: z.string().trim().min(1).max(2000).describe('Why (kept in the audit trail and sent to the approvals channel).') })
const decisionResult = holdSchema.extend({ notices: z.number().int().describe('Notices released (confirm) or rejected (reject).') })

function decideRoute(decision: 'confirm' | 'reject') {
  return defineRoute({
    method: 'post',
    path: `/api/v1/hr/holds/:id/${decision}`,
    summary: decision === 'confirm' ? 'Confirm a mass-termination hold: apply its notices in acceptance order' : 'Reject a mass-termination hold: its notices are kept and never applied',
    description:
      decision === 'confirm'
        ? 'Every held notice goes back to the HR queue, in the order HR sent it, in one transaction; the leavers are then revoked as usual. Audited with the caller as actor.'
        : 'The held notices are marked rejected (kept as evidence, never deleted) and are never applied; people who did leave after all need their terminations sent again. Audited with the caller as actor.',
    tags: ['hr'],
    roles: ['approver'],
    request: { params: z.object({ id: z.uuid() }), body: decisionBody },
    responses: {
      200: { description: decision === 'confirm' ? 'Confirmed; the notices are queued' : 'Rejected', schema: decisionResult },
      404: { description: 'No such hold' },
      409: { description: 'The hold was already decided (code hold_already_decided)' },
      503: { description: 'No queue in this process' },
    },
    handler: async ({ params, body, deps, actor, log }) => {
      try {
        const { hold, notices } = await decideBulkHold(holdDeps(deps), params.id, decision, actor, body.reason)
        log.info({ holdId: hold.id, decision, notices }, 'mass-termination hold decided')
        return { ...holdOut(hold), notices }
      } catch (err) {
        if (!(err instanceof BulkHoldError)) throw err
        if (err.code === 'hold_not_found') throw notFound(`hold ${params.id}`)
        const h = err.hold
        throw new ApiError(409, 'hold_already_decided', err.message, h ? { status: h.status, decidedBy: h.decided_by, decidedAt: iso(h.decided_at) } : null)
      }
    },
  })
}

export const confirmBulkHold = decideRoute('confirm')
export const rejectBulkHold = decideRoute('reject')

export const HR_HOLD_ROUTES = [listBulkHolds, getBulkHold, confirmBulkHold, rejectBulkHold]
