/**
 * The payload of every Tenure job queue, defined once: the zod schema the worker validates with
 * (payloads are read as `unknown`, graphile-worker style) is also the type the producer writes,
 * via `z.infer`. There is no second interface to drift from the schema and no `as unknown as`
 * bridge between them.
 *
 * Parts of a payload that are domain values (the machine's JobRequest, the EmployeeProfile a
 * provisioner reads) keep their one definition in the domain; their schemas here are annotated
 * `z.ZodType<Domain>`, which makes the compiler check that what the schema accepts is that type
 * (an annotation, not a cast: a schema that let through something else would not compile).
 *
 * The objects stay `.loose()` where they were: a payload written by a newer Tenure during a
 * rolling upgrade keeps its extra keys when an older worker re-queues it.
 */
import { z } from 'zod'
import { HR_SOURCES } from '../../state-machines/events.ts'
import { JOB_ACTIONS, TIMER_KINDS, type JobRequest } from '../../state-machines/lifecycle-types.ts'
import type { AccessGrant, EmployeeProfile, RevocationStepKind } from '../domain/access.ts'

const grantSchema: z.ZodType<AccessGrant> = z.object({
  account: z.boolean(),
  groups: z.array(z.string()),
  licences: z.array(z.string()),
  channels: z.array(z.string()),
  projects: z.array(z.string()),
  roles: z.array(z.string()),
  orgUnit: z.string().optional(),
  products: z.array(z.string()).optional(),
  userGroups: z.array(z.string()).optional(),
})

/** Every revocation step kind; the check below fails to compile when provisioners/types.ts gains one. */
const REVOCATION_STEP_KINDS = [
  'disable',
  'revoke_sessions',
  'revoke_tokens',
  'remove_groups',
  'remove_licences',
  'remove_roles',
  'remove_products',
  'remove_channels',
  'transfer_data',
  'move_org_unit',
  'convert_mailbox',
  'delete',
] as const satisfies readonly RevocationStepKind[]
type MissingStepKind = Exclude<RevocationStepKind, (typeof REVOCATION_STEP_KINDS)[number]>
const everyStepKind: [MissingStepKind] extends [never] ? true : MissingStepKind = true
void everyStepKind

const jobRequestSchema: z.ZodType<JobRequest> = z
  .object({
    key: z.string(),
    system: z.string(),
    action: z.enum(JOB_ACTIONS),
    phase: z.enum(['cutoff', 'cleanup']).optional(),
    grant: grantSchema.optional(),
    change: z
      .object({
        add: z.record(z.string(), z.array(z.string())),
        remove: z.record(z.string(), z.array(z.string())),
        orgUnit: z.string().optional(),
      })
      .optional(),
    plan: z
      .object({
        phase: z.enum(['cutoff', 'cleanup']),
        steps: z.array(z.enum(REVOCATION_STEP_KINDS)),
        options: z
          .object({
            transferTo: z.object({ employeeId: z.string().optional(), email: z.string() }).loose().optional(),
            leaversOrgUnit: z.string().optional(),
            legalHold: z.boolean().optional(),
            retainAccount: z.boolean().optional(),
            keepMailbox: z.boolean().optional(),
            granted: grantSchema.optional(),
          })
          .loose(),
      })
      .optional(),
    accountId: z.string().optional(),
    startAfter: z.string().optional(),
    deadline: z.string().optional(),
    enabled: z.boolean().optional(),
    revokedAt: z.string().optional(),
  })
  .loose()

/** The profile a provisioner reads; the engine wrote it from a profile that passed employeeProfileSchema. */
const profileSchema: z.ZodType<EmployeeProfile> = z
  .object({
    employeeId: z.string(),
    firstName: z.string(),
    lastName: z.string(),
    displayName: z.string().optional(),
    workEmail: z.string().optional(),
    personalEmail: z.string().optional(),
    department: z.string().optional(),
    title: z.string().optional(),
    location: z.string().optional(),
    employmentType: z.string().optional(),
    costCenter: z.string().optional(),
    managerId: z.string().optional(),
    managerEmail: z.string().optional(),
    timeZone: z.string().optional(),
    countryCode: z.string().optional(),
  })
  .loose()

/** `system.<id>` and `cleanup.<id>`: everything the worker needs without reading the machine. */
export const systemJobSchema = z.object({
  correlationId: z.string(),
  employeeId: z.uuid(),
  externalId: z.string(),
  /**
   * The key the employee is known by in target systems (employees.account_key): the HR id, or
   * `<source>:<id>` when another source had the id first. Provisioners see it as
   * `profile.employeeId`; absent in jobs queued before it existed (then the HR id).
   */
  accountKey: z.string().optional(),
  source: z.enum(HR_SOURCES),
  generation: z.number().int(),
  request: jobRequestSchema,
  profile: profileSchema.optional(),
  /** The SLA deadline of this system for leaver work (effective moment + budget). */
  deadlineAt: z.string().optional(),
  /** Times this job was pushed back by a rate limit (does not count as a failed attempt). */
  rateLimitedCount: z.number().int().optional(),
  /** Attempts earlier runs of this step made at the target before it was pushed back (rate limit, long backoff). */
  attemptsBefore: z.number().int().nonnegative().optional(),
})
export type SystemJobData = z.infer<typeof systemJobSchema>

/** `lifecycle.timer`: a delayed job that tells a machine its moment has come. */
export const timerJobSchema = z.object({
  correlationId: z.string(),
  employeeId: z.uuid(),
  timerId: z.string(),
  timer: z.enum(TIMER_KINDS),
})
export type TimerJobData = z.infer<typeof timerJobSchema>

/** `hr.event`: one stored HR notice (the inbox row holds the notice itself). */
export const hrEventJobSchema = z.object({ inboxId: z.uuid(), correlationId: z.string() })
export type HrEventJobData = z.infer<typeof hrEventJobSchema>
