/**
 * The one set of SCIM 2.0 names Tenure uses: schema and message URNs (RFC 7643 §8.7, RFC 7644
 * §3.4.2, §3.5.2, §3.12), the vendor extensions Tenure reads, and reading attribute names
 * case-insensitively (RFC 7643 §2.1: "Attribute names are case insensitive").
 */

export const SCHEMA = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  enterprise: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
  serviceProviderConfig: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
  schema: 'urn:ietf:params:scim:schemas:core:2.0:Schema',
  resourceType: 'urn:ietf:params:scim:schemas:core:2.0:ResourceType',
  /**
   * Atlassian's extension that links the directory record to the Atlassian account (the Jira
   * accountId): https://developer.atlassian.com/cloud/admin/user-provisioning/rest/api-group-users/
   */
  atlassianExternal: 'urn:scim:schemas:extension:atlassian-external:1.0',
} as const

/** Canonical RFC 7643 spellings of every attribute Tenure reads or writes, keyed by lower case. */
const CANONICAL_NAMES = [
  'schemas', 'id', 'externalId', 'meta', 'resourceType', 'created', 'lastModified', 'location', 'version',
  'userName', 'name', 'formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix',
  'displayName', 'nickName', 'profileUrl', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone', 'active',
  'password', 'emails', 'phoneNumbers', 'addresses', 'groups', 'entitlements', 'roles', 'x509Certificates',
  'value', 'display', 'type', 'primary', '$ref', 'members',
  'employeeNumber', 'costCenter', 'organization', 'division', 'department', 'manager',
  'totalResults', 'itemsPerPage', 'startIndex', 'Resources', 'Operations', 'op', 'path',
  'status', 'scimType', 'detail',
] as const
const BY_LOWER = new Map<string, string>(CANONICAL_NAMES.map((n) => [n.toLowerCase(), n]))
const URN_BY_LOWER = new Map<string, string>(Object.values(SCHEMA).map((u) => [u.toLowerCase(), u]))

/** The canonical spelling of one attribute name or schema URN; unknown names come back as given. */
export function canonicalName(name: string): string {
  const lower = name.toLowerCase()
  return BY_LOWER.get(lower) ?? URN_BY_LOWER.get(lower) ?? name
}

/**
 * Rename keys to their canonical spelling, recursively. Unknown keys are kept as they are. Where
 * a server sends the same attribute twice in different cases the first one wins, which is as
 * good as any rule for input that RFC 7643 §2.1 already calls equivalent.
 */
export function canonicalKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalKeys)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) {
    const name = canonicalName(key)
    if (!(name in out)) out[name] = canonicalKeys(inner)
  }
  return out
}

/** Lower-case every attribute key (URN extension keys and values are left alone). */
export function lowerKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(lowerKeys)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) out[key.startsWith('urn:') ? key : key.toLowerCase()] = lowerKeys(inner)
  return out
}
