import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { secret } from '../config/secret.ts'
import { isSensitiveKey, redactDetails } from './redact.ts'

describe('redactDetails', () => {
  test('when keys name credentials, then their values are masked wherever they are nested, and identifiers are kept', () => {
    const sensitive = ['token', 'access_token', 'refreshToken', 'id_token', 'Authorization', 'proxy-authorization', 'X-Api-Key', 'apiKeys', 'client_secret', 'webhookSecret', 'password', 'newPassword', 'passphrase', 'Set-Cookie', 'privateKey', 'signing_key', 'credentials', 'db_pwd']
    const kept = ['tokenId', 'token_id', 'tokenCount', 'secretName', 'passwordChangedAt', 'keyId', 'authorizedBy', 'cookieConsent']
    assert.deepEqual(sensitive.filter((k) => !isSensitiveKey(k)), [])
    assert.deepEqual(kept.filter((k) => isSensitiveKey(k)), [])
    assert.deepEqual(redactDetails({ calls: [{ headers: { authorization: 'x' }, status: 200 }], nested: { deeper: { apiKey: 'k', id: 7 } } }), {
      calls: [{ headers: { authorization: '[redacted]' }, status: 200 }],
      nested: { deeper: { apiKey: '[redacted]', id: 7 } },
    })
  })

  test('when a registered secret appears in text, then it is masked; a short one only as a whole value', () => {
    secret('shh')
    secret('a-long-configured-secret')
    assert.deepEqual(redactDetails({ a: 'shh', b: 'shhh, quiet', c: 'url?key=a-long-configured-secret&x=1' }), {
      a: '[redacted]',
      b: 'shhh, quiet',
      c: 'url?key=[redacted]&x=1',
    })
  })

  test('when details hold values JSON or jsonb cannot keep, then they are normalised instead of failing the write', () => {
    const circular: Record<string, unknown> = { name: 'loop' }
    circular.self = circular
    assert.deepEqual(
      redactDetails({ circular, undef: undefined, fn: () => 1, inf: Infinity, negZero: -0, list: [undefined, 1], lone: '\uD800x', when: new Date(Number.NaN) }),
      { circular: { name: 'loop', self: '[circular]' }, inf: null, negZero: 0, list: [null, 1], lone: '\uFFFDx', when: null },
    )
    assert.deepEqual(redactDetails(undefined), {})
  })
})
