import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { z } from 'zod'
import { hrSourceConfigSchema, hrSourcesConfigSchema } from './types.ts'
import { HR_DEV_WEBHOOK_SECRETS } from './emulators/index.ts'

const issues = (input: unknown) => {
  const r = hrSourcesConfigSchema.safeParse(input)
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

describe('hr source config', () => {
  test('when a source is configured with an env secret, then the secret resolves and prints as [redacted]', () => {
    process.env.TENURE_TEST_BOB_SECRET = 'bob-secret-from-env'
    const cfg = hrSourceConfigSchema.parse({ secrets: [{ env: 'TENURE_TEST_BOB_SECRET' }] })
    assert.equal(cfg.secrets[0]!.reveal(), 'bob-secret-from-env')
    assert.ok(!JSON.stringify(cfg).includes('bob-secret-from-env'))
    assert.deepEqual(
      { tolerance: cfg.timestampToleranceSeconds, bulk: cfg.trustedForBulk, reconcile: cfg.reconcile, enabled: cfg.enabled, tz: cfg.defaultTimeZone },
      { tolerance: 300, bulk: false, reconcile: { enabled: true, intervalMinutes: 30, lookbackHours: 72 }, enabled: true, tz: 'UTC' },
    )
  })

  test('when the env variable is missing, then the error names the secret’s path', () => {
    delete process.env.TENURE_TEST_MISSING
    assert.deepEqual(issues({ hibob: { secrets: [{ env: 'TENURE_TEST_MISSING' }] } }), ['hibob.secrets.0: environment variable TENURE_TEST_MISSING is not set'])
  })

  test('when three secrets are given, then it is refused (rotation uses two)', () => {
    assert.ok(issues({ deel: { secrets: ['a', 'b', 'c'] } }).some((i) => i.startsWith('deel.secrets')))
  })

  test('when a push source has no secret, then the config is refused for that source', () => {
    assert.deepEqual(issues({ deel: {} }), ['deel.secrets: deel needs at least one webhook secret'])
    assert.deepEqual(issues({ deel: { enabled: false } }), [])
  })

  test('when Gusto has no secret yet, then the config is accepted (it waits for the verification handshake)', () => {
    assert.deepEqual(issues({ gusto: {} }), [])
  })

  test('when the generic secret is not a whsec_ key of at least 24 bytes, then it is refused', () => {
    assert.deepEqual(issues({ generic: { secrets: ['whsec_c2hvcnQ='] } }), [
      'generic.secrets.0: a Standard Webhooks secret: whsec_ followed by at least 24 base64-encoded random bytes',
    ])
    assert.deepEqual(issues({ generic: { secrets: [HR_DEV_WEBHOOK_SECRETS.generic] } }), [])
  })

  test('when vendor options the API client needs are missing, then each is named', () => {
    const api = { credentials: { type: 'bearer', token: 't' } }
    assert.deepEqual(issues({ bamboohr: { secrets: ['k'], api: { credentials: { type: 'api_key', apiKey: 'k' } } } }), ['bamboohr.bamboohr.companyDomain: required when api is set'])
    assert.deepEqual(issues({ merge: { secrets: ['k'], api } }), ['merge.merge.accountToken: required when api is set'])
    assert.deepEqual(issues({ gusto: { secrets: ['k'], api } }), ['gusto.gusto.companyUuid: required when api is set'])
    assert.deepEqual(issues({ workday: {} }), ['workday.workday.reportUrl: Workday is polled: the report URL is required', 'workday.api: Workday is polled: api credentials are required'])
  })

  test('when an unknown key is present, then it is refused rather than ignored', () => {
    assert.ok(issues({ hibob: { secrets: ['s'], secret: 's' } }).length > 0)
    assert.ok(issues({ workdays: {} }).length > 0)
  })

  test('when the credentials type is unknown, then the error points at api.credentials.type', () => {
    assert.ok(issues({ deel: { secrets: ['s'], api: { credentials: { type: 'magic' } } } }).some((i) => i.startsWith('deel.api.credentials.type')))
  })

  test('when the schema is inspected, then every configurable key carries a description', () => {
    const undocumented: string[] = []
    const walk = (schema: z.ZodType, path: string) => {
      const s = schema as z.ZodType & { def: { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType>; options?: z.ZodType[] } }
      if (s.def.type === 'object') {
        for (const [k, v] of Object.entries((s as unknown as z.ZodObject).shape)) {
          if (!v.description && !['type'].includes(k) && !path.includes('workday.fields')) undocumented.push(`${path}${k}`)
          walk(v, `${path}${k}.`)
        }
      } else if (s.def.innerType) walk(s.def.innerType, path)
      else if (s.def.options) for (const o of s.def.options) walk(o, path)
    }
    walk(hrSourceConfigSchema, '')
    assert.deepEqual(undocumented, [])
  })
})
