/**
 * Access control: roles and principals, API tokens, OIDC single sign-on, and the HTTP hardening
 * in front of the API. docs/security.md explains the model; docs/api.md shows how to call.
 */
export { ROLES, ROLE_DESCRIPTIONS, actorOf, admittedRoles, hrSourcePrincipal, isAllowed, isRole } from './roles.ts'
export type { Actor, ApiTokenPrincipal, HrSourcePrincipal, OidcPrincipal, Principal, PrincipalKind, Role, RouteAccess } from './roles.ts'
export { authConfigSchema, oidcConfigSchema, rateLimitConfigSchema, OIDC_ALGORITHMS } from './config.ts'
export type { AuthConfig, OidcConfig, RateLimitConfig } from './config.ts'
export { createAuthenticator, principalOf, requirePrincipal, resolvePrincipal, setPrincipal, type Authenticator, type AuthenticatorDeps } from './authenticate.ts'
export { createOidcVerifier, type OidcVerifier } from './oidc.ts'
export { missingCredentials, unauthorized, forbidden } from './errors.ts'
export { TOKEN_PATTERN, generateToken, parseToken, hashToken, parseDuration } from './token-format.ts'
export { createApiToken, revokeApiToken, listApiTokens, getApiToken, tokenStatus, type ApiToken, type CreatedToken, type TokenActor } from './tokens.ts'
export { securityMiddleware, webhookRateLimiter, bodyLimitGuard, type SecurityOptions } from './security.ts'
export { requireRoles } from './require-roles.ts'
export { ensureSandboxTokens, SANDBOX_TOKENS_FILE, type SandboxToken, type SandboxTokenOptions } from './sandbox.ts'
export { AUTH_ROUTES } from './routes.ts'
