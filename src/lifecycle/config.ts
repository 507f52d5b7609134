/** The `lifecycle` configuration section: when things happen. */
import { z } from 'zod'
import { IANAZone } from 'luxon'

export const lifecycleConfigSchema = z
  .object({
    defaultTimeZone: z
      .string()
      .refine((z) => IANAZone.isValidZone(z), 'an IANA time zone such as Europe/Berlin')
      .default('UTC')
      .describe("Zone for dates when HR gives none for the employee (IANA name)."),
    dateOnlyTerminationMeans: z
      .enum(['end_of_day', 'start_of_day'])
      .default('end_of_day')
      .describe('A termination with a date but no time: end_of_day = access ends at midnight after that day (the person works it); start_of_day = at its start.'),
    provisionLeadDays: z.number().int().min(0).max(60).default(3).describe('Create joiners\' accounts this many days before the start date (disabled until day one).'),
    dayStartsAt: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM')
      .default('00:00')
      .describe("Local time on the start date from which a joiner's access works."),
    residualAccessOwnerGroup: z
      .string()
      .min(1)
      .max(200)
      .default('it-operations')
      .describe('Owner group of the tasks created for residual access (what a provisioner could not remove); see docs/sla.md.'),
  })
  .strict()
  .prefault({})
