/**
 * The `auth` configuration section: OpenID Connect single sign-on and the API's rate limits.
 * API tokens need no configuration (they live in the database, managed with `tenure tokens`).
 */
import { z } from 'zod'

/** Asymmetric JWS algorithms only: `none` and the HMAC family (HS*) cannot be configured at all. */
export const OIDC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

/** https, or plain http on the loopback interface only (a local identity provider in development). */
const secureUrl = z.url().refine((value) => {
  const url = new URL(value)
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))
}, 'must be an https:// URL (http:// is accepted only for 127.0.0.1 / localhost)')

const groupList = z.array(z.string().min(1)).default([])

export const oidcConfigSchema = z
  .object({
    issuer: secureUrl.describe(
      'The OpenID Connect issuer, exactly as the `iss` claim of its tokens (e.g. https://login.example.com/realms/acme). Its discovery document is read from <issuer>/.well-known/openid-configuration.',
    ),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe('Accepted `aud` values: the identifier your identity provider puts in access tokens meant for Tenure.'),
    jwksUrl: secureUrl
      .optional()
      .describe('Where the signing keys are published. Unset: the `jwks_uri` of the discovery document.'),
    algorithms: z
      .array(z.enum(OIDC_ALGORITHMS))
      .min(1)
      .default(['RS256', 'ES256'])
      .describe('Accepted signature algorithms. Asymmetric only: `none` and HS256/384/512 are refused by design.'),
    rolesClaim: z
      .string()
      .min(1)
      .default('roles')
      .describe(
        'Claim holding the user\'s groups or roles: a top-level name, or a dotted path such as `realm_access.roles` (Keycloak). A list of strings, or one space-separated string.',
      ),
    roleMapping: z
      .object({
        admin: groupList.describe('Claim values that grant `admin`.'),
        approver: groupList.describe('Claim values that grant `approver`.'),
        operator: groupList.describe('Claim values that grant `operator`.'),
        auditor: groupList.describe('Claim values that grant `auditor`.'),
      })
      .strict()
      .prefault({})
      .describe('Tenure role → the claim values (IdP groups or roles) that grant it. A user with no mapped value is authenticated but may call nothing (403).'),
    clockToleranceSeconds: z
      .number()
      .int()
      .min(0)
      .max(300)
      .default(30)
      .describe('Allowed clock skew when checking `exp`, `nbf` and `iat`.'),
    jwksCooldownSeconds: z
      .number()
      .min(0)
      .default(30)
      .describe('After fetching the keys, a token with an unknown `kid` triggers another fetch only once this much time has passed (protects the IdP from a flood of forged kids).'),
    jwksCacheMaxAgeSeconds: z
      .number()
      .positive()
      .default(600)
      .describe('Keys are fetched again after this long even when every `kid` is known (picks up revoked keys).'),
    requestTimeoutMs: z.number().int().positive().default(5000).describe('Timeout for discovery and key requests to the identity provider.'),
  })
  .strict()

export const rateLimitConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Rate-limit the API (/api) and the webhooks limiter. Turn off only behind a gateway that limits already.'),
    perIpPerMinute: z.number().int().min(1).default(600).describe('Requests per client IP per minute on /api (set server.trustProxy behind a proxy, or every client shares one IP).'),
    perCredentialPerMinute: z
      .number()
      .int()
      .min(1)
      .default(600)
      .describe('Requests per API token or SSO user per minute on /api, whatever IP they come from.'),
    failedAuthPerIpPerMinute: z
      .number()
      .int()
      .min(1)
      .default(30)
      .describe('Requests answered 401 per client IP per minute on /api; beyond it the IP gets 429 until the minute is over.'),
    webhooksPerIpPerMinute: z.number().int().min(1).default(1200).describe('Requests per client IP per minute on /webhooks.'),
  })
  .strict()

export const authConfigSchema = z
  .object({
    oidc: oidcConfigSchema.optional().describe('Single sign-on with bearer JWTs from an OpenID Connect provider. Unset: only API tokens are accepted.'),
    rateLimit: rateLimitConfigSchema.prefault({}).describe('Rate limits; answered with 429 and Retry-After.'),
  })
  .strict()

export type AuthConfig = z.output<typeof authConfigSchema>
export type OidcConfig = z.output<typeof oidcConfigSchema>
export type RateLimitConfig = z.output<typeof rateLimitConfigSchema>
