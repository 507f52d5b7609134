/**
 * Configuration of generic SCIM 2.0 applications (RFC 7643 / RFC 7644). Every application is
 * one entry of the `scim` list and becomes its own system `scim:<name>` with its own limiter
 * buckets, so one slow or throttling app never paces another.
 *
 * SCIM servers differ in what they implement (PATCH or only PUT, filters or not, ETags or not,
 * the casing they accept), so those differences are configuration (`quirks`), not code.
 */
import { z } from 'zod'
import { secretSchema } from '../../src/config/secret.ts'

/** Profile fields a template may reference, plus `fullName` (first and last name). */
export const TEMPLATE_FIELDS = [
  'employeeId',
  'firstName',
  'lastName',
  'fullName',
  'displayName',
  'workEmail',
  'personalEmail',
  'department',
  'title',
  'location',
  'employmentType',
  'costCenter',
  'managerId',
  'managerEmail',
  'timeZone',
  'countryCode',
] as const
export type TemplateField = (typeof TEMPLATE_FIELDS)[number]

const PLACEHOLDER = /\{([^{}]*)\}/g
const MODIFIERS = ['lower', 'upper'] as const

/** Checks one template; returns a problem description or undefined. */
export function templateProblem(template: string): string | undefined {
  for (const match of template.matchAll(PLACEHOLDER)) {
    const [fields, modifier] = (match[1] ?? '').split(':')
    if (modifier !== undefined && !(MODIFIERS as readonly string[]).includes(modifier)) {
      return `unknown modifier ":${modifier}" in ${match[0]} (use :lower or :upper)`
    }
    for (const field of (fields ?? '').split('|')) {
      if (!(TEMPLATE_FIELDS as readonly string[]).includes(field)) {
        return `unknown profile field "${field}" in ${match[0]}; known: ${TEMPLATE_FIELDS.join(', ')}`
      }
    }
  }
  return undefined
}

const template = (what: string, fallback: string) =>
  z
    .string()
    .max(500)
    .superRefine((value, ctx) => {
      const problem = templateProblem(value)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    })
    .default(fallback)
    .describe(
      `Template for ${what}. {field} inserts an HR profile field, {a|b} the first one present, ` +
        `{field:lower} lower-cases it. An empty result leaves the attribute out. Default "${fallback}".`,
    )

/** Attributes Tenure can send besides `userName` (always sent, RFC 7643 §4.1.1 makes it REQUIRED). */
export const SCIM_SENDABLE_ATTRIBUTES = [
  'externalId',
  'name',
  'displayName',
  'emails',
  'active',
  'title',
  'employeeNumber',
  'department',
  'costCenter',
  'manager',
] as const
export type ScimSendableAttribute = (typeof SCIM_SENDABLE_ATTRIBUTES)[number]

export const attributeMappingSchema = z
  .object({
    userName: template('userName (the login at the app; must be unique there)', '{workEmail}'),
    givenName: template('name.givenName', '{firstName}'),
    familyName: template('name.familyName', '{lastName}'),
    displayName: template('displayName', '{displayName|fullName}'),
    email: template('the work email (emails[type=work, primary=true].value)', '{workEmail}'),
    title: template('title', '{title}'),
    employeeNumber: template('the enterprise extension employeeNumber', '{employeeId}'),
    department: template('the enterprise extension department', '{department}'),
    costCenter: template('the enterprise extension costCenter', '{costCenter}'),
    send: z
      .array(z.enum(SCIM_SENDABLE_ATTRIBUTES))
      .default([...SCIM_SENDABLE_ATTRIBUTES])
      .describe(
        'Which attributes are sent on create, besides userName. externalId is always the HR employee id and is ' +
          'how Tenure finds the account again, so leave it in unless the app rejects it. "manager" sets the ' +
          "enterprise manager.value to the manager's id at the app (one extra lookup by the manager's externalId). " +
          'Leave out "active" only for apps without it (then accounts cannot be created disabled).',
      ),
    groupsBy: z
      .enum(['displayName', 'id'])
      .default('displayName')
      .describe(
        'How policy group names map to SCIM Groups: "displayName" looks the group up by its displayName (cached ' +
          'per process), "id" takes the policy value as the SCIM Group id.',
      ),
  })
  .strict()
  .describe('How HR profile fields become SCIM User attributes (RFC 7643 §4.1 and §4.3).')

