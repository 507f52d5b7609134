/**
 * The what-if plan over HTTP: `POST /api/v1/employees/:id/plan/what-if` answers what every system
 * would do for a proposed move, termination or rehire (src/lifecycle/what-if.ts runs the real
 * lifecycle in memory). A POST because the proposal is a body, not because anything changes:
 * nothing is written, nothing is queued, no target is called.
 */
import { z } from 'zod'
import { defineRoute } from '../http/routes.ts'
import { ApiError, notFound } from '../http/errors.ts'
import { employeeProfileSchema } from '../../state-machines/events.ts'
import { EXCEPTION_KINDS } from '../../state-machines/lifecycle-types.ts'
import { employeeById } from '../db/employees.ts'
import { listExceptions, type ExceptionRecord } from '../exceptions/store.ts'
import { currentApprovalSnapshot, restoredContext } from '../exceptions/approval.ts'
import { planWhatIf, WhatIfNotApplicable, type WhatIfChange, type WhatIfEmployee } from '../lifecycle/what-if.ts'

const profileChanges = employeeProfileSchema.omit({ employeeId: true }).partial().strict()

export const whatIfBodySchema = z.discriminatedUnion(
  'change',
  [
    z
      .object({
        change: z.literal('move'),
        profile: profileChanges
          .refine((p) => Object.keys(p).length > 0, { message: 'name at least one attribute to change (department, title, location, managerId …)' })
          .describe('The HR attributes that change, as an `employee.updated` would carry them.'),
      })
      .strict(),
    z
      .object({
        change: z.literal('termination'),
        effectiveDate: z.iso.date().optional().describe('Date-only termination: the end of that day in the employee’s zone (as configured).'),
        effectiveAt: z.iso.datetime({ offset: true }).optional().describe('The exact termination moment.'),
        immediate: z.boolean().optional().describe('For cause: revoke now, whatever the effective date says.'),
        timeZone: z.string().max(100).optional(),
      })
      .strict()
      .describe('Without effectiveDate, effectiveAt or immediate: a termination effective now.'),
    z
      .object({
        change: z.literal('rehire'),
        startDate: z.iso.date().optional().describe('Day one; default today (UTC).'),
        profile: profileChanges.optional().describe('Attributes that differ from the stored profile.'),
      })
      .strict(),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? 'change must be one of: move, termination, rehire' : undefined) },
)

const grant = z.record(z.string(), z.unknown())
const lists = z.record(z.string(), z.array(z.string()))
const revocation = z
  .object({
    at: z.string().describe('When the job would be queued (simulated).'),
    startAfter: z.string().optional().describe('An approved delay_revocation holds it until then.'),
    steps: z.array(z.object({ step: z.string(), unsupported: z.string().optional().describe('The system reports this step not_supported, and why.') })).describe("In the order the system's provisioner runs them."),
    options: z.record(z.string(), z.unknown()).describe('legalHold, retainAccount, keepMailbox, transferTo, leaversOrgUnit: what changes what the steps do.'),
  })
  .nullable()

