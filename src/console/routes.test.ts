/**
 * The console's two routes over real HTTP (auth harness: real PostgreSQL for API tokens).
 * The sandbox route's happy path (a signed delivery through the real webhook) runs in the
 * browser tests (test/e2e/console.test.ts), where a whole Tenure with its HR worker is up.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startHarness, type Harness } from '../auth/test-support.ts'

describe('console routes', () => {
  let plain: Harness
  let sso: Harness
  before(async () => {
    plain = await startHarness()
    sso = await startHarness({
      pool: plain.pool,
      config: {
        auth: { oidc: { issuer: 'https://login.example.com/realms/acme', audience: 'tenure-api' } },
        console: { oidc: { clientId: 'tenure-console', scopes: ['profile', 'openid', 'tenure'] } },
      },
    })
  })
  after(async () => {
    await sso.close()
    await plain.close()
  })

  test('when SSO is not configured for the console, then its config offers API tokens only, to anyone', async () => {
    const res = await plain.call('GET', '/api/v1/console/config')
    assert.equal(res.status, 200)
    assert.deepEqual(res.json, { oidc: null, sandbox: false, version: (res.json as { version: string }).version })
  })

  test('when the console has an OIDC client, then its config names the issuer, the public client and the scopes with openid once', async () => {
    const res = await sso.call('GET', '/api/v1/console/config', { token: 'tnr_adm_refused-credentials-do-not-matter-here-0000000000' })
    assert.equal(res.status, 200)
    assert.deepEqual((res.json as { oidc: unknown }).oidc, {
      issuer: 'https://login.example.com/realms/acme',
      clientId: 'tenure-console',
      scopes: ['openid', 'profile', 'tenure'],
    })
  })

  test('when a sample HR event is asked outside the sandbox, then it is 404 even for an admin, and 403 for an auditor', async () => {
    const admin = await plain.token('admin')
    const auditor = await plain.token('auditor')
    const body = { event: 'leaver', employeeId: 'E1001' }
    const off = await plain.call('POST', '/api/v1/sandbox/hr-events', { token: admin.token, body })
    assert.equal(off.status, 404)
    assert.equal((off.json as { error: { code: string } }).error.code, 'not_sandbox')
    assert.equal((await plain.call('POST', '/api/v1/sandbox/hr-events', { token: auditor.token, body })).status, 403)
    const bad = await plain.call('POST', '/api/v1/sandbox/hr-events', { token: admin.token, body: { event: 'promotion', employeeId: '../x' } })
    assert.equal(bad.status, 400)
    assert.deepEqual(
      (bad.json as { error: { details: { issues: Array<{ path: string }> } } }).error.details.issues.map((i) => i.path).sort(),
      ['body.employeeId', 'body.event'],
    )
  })
})
