/**
 * Which profile attribute becomes which attribute of a SCIM 2.0 User (RFC 7643 §4.1, and the
 * enterprise extension §4.3): the table `buildUser` builds its `POST /Users` body from
 * (provisioners/mapping.ts). Each app's templates (`scim[].attributeMapping`) decide the values;
 * the dictionary shows the defaults, and `attributeMapping.send` which attributes go at all.
 */
import { defineTargetMapping, type ProfileAttribute, type TargetAttribute } from '../mapping.ts'
import { attributeMappingSchema, type ScimAttributeMapping, type ScimSendableAttribute } from './config.ts'
import { renderTemplate } from './resources.ts'

export interface ScimMappingOptions {
  mapping: ScimAttributeMapping
  /** The manager's id at the app, when found (`attributeMapping.send` has "manager"). */
  managerId?: string
}

/** SCHEMA.enterprise in resources.ts; spelled out here because resources.ts imports this table (a cycle read at load time). */
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'

const DEFAULTS = attributeMappingSchema.parse({})
type TemplateKey = Exclude<keyof ScimAttributeMapping, 'send' | 'groupsBy' | 'userName'>

/** The profile attributes a default template reads (`{displayName|fullName}` → displayName, firstName, lastName). */
function fieldsOf(template: string): ProfileAttribute[] {
  const names = [...template.matchAll(/\{([^{}:]*)/g)].flatMap((m) => (m[1] ?? '').split('|'))
  return names.flatMap((n) => (n === 'fullName' ? ['firstName', 'lastName'] : [n])) as ProfileAttribute[]
}

function templated(send: ScimSendableAttribute, key: TemplateKey, path: TargetAttribute['path'], label?: string): TargetAttribute<ScimMappingOptions> {
  return {
    path,
    ...(label ? { label } : {}),
    from: fieldsOf(DEFAULTS[key]),
    note: `template \`attributeMapping.${key}\` (default "${DEFAULTS[key]}"); sent when \`attributeMapping.send\` has "${send}"`,
    value: (e, c) => (new Set(c.mapping.send).has(send) ? renderTemplate(c.mapping[key], e) : undefined),
  }
}

const sends = (c: ScimMappingOptions, attribute: ScimSendableAttribute) => new Set(c.mapping.send).has(attribute)
const given = (e: Parameters<typeof renderTemplate>[1], c: ScimMappingOptions) => (sends(c, 'name') ? renderTemplate(c.mapping.givenName, e) : undefined)
const family = (e: Parameters<typeof renderTemplate>[1], c: ScimMappingOptions) => (sends(c, 'name') ? renderTemplate(c.mapping.familyName, e) : undefined)

export const SCIM_MAPPING = defineTargetMapping<ScimMappingOptions>({
  system: 'scim',
  vendor: 'any SCIM 2.0 application (RFC 7643)',
  resource: 'User (`POST /Users`)',
  identity: '`externalId` equals the identity key (HR id), else the rendered `userName`; an account with another externalId is never taken over',
  attributes: [
    {
      path: ['externalId'],
      from: ['employeeId'],
      note: 'always the identity key, unless `attributeMapping.send` leaves "externalId" out',
      value: (e, c) => (sends(c, 'externalId') ? e.employeeId : undefined),
    },
    templated('name', 'givenName', ['name', 'givenName']),
    templated('name', 'familyName', ['name', 'familyName']),
    {
      path: ['name', 'formatted'],
      from: ['firstName', 'lastName'],
      note: 'givenName and familyName, joined',
      value: (e, c) => [given(e, c), family(e, c)].filter(Boolean).join(' ') || undefined,
    },
    templated('displayName', 'displayName', ['displayName']),
    {
      ...templated('emails', 'email', ['emails', 0], 'emails[type=work, primary].value'),
      value: (e, c) => {
        const email = sends(c, 'emails') ? renderTemplate(c.mapping.email, e) : undefined
        return email ? { value: email, type: 'work', primary: true } : undefined
      },
    },
    { path: ['active'], from: ['lifecycle'], note: 'false before day one and during a leave', value: (_e, c) => (sends(c, 'active') ? c.enabled : undefined) },
    templated('title', 'title', ['title']),
    templated('employeeNumber', 'employeeNumber', [ENTERPRISE, 'employeeNumber'], 'enterprise.employeeNumber'),
    templated('department', 'department', [ENTERPRISE, 'department'], 'enterprise.department'),
    templated('costCenter', 'costCenter', [ENTERPRISE, 'costCenter'], 'enterprise.costCenter'),
    {
      path: [ENTERPRISE, 'manager'],
      label: 'enterprise.manager.value',
      from: ['managerId'],
      note: 'the manager\'s id at the app, found by the manager\'s externalId; sent when `attributeMapping.send` has "manager"',
      value: (_e, c) => (sends(c, 'manager') && c.managerId ? { value: c.managerId } : undefined),
    },
  ],
  derived: [{ target: 'userName', from: `template \`attributeMapping.userName\` (default "${DEFAULTS.userName}")`, uses: fieldsOf(DEFAULTS.userName), limit: 'REQUIRED (RFC 7643 §4.1.1) and unique at the app; an empty result fails the joiner' }],
  states: [
    { when: 'joiner before day one, leave', becomes: '`active=false`' },
    { when: 'leaver cut-off (disable)', becomes: '`active=false` (PATCH, or PUT where the app needs it)' },
  ],
})
