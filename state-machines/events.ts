/**
 * Canonical lifecycle events: what every HR adapter normalises into and what the employee
 * machine consumes. Documented for users in docs/hr-events.md; keep the two in step.
 * Pure (zod only, no I/O).
 */
import { z } from 'zod'

export const HR_SOURCES = [
  'generic',
  'bamboohr',
  'hibob',
  'personio',
  'merge',
  'deel',
  'gusto',
  'rippling',
  'workday',
] as const
export const hrSourceSchema = z.enum(HR_SOURCES)
export type HrSource = z.infer<typeof hrSourceSchema>

const isoDate = z.iso.date().describe('Calendar date, YYYY-MM-DD')
const isoDateTime = z.iso.datetime({ offset: true }).describe('ISO 8601 date-time with offset')

export const employeeProfileSchema = z.object({
  employeeId: z.string().min(1).max(200),
  firstName: z.string().min(1).max(200),
  lastName: z.string().min(1).max(200),
  displayName: z.string().max(400).optional(),
  workEmail: z.email().optional(),
  personalEmail: z.email().optional(),
  department: z.string().max(200).optional(),
  title: z.string().max(200).optional(),
  location: z.string().max(200).optional(),
  employmentType: z.string().max(100).optional(),
  costCenter: z.string().max(100).optional(),
  managerId: z.string().max(200).optional(),
  managerEmail: z.email().optional(),
  timeZone: z.string().max(100).optional(),
  countryCode: z.string().length(2).optional(),
})
export type EmployeeProfileInput = z.infer<typeof employeeProfileSchema>

/** Attributes a mover event may change. */
export const profileChangesSchema = employeeProfileSchema
  .omit({ employeeId: true })
  .partial()
  .refine((c) => Object.keys(c).length > 0, { message: 'at least one changed attribute' })

const envelope = {
  /** Our id for this canonical event (UUID). */
  eventId: z.uuid(),
  source: hrSourceSchema,
  /** The vendor's event/delivery id, or a payload hash where the vendor has none. */
  sourceEventId: z.string().min(1).max(300),
  /** The HR system's id for the person. */
  employeeId: z.string().min(1).max(200),
  /** When HR says the change happened (entered or took effect, per vendor). */
  occurredAt: isoDateTime,
  /** When Tenure received the delivery (or found the change by reconciliation). */
  receivedAt: isoDateTime,
  foundBy: z.enum(['webhook', 'reconciliation', 'manual']),
  /** The full record re-fetched from HR, when the adapter has it. */
  profile: employeeProfileSchema.optional(),
  /**
   * The state this event asserts was read from the HR system's own record (the adapter
   * re-fetched the employee through the vendor API, or the roster poll found it), not only
   * claimed by a notice. A confirmed termination is never dropped as stale (docs/hr-events.md).
   */
  confirmed: z.boolean().optional(),
  /**
   * The vendor's timestamp lay further in the future than the source's
   * futureTimestampToleranceSeconds: occurredAt was clamped to receivedAt and this keeps what
   * the vendor said (a clock running ahead must not make later changes look stale).
   */
  timestampClamped: z.object({ vendorOccurredAt: isoDateTime, toleranceSeconds: z.number().int().nonnegative() }).optional(),
}

export const employeeHiredSchema = z.object({
  ...envelope,
  type: z.literal('employee.hired'),
  profile: employeeProfileSchema,
  startDate: isoDate,
  /** Hired in HR but before the start date (pre-hire record). */
  preHire: z.boolean().default(true),
})

export const employeeUpdatedSchema = z.object({
  ...envelope,
  type: z.literal('employee.updated'),
  changes: profileChangesSchema,
  /** When the change takes effect; defaults to occurredAt. */
  effectiveAt: isoDateTime.optional(),
})

export const employeeTerminatedSchema = z
  .object({
    ...envelope,
    type: z.literal('employee.terminated'),
    /** Date-only termination: the end of that day in the employee's zone, unless configured otherwise. */
    effectiveDate: isoDate.optional(),
    /** Exact termination moment, when HR gives one. */
    effectiveAt: isoDateTime.optional(),
    timeZone: z.string().max(100).optional(),
    voluntary: z.enum(['voluntary', 'involuntary', 'unknown']).default('unknown'),
    /** Termination for cause: revoke now, whatever the effective date says. */
    immediate: z.boolean().default(false),
    reason: z.string().max(500).optional(),
  })
  .refine((e) => e.effectiveDate !== undefined || e.effectiveAt !== undefined || e.immediate, {
    message: 'a termination needs effectiveDate, effectiveAt or immediate',
    path: ['effectiveDate'],
  })

export const employeeRehiredSchema = z.object({
  ...envelope,
  type: z.literal('employee.rehired'),
  profile: employeeProfileSchema,
  startDate: isoDate,
})

export const employeeHireCancelledSchema = z.object({ ...envelope, type: z.literal('employee.hire_cancelled') })

export const employeeTerminationRescindedSchema = z.object({
  ...envelope,
  type: z.literal('employee.termination_rescinded'),
})

export const employeeLeaveStartedSchema = z.object({
  ...envelope,
  type: z.literal('employee.leave_started'),
  effectiveDate: isoDate,
  expectedReturnDate: isoDate.optional(),
})

export const employeeLeaveEndedSchema = z.object({
  ...envelope,
  type: z.literal('employee.leave_ended'),
  effectiveDate: isoDate,
})

export const canonicalEventSchema = z.discriminatedUnion('type', [
  employeeHiredSchema,
  employeeUpdatedSchema,
  employeeTerminatedSchema,
  employeeRehiredSchema,
  employeeHireCancelledSchema,
  employeeTerminationRescindedSchema,
  employeeLeaveStartedSchema,
  employeeLeaveEndedSchema,
])

export type CanonicalEvent = z.infer<typeof canonicalEventSchema>
export type CanonicalEventType = CanonicalEvent['type']
export type EmployeeHired = z.infer<typeof employeeHiredSchema>
export type EmployeeUpdated = z.infer<typeof employeeUpdatedSchema>
export type EmployeeTerminated = z.infer<typeof employeeTerminatedSchema>
export type EmployeeRehired = z.infer<typeof employeeRehiredSchema>
export type EmployeeLeaveStarted = z.infer<typeof employeeLeaveStartedSchema>
export type EmployeeLeaveEnded = z.infer<typeof employeeLeaveEndedSchema>

export const CANONICAL_EVENT_TYPES = canonicalEventSchema.options.map((o) => o.shape.type.value)
