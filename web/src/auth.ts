/**
 * Sign-in: an API token pasted by the user, or single sign-on with the configured OpenID Connect
 * provider (authorization code flow with PKCE, RFC 7636, as a public client). The bearer token
 * lives in sessionStorage: it is gone when the tab closes and other sites cannot read it.
 */
import type { ConsoleConfig } from './types.ts'

export interface Session {
  kind: 'token' | 'oidc'
  token: string
  /** ms since epoch; null for API tokens (the server knows their expiry). */
  expiresAt: number | null
}

const SESSION_KEY = 'tenure.session'
const PENDING_KEY = 'tenure.oidc.pending'
export const CALLBACK_PATH = '/auth/callback'

let session: Session | null = read()
let notice: string | null = null
const listeners = new Set<() => void>()

function read(): Session | null {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY)
    if (!raw) return null
    const s = JSON.parse(raw) as Session
    if (s.expiresAt !== null && s.expiresAt <= Date.now()) return null
    return s
  } catch {
    return null
  }
}

function emit(): void {
  for (const l of listeners) l()
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export function currentSession(): Session | null {
  return session
}

export function currentToken(): string | null {
  if (session?.expiresAt != null && session.expiresAt <= Date.now()) {
    signOut('Your single sign-on session expired. Sign in again.')
    return null
  }
  return session?.token ?? null
}

export function signInNotice(): string | null {
  return notice
}

export function setSession(next: Session): void {
  session = next
  notice = null
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(next))
  emit()
}

export function signOut(why: string | null = null): void {
  session = null
  notice = why
  sessionStorage.removeItem(SESSION_KEY)
  emit()
}

function base64url(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function randomString(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)))
}

interface Discovery {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
}

interface Pending {
  verifier: string
  state: string
  nonce: string
  issuer: string
  clientId: string
  tokenEndpoint: string
  redirectUri: string
  returnTo: string
}

async function discover(issuer: string): Promise<Discovery> {
  const res = await fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, { headers: { Accept: 'application/json' } })
  if (!res.ok) throw new Error(`the identity provider's discovery document answered ${res.status}`)
  const d = (await res.json()) as Partial<Discovery>
  if (!d.authorization_endpoint || !d.token_endpoint) throw new Error('the discovery document has no authorization or token endpoint')
  // OpenID Connect Discovery §4.3: the document must name the issuer we asked.
  if (d.issuer !== issuer) throw new Error(`the discovery document names issuer ${String(d.issuer)}, expected ${issuer}`)
  return d as Discovery
}

/** Leave for the identity provider; it comes back to /auth/callback. */
export async function startSso(oidc: NonNullable<ConsoleConfig['oidc']>, returnTo: string): Promise<void> {
  const d = await discover(oidc.issuer)
  const verifier = randomString(32)
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))))
  const pending: Pending = {
    verifier,
    state: randomString(16),
    nonce: randomString(16),
    issuer: oidc.issuer,
    clientId: oidc.clientId,
    tokenEndpoint: d.token_endpoint,
    redirectUri: `${location.origin}${CALLBACK_PATH}`,
    returnTo,
  }
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending))
  const url = new URL(d.authorization_endpoint)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: oidc.clientId,
    redirect_uri: pending.redirectUri,
    scope: oidc.scopes.join(' '),
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString()
  location.assign(url.toString())
}

function jwtPayload(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1] ?? ''
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'))
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>
}

/** Back from the identity provider: check state (and issuer, RFC 9207), redeem the code with the PKCE verifier. */
export async function completeSso(search: string): Promise<string> {
  const params = new URLSearchParams(search)
  const raw = sessionStorage.getItem(PENDING_KEY)
  sessionStorage.removeItem(PENDING_KEY)
  if (!raw) throw new Error('No sign-in was started from this tab. Start again.')
  const pending = JSON.parse(raw) as Pending
  if (params.get('state') !== pending.state) throw new Error('The sign-in answer does not match the request (state). Start again.')
  const error = params.get('error')
  if (error) throw new Error(`The identity provider refused the sign-in: ${params.get('error_description') ?? error}`)
  const iss = params.get('iss')
  if (iss !== null && iss !== pending.issuer) throw new Error(`The answer came from ${iss}, not ${pending.issuer}.`)
  const code = params.get('code')
  if (!code) throw new Error('The identity provider sent no authorization code.')
  const res = await fetch(pending.tokenEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: pending.redirectUri,
      client_id: pending.clientId,
      code_verifier: pending.verifier,
    }),
  })
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; id_token?: string; error?: string; error_description?: string }
  if (!res.ok || !body.access_token) throw new Error(`The token exchange failed: ${body.error_description ?? body.error ?? res.status}`)
  // The ID token came straight from the token endpoint (OIDC Core §3.1.3.7: TLS vouches for it); its nonce ties it to this request.
  if (body.id_token && jwtPayload(body.id_token).nonce !== pending.nonce) throw new Error('The ID token does not carry this sign-in\'s nonce.')
  setSession({ kind: 'oidc', token: body.access_token, expiresAt: body.expires_in ? Date.now() + body.expires_in * 1000 : null })
  return pending.returnTo
}