const quirksSchema = z
  .object({
    updateMethod: z
      .enum(['patch', 'put'])
      .optional()
      .describe(
        'How Users are changed. "patch": PATCH with a PatchOp (RFC 7644 §3.5.2). "put": the app only supports ' +
          'replacing the whole resource, so Tenure reads the User back first and PUTs it with the change (§3.5.1). ' +
          'Unset: "put" when the app\'s ServiceProviderConfig says patch.supported=false, else "patch".',
      ),
    filterSupported: z
      .boolean()
      .optional()
      .describe(
        'Whether GET /Users?filter=... works (RFC 7644 §3.4.2.2). When false, Tenure pages through /Users and matches ' +
          'externalId / userName itself: correct but one call per page, so keep it true where the app supports eq. ' +
          'Unset: what ServiceProviderConfig filter.supported says, else true. A filter the app refuses anyway ' +
          '(400 invalidFilter, e.g. members.value eq on an eq-only server) falls back to paging and is remembered.',
      ),
    etag: z
      .boolean()
      .optional()
      .describe(
        'Send If-Match with the ETag (or meta.version) last read (RFC 7644 §3.14). On 412 Tenure reads the resource ' +
          'once more and repeats the write once as part of the same operation; a second 412 is a Conflict for the ' +
          'job layer to retry. Unset: what ServiceProviderConfig etag.supported says, else false.',
      ),
    patchOpCase: z
      .enum(['lower', 'capitalized'])
      .default('lower')
      .describe('Spelling of PatchOp "op": "replace" (RFC) or "Replace" (what Entra ID sends; some apps only accept it).'),
    patchValueStyle: z
      .enum(['path', 'valueObject'])
      .default('path')
      .describe(
        'Shape of add/replace operations: {"path":"active","value":false} or {"value":{"active":false}}. Removes ' +
          'always use a path (members[value eq "id"]), as RFC 7644 §3.5.2.2 requires.',
      ),
    attributeNameCase: z
      .enum(['canonical', 'lower'])
      .default('canonical')
      .describe(
        'JSON key spelling sent: "canonical" is RFC 7643 camelCase (userName), "lower" lower-cases every key for apps ' +
          'that match keys literally. Responses are always read case-insensitively (RFC 7643 §2.1).',
      ),
    groupMembership: z
      .enum(['patch_group', 'put_group', 'none'])
      .optional()
      .describe(
        'How group membership changes: PATCH on the Group (add members / remove members[value eq "id"]), read-modify-' +
          'PUT of the whole Group for PUT-only apps, or "none" when the app does not manage groups over SCIM. ' +
          'Unset: "put_group" when ServiceProviderConfig says patch.supported=false, else "patch_group".',
      ),
    groupsOnUser: z
      .boolean()
      .optional()
      .describe(
        "Whether the app returns the read-only User.groups attribute (optional, RFC 7643 §4.1.2). When false, or when " +
          "a User comes back without it, Tenure finds a user's groups by searching Groups (filter members.value eq, or " +
          'paging through all Groups) and always reads the members of every group Tenure granted. Unset: whether the ' +
          "app's User schema at /Schemas lists groups, else true.",
      ),
    deactivateWith: z
      .enum(['patch_active', 'delete'])
      .default('patch_active')
      .describe(
        'How the cut-off disables an account: set active=false (by PATCH or PUT per updateMethod), or DELETE for ' +
          'apps without an active attribute. DELETE is refused under a legal hold or retain-account exception.',
      ),
    contentType: z
      .enum(['application/scim+json', 'application/json'])
      .default('application/scim+json')
      .describe('Content-Type of request bodies; RFC 7644 §3.1 says application/scim+json, a few apps want application/json.'),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(100)
      .describe('count per page when listing or scanning; servers may return fewer (their filter.maxResults).'),
  })
  .strict()
  .describe(
    'What this app implements of SCIM 2.0. Tenure reads the app\'s /ServiceProviderConfig, /Schemas and /ResourceTypes ' +
      '(RFC 7644 §4) once an hour and fills in what is left unset here; what is set here always wins.',
  )

