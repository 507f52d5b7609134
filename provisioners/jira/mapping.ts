/**
 * Which profile attribute becomes which attribute of an Atlassian account, through Atlassian's
 * user provisioning (SCIM) API: the table `ensureScimUser` reads its values from
 * (provisioners/mapping.ts). https://developer.atlassian.com/cloud/admin/user-provisioning/rest/
 */
import { buildTargetAttributes, defineTargetMapping } from '../mapping.ts'
import type { EmployeeProfile } from '../types.ts'
import type { NewScimUser } from './scim.ts'

export const JIRA_MAPPING = defineTargetMapping({
  system: 'jira',
  vendor: 'Jira / Atlassian (user provisioning SCIM API)',
  resource: 'user (`POST /scim/directory/{directoryId}/Users`)',
  identity: '`externalId` equals the identity key (HR id), else `userName` equals the work email',
  attributes: [
    { path: ['externalId'], from: ['employeeId'], value: (e) => e.employeeId },
    { path: ['givenName'], label: 'name.givenName', from: ['firstName'], value: (e) => e.firstName },
    { path: ['familyName'], label: 'name.familyName', from: ['lastName'], value: (e) => e.lastName },
    { path: ['displayName'], from: ['displayName', 'firstName', 'lastName'], note: 'displayName, else "firstName lastName"', value: (e) => e.displayName ?? `${e.firstName} ${e.lastName}` },
    { path: ['title'], from: ['title'], value: (e) => e.title || undefined },
    { path: ['department'], from: ['department'], value: (e) => e.department || undefined },
    { path: ['active'], from: ['lifecycle'], note: 'false before day one and during a leave', value: (_e, c) => c.enabled },
  ],
  derived: [{ target: 'userName, emails[type=work, primary].value', from: 'HR\'s work email, else firstName.lastName at the configured `emailDomain`', uses: ['workEmail', 'firstName', 'lastName'] }],
  states: [
    { when: 'joiner before day one, leave', becomes: '`active=false`' },
    { when: 'leaver cut-off (disable)', becomes: '`active=false` (SCIM PATCH), then product access removed' },
  ],
})

/** The SCIM user's attributes from the table, in the shape the Atlassian client takes. */
export function jiraUserAttributes(employee: EmployeeProfile, enabled: boolean): Omit<NewScimUser, 'userName' | 'email'> {
  const v = buildTargetAttributes(JIRA_MAPPING, employee, { enabled })
  const text = (key: string) => (typeof v[key] === 'string' ? v[key] : undefined)
  return {
    externalId: text('externalId') ?? employee.employeeId,
    givenName: text('givenName') ?? employee.firstName,
    familyName: text('familyName') ?? employee.lastName,
    displayName: text('displayName') ?? '',
    ...(text('title') ? { title: text('title') } : {}),
    ...(text('department') ? { department: text('department') } : {}),
    active: v.active === true,
  }
}
