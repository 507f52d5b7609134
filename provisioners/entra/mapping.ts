/**
 * Which profile attribute becomes which attribute of a Microsoft Graph user, and each attribute's
 * limit: the table `#createUser` builds its `POST /users` body from (provisioners/mapping.ts).
 * Limits: https://learn.microsoft.com/graph/api/resources/user (properties).
 */
import { defineTargetMapping } from '../mapping.ts'

/** "employeeId … The maximum length is 16 characters" (https://learn.microsoft.com/graph/api/resources/user). */
export const EMPLOYEE_ID_MAX_LENGTH = 16

/** True when the key can go into employeeId whole (it is never truncated: a cut id could match someone else). */
export function fitsEmployeeId(key: string): boolean {
  return key.length <= EMPLOYEE_ID_MAX_LENGTH
}

export interface EntraMappingOptions {
  /** The onPremisesExtensionAttributes slot that holds the identity key (`entra.identityKeyAttribute`). */
  identityKeyAttribute: string
  /** countryCode, else `entra.defaultUsageLocation`. */
  usageLocation: string | undefined
}

export const ENTRA_MAPPING = defineTargetMapping<EntraMappingOptions>({
  system: 'entra',
  vendor: 'Microsoft Entra ID (Graph)',
  resource: 'user (`POST /users`)',
  identity:
    'the identity key in `onPremisesExtensionAttributes.<identityKeyAttribute>`; an account without it is matched by `employeeId`, then by the userPrincipalName (provisioners/entra/provisioner.ts)',
  attributes: [
    { path: ['accountEnabled'], from: ['lifecycle'], note: 'false before day one and during a leave', value: (_e, c) => c.enabled },
    { path: ['displayName'], from: ['displayName', 'firstName', 'lastName'], note: 'displayName, else "firstName lastName"', value: (e) => e.displayName ?? `${e.firstName} ${e.lastName}` },
    { path: ['givenName'], from: ['firstName'], value: (e) => e.firstName },
    { path: ['surname'], from: ['lastName'], value: (e) => e.lastName },
    {
      path: ['onPremisesExtensionAttributes'],
      label: 'onPremisesExtensionAttributes.<identityKeyAttribute>',
      from: ['employeeId'],
      limit: '1024 characters; the whole identity key always goes here (`entra.identityKeyAttribute`, default extensionAttribute15)',
      value: (e, c) => ({ [c.identityKeyAttribute]: e.employeeId }),
    },
    {
      path: ['employeeId'],
      from: ['employeeId'],
      limit: `${EMPLOYEE_ID_MAX_LENGTH} characters; a longer key is left out, never truncated (a cut id could be someone else's)`,
      value: (e) => (fitsEmployeeId(e.employeeId) ? e.employeeId : undefined),
    },
    {
      path: ['usageLocation'],
      from: ['countryCode'],
      limit: 'ISO 3166 alpha-2; required before a licence can be assigned: `entra.defaultUsageLocation` when HR has no country',
      value: (_e, c) => c.usageLocation || undefined,
    },
    { path: ['jobTitle'], from: ['title'], value: (e) => e.title || undefined },
    { path: ['department'], from: ['department'], value: (e) => e.department || undefined },
  ],
  derived: [
    {
      target: 'userPrincipalName',
      from: '`entra.userPrincipalNamePattern` over firstName, lastName, employeeId (ASCII, lower case), or HR\'s work email',
      uses: ['workEmail', 'firstName', 'lastName', 'employeeId'],
      limit: 'local part at most 64 characters',
    },
    { target: 'mailNickname', from: 'the userPrincipalName\'s local part' },
  ],
  states: [
    { when: 'joiner before day one, leave', becomes: '`accountEnabled=false`' },
    { when: 'day one, return from leave', becomes: '`accountEnabled=true`' },
    { when: 'leaver cut-off (disable)', becomes: '`accountEnabled=false`, then `revokeSignInSessions`' },
  ],
})