const rateLimitSpecSchema = z
  .object({
    perMinute: z.number().positive().describe('Tokens added per minute.'),
    burst: z.number().int().positive().describe('Bucket size: calls allowed at once after a quiet period.'),
  })
  .strict()

/** http is only accepted for loopback (the emulator); anything else must be https (OWASP API7, SSRF). */
const endpointUrl = (what: string) =>
  z
    .url({ protocol: /^https?$/ })
    .refine(
      (value) => {
        const url = new URL(value)
        return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
      },
      { message: 'must be https (http is only allowed for 127.0.0.1/localhost)' },
    )
    .describe(what)

const bearerAuthSchema = z
  .object({
    type: z.literal('bearer').describe('A long-lived API token the app issued for provisioning.'),
    token: secretSchema.describe('The bearer token, e.g. { "env": "SCIM_ACME_TOKEN" }.'),
  })
  .strict()

const oauthAuthSchema = z
  .object({
    type: z.literal('oauth_client_credentials').describe('OAuth 2.0 client credentials grant (RFC 6749 §4.4).'),
    tokenUrl: endpointUrl('The app\'s OAuth token endpoint.'),
    clientId: z.string().min(1).describe('OAuth client id.'),
    clientSecret: secretSchema.describe('OAuth client secret, e.g. { "env": "SCIM_ACME_CLIENT_SECRET" }.'),
    scope: z.string().min(1).optional().describe('Space-separated scopes to request, when the app wants any.'),
    clientAuth: z
      .enum(['client_secret_basic', 'client_secret_post'])
      .default('client_secret_basic')
      .describe('How the client authenticates at the token endpoint (RFC 6749 §2.3.1): HTTP Basic (default) or form fields.'),
  })
  .strict()

export const scimAppConfigSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, "-" and "_"')
      .describe('Short name; the system id becomes scim:<name> (used in policies, jobs and audit rows).'),
    baseUrl: endpointUrl(
      'SCIM base URL without a trailing resource, e.g. https://api.example.com/scim/v2; Tenure appends /Users and /Groups.',
    ),
    auth: z.discriminatedUnion('type', [bearerAuthSchema, oauthAuthSchema]).describe('How Tenure authenticates to the app.'),
    attributeMapping: attributeMappingSchema.prefault({}),
    quirks: quirksSchema.prefault({}),
    rateLimits: z
      .partialRecord(z.enum(['requests', 'read', 'write', 'token']), rateLimitSpecSchema)
      .optional()
      .describe(
        'Limiter buckets: requests (every request to the app; default 600/min, burst 100), read (GET) and write (POST/PUT/PATCH/DELETE) on top of it (unpaced unless set), token (OAuth token requests). ' +
          'SCIM defines no limit, so set these to what the app publishes: an overall limit in requests, separate read or write limits in read and write.',
      ),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .max(300_000)
      .default(30_000)
      .describe('Per-request timeout in ms; a request that takes longer is abandoned and counts as Transient.'),
    requestIdHeaders: z
      .array(z.string().min(1))
      .default(['x-request-id', 'request-id', 'x-correlation-id', 'x-amzn-requestid'])
      .describe('Response headers that may carry the app\'s request id, kept as evidence; the first present wins.'),
  })
  .strict()
  .describe('One SCIM 2.0 application.')

export const scimConfigSchema = z
  .array(scimAppConfigSchema)
  .superRefine((apps, ctx) => {
    const seen = new Set<string>()
    apps.forEach((app, index) => {
      if (seen.has(app.name)) ctx.addIssue({ code: 'custom', message: `duplicate SCIM app name "${app.name}"`, path: [index, 'name'] })
      seen.add(app.name)
    })
  })
  .default([])
  .describe('SCIM 2.0 applications; each is its own system scim:<name>.')

export type ScimAppConfig = z.output<typeof scimAppConfigSchema>
export type ScimAppConfigInput = z.input<typeof scimAppConfigSchema>
export type ScimConfig = z.output<typeof scimConfigSchema>
export type ScimConfigInput = z.input<typeof scimConfigSchema>
export type ScimQuirks = ScimAppConfig['quirks']
export type ScimAttributeMapping = ScimAppConfig['attributeMapping']
