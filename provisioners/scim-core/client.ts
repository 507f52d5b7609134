/**
 * The one SCIM 2.0 client (RFC 7644) behind the generic SCIM provisioner, Slack's SCIM API and
 * Atlassian's user provisioning API. It owns the protocol: which request a lookup, a listing, a
 * create, a change or a delete is (paths, filters, startIndex/count, PatchOp bodies in the
 * vendor's form, If-Match, Content-Type), how an answer is read (case-insensitive keys, list
 * responses, the next page, 204 vs 200 with a body) and what a §3.12 error body says. What differs
 * per vendor is a `ScimDialect` row (dialect.ts), never a branch on the vendor.
 *
 * It does not own the HTTP call. Each provisioner passes a `transport`: its call wrapper, which
 * authenticates, paces, records the call and classifies a failure into the ProvisionerError
 * family with that vendor's rules (Slack's error strings, Atlassian's, RFC scimType). That part
 * is shared provisioner plumbing (provisioners/kit/), not SCIM; keeping it outside lets both
 * change without the other. `C` is whatever that wrapper needs per call (ctx, limiter buckets, a
 * trace of request ids).
 *
 * Why provisioners/scim-core/ and not provisioners/kit/scim/: kit is what every provisioner uses;
 * this is what three of them use because their vendors speak SCIM, and it reads best beside the
 * folders of those systems.
 */
import { z } from 'zod'
import { filterGrammarOf, type ScimDialect } from './dialect.ts'
import { parseFilter, ScimFilterError } from './filter.ts'
import { canonicalKeys, lowerKeys, SCHEMA } from './schemas.ts'

export type ScimMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface ScimRequest {
  /** e.g. `scim.Users.create` */
  operation: string
  method: ScimMethod
  /** Relative to the SCIM base URL, with a leading slash, e.g. `/Users/abc`. */
  path: string
  query?: Record<string, string | number | undefined>
  body?: unknown
  ifMatch?: string
}

/** What the transport sends: the request plus the headers the protocol needs. */
export interface ScimHttpRequest extends ScimRequest {
  headers: Record<string, string>
}

/** What the transport hands back for a 2xx: the JSON as sent (undefined for an empty body). */
export interface ScimHttpResponse {
  status: number
  body: unknown
  etag?: string | undefined
  requestId?: string | undefined
}

export interface ScimResponse {
  status: number
  /** Parsed JSON, keys canonical where the dialect reads case-insensitively; undefined for 204. */
  body: unknown
  /** The JSON exactly as sent (key spelling untouched), for read-modify-PUT round trips. */
  raw: unknown
  etag: string | undefined
  requestId: string | undefined
}

/** Sends one request; throws the vendor's ProvisionerError for anything but 2xx. */
export type ScimTransport<C> = (call: C, req: ScimHttpRequest) => Promise<ScimHttpResponse>

/** A 2xx body that does not fit the expected shape: the vendor decides what error that is. */
export type BadShape = (operation: string, res: ScimResponse, error: z.ZodError) => Error

// ------------------------------------------------------------------ shapes every dialect shares

const looseString = z.union([z.string(), z.number()]).transform(String)

/** RFC 7644 §3.4.2 ListResponse; `Resources` is REQUIRED only when totalResults is non-zero. */
export const listResponseSchema = z
  .object({
    totalResults: z.coerce.number().int().nonnegative(),
    itemsPerPage: z.coerce.number().int().nonnegative().optional(),
    startIndex: z.coerce.number().int().optional(),
    Resources: z.array(z.unknown()).default([]),
  })
  .loose()
export type ListResponse = z.infer<typeof listResponseSchema>

/** RFC 7644 §3.12 error body: `{ schemas, status: "409", scimType, detail }`. */
export const scimErrorSchema = z
  .object({
    status: looseString.optional(),
    scimType: z.string().optional(),
    detail: z.string().optional(),
  })
  .loose()

/** Slack's v1 error body (https://docs.slack.dev/reference/scim-api#errors). */
const slackV1ErrorSchema = z.object({ Errors: z.object({ description: z.string(), code: z.union([z.number(), z.string()]).optional() }) })

export interface ScimErrorInfo {
  scimType: string | undefined
  detail: string | undefined
  /** The vendor's machine-readable code: `scimType`, or Slack's error string. */
  code: string | undefined
}

/** Read a non-2xx body (RFC 7644 §3.12; Slack's v1 `Errors` too). Unreadable bodies say nothing. */
export function readScimError(dialect: Pick<ScimDialect, 'errorCode' | 'caseInsensitiveKeys'>, body: unknown): ScimErrorInfo {
  const value = dialect.caseInsensitiveKeys ? canonicalKeys(body) : body
  if (dialect.errorCode === 'detail') {
    // Slack: `{ detail: "user_not_found" }` in v2, `{ Errors: { description } }` in v1; both carry the code.
    const v1 = slackV1ErrorSchema.safeParse(value)
    if (v1.success) return { scimType: undefined, detail: v1.data.Errors.description, code: v1.data.Errors.description }
    const v2 = z.object({ detail: z.string(), scimType: z.string().optional() }).loose().safeParse(value)
    return v2.success ? { scimType: v2.data.scimType, detail: v2.data.detail, code: v2.data.detail } : { scimType: undefined, detail: undefined, code: undefined }
  }
  const parsed = scimErrorSchema.safeParse(value)
  if (!parsed.success) return { scimType: undefined, detail: undefined, code: undefined }
  return { scimType: parsed.data.scimType, detail: parsed.data.detail, code: parsed.data.scimType }
}

