/**
 * The `jira` block of Tenure's config file. Every key documents itself through `.describe()`
 * (docs/configuration.md is generated from these texts).
 *
 * Two APIs, two credentials:
 * - the Jira Cloud platform REST API v3 on the site (https://<site>.atlassian.net), called with
 *   basic auth of an admin's Atlassian account email + API token. It creates users, grants product
 *   access and manages group membership. It cannot deactivate an Atlassian account or end sessions.
 * - optionally, Atlassian's user provisioning (SCIM 2.0) API on api.atlassian.com, called with the
 *   directory's bearer token. Deactivating through it ("active": false) locks the Atlassian account
 *   out of every Atlassian app at once, which is the only real cut-off Atlassian offers an API for.
 *   https://developer.atlassian.com/cloud/admin/user-provisioning/rest/intro/
 * Neither API has a token endpoint (both credentials are long-lived), so there is no token URL here.
 */
import { z } from 'zod'
import { secretSchema } from '../../src/config/secret.ts'

const rateLimitSchema = z
  .object({
    perMinute: z.number().positive().describe('Tokens added per minute.'),
    burst: z.number().int().positive().describe('Bucket size: how many calls may go out back to back.'),
  })
  .strict()

/** Jira Cloud's standard product keys (NewUserDetails.products in the REST v3 reference). */
export const JIRA_PRODUCTS = ['jira-software', 'jira-servicedesk', 'jira-core', 'jira-product-discovery'] as const

/**
 * Default product-access groups of a Jira Cloud site. Sites created since 2023 may carry a site
 * suffix (`jira-software-users-acme`); check Administration → Products → Product access.
 */
export const DEFAULT_PRODUCT_ACCESS_GROUPS: Record<string, string[]> = {
  'jira-software': ['jira-software-users'],
  'jira-servicedesk': ['jira-servicemanagement-users'],
  'jira-core': ['jira-core-users'],
  'jira-product-discovery': ['jira-product-discovery-users'],
}

const groupRef = z
  .string()
  .min(1)
  .describe('A group name, or a group id (UUID; ids survive renames, so prefer them).')

const scimSchema = z
  .object({
    directoryId: z
      .string()
      .min(1)
      .describe(
        'Id of the user provisioning directory: the part after /scim/directory/ in the directory base URL shown when ' +
          'you create the directory in Atlassian Administration → Security → Identity providers → User provisioning.',
      ),
    token: secretSchema.describe(
      'The directory API key (bearer token) shown once when the directory is created. It can create, change and ' +
        'deactivate every managed account synced through this directory. Example: { "env": "ATLASSIAN_SCIM_TOKEN" }.',
    ),
    baseUrl: z
      .url()
      .optional()
      .describe('Directory base URL. Default: https://api.atlassian.com/scim/directory/{directoryId} (the emulator in tests).'),
  })
  .strict()

export const jiraConfigSchema = z
  .object({
    host: z
      .url()
      .describe('Jira Cloud site URL, e.g. https://acme.atlassian.net (bare site URL: the REST path is added per call).'),
    email: z
      .email()
      .describe(
        'Email of the Atlassian account the API token belongs to. That account must be a site admin (member of ' +
          'site-admins) and hold the Administer Jira global permission: creating users and changing group ' +
          'membership require both.',
      ),
    apiToken: secretSchema.describe(
      'API token of that account (https://id.atlassian.com/manage-profile/security/api-tokens). ' +
        'Example: { "env": "JIRA_API_TOKEN" }.',
    ),
    defaultProducts: z
      .array(z.string().min(1))
      .default(['jira-software'])
      .describe(
        "Products granted to a joiner when the policy's grant names none (grant.products), and the products " +
          'restored by enable() when the person has no product access left. Valid keys: ' +
          `${JIRA_PRODUCTS.join(', ')}.`,
      ),
    productAccessGroups: z
      .record(z.string(), z.union([groupRef, z.array(groupRef).min(1)]))
      .default(DEFAULT_PRODUCT_ACCESS_GROUPS)
      .describe(
        'Product key → the group(s) that grant access to it (Administration → Products → Product access → the ' +
          "product's default groups). Without SCIM the leaver cut-off removes the person from these groups, and " +
          'mover product changes add/remove them. A product granted through a group not listed here is reported as ' +
          'residual access, never assumed removed.',
      ),
    scim: scimSchema
      .optional()
      .describe(
        'Atlassian user provisioning (SCIM) directory. Set it when your organisation has Atlassian Guard and lets ' +
          'Tenure own a provisioning directory: joiners are created as managed accounts with externalId = HR ' +
          'employee id, and the leaver cut-off deactivates the account (PATCH active=false), which signs the person ' +
          'out everywhere and stops their API tokens. Unset: the cut-off removes product access only.',
      ),
    deleteOnLeave: z
      .boolean()
      .default(false)
      .describe(
        "Allow the clean-up step 'delete' (DELETE /rest/api/3/user: removes the person from the Jira site; the " +
          'Atlassian account is kept). Deletion happens only when the revocation plan asks for it AND this is true, ' +
          'and never under legal hold or retain_account. Default false: issues, comments and history keep a live ' +
          'user reference.',
      ),
    emailDomain: z
      .string()
      .regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'a domain like example.com')
      .optional()
      .describe(
        'Domain for the address when HR sends no work email: first.last@emailDomain (must be the address people ' +
          'sign in to Atlassian with). Unset and no work email from HR: provisioning fails as Permanent.',
      ),
    listPageSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(100)
      .describe('Users per listAccounts page (GET /rest/api/3/users/search maxResults; Jira caps it at 1,000).'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Per-request timeout for Jira and SCIM calls; a timeout is a Transient error the job layer retries.'),
    rateLimits: z
      .record(z.string(), rateLimitSchema)
      .optional()
      .describe(
        'Override the paced limits per bucket (rateLimitBuckets in provisioners/jira/provisioner.ts: read, write, ' +
          'scim), e.g. { "write": { "perMinute": 1200, "burst": 20 } } when other scripts share the site\'s burst limit.',
      ),
  })
  .strict()

export type JiraConfig = z.output<typeof jiraConfigSchema>
export type JiraConfigInput = z.input<typeof jiraConfigSchema>
