/**
 * The `google` block of Tenure's config file: how to reach Google Workspace's Admin SDK
 * (Directory API and Data Transfer API) as a service account with domain-wide delegation, and
 * the joiner/leaver policy switches. Every key is described; the descriptions are the reference
 * in docs/systems/google.md.
 */
import { z } from 'zod'
import { secretSchema } from '../../src/config/secret.ts'

export const GOOGLE_API_ROOT = 'https://admin.googleapis.com/'
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token'

/**
 * OAuth scopes the service account requests, each with the reason it is needed. The Workspace
 * admin must authorise exactly these client-scope pairs under Security → API controls →
 * Domain-wide delegation, or the token endpoint answers 401 `unauthorized_client` for the whole
 * grant. https://developers.google.com/workspace/admin/directory/v1/guides/delegation
 */
export const GOOGLE_SCOPES = {
  /** users.insert/get/list/update/delete: create joiners, suspend, move org unit, delete leavers. */
  user: 'https://www.googleapis.com/auth/admin.directory.user',
  /**
   * users.signOut, tokens.list/delete, asps.list/delete, verificationCodes.invalidate: the
   * security cut-off. admin.directory.user does NOT cover these methods.
   */
  userSecurity: 'https://www.googleapis.com/auth/admin.directory.user.security',
  /** members.insert/delete and groups.list?userKey=: group access for joiners, movers, leavers. */
  groupMember: 'https://www.googleapis.com/auth/admin.directory.group.member',
  /**
   * groups.list?userKey= is documented under the group scopes; the read-only group scope lets
   * the leaver step find hand-added groups without the right to create or delete groups.
   */
  groupReadonly: 'https://www.googleapis.com/auth/admin.directory.group.readonly',
  /** applications.list, transfers.list/insert: hand a leaver's Drive to the manager. */
  dataTransfer: 'https://www.googleapis.com/auth/admin.datatransfer',
} as const

const rateLimitSpecSchema = z
  .object({
    perMinute: z.number().positive().describe('Tokens added per minute'),
    burst: z.number().int().positive().describe('Bucket size: how many calls may go out back to back (token buckets)'),
    window: z
      .enum(['token-bucket', 'sliding-minute'])
      .optional()
      .describe('How perMinute is counted: "sliding-minute" (at most perMinute calls in any 60 s; the default for "directory") or "token-bucket"; absent: the bucket\'s default'),
  })
  .strict()

const orgUnitPath = z
  .string()
  .regex(/^\/.*$/, 'an org unit path starting with "/", e.g. "/Staff/Engineering"')

export const googleConfigSchema = z
  .object({
    domain: z
      .string()
      .min(3)
      .regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'a DNS domain, e.g. example.com')
      .describe('Primary domain for new accounts; {domain} in primaryEmailPattern'),
    customerId: z
      .string()
      .min(1)
      .default('my_customer')
      .describe('Workspace customer id for users.list/applications.list; "my_customer" means the admin\'s own account'),
    adminSubject: z
      .email()
      .describe('The super-admin (or delegated admin) the service account impersonates: the JWT "sub" claim'),
    serviceAccount: z
      .object({
        clientEmail: z.email().describe('The service account\'s email (client_email in its JSON key)'),
        privateKey: secretSchema.describe(
          'The service account\'s PEM private key (private_key in its JSON key); literal "\\n" sequences are accepted',
        ),
        privateKeyId: z
          .string()
          .optional()
          .describe('private_key_id from the JSON key; sent as the JWT "kid" header so Google picks the right key'),
      })
      .strict()
      .describe('Service account with domain-wide delegation (JWT bearer grant, RFC 7523)'),
    apiBaseUrl: z
      .url()
      .default(GOOGLE_API_ROOT)
      .describe('Root URL of the Admin SDK (Directory and Data Transfer APIs); the emulator\'s URL in the sandbox'),
    tokenUrl: z
      .url()
      .default(GOOGLE_TOKEN_URL)
      .describe('OAuth 2.0 token endpoint for the JWT bearer grant; also the JWT "aud" claim'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Per-request timeout in ms; a timeout is a transient failure the job layer retries'),
    rateLimits: z
      .record(z.string(), rateLimitSpecSchema)
      .optional()
      .describe('Override limiter buckets ("directory", "token") with { perMinute, burst, window? }, e.g. after a quota raise; the bucket keeps its default window unless one is given'),
    primaryEmailPattern: z
      .string()
      .regex(/@/, 'must contain "@"')
      .default('{first}.{last}@{domain}')
      .describe(
        'Primary address for joiners. Placeholders: {first}, {last}, {firstInitial}, {lastInitial}, {employeeId}, {domain}; names are lower-cased and folded to ASCII',
      ),
    emailCollision: z
      .object({
        strategy: z
          .enum(['append_number', 'fail'])
          .default('append_number')
          .describe('When the address belongs to someone else: append 2, 3, ... to the local part, or fail'),
        maxAttempts: z
          .number()
          .int()
          .min(1)
          .max(50)
          .default(9)
          .describe('How many addresses to try before failing'),
      })
      .strict()
      .prefault({})
      .describe('What to do when the derived primary address is taken'),
    useHrWorkEmail: z
      .boolean()
      .default(true)
      .describe('Use the work email HR holds (when it is in domain) as the primary address instead of the pattern'),
    defaultOrgUnit: orgUnitPath
      .default('/')
      .describe('Org unit for joiners when the access grant names none'),
    leaversOrgUnit: orgUnitPath
      .optional()
      .describe('Org unit the move_org_unit leaver step moves suspended users to (a plan option overrides it)'),
    transferDriveToManager: z
      .boolean()
      .default(false)
      .describe('Allow the transfer_data leaver step: hand Drive ownership to the manager (needs admin.datatransfer)'),
    drivePrivacyLevels: z
      .array(z.enum(['PRIVATE', 'SHARED']))
      .min(1)
      .default(['PRIVATE', 'SHARED'])
      .describe('Which Drive files transfer: PRIVATE (owned, not shared), SHARED (owned and shared)'),
    deleteOnLeave: z
      .boolean()
      .default(false)
      .describe('Allow the delete leaver step. Off by default: Google only restores deleted users for 20 days'),
    listPageSize: z
      .number()
      .int()
      .min(1)
      .max(500)
      .default(100)
      .describe('users.list maxResults for reconciliation pages (Google allows at most 500)'),
  })
  .strict()

export type GoogleConfig = z.output<typeof googleConfigSchema>
export type GoogleConfigInput = z.input<typeof googleConfigSchema>

/** Scopes requested for a config: the Data Transfer scope only when transfers are allowed. */
export function scopesFor(config: Pick<GoogleConfig, 'transferDriveToManager'>): string[] {
  const scopes: string[] = [GOOGLE_SCOPES.user, GOOGLE_SCOPES.userSecurity, GOOGLE_SCOPES.groupMember, GOOGLE_SCOPES.groupReadonly]
  if (config.transferDriveToManager) scopes.push(GOOGLE_SCOPES.dataTransfer)
  return scopes
}