export const whatIfPlanSchema = z.object({
  employeeId: z.uuid(),
  change: z.enum(['move', 'termination', 'rehire']),
  state: z.object({ now: z.string(), after: z.string().describe('Right after HR’s change.'), settled: z.string().describe('Once every planned job has run.') }),
  effectiveAt: z.string().nullable().describe('A termination’s HR effective moment; a rehire’s start of day one.'),
  deadline: z.object({ kind: z.enum(['leaver_sla', 'joiner_day_one']), at: z.string() }).nullable().describe('The leaver case’s SLA deadline (its earliest system), or a joiner’s day one.'),
  systems: z.array(
    z.object({
      system: z.string(),
      kind: z.string().nullable(),
      account: z.enum(['create', 'restore', 'keep', 'remove', 'none']),
      before: grant.nullable().describe('What Tenure granted there now.'),
      after: grant.nullable().describe('What the policy (plus extra access) grants after the change.'),
      add: lists,
      remove: lists.describe('What Tenure granted that would go: a lower bound; revocation reads the account back.'),
      kept: lists.describe('Granted now and left on the disabled account: the clean-up has no step for it (a legal hold keeps licences) or the system does not do that step.'),
      orgUnit: z.string().optional(),
      rules: z.array(z.string()),
      jobs: z.array(z.object({ action: z.string(), phase: z.string().optional(), at: z.string(), startAfter: z.string().optional() })),
      cutoff: revocation,
      cleanup: revocation,
      exceptions: z.array(z.string()).describe('Exceptions in force for this system while its jobs are planned.'),
      deadlineAt: z.string().nullable(),
    }),
  ),
  exceptions: z.array(
    z.object({
      id: z.uuid(),
      kind: z.enum(EXCEPTION_KINDS),
      system: z.string().nullable(),
      status: z.string(),
      startsAt: z.string(),
      endsAt: z.string(),
      reason: z.string(),
      applies: z.boolean(),
      effect: z.string(),
    }),
  ),
  notes: z.array(z.string()),
})

/** Approved exceptions not yet started bring their grant from the approval machine's request. */
function grantOf(x: ExceptionRecord) {
  try {
    return restoredContext(currentApprovalSnapshot(x)).context.request?.grant
  } catch {
    return undefined
  }
}

export const whatIfPlan = defineRoute({
  method: 'post',
  path: '/api/v1/employees/:id/plan/what-if',
  summary: 'What-if: what every system would do for a proposed move, termination or rehire (changes nothing)',
  description:
    'Runs the lifecycle in memory on the stored state: the policy for the proposed profile, the jobs each system would get in order, ' +
    'the cut-off and clean-up steps in the order each provisioner runs them, the approved and active exceptions that would apply, and the resulting deadline. ' +
    'Nothing is written, nothing is queued, no target system is called.',
  tags: ['employees'],
  roles: ['operator', 'auditor', 'approver'],
  request: { params: z.object({ id: z.uuid() }), body: whatIfBodySchema },
  responses: {
    200: { description: 'The plan per system', schema: whatIfPlanSchema },
    404: { description: 'No such employee (`not_found`)' },
    409: { description: 'The lifecycle would not act on this change now (`change_not_applicable`; the message says why)' },
    503: { description: 'The lifecycle engine is not running in this process' },
  },
  handler: async ({ params, body, deps }) => {
    if (!deps.engine) throw new ApiError(503, 'engine_unavailable', 'the lifecycle engine is not running in this process')
    const row = await employeeById(deps.pool, params.id)
    if (!row) throw notFound(`employee ${params.id}`)
    const exceptions = [
      ...(await listExceptions(deps.pool, { employeeId: row.id, status: 'active', limit: 100 })),
      ...(await listExceptions(deps.pool, { employeeId: row.id, status: 'approved', limit: 100 })),
    ]
    const change: WhatIfChange = body.change === 'rehire' ? { ...body, startDate: body.startDate ?? deps.now().toISOString().slice(0, 10) } : body
    const registry = deps.registry
    try {
      return planWhatIf({
        engine: deps.engine,
        // employees.* holds the snapshot and its machine version (SELECT *); the read API's type leaves them out.
        employee: row as unknown as WhatIfEmployee,
        change,
        exceptions,
        exceptionGrant: grantOf,
        traits: (system) => {
          const p = registry?.get(system)
          return { kind: p?.kind ?? registry?.systems.find((s) => s.system === system)?.kind, revocationOrder: p?.revocationOrder, unsupportedSteps: p?.unsupportedSteps }
        },
      })
    } catch (err) {
      if (err instanceof WhatIfNotApplicable) throw new ApiError(409, 'change_not_applicable', err.message)
      throw err
    }
  },
})

export const WHAT_IF_ROUTES = [whatIfPlan]
