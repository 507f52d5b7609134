/**
 * Atlassian's user provisioning (SCIM 2.0) API through the SCIM core client with Atlassian's
 * dialect (provisioners/scim-core/dialect.ts ATLASSIAN_DIALECT); jira.js 6 does not cover it.
 * https://developer.atlassian.com/cloud/admin/user-provisioning/rest/api-group-users/
 *
 * Only what the Jira provisioner needs: find a user by `externalId eq` / `userName eq` (the only
 * filters Atlassian supports, one exact match each), create one, PATCH `active`. The transport
 * below is the plain fetch; the Jira provisioner's `call` wrapper paces, records and classifies.
 */
import { z } from 'zod'
import type { Secret } from '../../src/config/secret.ts'
import { parseRetryAfter } from '../errors.ts'
import { readScimError, resourcePath, ScimCoreClient, type ScimTransport } from '../scim-core/client.ts'
import { ATLASSIAN_DIALECT } from '../scim-core/dialect.ts'
import { filterEq } from '../scim-core/filter.ts'
import { SCHEMA } from '../scim-core/schemas.ts'
import { atlassianRequestId, deadline, networkError, type CallMeta } from './transport.ts'

const scimUserSchema = z
  .object({
    id: z.string().min(1),
    userName: z.string().optional(),
    externalId: z.string().optional(),
    active: z.boolean().optional(),
    [SCHEMA.atlassianExternal]: z.object({ atlassianAccountId: z.string().optional() }).loose().optional(),
  })
  .loose()

const listSchema = z
  .object({ totalResults: z.number().optional(), Resources: z.array(scimUserSchema).optional() })
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
    atlassianAccountId: raw[SCHEMA.atlassianExternal]?.atlassianAccountId,
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

/** An exact match on one of the two attributes Atlassian filters on, escaped per RFC 7644 §3.4.2.2. */
export function scimEq(attribute: 'userName' | 'externalId', value: string): string {
  return filterEq(attribute, value)
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

interface Call {
  signal: AbortSignal
  meta: CallMeta
}

export function createAtlassianScimClient(options: { baseUrl: string; token: Secret; timeoutMs: number }): AtlassianScimClient {
  const base = options.baseUrl.replace(/\/+$/, '')

  const send: ScimTransport<Call> = async ({ signal, meta }, req) => {
    const url = new URL(base + req.path)
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    meta.method = req.method
    meta.path = url.pathname
    const limit = deadline(signal, options.timeoutMs)
    let response: Response
    let text: string
    try {
      response = await fetch(url, {
        method: req.method,
        headers: { ...req.headers, Authorization: `Bearer ${options.token.reveal()}` },
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: limit.signal,
      })
      meta.status = response.status
      meta.requestId = atlassianRequestId(response.headers)
      text = await response.text()
    } catch (err) {
      throw networkError(err, `SCIM ${req.method} ${url.pathname}`, limit.timedOut(), options.timeoutMs)
    }
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : (JSON.parse(text) as unknown)
    } catch {
      parsed = undefined
    }
    if (!response.ok) {
      const { detail, scimType } = readScimError(ATLASSIAN_DIALECT, parsed)
      throw new ScimHttpError(
        `SCIM ${req.method} ${url.pathname} failed: ${response.status}${detail ? ` - ${detail}` : ''}`,
        response.status,
        scimType,
        parseRetryAfter(response.headers.get('retry-after')),
      )
    }
    return { status: response.status, body: parsed, requestId: meta.requestId }
  }

  // `scim.Users.create` → "SCIM create answered with an unexpected body": a 502 the classifier retries.
  const client = new ScimCoreClient<Call>(
    ATLASSIAN_DIALECT,
    send,
    (operation) => new ScimHttpError(`SCIM ${operation.split('.').pop()} answered with an unexpected body`, 502, 'invalidResponse', undefined),
  )

  return {
    async findOne(filter, signal, meta) {
      const res = await client.search({ signal, meta }, '/Users', filter, 'scim.Users.list')
      return client.parse(listSchema, res, 'scim.Users.list').Resources?.map(toUser)[0]
    },
    async create(user, signal, meta) {
      const body = {
        schemas: [...ATLASSIAN_DIALECT.userSchemas],
        userName: user.userName,
        emails: [{ value: user.email, type: 'work', primary: true }],
        name: { givenName: user.givenName, familyName: user.familyName },
        displayName: user.displayName,
        externalId: user.externalId,
        ...(user.title ? { title: user.title } : {}),
        ...(user.department ? { department: user.department } : {}),
        active: user.active,
      }
      const res = await client.create({ signal, meta }, '/Users', body, 'scim.Users.create')
      return toUser(client.parse(scimUserSchema, res, 'scim.Users.create'))
    },
    async setActive(id, active, signal, meta) {
      const ops = [{ op: 'replace' as const, attr: 'active', value: active }]
      const res = await client.patch({ signal, meta }, resourcePath('/Users', id), ops, 'scim.Users.patch')
      return toUser(client.parse(scimUserSchema, res, 'scim.Users.patch'))
    },
  }
}
