/**
 * Atlassian's user provisioning (SCIM 2.0) API, plain fetch: jira.js 6 does not cover it.
 * https://developer.atlassian.com/cloud/admin/user-provisioning/rest/api-group-users/
 *
 * Only what the Jira provisioner needs: find a user by `externalId eq` / `userName eq` (the only
 * filters Atlassian supports, one exact match each), read one, create one, PATCH `active`.
 */
import { z } from 'zod'
import type { Secret } from '../../src/config/secret.ts'
import { parseRetryAfter } from '../errors.ts'
import { atlassianRequestId, deadline, networkError, type CallMeta } from './transport.ts'

export const SCIM_USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User'
export const SCIM_PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp'
export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error'
export const SCIM_LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse'
/** Atlassian's extension that links the directory record to the Atlassian account (the Jira accountId). */
export const ATLASSIAN_EXTENSION = 'urn:scim:schemas:extension:atlassian-external:1.0'

const scimUserSchema = z
  .object({
    id: z.string().min(1),
    userName: z.string().optional(),
    externalId: z.string().optional(),
    active: z.boolean().optional(),
    [ATLASSIAN_EXTENSION]: z.object({ atlassianAccountId: z.string().optional() }).loose().optional(),
  })
  .loose()

const listSchema = z
  .object({ totalResults: z.number().optional(), Resources: z.array(scimUserSchema).optional() })
  .loose()

const errorBodySchema = z
  .object({ detail: z.string().optional(), scimType: z.string().optional(), status: z.union([z.string(), z.number()]).optional() })
  .loose()

export interface ScimUser {
  id: string
  userName: string | undefined
  externalId: string | undefined
  /** Absent means active (SCIM's default). */
  active: boolean
  atlassianAccountId: string | undefined
}

function toUser(raw: z.infer<typeof scimUserSchema>): ScimUser {
  return {
    id: raw.id,
    userName: raw.userName,
    externalId: raw.externalId,
    active: raw.active !== false,
    atlassianAccountId: raw[ATLASSIAN_EXTENSION]?.atlassianAccountId,
  }
}

/** A non-2xx SCIM answer. The classifier maps it like any HTTP failure (status, scimType, Retry-After). */
export class ScimHttpError extends Error {
  readonly status: number
  readonly scimType: string | undefined
  readonly retryAfterMs: number | undefined
  constructor(message: string, status: number, scimType: string | undefined, retryAfterMs: number | undefined) {
    super(message)
    this.name = 'ScimHttpError'
    this.status = status
    this.scimType = scimType
    this.retryAfterMs = retryAfterMs
  }
}

/** SCIM filter string literal (RFC 7644 §3.4.2.2: a JSON string). */
export function scimEq(attribute: 'userName' | 'externalId', value: string): string {
  return `${attribute} eq ${JSON.stringify(value)}`
}

export interface NewScimUser {
  userName: string
  email: string
  externalId: string
  givenName: string
  familyName: string
  displayName: string
  title?: string
  department?: string
  active: boolean
}

export interface AtlassianScimClient {
  findOne(filter: string, signal: AbortSignal, meta: CallMeta): Promise<ScimUser | undefined>
  create(user: NewScimUser, signal: AbortSignal, meta: CallMeta): Promise<ScimUser>
  setActive(id: string, active: boolean, signal: AbortSignal, meta: CallMeta): Promise<ScimUser>
}

export function createAtlassianScimClient(options: { baseUrl: string; token: Secret; timeoutMs: number }): AtlassianScimClient {
  const base = options.baseUrl.replace(/\/+$/, '')

  async function send(
    method: string,
    path: string,
    query: Record<string, string> | undefined,
    body: unknown,
    signal: AbortSignal,
    meta: CallMeta,
  ): Promise<unknown> {
    const url = new URL(base + path)
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v)
    meta.method = method
    meta.path = url.pathname
    const limit = deadline(signal, options.timeoutMs)
    let response: Response
    let text: string
    try {
      response = await fetch(url, {
        method,
        headers: {
          Accept: 'application/scim+json, application/json',
          Authorization: `Bearer ${options.token.reveal()}`,
          ...(body === undefined ? {} : { 'Content-Type': 'application/scim+json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: limit.signal,
      })
      meta.status = response.status
      meta.requestId = atlassianRequestId(response.headers)
      text = await response.text()
    } catch (err) {
      throw networkError(err, `SCIM ${method} ${url.pathname}`, limit.timedOut(), options.timeoutMs)
    }
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : (JSON.parse(text) as unknown)
    } catch {
      parsed = undefined
    }
    if (!response.ok) {
      const err = errorBodySchema.safeParse(parsed)
      const detail = err.success ? err.data.detail : undefined
      throw new ScimHttpError(
        `SCIM ${method} ${url.pathname} failed: ${response.status}${detail ? ` - ${detail}` : ''}`,
        response.status,
        err.success ? err.data.scimType : undefined,
        parseRetryAfter(response.headers.get('retry-after')),
      )
    }
    return parsed
  }

  function parseUser(body: unknown, what: string): ScimUser {
    const parsed = scimUserSchema.safeParse(body)
    if (!parsed.success) throw new ScimHttpError(`SCIM ${what} answered with an unexpected body`, 502, 'invalidResponse', undefined)
    return toUser(parsed.data)
  }

  return {
    async findOne(filter, signal, meta) {
      const body = await send('GET', '/Users', { filter, startIndex: '1', count: '2' }, undefined, signal, meta)
      const parsed = listSchema.safeParse(body)
      if (!parsed.success) throw new ScimHttpError('SCIM list answered with an unexpected body', 502, 'invalidResponse', undefined)
      const first = parsed.data.Resources?.[0]
      return first ? toUser(first) : undefined
    },
    async create(user, signal, meta) {
      const body = await send(
        'POST',
        '/Users',
        undefined,
        {
          schemas: [SCIM_USER_SCHEMA],
          userName: user.userName,
          emails: [{ value: user.email, type: 'work', primary: true }],
          name: { givenName: user.givenName, familyName: user.familyName },
          displayName: user.displayName,
          externalId: user.externalId,
          ...(user.title ? { title: user.title } : {}),
          ...(user.department ? { department: user.department } : {}),
          active: user.active,
        },
        signal,
        meta,
      )
      return parseUser(body, 'create')
    },
    async setActive(id, active, signal, meta) {
      const body = await send(
        'PATCH',
        `/Users/${encodeURIComponent(id)}`,
        undefined,
        { schemas: [SCIM_PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: active }] },
        signal,
        meta,
      )
      return parseUser(body, 'patch')
    },
  }
}
