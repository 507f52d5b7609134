/**
 * The `slack` block of Tenure's config file. Every key documents itself through `.describe()`
 * (docs/configuration.md is generated from these texts).
 *
 * Two credentials because Slack splits user lifecycle from workspace membership:
 * - SCIM (https://docs.slack.dev/reference/scim-api) creates, deactivates and reactivates users and
 *   needs a user token of an Org Owner/Admin with the `admin` scope;
 * - the Web API (channels, user groups, session reset) is called with the Tenure app's bot token,
 *   and optionally an admin user token for the `admin.*` methods bot tokens may not call.
 * Slack tokens are long-lived (no token endpoint to refresh them), so there is no token URL here.
 */
import { z } from 'zod'
import { secretSchema } from '../../src/config/secret.ts'

const rateLimitSchema = z
  .object({
    perMinute: z.number().positive().describe('Tokens added per minute.'),
    burst: z.number().int().positive().describe('Bucket size: how many calls may go out back to back.'),
  })
  .strict()

export const slackConfigSchema = z
  .object({
    botToken: secretSchema.describe(
      'Bot token (xoxb-...) of the Tenure Slack app, for the Web API: conversations.list/invite/kick, ' +
        'users.conversations, users.info, usergroups.list/users.list/users.update. Example: { "env": "SLACK_BOT_TOKEN" }.',
    ),
    scimToken: secretSchema.describe(
      'User token (xoxp-...) with the `admin` scope, installed by an Org Owner/Admin, for the SCIM API. ' +
        'Only accounts with the same or fewer permissions than the installer can be changed. Example: { "env": "SLACK_SCIM_TOKEN" }.',
    ),
    adminToken: secretSchema
      .optional()
      .describe(
        'Optional admin user token (xoxp-...) for methods a bot token may not call: admin.users.session.reset ' +
          '(scope admin.users:write, Enterprise Grid) and usergroups.users.update when your workspace lets only admins ' +
          'edit user groups (scope usergroups:write). Unset: the bot token is used.',
      ),
    apiBaseUrl: z
      .url()
      .default('https://slack.com/api/')
      .describe('Web API base URL (the emulator in tests and the sandbox). Must end with /api/ for real Slack.'),
    scimBaseUrl: z
      .url()
      .default('https://api.slack.com/scim/v2/')
      .describe('SCIM 2.0 base URL. Slack serves SCIM from api.slack.com, not slack.com.'),
    teamId: z
      .string()
      .regex(/^T[A-Z0-9]+$/, 'a Slack team id like T0123ABC')
      .optional()
      .describe(
        'Workspace id (T...) sent as team_id on Web API calls. Required when the bot token is an org-level ' +
          '(Enterprise Grid org-wide app) token; ignored by Slack for workspace tokens.',
      ),
    emailDomain: z
      .string()
      .regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'a domain like example.com')
      .optional()
      .describe(
        'Domain for the work address when HR sends none: first.last@emailDomain (must match the address your ' +
          'identity provider signs people in with). Unset and no work email from HR: provisioning fails as Permanent.',
      ),
    deactivateWith: z
      .enum(['patch', 'delete'])
      .default('patch')
      .describe(
        "How the leaver cut-off deactivates: 'patch' sends SCIM PATCH active=false; 'delete' sends SCIM DELETE " +
          '/Users/{id}, which Slack documents as "Sets a Slack user to deactivated" (no data is deleted either way).',
      ),
    resetSessionsExplicitly: z
      .boolean()
      .default(false)
      .describe(
        'Also call admin.users.session.reset for each leaver, in the clean-up phase only. Deactivation already ' +
          'signs the person out on all devices; the explicit reset is a Tier 2 method (20/min) and must never sit on ' +
          'the four-hour cut-off path. Needs adminToken on Enterprise Grid.',
      ),
    defaultChannels: z
      .array(z.string().min(1))
      .default([])
      .describe('Channels every joiner is added to, by name (general, #announcements) or id (C0123ABC), besides the grant.'),
    channelCacheSeconds: z
      .number()
      .int()
      .min(0)
      .default(600)
      .describe(
        'How long channel and user-group name-to-id lookups are cached. conversations.list and usergroups.list are ' +
          'Tier 2 (20/min); resolving names per joiner would exhaust them in a hiring wave. 0 disables the cache.',
      ),
    userGroupListingCacheSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(60)
      .describe(
        'How long the leaver clean-ups (remove_groups) in one process share one usergroups.list include_users answer; ' +
          'clean-ups that start while it is in flight wait for the same request. usergroups.list is Tier 2 (20/min): ' +
          'one listing per leaver caps clean-up at 20 leavers a minute (5,000 take over four hours); at 60 s it costs ' +
          'at most 1 of those 20 calls a minute. The listing only picks which groups to check: the groups on the ' +
          "leaver's SCIM record are added (the groups Tenure granted when the record carries none; another worker " +
          "process's grants are not in this process's listing), and each group is re-read (usergroups.users.list) under a cross-process lock right before it is " +
          "written, so an old listing never drops someone else's member. 0: every clean-up lists for itself.",
      ),
    listPageSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(200)
      .describe('SCIM users per listAccounts page (Slack allows up to 1,000; smaller pages keep each call fast).'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Per-request timeout for SCIM and Web API calls; a timeout is a Transient error the job layer retries.'),
    rateLimits: z
      .record(z.string(), rateLimitSchema)
      .optional()
      .describe(
        'Override the paced limits per bucket (see rateLimitBuckets in provisioners/slack/provisioner.ts), e.g. ' +
          '{ "scim_write": { "perMinute": 90, "burst": 10 } } when another SCIM client (your IdP) shares the org-wide SCIM quota.',
      ),
  })
  .strict()

export type SlackConfig = z.output<typeof slackConfigSchema>
export type SlackConfigInput = z.input<typeof slackConfigSchema>
