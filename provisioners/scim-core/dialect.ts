/**
 * What each SCIM server Tenure talks to implements of RFC 7644, as data. The client reads these
 * settings; it never asks "is this Slack?". A new vendor is a new row, not a new client.
 *
 * - slack: https://docs.slack.dev/reference/scim-api (filters on userName and email only, with
 *   eq/co/sw/pr/gt/ge/lt/le and and/or; userName at most 21 of [a-z0-9._-]; plain JSON; the
 *   error code is in `detail` (v2) or `Errors.description` (v1); User.groups is read-only, user
 *   groups change through the Web API).
 * - atlassian: https://developer.atlassian.com/cloud/admin/user-provisioning/rest/api-group-users/
 *   ("Filtering is supported with a single exact match (eq) against the userName and externalId
 *   attributes"; at most 100 users a page; the Atlassian account id in its own extension).
 * - generic: RFC 7644 by default; what is unset in a `scim` app's `quirks` is discovered from its
 *   /ServiceProviderConfig (§5) by provisioners/scim/provisioner.ts and handed to `genericDialect`.
 */
import type { CompareOp, FilterGrammar } from './filter.ts'
import { SCHEMA } from './schemas.ts'

export type PatchForm = 'patch' | 'put'

export interface ScimDialect {
  vendor: 'generic' | 'slack' | 'atlassian'
  /** Filtering on GET /Users (RFC 7644 §3.4.2.2). */
  filter: {
    supported: boolean
    /** Attributes the server filters on; undefined = any. */
    attributes: readonly string[] | undefined
    operators: readonly (CompareOp | 'pr')[]
    /** `and` / `or` / grouping. */
    logical: boolean
  }
  /** How a resource is changed (RFC 7644 §3.5.1 PUT, §3.5.2 PATCH). */
  patch: {
    form: PatchForm
    /** `op` spelling: "replace" (RFC) or "Replace" (what Entra sends; some apps only accept it). */
    opCase: 'lower' | 'capitalized'
    /** `{"path":"active","value":false}` or `{"value":{"active":false}}`. */
    valueStyle: 'path' | 'valueObject'
    /** User attributes the server will not change by PATCH (read-only or managed elsewhere). */
    readOnly: readonly string[]
  }
  /** RFC 7644 §3.4.2.4 index paging: 1-based startIndex, count capped by the server. */
  paging: {
    /** The largest count the server serves; it may return fewer. */
    maxCount: number
    /** count sent on a lookup by filter (one exact match expected; more reveals a duplicate). */
    lookupCount: number
    /** count sent when listing. */
    pageSize: number
  }
  /** Send If-Match with the last ETag read (RFC 7644 §3.14). */
  etag: boolean
  contentType: 'application/scim+json' | 'application/json'
  accept: string
  /** JSON key spelling sent: canonical camelCase or all lower case. */
  attributeNameCase: 'canonical' | 'lower'
  /** Read response keys case-insensitively (RFC 7643 §2.1) into their canonical spelling. */
  caseInsensitiveKeys: boolean
  /** Where the server's machine-readable error code is: RFC `scimType`, or Slack's `detail`. */
  errorCode: 'scimType' | 'detail'
  /** Schemas a created User carries. */
  userSchemas: readonly string[]
  /** userName rules the server enforces, where documented. */
  userName: { maxLength: number; allowed: RegExp } | undefined
}

export const SLACK_DIALECT: ScimDialect = {
  vendor: 'slack',
  filter: { supported: true, attributes: ['userName', 'email'], operators: ['eq', 'co', 'sw', 'pr', 'gt', 'ge', 'lt', 'le'], logical: true },
  patch: { form: 'patch', opCase: 'lower', valueStyle: 'path', readOnly: ['id', 'meta', 'groups'] },
  paging: { maxCount: 1000, lookupCount: 10, pageSize: 100 },
  etag: false,
  contentType: 'application/json',
  accept: 'application/json',
  attributeNameCase: 'canonical',
  caseInsensitiveKeys: false,
  errorCode: 'detail',
  userSchemas: [SCHEMA.user, SCHEMA.enterprise],
  userName: { maxLength: 21, allowed: /^[a-z0-9._-]+$/ },
}

