/**
 * SCIM 2.0 resource shapes shared by the provisioner and the emulator: schema URNs, reading
 * responses case-insensitively (RFC 7643 §2.1: "Attribute names are case insensitive"), and
 * turning an HR profile into a User resource through the configured templates.
 */
import { z } from 'zod'
import type { EmployeeProfile } from '../types.ts'
import type { ScimAppConfig, ScimAttributeMapping, TemplateField } from './config.ts'
import { buildTargetAttributes } from '../mapping.ts'
import { SCIM_MAPPING } from './mapping.ts'

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
} as const

/** Canonical RFC 7643 spellings of every attribute either side reads, keyed by lower case. */
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

/**
 * Some servers send booleans as strings ("True", "false"), e.g. apps built for Entra's old
 * behaviour, documented in https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility
 */
const looseBoolean = z.preprocess((v) => {
  if (typeof v === 'string') {
    const lower = v.toLowerCase()
    if (lower === 'true') return true
    if (lower === 'false') return false
  }
  return v
}, z.boolean())

const looseString = z.union([z.string(), z.number()]).transform(String)

const multiValue = z
  .object({
    value: looseString.optional(),
    display: z.string().optional(),
    type: z.string().optional(),
    primary: looseBoolean.optional(),
  })
  .loose()

const metaSchema = z
  .object({ version: z.string().optional(), resourceType: z.string().optional(), location: z.string().optional() })
  .loose()

export const scimUserSchema = z
  .object({
    id: looseString,
    externalId: looseString.nullish(),
    userName: z.string().nullish(),
    displayName: z.string().nullish(),
    active: looseBoolean.nullish(),
    emails: z.array(multiValue).nullish(),
    groups: z.array(multiValue).nullish(),
    roles: z.array(multiValue).nullish(),
    meta: metaSchema.nullish(),
  })
  .loose()
export type ScimUser = z.infer<typeof scimUserSchema>

export const scimGroupSchema = z
  .object({
    id: looseString,
    displayName: z.string().nullish(),
    members: z.array(multiValue).nullish(),
    meta: metaSchema.nullish(),
  })
  .loose()
export type ScimGroup = z.infer<typeof scimGroupSchema>

export const listResponseSchema = z
  .object({
    totalResults: z.coerce.number().int().nonnegative(),
    itemsPerPage: z.coerce.number().int().nonnegative().optional(),
    startIndex: z.coerce.number().int().optional(),
    // RFC 7644 §3.4.2: Resources is REQUIRED only when totalResults is non-zero.
    Resources: z.array(z.unknown()).default([]),
  })
  .loose()

export const scimErrorSchema = z
  .object({
    status: looseString.optional(),
    scimType: z.string().optional(),
    detail: z.string().optional(),
  })
  .loose()

/** A SCIM string literal for filters and PATCH paths: RFC 7644 §3.4.2.2 uses JSON strings. */
export function scimString(value: string): string {
  return JSON.stringify(value)
}

type TemplateProfile = Partial<Record<TemplateField, string>>

function templateProfile(employee: EmployeeProfile): TemplateProfile {
  return {
    ...employee,
    fullName: [employee.firstName, employee.lastName].filter(Boolean).join(' '),
  }
}

/**
 * Render a template: `{field}` inserts a profile field, `{a|b}` the first present, `{f:lower}`
 * lower-cases. Returns undefined when a referenced field is missing everywhere, so an attribute
 * is left out instead of being sent as "undefined" or half-filled.
 */
export function renderTemplate(template: string, employee: EmployeeProfile): string | undefined {
  const profile = templateProfile(employee)
  let missing = false
  const out = template.replace(/\{([^{}]*)\}/g, (_m, inner: string) => {
    const [fields = '', modifier] = inner.split(':')
    const value = fields
      .split('|')
      .map((f) => profile[f as TemplateField])
      .find((v) => v !== undefined && v !== '')
    if (value === undefined) {
      missing = true
      return ''
    }
    if (modifier === 'lower') return value.toLowerCase()
    if (modifier === 'upper') return value.toUpperCase()
    return value
  })
  if (missing) return undefined
  const trimmed = out.trim()
  return trimmed === '' ? undefined : trimmed
}

export interface BuildUserOptions {
  mapping: ScimAttributeMapping
  active: boolean
  /** The manager's id at the app, when found. */
  managerId?: string
}

/**
 * The User resource for POST. `userName` is REQUIRED (RFC 7643 §4.1.1); the caller has checked it
 * renders. Keys are canonical here; the client applies `attributeNameCase` on the wire.
 */
export function buildUser(employee: EmployeeProfile, userName: string, opts: BuildUserOptions): Record<string, unknown> {
  const attributes = buildTargetAttributes(SCIM_MAPPING, employee, { enabled: opts.active, mapping: opts.mapping, managerId: opts.managerId })
  const schemas = SCHEMA.enterprise in attributes ? [SCHEMA.user, SCHEMA.enterprise] : [SCHEMA.user]
  return { schemas, userName, ...attributes }
}

/** Apply the configured key case to an outgoing body. */
export function wireKeys(body: unknown, config: Pick<ScimAppConfig, 'quirks'>): unknown {
  return config.quirks.attributeNameCase === 'lower' ? lowerKeys(body) : body
}
