/**
 * API endpoints for API tokens (admin only) and "who am I" (any role). The same operations as
 * `tenure tokens …` on the command line.
 */
import { z } from 'zod'
import { ApiError, notFound } from '../http/errors.ts'
import { decodeCursor, defineRoute, encodeCursor, pageOf, pageQuery, reply, timestamp } from '../http/routes.ts'
import { ROLES } from './roles.ts'
import { parseDuration } from './token-format.ts'
import { createApiToken, getApiToken, listApiTokens, revokeApiToken, tokenStatus, type ApiToken } from './tokens.ts'
import { labelNames } from '../api/actor-names.ts'
import type { Queryable } from '../db/pool.ts'

export const apiTokenSchema = z
  .object({
    id: z.uuid().describe('Recorded as the actor in the audit trail for everything done with this token.'),
    name: z.string(),
    role: z.enum(ROLES),
    prefix: z.string().describe('The first 16 characters of the token, to recognise it; not enough to use it.'),
    status: z.enum(['active', 'expired', 'revoked']),
    createdBy: z.string().describe('The actor that issued it: api_token:<id>, oidc:<sub>, system:cli:<user>, system:sandbox.'),
    createdByName: z.string().nullable().describe('Who issued it, by name (API token name, SSO name, CLI user); null: only the id is known.'),
    createdAt: timestamp,
    expiresAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
    revokedBy: z.string().nullable(),
    revokedByName: z.string().nullable(),
    lastUsedAt: timestamp.nullable().describe('Updated at most once a minute.'),
  })
  .meta({ id: 'ApiToken', description: 'An API token, without its secret.' })

/** tokenView for several tokens, with who issued and revoked them by name (one lookup). */
async function namedTokenViews(db: Queryable, tokens: ApiToken[], now: Date): Promise<Array<z.input<typeof apiTokenSchema>>> {
  const nameOf = await labelNames(db, tokens.flatMap((t) => [t.createdBy, t.revokedBy]))
  return tokens.map((t) => tokenView(t, now, nameOf))
}

export function tokenView(token: ApiToken, now: Date, nameOf: (label: string | null) => string | null = () => null): z.input<typeof apiTokenSchema> {
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    prefix: token.prefix,
    status: tokenStatus(token, now),
    createdBy: token.createdBy,
    createdByName: nameOf(token.createdBy),
    createdAt: token.createdAt.toISOString(),
    expiresAt: token.expiresAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
    revokedBy: token.revokedBy,
    revokedByName: nameOf(token.revokedBy),
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
  }
}

const tokenId = z.object({ id: z.uuid() })

const createTokenBody = z
  .object({
    name: z.string().trim().min(1).max(200).describe('What the token is for, e.g. "terraform" or "siem-export".'),
    role: z.enum(ROLES),
    expiresIn: z
      .string()
      .max(20)
      .refine((v) => {
        try {
          parseDuration(v)
          return true
        } catch {
          return false
        }
      }, 'a duration such as 30m, 12h, 90d, 2w, 1y')
      .optional()
      .describe('Lifetime from now (30m, 12h, 90d, 2w, 1y). Omit for a token that does not expire.'),
  })
  .strict()
  .meta({ id: 'CreateApiToken' })

export const createTokenRoute = defineRoute({
  method: 'post',
  path: '/api/v1/tokens',
  summary: 'Issue an API token',
  description: 'The response holds the token itself, once: Tenure stores only its SHA-256 and cannot show it again.',
  tags: ['tokens'],
  roles: ['admin'],
  request: { body: createTokenBody },
  responses: {
    201: {
      description: 'The token (shown once) and its record',
      schema: z.object({ token: z.string().describe('Send as `Authorization: Bearer <token>`. Store it in a secret manager now.'), apiToken: apiTokenSchema }),
    },
  },
  handler: async ({ body, actor, deps, req }) => {
    const now = deps.now()
    const expiresAt = body.expiresIn ? new Date(now.getTime() + parseDuration(body.expiresIn)) : null
    const created = await createApiToken(deps.pool, {
      name: body.name,
      role: body.role,
      expiresAt,
      createdBy: actor,
      now,
      correlationId: req.id ? String(req.id) : null,
    })
    return reply(201, { token: created.token, apiToken: (await namedTokenViews(deps.pool, [created.apiToken], now))[0]! }, { Location: `/api/v1/tokens/${created.apiToken.id}` })
  },
})

