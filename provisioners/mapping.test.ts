import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildTargetAttributes, pathLabel } from './mapping.ts'
import { ENTRA_MAPPING } from './entra/mapping.ts'
import { GOOGLE_MAPPING } from './google/mapping.ts'
import { jiraUserAttributes, JIRA_MAPPING } from './jira/mapping.ts'
import { SLACK_ENTERPRISE_USER, SLACK_MAPPING } from './slack/mapping.ts'
import { SCIM_MAPPING } from './scim/mapping.ts'
import { buildUser } from './scim/resources.ts'
import { attributeMappingSchema } from './scim/config.ts'
import type { EmployeeProfile } from './types.ts'

const everything: EmployeeProfile = {
  employeeId: 'E1001',
  firstName: 'Ada',
  lastName: 'Lovelace',
  displayName: 'Ada Lovelace',
  workEmail: 'ada@example.com',
  department: 'Engineering',
  title: 'Staff Engineer',
  costCenter: 'CC-7',
  managerId: 'E1',
  managerEmail: 'boss@example.com',
  timeZone: 'Europe/London',
  countryCode: 'GB',
}

test('when a profile has every attribute, then each target table sends a value for every row', () => {
  const scimDefaults = attributeMappingSchema.parse({})
  const cases = [
    ['google', GOOGLE_MAPPING.attributes.map((a) => a.path), buildTargetAttributes(GOOGLE_MAPPING, everything, { enabled: true })],
    ['entra', ENTRA_MAPPING.attributes.map((a) => a.path), buildTargetAttributes(ENTRA_MAPPING, everything, { enabled: true, identityKeyAttribute: 'extensionAttribute15', usageLocation: 'GB' })],
    ['slack', SLACK_MAPPING.attributes.map((a) => a.path), buildTargetAttributes(SLACK_MAPPING, everything, { enabled: true })],
    ['jira', JIRA_MAPPING.attributes.map((a) => a.path), buildTargetAttributes(JIRA_MAPPING, everything, { enabled: true })],
    ['scim', SCIM_MAPPING.attributes.map((a) => a.path), buildTargetAttributes(SCIM_MAPPING, everything, { enabled: true, mapping: scimDefaults, managerId: 'u-9' })],
  ] as const
  for (const [system, paths, body] of cases) {
    for (const path of paths) {
      let node: unknown = body
      for (const key of path) node = (node as Record<string | number, unknown> | undefined)?.[key]
      assert.notEqual(node, undefined, `${system}: ${pathLabel({ path })} has no value`)
    }
  }
})

test('when the identity key is longer than 16 characters, then Entra gets it in the extension attribute only, never cut', () => {
  const long = { ...everything, employeeId: 'bamboohr:12345678901' }
  const body = buildTargetAttributes(ENTRA_MAPPING, long, { enabled: false, identityKeyAttribute: 'extensionAttribute3', usageLocation: undefined })
  assert.equal(body.employeeId, undefined)
  assert.deepEqual(body.onPremisesExtensionAttributes, { extensionAttribute3: 'bamboohr:12345678901' })
  assert.equal(body.accountEnabled, false)
  assert.equal('usageLocation' in body, false)
})

test('when a profile has only the required attributes, then optional target attributes are left out, not sent empty', () => {
  const bare: EmployeeProfile = { employeeId: 'E2', firstName: 'Grace', lastName: 'Hopper' }
  assert.deepEqual(buildTargetAttributes(SLACK_MAPPING, bare, { enabled: true }), {
    externalId: 'E2',
    name: { givenName: 'Grace', familyName: 'Hopper' },
    displayName: 'Grace Hopper',
    active: true,
    [SLACK_ENTERPRISE_USER]: { employeeNumber: 'E2' },
  })
  assert.equal('organizations' in buildTargetAttributes(GOOGLE_MAPPING, bare, { enabled: true }), false)
  assert.deepEqual(jiraUserAttributes(bare, false), { externalId: 'E2', givenName: 'Grace', familyName: 'Hopper', displayName: 'Grace Hopper', active: false })
})

test('when SCIM sends only some attributes, then the table leaves the others out of the User', () => {
  const mapping = attributeMappingSchema.parse({ send: ['name'] })
  assert.deepEqual(buildUser(everything, 'ada@example.com', { mapping, active: true }), {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: 'ada@example.com',
    name: { givenName: 'Ada', familyName: 'Lovelace', formatted: 'Ada Lovelace' },
  })
})
