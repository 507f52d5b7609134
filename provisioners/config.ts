/**
 * The `systems` configuration section. Kept apart from registry.ts so that reading the
 * configuration does not load every vendor SDK (the CLI starts in a fraction of the time).
 */
import { z } from 'zod'
import { sandboxConfigSchema } from './sandbox/provisioner.ts'
import { googleConfigSchema } from './google/config.ts'
import { entraConfigSchema } from './entra/config.ts'
import { slackConfigSchema } from './slack/config.ts'
import { jiraConfigSchema } from './jira/config.ts'
import { scimConfigSchema } from './scim/config.ts'
import { manualConfigSchema } from './manual/provisioner.ts'

export const systemsConfigSchema = z
  .object({
    sandbox: sandboxConfigSchema.optional().describe('The built-in sandbox target (accounts in a Tenure table).'),
    google: googleConfigSchema.optional().describe('Google Workspace (Admin SDK Directory API). See docs/systems/google.md.'),
    entra: entraConfigSchema.optional().describe('Microsoft Entra ID / Microsoft 365 (Microsoft Graph). See docs/systems/entra.md.'),
    slack: slackConfigSchema.optional().describe('Slack (Web API + SCIM). See docs/systems/slack.md.'),
    jira: jiraConfigSchema.optional().describe('Jira / Atlassian Cloud. See docs/systems/jira.md.'),
    scim: scimConfigSchema,
    manual: manualConfigSchema,
    disabled: z
      .array(z.string())
      .default([])
      .describe('System ids that are configured but switched off (no jobs run; the API shows them disabled).'),
    rateLimits: z
      .record(
        z.string(),
        z.record(
          z.string(),
          z.object({ perMinute: z.number().positive(), burst: z.number().positive(), window: z.enum(['token-bucket', 'sliding-minute']).optional() }).strict(),
        ),
      )
      .default({})
      .describe(
        "Per system id and limiter bucket, override the vendor's published limit, e.g. { slack: { scim_write: { perMinute: 120, burst: 10 } } }. `window` says how perMinute is counted (\"sliding-minute\": at most perMinute calls in any 60 s; \"token-bucket\"); absent: as the bucket's default counts it (Google's directory: sliding-minute).",
      ),
  })
  .strict()
  .prefault({})

export type SystemsConfig = z.output<typeof systemsConfigSchema>
