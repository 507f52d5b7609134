/**
 * The `entra` block of Tenure's config file: Microsoft Entra ID (Azure AD) and Microsoft 365
 * through Microsoft Graph with app-only (client-credentials) auth. Every key carries a
 * description because the schema is the documentation (docs/systems/entra.md mirrors it).
 */
import { z } from 'zod'
import { secretSchema } from '../../src/config/secret.ts'

export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Placeholders `userPrincipalNamePattern` understands (see `deriveUserPrincipalName`). */
export const UPN_PLACEHOLDERS = ['first', 'last', 'firstInitial', 'lastInitial', 'employeeId', 'domain'] as const

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

/**
 * Tokens and the client secret must never cross a network in clear text. Plain http is allowed
 * only for loopback hosts, which is where the emulator (tests, sandbox) listens.
 */
const secureUrl = (what: string) =>
  z.url().refine(
    (value) => {
      const url = new URL(value)
      return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))
    },
    { message: `${what} must use https (plain http only for 127.0.0.1/localhost)` },
  )

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase())
}

const rateLimitSpecSchema = z
  .object({
    perMinute: z.number().positive().describe('Tokens added to the bucket per minute'),
    burst: z.number().int().positive().describe('Bucket size: how many calls may go at once after a quiet spell'),
  })
  .strict()

const upnPatternSchema = z
  .string()
  .min(3)
  .refine((p) => /^[^@]+@[^@]+$/.test(p), { message: 'must contain exactly one @' })
  .refine(
    (p) => [...p.matchAll(/\{([^}]*)\}/g)].every((m) => (UPN_PLACEHOLDERS as readonly string[]).includes(m[1] ?? '')),
    { message: `unknown placeholder; allowed: ${UPN_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}` },
  )

export const entraConfigSchema = z
  .object({
    tenantId: z
      .string()
      .min(1)
      .describe(
        'Directory (tenant) ID of the Microsoft Entra tenant (a GUID; a verified domain such as contoso.com also works). ' +
          'Entra admin center → Overview → Tenant ID.',
      ),
    clientId: z
      .string()
      .regex(GUID_PATTERN, 'an application (client) ID GUID')
      .describe('Application (client) ID of the app registration Tenure authenticates as (app-only, client credentials).'),
    clientSecret: secretSchema.describe(
      'Client secret VALUE (not its ID) of the app registration: { "env": "ENTRA_CLIENT_SECRET" } or { "file": "/run/secrets/entra" }.',
    ),
    domain: z
      .string()
      .regex(/^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, 'a DNS domain name')
      .describe('Verified domain used for new users\' userPrincipalName, e.g. contoso.com. Must be verified in the tenant.'),
    userPrincipalNamePattern: upnPatternSchema
      .default('{first}.{last}@{domain}')
      .describe(
        'How a new user\'s userPrincipalName is built. Placeholders: {first}, {last}, {firstInitial}, {lastInitial}, ' +
          '{employeeId}, {domain}. Names are lower-cased and transliterated to ASCII (José Müller → jose.muller, Łukasz → lukasz). ' +
          'The part before @ also becomes mailNickname.',
      ),
    identityKeyAttribute: z
      .enum(Array.from({ length: 15 }, (_, i) => `extensionAttribute${i + 1}`) as [string, ...string[]])
      .default('extensionAttribute15')
      .describe(
        'Which of the 15 onPremisesExtensionAttributes holds the full identity key (the HR id, or <source>:<id> when two ' +
          'HR sources share an id; up to 200 characters; Graph stores up to 1024). Tenure finds accounts by it. employeeId ' +
          'also gets the key when it fits (at most 16 characters). Pick an attribute nothing else in the tenant writes.',
      ),
    defaultUsageLocation: z
      .string()
      .regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code in upper case, e.g. DE')
      .optional()
      .describe(
        'usageLocation for users whose HR profile has no countryCode. Graph refuses to assign licences to a user without one.',
      ),
    licences: z
      .record(z.string().min(1), z.string().regex(GUID_PATTERN, 'a skuId GUID'))
      .default({})
      .describe(
        'Licence names used in access policies → Microsoft skuId, e.g. { "Microsoft 365 E3": "05e9a617-0261-4cee-bb44-138d3ef5d965" }. ' +
          'List the tenant\'s SKUs with GET /v1.0/subscribedSkus.',
      ),
    mailboxLicenceSkus: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Licences that carry the Exchange Online mailbox (names from `licences` or skuId GUIDs). When a leaver\'s plan has ' +
          'the approved keepMailbox exception these stay assigned so the mailbox is retained; everything else is removed.',
      ),
    deleteOnLeave: z
      .boolean()
      .default(false)
      .describe(
        'Allow the `delete` clean-up step to soft-delete the user (restorable for 30 days). Off by default: a disabled, ' +
          'stripped account keeps audit history; legal hold, retain-account and keep-mailbox exceptions always prevent deletion.',
      ),
    removeEligibleRoles: z
      .boolean()
      .default(true)
      .describe(
        'Also remove PIM-eligible directory role assignments when roles are removed (needs Microsoft Entra ID P2 or ' +
          'Governance). Set false on tenants without PIM, where the eligibility API answers with an error.',
      ),
    baseUrl: secureUrl('baseUrl')
      .default('https://graph.microsoft.com')
      .describe(
        'Microsoft Graph root without the version, e.g. https://graph.microsoft.com or https://graph.microsoft.us. ' +
          'Tests and the sandbox point it at the emulator.',
      ),
    authorityHost: secureUrl('authorityHost')
      .default('https://login.microsoftonline.com')
      .describe(
        'Microsoft identity platform host for the token endpoint ({authorityHost}/{tenantId}/oauth2/v2.0/token), e.g. ' +
          'https://login.microsoftonline.us for US Government.',
      ),
    scope: z
      .string()
      .regex(/\/\.default$/, 'client credentials need a resource/.default scope')
      .default('https://graph.microsoft.com/.default')
      .describe('OAuth scope requested with client credentials; the permissions come from the app\'s admin-consented roles.'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Per-request timeout in milliseconds, token requests included. A timeout is reported as Transient.'),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(999)
      .default(100)
      .describe('Users per page when listing accounts for reconciliation ($top; Graph allows 1–999).'),
    rateLimits: z
      .record(z.string(), rateLimitSpecSchema)
      .optional()
      .describe(
        'Override the pacing buckets (read = resource units, write = identity writes, token = token endpoint), e.g. ' +
          '{ "read": { "perMinute": 21000, "burst": 3500 } } for a tenant under 50 users.',
      ),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const [index, entry] of config.mailboxLicenceSkus.entries()) {
      if (!GUID_PATTERN.test(entry) && !(entry in config.licences)) {
        ctx.addIssue({
          code: 'custom',
          path: ['mailboxLicenceSkus', index],
          message: `"${entry}" is neither a skuId GUID nor a name in licences`,
        })
      }
    }
  })
  .describe('Microsoft Entra ID / Microsoft 365 through Microsoft Graph (app-only)')

export type EntraConfig = z.output<typeof entraConfigSchema>
export type EntraConfigInput = z.input<typeof entraConfigSchema>
