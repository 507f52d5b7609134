import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose'
import { pkcePair, startOidcIssuer, type OidcIssuer } from '../../test/helpers/oidc.ts'
import { validateConfig } from '../config/load.ts'
import { ApiError } from '../http/errors.ts'
import { createLogger } from '../log.ts'
import { createOidcVerifier } from './oidc.ts'
import { realClock, startHarness, type Harness } from './test-support.ts'

type ErrorBody = { error: { code: string; message: string } }

const roleMapping = {
  admin: ['tenure-admins'],
  approver: ['it-approvers'],
  operator: ['it-ops'],
  auditor: ['compliance'],
}

function oidcConfig(issuer: OidcIssuer, extra: Record<string, unknown> = {}) {
  return validateConfig({ auth: { oidc: { issuer: issuer.issuer, audience: issuer.audience, roleMapping, ...extra } } }).auth.oidc!
}

describe('SSO with OIDC bearer tokens', () => {
  let idp: OidcIssuer
  let h: Harness
  before(async () => {
    idp = await startOidcIssuer()
    h = await startHarness({
      clock: realClock(),
      config: { auth: { oidc: { issuer: idp.issuer, audience: idp.audience, roleMapping, jwksCooldownSeconds: 0 }, rateLimit: { enabled: false } } },
    })
  })
  after(async () => {
    await h.close()
    await idp.close()
  })

  const whoami = (jwt: string) => h.call('get', '/api/v1/whoami', { token: jwt })
  const expectRefused = async (jwt: string, code: string, message?: RegExp) => {
    const res = await whoami(jwt)
    assert.equal(res.status, 401, res.text)
    const body = res.json as ErrorBody
    assert.equal(body.error.code, code)
    if (message) assert.match(body.error.message, message)
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="tenure", error="invalid_token"/)
    assert.equal(res.text.includes(jwt), false, 'the token is never echoed')
  }

  test('when a valid RS256 token arrives, then the user is authenticated with the mapped roles', async () => {
    const jwt = await idp.sign({ sub: 'u-42', name: 'Grace Hopper', email: 'grace@example.com', roles: ['tenure-admins', 'compliance', 'unrelated'] })
    const res = await whoami(jwt)
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(res.json, { kind: 'oidc', id: 'u-42', name: 'Grace Hopper', email: 'grace@example.com', roles: ['admin', 'auditor'] })
  })

  test('when a valid ES256 token arrives, then it is accepted too', async () => {
    const jwt = await idp.sign({ sub: 'u-es', roles: ['it-ops'] }, { alg: 'ES256' })
    const res = await whoami(jwt)
    assert.equal(res.status, 200, res.text)
    assert.deepEqual((res.json as { roles: string[] }).roles, ['operator'])
  })

  test('when the user holds no mapped group, then the token is valid but every endpoint answers 403', async () => {
    const jwt = await idp.sign({ sub: 'u-nobody', roles: ['marketing'] })
    const res = await whoami(jwt)
    assert.equal(res.status, 403)
    assert.equal((res.json as ErrorBody).error.code, 'forbidden')
    assert.match((res.json as ErrorBody).error.message, /holds no Tenure role/)
    assert.equal((await h.call('get', '/api/v1/tokens', { token: jwt })).status, 403)
  })

  test('when the signature was made with another key, then the token is refused', async () => {
    const { privateKey } = await generateKeyPair('RS256')
    await expectRefused(await idp.sign({ sub: 'mallory', roles: ['tenure-admins'] }, { key: privateKey }), 'invalid_token', /signature/)
  })

  test('when the token names another issuer, then it is refused', async () => {
    await expectRefused(await idp.sign({ sub: 'u', roles: ['tenure-admins'] }, { issuer: 'https://evil.example.com' }), 'invalid_token', /"iss"/)
  })

  test('when the token is meant for another audience, then it is refused', async () => {
    await expectRefused(await idp.sign({ sub: 'u', roles: ['tenure-admins'] }, { audience: 'some-other-api' }), 'invalid_token', /"aud"/)
  })

  test('when the token expired beyond the clock tolerance, then it is refused as expired', async () => {
    await expectRefused(await idp.sign({ sub: 'u', roles: ['tenure-admins'] }, { expiresIn: -31, issuedAt: -600 }), 'token_expired')
    const withinTolerance = await idp.sign({ sub: 'u', roles: ['tenure-admins'] }, { expiresIn: -10, issuedAt: -600 })
    assert.equal((await whoami(withinTolerance)).status, 200, 'a few seconds of clock skew are tolerated')
  })

  test('when the token is not valid yet, then it is refused', async () => {
    await expectRefused(await idp.sign({ sub: 'u', roles: ['tenure-admins'] }, { notBefore: 600 }), 'invalid_token', /not valid yet/)
  })

  test('when the token has no subject, then it is refused', async () => {
    await expectRefused(await idp.sign({ roles: ['tenure-admins'] }, { omit: ['sub'] }), 'invalid_token', /"sub"/)
  })

  test('when the token is unsigned (alg none), then it is refused', async () => {
    const now = Math.floor(Date.now() / 1000)
    const unsigned = new UnsecuredJWT({ sub: 'mallory', roles: ['tenure-admins'] })
      .setIssuer(idp.issuer)
      .setAudience(idp.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .encode()
    await expectRefused(unsigned, 'invalid_token', /algorithm/)
  })

  test('when the token is HS256-signed with the public key as secret (algorithm confusion), then it is refused', async () => {
    const now = Math.floor(Date.now() / 1000)
    const pem = await idp.publicKeyPem('RS256')
    const confused = await new SignJWT({ sub: 'mallory', roles: ['tenure-admins'] })
      .setProtectedHeader({ alg: 'HS256', kid: idp.kid('RS256') })
      .setIssuer(idp.issuer)
      .setAudience(idp.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(new TextEncoder().encode(pem))
    await expectRefused(confused, 'invalid_token', /algorithm/)
  })

  test('when the provider rotates its keys, then a token with the new kid is accepted after one refetch', async () => {
    assert.equal((await whoami(await idp.sign({ sub: 'before', roles: ['it-ops'] }))).status, 200)
    const fetchesBefore = idp.jwksRequests
    const oldKid = idp.kid()
    await idp.rotateKeys()
    assert.notEqual(idp.kid(), oldKid)
    const res = await whoami(await idp.sign({ sub: 'after', roles: ['it-ops'] }))
    assert.equal(res.status, 200, res.text)
    assert.equal(idp.jwksRequests, fetchesBefore + 1, 'exactly one refetch for the unknown kid')
    assert.equal((await whoami(await idp.sign({ sub: 'after-2', roles: ['it-ops'] }))).status, 200)
    assert.equal(idp.jwksRequests, fetchesBefore + 1, 'the new key set is cached')
  })

  test('when a client signs in with the authorization code flow and PKCE, then its access token works on the API', async () => {
    const redirectUri = 'http://127.0.0.1:5173/callback'
    idp.clients = [{ clientId: 'tenure-console', redirectUris: [redirectUri] }]
    idp.user = { sub: 'u-console', name: 'Katherine Johnson', email: 'kj@example.com', roles: ['it-approvers'] }
    const { verifier, challenge } = pkcePair()
    const discovery = (await (await fetch(idp.discoveryUrl)).json()) as { authorization_endpoint: string; token_endpoint: string }
    const authorize = new URL(discovery.authorization_endpoint)
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: 'tenure-console',
      redirect_uri: redirectUri,
      scope: 'openid profile email',
      state: 'st-1',
      nonce: 'n-1',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }))
      authorize.searchParams.set(k, v)
    const redirect = await fetch(authorize, { redirect: 'manual' })
    assert.equal(redirect.status, 302)
    const back = new URL(redirect.headers.get('location')!)
    assert.equal(back.origin + back.pathname, redirectUri)
    assert.equal(back.searchParams.get('state'), 'st-1')
    assert.equal(back.searchParams.get('iss'), idp.issuer)
    const code = back.searchParams.get('code')!

    const exchange = (form: Record<string, string>) =>
      fetch(discovery.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) })
    const wrongVerifier = await exchange({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: 'tenure-console', code_verifier: pkcePair().verifier })
    assert.equal(wrongVerifier.status, 400)
    assert.equal(((await wrongVerifier.json()) as { error: string }).error, 'invalid_grant')

    // A failed exchange burns the code (RFC 6749 §4.1.2): sign in again.
    const second = await fetch(authorize, { redirect: 'manual' })
    const code2 = new URL(second.headers.get('location')!).searchParams.get('code')!
    const ok = await exchange({ grant_type: 'authorization_code', code: code2, redirect_uri: redirectUri, client_id: 'tenure-console', code_verifier: verifier })
    assert.equal(ok.status, 200)
    const tokens = (await ok.json()) as { access_token: string; id_token: string; token_type: string }
    assert.equal(tokens.token_type, 'Bearer')
    const replay = await exchange({ grant_type: 'authorization_code', code: code2, redirect_uri: redirectUri, client_id: 'tenure-console', code_verifier: verifier })
    assert.equal(replay.status, 400, 'a code is single-use')

    const res = await whoami(tokens.access_token)
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(res.json, { kind: 'oidc', id: 'u-console', name: 'Katherine Johnson', email: 'kj@example.com', roles: ['approver'] })
    assert.equal((await whoami(tokens.id_token)).status, 401, 'an ID token is addressed to the client, not to the API')
  })
})

