/**
 * Which profile attribute becomes which attribute of a Slack user (SCIM API): the table
 * `createUser` builds its `POST /Users` body from (provisioners/mapping.ts).
 * Attributes and limits: https://docs.slack.dev/reference/scim-api#user-attributes
 */
import { defineTargetMapping } from '../mapping.ts'

import { SLACK_DIALECT } from '../scim-core/dialect.ts'
import { SCHEMA } from '../scim-core/schemas.ts'

export const SLACK_ENTERPRISE_USER = SCHEMA.enterprise

/** https://docs.slack.dev/reference/scim-api#user-attributes: userName max 21 chars of [a-z0-9._-] (the SCIM dialect's row). */
export const SLACK_USERNAME_MAX = SLACK_DIALECT.userName?.maxLength ?? 21

export const SLACK_MAPPING = defineTargetMapping({
  system: 'slack',
  vendor: 'Slack (SCIM API)',
  resource: 'user (`POST /scim/v2/Users`)',
  identity: '`externalId` equals the identity key (HR id); Slack filters only on userName and email, so Tenure checks externalId on what those return',
  attributes: [
    { path: ['externalId'], from: ['employeeId'], value: (e) => e.employeeId },
    { path: ['name', 'givenName'], from: ['firstName'], value: (e) => e.firstName },
    { path: ['name', 'familyName'], from: ['lastName'], value: (e) => e.lastName },
    { path: ['displayName'], from: ['displayName', 'firstName', 'lastName'], note: 'displayName, else "firstName lastName"', value: (e) => e.displayName ?? `${e.firstName} ${e.lastName}` },
    { path: ['active'], from: ['lifecycle'], note: 'false before day one and during a leave', value: (_e, c) => c.enabled },
    { path: ['title'], from: ['title'], value: (e) => e.title || undefined },
    { path: ['timezone'], from: ['timeZone'], value: (e) => e.timeZone || undefined },
    { path: [SLACK_ENTERPRISE_USER, 'employeeNumber'], label: 'enterprise.employeeNumber', from: ['employeeId'], value: (e) => e.employeeId },
    { path: [SLACK_ENTERPRISE_USER, 'department'], label: 'enterprise.department', from: ['department'], value: (e) => e.department || undefined },
    { path: [SLACK_ENTERPRISE_USER, 'costCenter'], label: 'enterprise.costCenter', from: ['costCenter'], value: (e) => e.costCenter || undefined },
  ],
  derived: [
    { target: 'emails[type=work, primary].value', from: 'HR\'s work email, else firstName.lastName (ASCII) at `slack.emailDomain`', uses: ['workEmail', 'firstName', 'lastName'] },
    { target: 'userName', from: 'the work email\'s local part, characters outside a-z 0-9 . _ - become _', uses: ['workEmail'], limit: `${SLACK_USERNAME_MAX} characters; cut to fit` },
    { target: 'enterprise.manager', from: 'not sent: a manager who is not in Slack yet would fail the whole create' },
  ],
  states: [
    { when: 'joiner before day one, leave', becomes: '`active=false`' },
    { when: 'day one, return from leave', becomes: '`active=true`' },
    { when: 'leaver cut-off (disable)', becomes: '`active=false` (PATCH, or DELETE per `slack.deactivateWith`); Slack signs a deactivated member out everywhere (https://slack.com/help/articles/204475027)' },
  ],
})
