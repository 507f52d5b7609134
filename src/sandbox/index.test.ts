import { test } from 'node:test'
import assert from 'node:assert/strict'
import { systemsConfigSchema } from '../../provisioners/registry.ts'
import { sandboxSystems } from './index.ts'

test('when the sandbox config file configures SCIM apps, then serve --sandbox keeps them beside the emulated one', () => {
  const configured = systemsConfigSchema.parse({
    scim: [
      { name: 'acme', baseUrl: 'https://scim.acme.example/v2', auth: { type: 'bearer', token: 'literal-test-token' } },
      { name: 'sandbox', baseUrl: 'https://elsewhere.example/scim', auth: { type: 'bearer', token: 'other' } },
    ],
    disabled: ['jira'],
  })
  const urls = { google: 'http://127.0.0.1:1', entra: 'http://127.0.0.1:2', slack: 'http://127.0.0.1:3', jira: 'http://127.0.0.1:4', scim: 'http://127.0.0.1:5' }
  const systems = sandboxSystems(urls, configured)
  assert.deepEqual(systems.scim.map((app) => app.name), ['acme', 'sandbox'])
  assert.equal(systems.scim[0]?.baseUrl, 'https://scim.acme.example/v2')
  assert.equal(systems.scim[1]?.baseUrl, 'http://127.0.0.1:5/scim/v2', 'the emulated app takes the place of one of the same name')
  assert.deepEqual(systems.disabled, ['jira'])
})