/**
 * The next startIndex after one page (RFC 7644 §3.4.2.4): 1-based; the server may return fewer
 * than `count` (its maxResults), so the next index follows what actually came back. Undefined at
 * the end.
 */
export function nextStartIndex(list: ListResponse, requested: number): number | undefined {
  const served = list.startIndex ?? requested
  const next = served + list.Resources.length
  return list.Resources.length > 0 && next <= list.totalResults ? next : undefined
}

/** What /ServiceProviderConfig says (RFC 7643 §5, RFC 7644 §4); undefined where it says nothing. */
export interface ServiceProviderCapabilities {
  patch?: boolean
  filter?: boolean
  etag?: boolean
  /** filter.maxResults: the largest page the server returns. */
  maxResults?: number
}

const supportedSchema = z.object({ supported: z.boolean().optional() }).loose().optional()
const serviceProviderConfigSchema = z
  .object({
    patch: supportedSchema,
    filter: z.object({ supported: z.boolean().optional(), maxResults: z.coerce.number().int().positive().optional() }).loose().optional(),
    etag: supportedSchema,
  })
  .loose()

export function capabilitiesOf(body: unknown): ServiceProviderCapabilities {
  const spc = serviceProviderConfigSchema.safeParse(body)
  if (!spc.success) return {}
  const found: ServiceProviderCapabilities = {}
  if (spc.data.patch?.supported !== undefined) found.patch = spc.data.patch.supported
  if (spc.data.filter?.supported !== undefined) found.filter = spc.data.filter.supported
  if (spc.data.filter?.maxResults !== undefined) found.maxResults = spc.data.filter.maxResults
  if (spc.data.etag?.supported !== undefined) found.etag = spc.data.etag.supported
  return found
}

// ------------------------------------------------------------------ bodies

/** Apply the dialect's key case to an outgoing body. */
export function wireKeys(body: unknown, dialect: Pick<ScimDialect, 'attributeNameCase'>): unknown {
  return dialect.attributeNameCase === 'lower' ? lowerKeys(body) : body
}

/** Attribute name as sent on the wire (paths, filters). */
export function wireName(name: string, dialect: Pick<ScimDialect, 'attributeNameCase'>): string {
  return dialect.attributeNameCase === 'lower' ? name.toLowerCase() : name
}

export interface PatchChange {
  op: 'add' | 'replace' | 'remove'
  attr: string
  value?: unknown
  /** For remove: a value filter selecting the member, e.g. `value eq "id"`. */
  filter?: string
}

/** A PatchOp body (RFC 7644 §3.5.2) in the dialect's form. */
export function patchBody(dialect: Pick<ScimDialect, 'patch' | 'attributeNameCase'>, ops: readonly PatchChange[]): unknown {
  const opName = (op: string) => (dialect.patch.opCase === 'capitalized' ? op[0]!.toUpperCase() + op.slice(1) : op)
  const operations: unknown[] = []
  const valueObjects = new Map<string, Record<string, unknown>>()
  for (const o of ops) {
    if (o.op === 'remove') {
      // RFC 7644 §3.5.2.2: remove needs a path; a value filter selects the member.
      operations.push({ op: opName('remove'), path: `${wireName(o.attr, dialect)}${o.filter ? `[${o.filter}]` : ''}` })
    } else if (dialect.patch.valueStyle === 'path') {
      operations.push({ op: opName(o.op), path: wireName(o.attr, dialect), value: wireKeys(o.value, dialect) })
    } else {
      // SailPoint/Entra-style: {"op":"replace","value":{"active":false}} (no path).
      let target = valueObjects.get(o.op)
      if (!target) {
        target = {}
        valueObjects.set(o.op, target)
        operations.push({ op: opName(o.op), value: target })
      }
      target[wireName(o.attr, dialect)] = wireKeys(o.value, dialect)
    }
  }
  return { schemas: [SCHEMA.patchOp], Operations: operations }
}

// ------------------------------------------------------------------ the client

export interface ListPage {
  res: ScimResponse
  resources: unknown[]
  next: number | undefined
}

export class ScimCoreClient<C> {
  /** Settable: a generic app's dialect is completed by discovery after construction. */
  dialect: ScimDialect
  private readonly transport: ScimTransport<C>
  private readonly badShape: BadShape

