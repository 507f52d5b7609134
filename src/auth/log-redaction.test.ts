import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { generateKeyPair } from 'jose'
import { startOidcIssuer, type OidcIssuer } from '../../test/helpers/oidc.ts'
import { resolvedSecretValues, secret } from '../config/secret.ts'
import { API_ROUTES } from '../http/api-routes.ts'
import { SAMPLE_ROUTES } from '../../test/helpers/test-routes.ts'
import { createLogger } from '../log.ts'
import { realClock, startHarness, type Harness } from './test-support.ts'

describe('no credential reaches a log line', () => {
  const lines: string[] = []
  const used = new Set<string>()
  let h: Harness
  let idp: OidcIssuer
  before(async () => {
    idp = await startOidcIssuer()
    const log = createLogger({
      level: 'trace',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString())
          done()
        },
      }),
    })
    h = await startHarness({
      log,
      clock: realClock(),
      routes: [...API_ROUTES, ...SAMPLE_ROUTES],
      config: {
        auth: {
          oidc: { issuer: idp.issuer, audience: idp.audience, roleMapping: { admin: ['tenure-admins'] } },
          rateLimit: { failedAuthPerIpPerMinute: 1000 },
        },
      },
    })
  })
  after(async () => {
    await h.close()
    await idp.close()
  })

  test('when tokens, JWTs and passwords go through every path of the API, then no log line contains any of them', async () => {
    const admin = await h.token('admin', { name: 'log-admin' })
    used.add(admin.token)
    const created = (await h.call('post', '/api/v1/tokens', { token: admin.token, body: { name: 'made-over-http', role: 'operator', expiresIn: '1h' } })).json as {
      token: string
      apiToken: { id: string }
    }
    used.add(created.token)
    await h.call('get', '/api/v1/whoami', { token: created.token })
    await h.call('get', '/api/v1/tokens?limit=5', { token: admin.token })
    await h.call('delete', `/api/v1/tokens/${created.apiToken.id}`, { token: admin.token })
    await h.call('get', '/api/v1/whoami', { token: created.token }) // revoked
    const typo = created.token.slice(0, -2) + 'zz'
    used.add(typo)
    await h.call('get', '/api/v1/whoami', { token: typo })
    await h.call('get', `/api/v1/whoami?access_token=${encodeURIComponent(admin.token)}`) // never accepted, never logged
    await h.call('get', '/api/v1/samples/settings', { token: created.token })

    const jwt = await idp.sign({ sub: 'log-user', roles: ['tenure-admins'] })
    used.add(jwt)
    await h.call('get', '/api/v1/whoami', { token: jwt })
    const { privateKey } = await generateKeyPair('RS256')
    const forged = await idp.sign({ sub: 'mallory', roles: ['tenure-admins'] }, { key: privateKey })
    used.add(forged)
    await h.call('get', '/api/v1/tokens', { token: forged })
    const expired = await idp.sign({ sub: 'late' }, { expiresIn: -3600, issuedAt: -7200 })
    used.add(expired)
    await h.call('get', '/api/v1/whoami', { token: expired })

    const password = 'correct-horse-battery-staple'
    used.add(password)
    await h.call('get', '/api/v1/whoami', { headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } })
    await h.call('post', '/api/v1/tokens', { token: admin.token, body: { name: 'x', role: 'operator', expiresIn: password } })
    await h.call('post', '/webhooks/samples/workday', { headers: { 'x-sample-signature': password } })

    const configured = secret('sk_live_configured_secret_value')
    used.add(configured.reveal())
    await h.call('get', '/api/v1/samples/ping', { headers: { 'x-api-key': configured.reveal() } })

    const output = lines.join('')
    assert.doesNotMatch(output, /rate limiter (error|warning)|ERR_ERL_/, 'express-rate-limit is configured the way it expects')
    assert.ok(lines.length >= 15, `the logger captured the requests (${lines.length} lines)`)
    assert.match(output, /request rejected/)
    assert.match(output, /"actor":\{"type":"api_token","id":"[0-9a-f-]{36}"\}|"statusCode":200/)
    for (const value of [...used, ...resolvedSecretValues]) {
      assert.equal(output.includes(value), false, `a log line contains a credential (${value.slice(0, 8)}…)`)
      // The distinctive part alone, in case something logged a truncated or re-encoded form.
      if (value.startsWith('tnr_')) assert.equal(output.includes(value.slice(16, 40)), false)
      if (value.startsWith('eyJ')) assert.equal(output.includes(value.split('.')[2]!), false)
    }
  })
})