const cursorSchema = z.object({ c: z.iso.datetime(), i: z.uuid() })

export const listTokensRoute = defineRoute({
  method: 'get',
  path: '/api/v1/tokens',
  summary: 'List API tokens (never their secrets)',
  tags: ['tokens'],
  roles: ['admin'],
  request: {
    query: pageQuery().extend({
      includeRevoked: z
        .enum(['true', 'false'])
        .default('false')
        .transform((v) => v === 'true')
        .describe('Also list revoked tokens.'),
    }),
  },
  responses: { 200: { description: 'Newest first', schema: pageOf(apiTokenSchema) } },
  handler: async ({ query, deps }) => {
    const after = decodeCursor(query.cursor, cursorSchema)
    const now = deps.now()
    const page = await listApiTokens(deps.pool, {
      includeRevoked: query.includeRevoked,
      limit: query.limit,
      after: after ? { createdAt: new Date(after.c), id: after.i } : null,
      now,
    })
    return {
      items: await namedTokenViews(deps.pool, page.items, now),
      nextCursor: page.next ? encodeCursor({ c: page.next.createdAt.toISOString(), i: page.next.id }) : null,
    }
  },
})

export const getTokenRoute = defineRoute({
  method: 'get',
  path: '/api/v1/tokens/:id',
  summary: 'One API token (never its secret)',
  tags: ['tokens'],
  roles: ['admin'],
  request: { params: tokenId },
  responses: {
    200: { description: 'The token', schema: apiTokenSchema },
    404: { description: 'No token has this id' },
  },
  handler: async ({ params, deps }) => {
    const token = await getApiToken(deps.pool, params.id)
    if (!token) throw notFound(`API token ${params.id}`)
    return (await namedTokenViews(deps.pool, [token], deps.now()))[0]!
  },
})

export const revokeTokenRoute = defineRoute({
  method: 'delete',
  path: '/api/v1/tokens/:id',
  summary: 'Revoke an API token',
  description: 'Takes effect at once: the next request with the token is refused (401). Revoking a revoked token changes nothing and answers the same.',
  tags: ['tokens'],
  roles: ['admin'],
  request: { params: tokenId },
  responses: {
    200: { description: 'The revoked token', schema: apiTokenSchema },
    404: { description: 'No token has this id' },
  },
  handler: async ({ params, actor, deps, req }) => {
    const now = deps.now()
    const token = await revokeApiToken(deps.pool, params.id, { revokedBy: actor, now, correlationId: req.id ? String(req.id) : null })
    if (!token) throw notFound(`API token ${params.id}`)
    return (await namedTokenViews(deps.pool, [token], now))[0]!
  },
})

export const whoamiRoute = defineRoute({
  method: 'get',
  path: '/api/v1/whoami',
  summary: 'Who the credential belongs to, and its roles',
  description: 'A quick check that a token or SSO login works and what it may do.',
  tags: ['auth'],
  roles: ['approver', 'operator', 'auditor'],
  responses: {
    200: {
      description: 'The caller',
      schema: z
        .object({
          kind: z.enum(['api_token', 'oidc']),
          id: z.string().describe('The API token id, or the SSO subject (`sub`): the actor id in the audit trail.'),
          name: z.string().nullable(),
          email: z.string().nullable(),
          roles: z.array(z.enum(ROLES)),
        })
        .meta({ id: 'Principal' }),
    },
  },
  handler: async ({ principal }) => {
    if (principal.kind === 'hr_source') throw new ApiError(403, 'forbidden', 'an HR source may only deliver webhooks')
    return {
      kind: principal.kind,
      id: principal.id,
      name: principal.name,
      email: principal.kind === 'oidc' ? principal.email : null,
      roles: [...principal.roles],
    }
  },
})

export const AUTH_ROUTES = [createTokenRoute, listTokensRoute, getTokenRoute, revokeTokenRoute, whoamiRoute]
