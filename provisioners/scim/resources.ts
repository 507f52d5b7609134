/**
 * The User and Group shapes a generic SCIM app answers with, read leniently (loose booleans,
 * numeric ids), and turning an HR profile into a User resource through the configured templates.
 * Schema URNs, case-insensitive key reading and the wire key case are the SCIM core's
 * (provisioners/scim-core/).
 */
import { z } from 'zod'
import { SCHEMA } from '../scim-core/schemas.ts'
import type { EmployeeProfile } from '../types.ts'
import type { ScimAttributeMapping, TemplateField } from './config.ts'
import { buildTargetAttributes } from '../mapping.ts'
import { SCIM_MAPPING } from './mapping.ts'

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
 * renders. Keys are canonical here; the core client applies `attributeNameCase` on the wire.
 */
export function buildUser(employee: EmployeeProfile, userName: string, opts: BuildUserOptions): Record<string, unknown> {
  const attributes = buildTargetAttributes(SCIM_MAPPING, employee, { enabled: opts.active, mapping: opts.mapping, managerId: opts.managerId })
  const schemas = SCHEMA.enterprise in attributes ? [SCHEMA.user, SCHEMA.enterprise] : [SCHEMA.user]
  return { schemas, userName, ...attributes }
}
