/**
 * Birthright policy in config: which accounts and access a person gets from their HR attributes,
 * and how each system is handled when they leave. Documented for users in docs/policies.md.
 */
import { z } from 'zod'

/** The four-hour revocation SLA; per-system settings may only lower it. */
export const DEFAULT_SLA_MINUTES = 240

const nonEmpty = z.string().trim().min(1)

const valueMatcher = z
  .union([nonEmpty, z.array(nonEmpty).min(1)])
  .describe('One value or a list (any of). Case-insensitive; `*` matches any run of characters.')

export const MATCH_KEYS = ['department', 'title', 'location', 'employmentType', 'costCenter'] as const
export type MatchKey = (typeof MATCH_KEYS)[number]

const matchFields = {
  department: valueMatcher.optional(),
  title: valueMatcher.optional(),
  location: valueMatcher.optional(),
  employmentType: valueMatcher.optional(),
  costCenter: valueMatcher.optional(),
}

const notSchema = z.strictObject(matchFields).describe('Excludes people this block matches (all of its keys).')

export const matchSchema = z
  .strictObject({ ...matchFields, not: notSchema.optional() })
  .describe('All keys must match (AND); a list matches any of its values. An empty match applies to everyone.')

const list = z.array(nonEmpty).optional()

export const grantSchema = z
  .strictObject({
    account: z
      .boolean()
      .default(true)
      .describe('Create an account. `false`: add these lists only when another matching rule grants the account.'),
    groups: list.describe('Groups (Google groups, Entra groups, SCIM groups).'),
    licences: list.describe('Licence SKUs (Entra skuId / Google product-SKU).'),
    channels: list.describe('Slack channels.'),
    projects: list.describe('Jira project keys.'),
    roles: list.describe('Admin or app roles.'),
    products: list.describe('Jira products / app products.'),
    userGroups: list.describe('Slack user groups.'),
    orgUnit: nonEmpty.optional().describe('Google org unit path. When several rules set it, the last matching rule wins.'),
  })
  .describe('What one system grants.')

export const ruleSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, dot, dash, underscore; starts with a letter or digit')
    .describe('Unique rule name; shown in the plan explanation and in errors.'),
  description: z.string().max(500).optional(),
  match: matchSchema.default({}),
  grant: z.record(nonEmpty, grantSchema).describe('Per system id (`google`, `slack`, `scim:github`, ...).'),
})

export const leaverOptionsSchema = z.strictObject({
  delete: z.boolean().default(false).describe('Delete the account in the clean-up phase (never under legal_hold or retain_account).'),
  transferData: z.boolean().default(false).describe("Transfer data (Drive, mailbox) to the manager where the system supports it."),
  leaversOrgUnit: nonEmpty.optional().describe('Google: org unit for suspended leavers.'),
  keepMailbox: z.boolean().optional().describe('Entra: convert the mailbox to a shared mailbox instead of letting it go.'),
})

export const systemPolicySchema = z.strictObject({
  slaMinutes: z
    .number()
    .int()
    .min(1)
    .max(DEFAULT_SLA_MINUTES, `may only lower the ${DEFAULT_SLA_MINUTES}-minute SLA; a longer one needs an approved sla_waiver`)
    .optional()
    .describe(`Revocation budget for this system in minutes (≤ ${DEFAULT_SLA_MINUTES}).`),
  leaver: leaverOptionsSchema.optional(),
})

export const policySchema = z
  .strictObject({
    rules: z.array(ruleSchema).default([]).describe('Evaluated in order; every matching rule contributes (union).'),
    systems: z.record(nonEmpty, systemPolicySchema).default({}).describe('Per-system SLA budget and leaver handling.'),
  })
  .describe('Birthright access policy.')

export type PolicyInput = z.input<typeof policySchema>
export type Policy = z.output<typeof policySchema>
export type PolicyRule = z.output<typeof ruleSchema>
export type PolicyGrant = z.output<typeof grantSchema>
export type PolicyMatch = z.output<typeof matchSchema>
