/**
 * The whole configuration: the foundation sections plus one section per capability.
 * Unknown keys are errors (a typo must not silently disable a system).
 */
import { z } from 'zod'
import { baseConfigShape } from './schema.ts'
import { systemsConfigSchema } from '../../provisioners/config.ts'
import { policySchema } from '../policy/schema.ts'
import { lifecycleConfigSchema } from '../lifecycle/config.ts'
import { auditSectionSchema } from '../audit/config.ts'
import { hrConfigSchema } from '../hr/config.ts'
import { reconciliationConfigSchema } from '../jobs/reconciliation-config.ts'
import { notifyConfigSchema } from '../notify/config.ts'
import { authConfigSchema } from '../auth/config.ts'
import { exceptionsConfigSchema } from '../exceptions/config.ts'
import { consoleConfigSchema } from '../console/config.ts'
import { offboardingConfigSchema } from '../offboarding/config.ts'
import { reportsConfigSchema } from '../reports/config.ts'

export const configSchema = z
  .object({
    ...baseConfigShape,
    sandbox: z
      .object({
        enabled: z.boolean().default(false).describe('Start the local emulators and point every system at them (`npm start`).'),
        readHrAtStart: z
          .boolean()
          .default(true)
          .describe("Read the HR emulators' seeded people at start instead of at the first half-hourly reconciliation (so the console shows them at once)."),
      })
      .strict()
      .prefault({})
      .describe('The out-of-the-box sandbox.'),
    hr: hrConfigSchema,
    notify: notifyConfigSchema.prefault({}).describe('Where notifications go: Slack, signed webhooks (PagerDuty, Opsgenie, ticketing), the log; and the SLA escalation ladder.'),
    systems: systemsConfigSchema.describe('Target systems: where accounts are created and revoked.'),
    policy: policySchema.prefault({}),
    lifecycle: lifecycleConfigSchema,
    reconciliation: reconciliationConfigSchema.describe('Target-side reconciliation: orphan accounts, access beyond policy, accounts re-enabled after revocation.'),
    audit: auditSectionSchema.optional().describe('The audit trail: checkpoint signing key, publishing, retention. Without it the chain is still written and verifiable, but no signed checkpoints are made.'),
    auth: authConfigSchema.prefault({}).describe('Who may call the API: OIDC single sign-on and rate limits (API tokens are managed with `tenure tokens`).'),
    exceptions: exceptionsConfigSchema,
    offboarding: offboardingConfigSchema.describe('Emergency off-boarding: who may cut someone off now, and whether a second person must approve.'),
    reports: reportsConfigSchema.describe('Compliance reports: how long generated files are kept for download again (docs/reports.md).'),
    console: consoleConfigSchema.prefault({}).describe('The web console at `/`: IT admins, operators and auditors (docs/console.md).'),
  })
  .strict()

export type Config = z.output<typeof configSchema>
export type ConfigInput = z.input<typeof configSchema>