export const ATLASSIAN_DIALECT: ScimDialect = {
  vendor: 'atlassian',
  filter: { supported: true, attributes: ['userName', 'externalId'], operators: ['eq'], logical: false },
  patch: { form: 'patch', opCase: 'lower', valueStyle: 'path', readOnly: ['id', 'meta', 'groups', SCHEMA.atlassianExternal] },
  // count 2 on a lookup: one hit is the answer, a second one shows the directory holds a duplicate.
  paging: { maxCount: 100, lookupCount: 2, pageSize: 100 },
  etag: false,
  contentType: 'application/scim+json',
  accept: 'application/scim+json, application/json',
  attributeNameCase: 'canonical',
  caseInsensitiveKeys: false,
  errorCode: 'scimType',
  userSchemas: [SCHEMA.user],
  userName: undefined,
}

/** What a generic app's quirks (configured, else discovered) say; see provisioners/scim/config.ts. */
export interface GenericCapabilities {
  updateMethod: PatchForm
  filterSupported: boolean
  etag: boolean
  patchOpCase: 'lower' | 'capitalized'
  patchValueStyle: 'path' | 'valueObject'
  attributeNameCase: 'canonical' | 'lower'
  contentType: 'application/scim+json' | 'application/json'
  pageSize: number
}

export function genericDialect(caps: GenericCapabilities): ScimDialect {
  return {
    vendor: 'generic',
    // §3.4.2.2 Table 3; an app that refuses a filter anyway answers 400 invalidFilter and the
    // provisioner pages instead.
    filter: { supported: caps.filterSupported, attributes: undefined, operators: ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le', 'pr'], logical: true },
    patch: { form: caps.updateMethod, opCase: caps.patchOpCase, valueStyle: caps.patchValueStyle, readOnly: ['id', 'meta', 'groups'] },
    paging: { maxCount: caps.pageSize, lookupCount: 10, pageSize: caps.pageSize },
    etag: caps.etag,
    contentType: caps.contentType,
    accept: 'application/scim+json, application/json',
    attributeNameCase: caps.attributeNameCase,
    caseInsensitiveKeys: true,
    errorCode: 'scimType',
    userSchemas: [SCHEMA.user],
    userName: undefined,
  }
}

/** The row of the dialect table for a vendor, for docs and tests. */
export function describeDialect(d: ScimDialect): { vendor: string; filter: string; patch: string; paging: string } {
  const filter = !d.filter.supported
    ? 'none (page and match)'
    : `${d.filter.operators.join('/')} on ${d.filter.attributes?.join(', ') ?? 'any attribute'}${d.filter.logical ? ' with and/or' : ', one comparison'}`
  const patch = d.patch.form === 'put' ? 'PUT the whole resource' : `PATCH ${d.patch.valueStyle === 'path' ? 'path+value' : 'value object'}`
  return { vendor: d.vendor, filter, patch, paging: `startIndex/count, at most ${d.paging.maxCount} a page` }
}

/**
 * The filter grammar a server with this dialect accepts, for its emulator. `extras` carries what
 * the dialect does not say (Slack's single quotes and bare values).
 */
export function filterGrammarOf(d: ScimDialect, extras: Partial<FilterGrammar> = {}): FilterGrammar {
  return {
    operators: new Set(d.filter.operators),
    ...(d.filter.attributes ? { attributes: new Set(d.filter.attributes.map((a) => a.toLowerCase())) } : {}),
    logical: d.filter.logical,
    complex: d.filter.attributes === undefined,
    singleQuotes: false,
    bareValues: false,
    ...extras,
  }
}
