/** The console's one way to the server: the public HTTP API with the signed-in bearer token. */
import type { ApiErrorBody } from './types.ts'
import { currentToken, signOut } from './auth.ts'

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: unknown
  constructor(status: number, code: string, message: string, details: unknown = null) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

function isErrorBody(v: unknown): v is ApiErrorBody {
  return typeof v === 'object' && v !== null && 'error' in v && typeof (v as ApiErrorBody).error?.code === 'string'
}

/**
 * Whether the server answers at all. Every request reports here: a network failure (or a gateway's
 * 502/503/504 without Tenure's error body) marks the server down, any answer from Tenure marks it
 * up. The console shows one banner for it instead of an error in every section.
 */
export interface ServerStatus {
  down: boolean
  /** When it was first found down (ms since the epoch). */
  since: number | null
}
let server: ServerStatus = { down: false, since: null }
const serverListeners = new Set<() => void>()
function reportServer(down: boolean): void {
  if (down === server.down) return
  server = { down, since: down ? Date.now() : null }
  for (const l of serverListeners) l()
}
export function serverStatus(): ServerStatus {
  return server
}
export function subscribeServerStatus(listener: () => void): () => void {
  serverListeners.add(listener)
  return () => serverListeners.delete(listener)
}
/** The error of a request that never reached Tenure (shown by the banner, not per section). */
export function isUnreachable(e: unknown): boolean {
  return e instanceof ApiError && e.code === 'server_unreachable'
}
const unreachable = () => new ApiError(0, 'server_unreachable', 'Cannot reach the Tenure server')

export async function request(path: string, init: RequestInit = {}, token = currentToken()): Promise<Response> {
  const headers = new Headers(init.headers)
  headers.set('Accept', headers.get('Accept') ?? 'application/json')
  if (token) headers.set('Authorization', `Bearer ${token}`)
  let res: Response
  try {
    res = await fetch(path, { ...init, headers })
  } catch {
    reportServer(true)
    throw unreachable()
  }
  if (!res.ok) {
    let body: unknown = null
    try {
      body = await res.json()
    } catch {
      /* not JSON */
    }
    const gateway = res.status >= 502 && res.status <= 504 && !isErrorBody(body)
    reportServer(gateway)
    if (gateway) throw unreachable()
    // A token that stopped working (expired, revoked) ends the session; a 403 does not.
    if (res.status === 401 && token && token === currentToken()) signOut('Your session ended (the credential was refused). Sign in again.')
    if (isErrorBody(body)) throw new ApiError(res.status, body.error.code, body.error.message, body.error.details)
    throw new ApiError(res.status, 'http_error', `${res.status} ${res.statusText}`)
  }
  reportServer(false)
  return res
}

export async function getJson<T>(path: string, token?: string): Promise<T> {
  const res = await request(path, {}, token)
  return (await res.json()) as T
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await request(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  return (await res.json()) as T
}

export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v))
  const s = u.toString()
  return s ? `?${s}` : ''
}