describe('OIDC verifier', () => {
  let idp: OidcIssuer
  before(async () => {
    idp = await startOidcIssuer()
  })
  after(async () => {
    await idp.close()
  })

  test('when tokens name unknown kids within the cooldown, then the key set is not fetched again', async () => {
    const verifier = createOidcVerifier(oidcConfig(idp, { jwksCooldownSeconds: 30 }))
    await verifier.verify(await idp.sign({ sub: 'u', roles: [] }))
    const fetches = idp.jwksRequests
    for (let i = 0; i < 5; i++) {
      await assert.rejects(verifier.verify(await idp.sign({ sub: 'u' }, { kid: `forged-${i}` })), (err: unknown) => {
        assert.ok(err instanceof ApiError)
        assert.equal(err.status, 401)
        return true
      })
    }
    assert.equal(idp.jwksRequests, fetches, 'forged kids cannot make Tenure hammer the provider')
  })

  test('when the roles claim is a dotted path, then the nested values are mapped (Keycloak realm roles)', async () => {
    const verifier = createOidcVerifier(oidcConfig(idp, { rolesClaim: 'realm_access.roles' }))
    const principal = await verifier.verify(await idp.sign({ sub: 'kc', realm_access: { roles: ['compliance', 'it-ops'] } }))
    assert.deepEqual(principal.roles, ['operator', 'auditor'])
  })

  test('when the roles claim name itself contains dots, then it is read as one claim (Auth0 namespaced claims)', async () => {
    const verifier = createOidcVerifier(oidcConfig(idp, { rolesClaim: 'https://tenure.example.com/groups' }))
    const principal = await verifier.verify(await idp.sign({ sub: 'a0', 'https://tenure.example.com/groups': 'it-approvers other' }))
    assert.deepEqual(principal.roles, ['approver'])
  })

  test('when jwksUrl is configured, then discovery is not needed', async () => {
    const verifier = createOidcVerifier(oidcConfig(idp, { jwksUrl: idp.jwksUrl }))
    const principal = await verifier.verify(await idp.sign({ sub: 'direct', roles: ['tenure-admins'] }))
    assert.deepEqual(principal.roles, ['admin'])
  })

  test('when the provider is unreachable, then the answer is 503 with Retry-After, not 401', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number }
        probe.close(() => resolve(port))
      })
    })
    const config = validateConfig({ auth: { oidc: { issuer: `http://127.0.0.1:${port}`, audience: 'x', requestTimeoutMs: 1000 } } }).auth.oidc!
    const verifier = createOidcVerifier(config)
    await assert.rejects(verifier.verify(await idp.sign({ sub: 'u' }, { issuer: config.issuer })), (err: unknown) => {
      assert.ok(err instanceof ApiError)
      assert.equal(err.status, 503)
      assert.equal(err.code, 'identity_provider_unavailable')
      assert.equal(err.headers['Retry-After'], '5')
      return true
    })
  })

  test('when the discovery document names another issuer, then tokens are refused', async () => {
    // Configured issuer differs from what the provider says it is (OIDC Discovery §4.3).
    const config = validateConfig({ auth: { oidc: { issuer: `${idp.issuer}/`, audience: idp.audience } } }).auth.oidc!
    const lines: string[] = []
    const log = createLogger({ level: 'info', destination: new Writable({ write: (chunk: Buffer, _enc, done) => void (lines.push(chunk.toString()), done()) }) })
    const verifier = createOidcVerifier(config, { log })
    await assert.rejects(verifier.verify(await idp.sign({ sub: 'u' }, { issuer: config.issuer })), (err: unknown) => err instanceof ApiError && err.status === 503)
    assert.match(lines.join(''), /names issuer.*OIDC discovery failed/, 'the operator learns why')
  })
})

describe('SSO not configured', () => {
  test('when a JWT arrives and no provider is configured, then it is refused with a message saying so', async () => {
    const idp = await startOidcIssuer()
    const h = await startHarness()
    try {
      const res = await h.call('get', '/api/v1/whoami', { token: await idp.sign({ sub: 'u', roles: ['tenure-admins'] }) })
      assert.equal(res.status, 401)
      assert.match((res.json as ErrorBody).error.message, /single sign-on is not configured/)
    } finally {
      await h.close()
      await idp.close()
    }
  })
})
