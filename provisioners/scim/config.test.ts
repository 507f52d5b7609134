import { test } from 'node:test'
import assert from 'node:assert/strict'
import { scimAppConfigSchema, scimConfigSchema } from './config.ts'
import { canonicalKeys, lowerKeys, SCHEMA } from '../scim-core/schemas.ts'
import { buildUser, renderTemplate } from './resources.ts'

const app = (extra: Record<string, unknown> = {}) => ({
  name: 'acme',
  baseUrl: 'https://acme.example.com/scim/v2',
  auth: { type: 'bearer', token: 'literal-dev-token' },
  ...extra,
})

const ada = { employeeId: 'E1', firstName: 'Ada', lastName: 'Lovelace', workEmail: 'Ada@Example.com' }

test('when an app entry leaves quirks and mapping out, then the RFC defaults apply', () => {
  const config = scimAppConfigSchema.parse(app())
  // Capabilities left unset are discovered from the app (ServiceProviderConfig, Schemas).
  assert.equal(config.quirks.updateMethod, undefined)
  assert.equal(config.quirks.filterSupported, undefined)
  assert.equal(config.quirks.groupsOnUser, undefined)
  assert.equal(config.quirks.contentType, 'application/scim+json')
  assert.equal(config.attributeMapping.userName, '{workEmail}')
  assert.equal(config.timeoutMs, 30_000)
  assert.equal(JSON.stringify(config).includes('literal-dev-token'), false, 'the token is redacted when serialised')
})

test('when the config is wrong, then parsing names the problem', () => {
  const problems: Array<[Record<string, unknown>, RegExp]> = [
    [{ baseUrl: 'http://acme.example.com/scim/v2' }, /https/],
    [{ attributeMapping: { userName: '{workMail}' } }, /unknown profile field "workMail"/],
    [{ attributeMapping: { userName: '{firstName:title}' } }, /unknown modifier/],
    [{ quirks: { updateMethod: 'post' } }, /updateMethod/],
    [{ name: 'Has Spaces' }, /name/],
    [{ auth: { type: 'oauth_client_credentials', tokenUrl: 'https://acme.example.com/token', clientId: 'x' } }, /clientSecret/],
  ]
  for (const [extra, message] of problems) {
    const result = scimAppConfigSchema.safeParse(app(extra))
    assert.equal(result.success, false, JSON.stringify(extra))
    assert.match((result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'), message)
  }
  const dup = scimConfigSchema.safeParse([app(), app()])
  assert.equal(dup.success, false)
  assert.match(JSON.stringify(dup.error?.issues), /duplicate SCIM app name/)
})

test('when templates render, then fallbacks, modifiers and missing fields behave', () => {
  assert.equal(renderTemplate('{workEmail:lower}', ada), 'ada@example.com')
  assert.equal(renderTemplate('{displayName|fullName}', ada), 'Ada Lovelace')
  assert.equal(renderTemplate('{firstName:lower}.{lastName:lower}@corp.example', ada), 'ada.lovelace@corp.example')
  assert.equal(renderTemplate('{department}', ada), undefined)
  assert.equal(renderTemplate('{firstName} {department}', ada), undefined, 'a half-rendered value is not sent')
})

test('when send leaves attributes out, then the User carries only userName and what is listed', () => {
  const config = scimAppConfigSchema.parse(app({ attributeMapping: { send: ['externalId', 'active'] } }))
  assert.deepEqual(buildUser({ ...ada, department: 'R&D' }, 'ada', { mapping: config.attributeMapping, active: false }), {
    schemas: [SCHEMA.user],
    userName: 'ada',
    externalId: 'E1',
    active: false,
  })
})

test('when a response uses other key cases, then it is read canonically; lower-case output keeps URNs intact', () => {
  assert.deepEqual(canonicalKeys({ USERNAME: 'a', Name: { GivenName: 'b' }, [SCHEMA.enterprise.toUpperCase()]: { DEPARTMENT: 'c' } }), {
    userName: 'a',
    name: { givenName: 'b' },
    [SCHEMA.enterprise]: { department: 'c' },
  })
  assert.deepEqual(lowerKeys({ userName: 'a', [SCHEMA.enterprise]: { costCenter: 'c' } }), {
    username: 'a',
    [SCHEMA.enterprise]: { costcenter: 'c' },
  })
})
