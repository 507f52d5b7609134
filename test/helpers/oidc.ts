/**
 * A local OpenID Connect provider on 127.0.0.1 for tests and the web console's development:
 *
 *   GET  /.well-known/openid-configuration   discovery (OpenID Connect Discovery 1.0 §3)
 *   GET  /jwks                               the public keys (current, plus the previous ones kept on rotation)
 *   GET  /authorize                          authorization code flow with PKCE (RFC 7636, S256 only),
 *                                            signs in `user` without a login page
 *   POST /token                              authorization_code and refresh_token grants
 *   GET  /userinfo                           the signed-in user's claims
 *
 * Tokens are real: signed with jose by RSA (RS256) and EC (ES256) keys generated at start.
 * `sign()` issues an access token directly, with any claim or header overridden, so tests can
 * also forge expired, misaddressed or badly signed ones.
 */
import { createHash, createPublicKey, randomBytes, randomUUID, type JsonWebKey } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express, { type Request, type Response } from 'express'
import { exportJWK, generateKeyPair, jwtVerify, createLocalJWKSet, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

export type SigningAlg = 'RS256' | 'ES256'

interface SigningKey {
  kid: string
  alg: SigningAlg
  privateKey: CryptoKey
  publicJwk: JWK
}

export interface OidcClient {
  clientId: string
  redirectUris: string[]
  /** Confidential clients authenticate at /token (client_secret_basic or client_secret_post); public ones use PKCE alone. */
  clientSecret?: string
}

export interface SignOptions {
  alg?: SigningAlg
  /** Override the kid in the header (an unknown one, to test key lookup). */
  kid?: string
  issuer?: string
  audience?: string | string[]
  /** Seconds from now; negative for an expired token. Default 300. */
  expiresIn?: number
  /** Seconds from now for nbf; omitted when undefined. */
  notBefore?: number
  /** Seconds from now for iat. Default 0. */
  issuedAt?: number
  /** Drop these registered claims entirely. */
  omit?: Array<'exp' | 'sub' | 'iat'>
  /** Use another key than the issuer's (a forged signature). */
  key?: CryptoKey
}

export interface OidcIssuer {
  /** http://127.0.0.1:<port>, exactly as the `iss` claim. */
  readonly issuer: string
  readonly jwksUrl: string
  readonly discoveryUrl: string
  /** The audience access tokens carry by default. */
  readonly audience: string
  /** How many times /jwks was fetched. */
  readonly jwksRequests: number
  /** The claims of whoever signs in at /authorize next (sub is required). */
  user: JWTPayload & { sub: string }
  clients: OidcClient[]
  /** The kid of the active key for an algorithm. */
  kid(alg?: SigningAlg): string
  /** The active public key as published, and as PEM (SPKI) for algorithm-confusion tests. */
  publicJwk(alg?: SigningAlg): JWK
  publicKeyPem(alg?: SigningAlg): Promise<string>
  sign(claims: JWTPayload, options?: SignOptions): Promise<string>
  /** New keys for every algorithm; the old ones stay published when keepPrevious (the usual overlap). */
  rotateKeys(options?: { keepPrevious?: boolean }): Promise<void>
  close(): Promise<void>
}

export interface StartOidcOptions {
  audience?: string
  user?: JWTPayload & { sub: string }
  clients?: OidcClient[]
  /** Lifetime of issued access and ID tokens, seconds. */
  tokenLifetime?: number
}

async function newKey(alg: SigningAlg): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const kid = `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { kid, alg, privateKey, publicJwk }
}

interface CodeGrant {
  clientId: string
  redirectUri: string
  challenge: string
  scope: string
  nonce?: string
  user: JWTPayload & { sub: string }
  expiresAt: number
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url')
}

/** PKCE: a verifier and its S256 challenge, as a client makes them. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: s256(verifier) }
}

export async function startOidcIssuer(options: StartOidcOptions = {}): Promise<OidcIssuer> {
  const lifetime = options.tokenLifetime ?? 300
  let active: Record<SigningAlg, SigningKey> = { RS256: await newKey('RS256'), ES256: await newKey('ES256') }
  let published: SigningKey[] = Object.values(active)
  let jwksRequests = 0
  const codes = new Map<string, CodeGrant>()
  const refreshTokens = new Map<string, { clientId: string; scope: string; user: JWTPayload & { sub: string } }>()
  const app = express()
  app.disable('x-powered-by')
  app.use(express.urlencoded({ extended: false, limit: '16kb' }))
  // Like real providers, let browser apps (the console, a public client) read discovery, keys and
  // token answers from another origin. No credentials: the PKCE verifier is what proves the client.
  app.use((_req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*')
    next()
  })
  const server: Server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const audience = options.audience ?? 'tenure-api'

  const state = {
    user: options.user ?? { sub: 'user-1', name: 'Ada Lovelace', email: 'ada@example.com', roles: ['tenure-admins'] },
    clients: options.clients ?? [],
  }

  async function sign(claims: JWTPayload, o: SignOptions = {}): Promise<string> {
    const alg = o.alg ?? 'RS256'
    const key = active[alg]
    const now = Math.floor(Date.now() / 1000)
    const payload: JWTPayload = {
      iss: o.issuer ?? base,
      aud: o.audience ?? audience,
      iat: now + (o.issuedAt ?? 0),
      exp: now + (o.expiresIn ?? lifetime),
      jti: randomUUID(),
      ...(o.notBefore !== undefined ? { nbf: now + o.notBefore } : {}),
      ...claims,
    }
    for (const claim of o.omit ?? []) delete payload[claim]
    return new SignJWT(payload).setProtectedHeader({ alg, kid: o.kid ?? key.kid, typ: 'at+jwt' }).sign(o.key ?? key.privateKey)
  }

  const client = (id: unknown) => state.clients.find((c) => c.clientId === id)
  const oauthError = (res: Response, status: number, error: string, description: string) =>
    res.status(status).setHeader('Cache-Control', 'no-store').json({ error, error_description: description })

  app.get('/.well-known/openid-configuration', (_req, res) => {
    res.json({
      issuer: base,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      userinfo_endpoint: `${base}/userinfo`,
      jwks_uri: `${base}/jwks`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      claims_supported: ['sub', 'name', 'email', 'roles'],
    })
  })

  app.get('/jwks', (_req, res) => {
    jwksRequests += 1
    res.json({ keys: published.map((k) => k.publicJwk) })
  })

  // RFC 6749 §4.1.1 / §4.1.2.1: a bad client or redirect_uri is shown to the user, never redirected to.
  app.get('/authorize', (req: Request, res: Response) => {
    const q = req.query as Record<string, string | undefined>
    const c = client(q.client_id)
    if (!c) return void res.status(400).type('text').send('unknown client_id')
    if (!q.redirect_uri || !c.redirectUris.includes(q.redirect_uri)) return void res.status(400).type('text').send('redirect_uri is not registered for this client')
    const back = new URL(q.redirect_uri)
    const fail = (error: string, description: string) => {
      back.searchParams.set('error', error)
      back.searchParams.set('error_description', description)
      if (q.state) back.searchParams.set('state', q.state)
      res.redirect(302, back.toString())
    }
    if (q.response_type !== 'code') return fail('unsupported_response_type', 'only response_type=code')
    if (!q.scope?.split(' ').includes('openid')) return fail('invalid_scope', 'scope must include openid')
    if (!q.code_challenge) return fail('invalid_request', 'PKCE is required: send code_challenge')
    if (q.code_challenge_method !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256')
    const code = randomBytes(24).toString('base64url')
    codes.set(code, {
      clientId: c.clientId,
      redirectUri: q.redirect_uri,
      challenge: q.code_challenge,
      scope: q.scope,
      nonce: q.nonce,
      user: structuredClone(state.user),
      expiresAt: Date.now() + 60_000,
    })
    back.searchParams.set('code', code)
    if (q.state) back.searchParams.set('state', q.state)
    back.searchParams.set('iss', base) // RFC 9207
    res.redirect(302, back.toString())
  })

  async function issue(res: Response, clientId: string, scope: string, user: JWTPayload & { sub: string }, nonce?: string): Promise<void> {
    const { sub, ...claims } = user
    const accessToken = await sign({ ...claims, sub, scope, client_id: clientId })
    const idToken = await sign({ ...claims, sub, ...(nonce ? { nonce } : {}) }, { audience: clientId })
    const body: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer', expires_in: lifetime, id_token: idToken, scope }
    if (scope.split(' ').includes('offline_access')) {
      const refresh = randomBytes(24).toString('base64url')
      refreshTokens.set(refresh, { clientId, scope, user })
      body.refresh_token = refresh
    }
    res.setHeader('Cache-Control', 'no-store').json(body)
  }

  app.post('/token', async (req: Request, res: Response) => {
    const form = (req.body ?? {}) as Record<string, string | undefined>
    let clientId = form.client_id
    let secret = form.client_secret
    const basic = /^Basic (.+)$/i.exec(req.get('authorization') ?? '')
    if (basic) {
      const [id, pass] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':')
      clientId = decodeURIComponent(id ?? '')
      secret = decodeURIComponent(pass ?? '')
    }
    const c = client(clientId)
    if (!c || (c.clientSecret !== undefined && c.clientSecret !== secret)) return void oauthError(res, 401, 'invalid_client', 'unknown client or bad secret')
    if (form.grant_type === 'authorization_code') {
      const grant = form.code ? codes.get(form.code) : undefined
      if (form.code) codes.delete(form.code) // single use, even when the exchange fails (RFC 6749 §4.1.2)
      if (!grant || grant.expiresAt < Date.now()) return void oauthError(res, 400, 'invalid_grant', 'unknown, used or expired code')
      if (grant.clientId !== c.clientId) return void oauthError(res, 400, 'invalid_grant', 'the code was issued to another client')
      if (grant.redirectUri !== form.redirect_uri) return void oauthError(res, 400, 'invalid_grant', 'redirect_uri differs from the authorization request')
      if (!form.code_verifier || s256(form.code_verifier) !== grant.challenge) return void oauthError(res, 400, 'invalid_grant', 'PKCE verification failed')
      return void (await issue(res, c.clientId, grant.scope, grant.user, grant.nonce))
    }
    if (form.grant_type === 'refresh_token') {
      const stored = form.refresh_token ? refreshTokens.get(form.refresh_token) : undefined
      if (form.refresh_token) refreshTokens.delete(form.refresh_token) // rotated on every use
      if (!stored || stored.clientId !== c.clientId) return void oauthError(res, 400, 'invalid_grant', 'unknown or used refresh token')
      return void (await issue(res, c.clientId, stored.scope, stored.user))
    }
    oauthError(res, 400, 'unsupported_grant_type', 'authorization_code or refresh_token')
  })

  app.get('/userinfo', async (req: Request, res: Response) => {
    const token = /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1]
    try {
      if (!token) throw new Error('no token')
      const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: published.map((k) => k.publicJwk) }), { issuer: base, audience })
      const { iss: _iss, aud: _aud, exp: _exp, iat: _iat, nbf: _nbf, jti: _jti, scope: _scope, client_id: _cid, ...claims } = payload
      res.json(claims)
    } catch {
      res.status(401).setHeader('WWW-Authenticate', 'Bearer error="invalid_token"').end()
    }
  })

  return {
    issuer: base,
    jwksUrl: `${base}/jwks`,
    discoveryUrl: `${base}/.well-known/openid-configuration`,
    audience,
    get jwksRequests() {
      return jwksRequests
    },
    get user() {
      return state.user
    },
    set user(value) {
      state.user = value
    },
    get clients() {
      return state.clients
    },
    set clients(value) {
      state.clients = value
    },
    kid: (alg = 'RS256') => active[alg].kid,
    publicJwk: (alg = 'RS256') => active[alg].publicJwk,
    publicKeyPem: async (alg = 'RS256') =>
      createPublicKey({ key: active[alg].publicJwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString(),
    sign,
    rotateKeys: async ({ keepPrevious = false } = {}) => {
      const previous = published
      active = { RS256: await newKey('RS256'), ES256: await newKey('ES256') }
      published = keepPrevious ? [...Object.values(active), ...previous] : Object.values(active)
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