  constructor(dialect: ScimDialect, transport: ScimTransport<C>, badShape: BadShape) {
    this.dialect = dialect
    this.transport = transport
    this.badShape = badShape
  }

  /** One request with the dialect's headers; the answer read the dialect's way. */
  async request(call: C, req: ScimRequest): Promise<ScimResponse> {
    const headers: Record<string, string> = { accept: this.dialect.accept }
    if (req.body !== undefined) headers['content-type'] = this.dialect.contentType
    // RFC 7644 §3.14: If-Match makes a write conditional on the version last read; a server
    // without ETags gets none (it may refuse a precondition it cannot check).
    if (req.ifMatch !== undefined && this.dialect.etag) headers['if-match'] = req.ifMatch
    const res = await this.transport(call, { ...req, headers })
    const body = res.body === undefined ? undefined : this.dialect.caseInsensitiveKeys ? canonicalKeys(res.body) : res.body
    return { status: res.status, body, raw: res.body, etag: res.etag, requestId: res.requestId }
  }

  /** Parse a 2xx body with a schema; a body that does not fit is the app's fault, not ours to retry. */
  parse<T>(schema: z.ZodType<T>, res: ScimResponse, operation: string): T {
    const parsed = schema.safeParse(res.body)
    if (!parsed.success) throw this.badShape(operation, res, parsed.error)
    return parsed.data
  }

  /** Each resource of a list answer as its own response (for `parse`). */
  item(res: ScimResponse, raw: unknown): ScimResponse {
    return { ...res, body: raw, raw }
  }

  get(call: C, path: string, operation: string, query?: ScimRequest['query']): Promise<ScimResponse> {
    return this.request(call, { operation, method: 'GET', path, ...(query ? { query } : {}) })
  }

  /**
   * A lookup by filter (RFC 7644 §3.4.2.2): the first page of `lookupCount`, which is all an
   * exact match on a unique attribute needs. The caller builds the filter with `filterEq`.
   */
  search(call: C, path: string, filter: string, operation: string, query: Record<string, string> = {}): Promise<ScimResponse> {
    this.assertFilter(filter)
    return this.get(call, path, operation, { filter, ...query, startIndex: 1, count: this.dialect.paging.lookupCount })
  }

  /**
   * A filter outside the dialect (Slack has no `externalId eq`, Atlassian no `and`) is our bug,
   * not the server's: refused here, before it is sent, instead of read as "no such user".
   */
  private assertFilter(filter: string): void {
    if (!this.dialect.filter.supported) throw new ScimFilterError('unsupported', `${this.dialect.vendor}: this server does not filter`)
    parseFilter(filter, filterGrammarOf(this.dialect))
  }

  /** One page of a listing (RFC 7644 §3.4.2.4) and the startIndex of the next one. */
  async listPage(call: C, path: string, operation: string, startIndex: number, query: Record<string, string> = {}): Promise<ListPage> {
    const res = await this.get(call, path, operation, { ...query, startIndex, count: this.dialect.paging.pageSize })
    const list = this.parse(listResponseSchema, res, operation)
    return { res, resources: list.Resources, next: nextStartIndex(list, startIndex) }
  }

  /** POST a new resource (RFC 7644 §3.3); keys in the dialect's case. */
  create(call: C, path: string, body: Record<string, unknown>, operation: string): Promise<ScimResponse> {
    return this.request(call, { operation, method: 'POST', path, body: wireKeys(body, this.dialect) })
  }

  /** PATCH (RFC 7644 §3.5.2) with the dialect's PatchOp form; 200 with the resource or 204 without. */
  patch(call: C, path: string, ops: readonly PatchChange[], operation: string, ifMatch?: string): Promise<ScimResponse> {
    const readOnly = ops.find((o) => path.startsWith('/Users/') && this.dialect.patch.readOnly.some((a) => a.toLowerCase() === o.attr.toLowerCase()))
    if (readOnly) throw new Error(`${operation}: ${this.dialect.vendor} does not change ${readOnly.attr} by PATCH (read-only or managed elsewhere)`)
    return this.request(call, { operation, method: 'PATCH', path, body: patchBody(this.dialect, ops), ...(ifMatch ? { ifMatch } : {}) })
  }

  /** PUT the whole resource (RFC 7644 §3.5.1), for servers without PATCH. */
  replace(call: C, path: string, body: Record<string, unknown>, operation: string, ifMatch?: string): Promise<ScimResponse> {
    return this.request(call, { operation, method: 'PUT', path, body: wireKeys(body, this.dialect), ...(ifMatch ? { ifMatch } : {}) })
  }

  delete(call: C, path: string, operation: string, ifMatch?: string): Promise<ScimResponse> {
    return this.request(call, { operation, method: 'DELETE', path, ...(ifMatch ? { ifMatch } : {}) })
  }
}

/** `/Users/{id}` with the id escaped (ids are opaque strings, RFC 7643 §3.1). */
export function resourcePath(collection: '/Users' | '/Groups', id: string): string {
  return `${collection}/${encodeURIComponent(id)}`
}
