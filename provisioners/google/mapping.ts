/**
 * Which profile attribute becomes which attribute of a Google Workspace user: the table the
 * provisioner builds its `directory.users.insert` body from (provisioners/mapping.ts).
 * Fields: https://developers.google.com/workspace/admin/directory/reference/rest/v1/users
 * (User.name: "The maximum number of characters in the givenName and in the familyName values is 60").
 */
import { defineTargetMapping } from '../mapping.ts'

const hasOrganization = (e: { title?: string; department?: string; costCenter?: string }) => Boolean(e.title || e.department || e.costCenter)

export const GOOGLE_MAPPING = defineTargetMapping({
  system: 'google',
  vendor: 'Google Workspace (Admin SDK Directory)',
  resource: 'user (`directory.users.insert`)',
  identity: '`externalIds[type=organization].value` equals the identity key (HR id); HR\'s work email only adopts an account that carries no other id',
  attributes: [
    { path: ['name', 'givenName'], from: ['firstName'], limit: '60 characters (Google refuses a longer one; Tenure sends HR\'s value as it is)', value: (e) => e.firstName },
    { path: ['name', 'familyName'], from: ['lastName'], limit: '60 characters (as givenName)', value: (e) => e.lastName },
    { path: ['suspended'], from: ['lifecycle'], note: 'true before day one and during a leave', value: (_e, c) => !c.enabled },
    { path: ['externalIds', 0], label: 'externalIds[type=organization].value', from: ['employeeId'], value: (e) => ({ type: 'organization', value: e.employeeId }) },
    { path: ['organizations', 0, 'primary'], from: [], note: 'true: one primary organization, when HR has a title, department or cost center', value: (e) => (hasOrganization(e) ? true : undefined) },
    { path: ['organizations', 0, 'title'], from: ['title'], value: (e) => e.title || undefined },
    { path: ['organizations', 0, 'department'], from: ['department'], value: (e) => e.department || undefined },
    { path: ['organizations', 0, 'costCenter'], from: ['costCenter'], value: (e) => e.costCenter || undefined },
    { path: ['relations', 0], label: 'relations[type=manager].value', from: ['managerEmail'], value: (e) => (e.managerEmail ? { type: 'manager', value: e.managerEmail } : undefined) },
  ],
  derived: [
    {
      target: 'primaryEmail',
      from: 'HR\'s work email when it is at `google.domain` and `google.useHrWorkEmail` is on, else `google.primaryEmailPattern` over firstName, lastName, employeeId (provisioners/google/primary-email.ts)',
      uses: ['workEmail', 'firstName', 'lastName', 'employeeId'],
      limit: 'username at most 64 characters of a-z 0-9 . _ - \'; numbered alternatives on collision',
    },
    { target: 'orgUnitPath', from: 'the policy\'s org unit, else `google.defaultOrgUnit`' },
  ],
  states: [
    { when: 'joiner before day one, leave', becomes: '`suspended=true`' },
    { when: 'day one, return from leave', becomes: '`suspended=false`' },
    { when: 'leaver cut-off (disable)', becomes: '`suspended=true`, then sign-out and token revocation' },
  ],
})
