/** The `reconciliation` configuration section (target-side drift detection). */
import { z } from 'zod'

export const reconciliationConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('List accounts in every system on a schedule and flag drift.'),
    intervalMinutes: z
      .number()
      .int()
      .refine((m) => (m < 60 ? 60 % m === 0 : m % 60 === 0 && 1440 % m === 0), 'divides an hour, or whole hours that divide a day')
      .default(60)
      .describe('How often target reconciliation runs.'),
    ignoreAccounts: z
      .array(z.string())
      .default([])
      .describe('Logins or account ids never reported as orphans (service accounts, break-glass admins). `*` matches any run of characters.'),
  })
  .strict()
  .prefault({})
export type ReconciliationConfig = z.output<typeof reconciliationConfigSchema>

