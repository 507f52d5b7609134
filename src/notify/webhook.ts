/**
 * Signed outgoing webhooks in the Standard Webhooks v1 format
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
 *
 *   webhook-id:        the notification id: the same across retries, so receivers can dedupe
 *   webhook-timestamp: unix seconds of *this attempt* (receivers reject stale ones, 5 min by default)
 *   webhook-signature: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, space-separated
 *                      when more than one secret is configured (key rotation)
 *   body:              `{ "type": kind, "timestamp": occurredAt, "data": notification }`
 *
 * Answers, per the spec's operational notes: 2xx delivered; 410 means the receiver disabled the
 * endpoint (permanent); 429, 408, 425 and 5xx, timeouts and network errors are retried, honouring
 * Retry-After; redirects are never followed (a 3xx is a failure: following one would send signed
 * alerts wherever a compromised receiver points); any other 4xx is the receiver refusing the
 * request (bad secret, unknown route) and retrying cannot fix it.
 */
import { createHmac } from 'node:crypto'
import { parseRetryAfter } from '../../provisioners/errors.ts'
import { decodeWebhookSecret, type WebhookEndpoint } from './config.ts'
import type { Delivery, SendDeps } from './delivery.ts'
import type { Notification } from './model.ts'

const USER_AGENT = 'Tenure-Webhooks/1'
const RETRYABLE_STATUSES = new Set([408, 425, 429])
/** Enough of a refusing receiver's body to tell why, without storing what it echoes. */
const ERROR_BODY_MAX = 200

export interface SignedRequest {
  headers: Record<string, string>
  body: string
}

/** The `v1,<base64>` signature of one message under one `whsec_` secret. */
export function signV1(secret: string, msgId: string, timestampSec: number, body: string): string {
  const key = decodeWebhookSecret(secret)
  if (typeof key === 'string') throw new TypeError(`webhook secret ${key}`)
  const mac = createHmac('sha256', key).update(`${msgId}.${timestampSec}.${body}`).digest('base64')
  return `v1,${mac}`
}

/** The body Tenure sends for a notification. */
export function webhookBody(n: Notification): string {
  return JSON.stringify({ type: n.kind, timestamp: n.occurredAt, data: n })
}

/** Headers and body of one delivery attempt at `nowMs`. */
export function signedRequest(n: Notification, endpoint: Pick<WebhookEndpoint, 'secret' | 'additionalSecrets'>, nowMs: number): SignedRequest {
  const body = webhookBody(n)
  const timestamp = Math.floor(nowMs / 1000)
  const signatures = [endpoint.secret, ...endpoint.additionalSecrets].map((s) => signV1(s.reveal(), n.id, timestamp, body))
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': n.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatures.join(' '),
    },
  }
}

/** POST one notification to one endpoint and classify the answer. Never throws. */
export async function sendWebhook(n: Notification, endpoint: WebhookEndpoint, deps: Pick<SendDeps, 'fetch' | 'now' | 'signal'>): Promise<Delivery> {
  const now = deps.now ?? Date.now
  const doFetch = deps.fetch ?? fetch
  const base = { channel: 'webhook' as const, target: endpoint.name }
  const { headers, body } = signedRequest(n, endpoint, now())
  const timeout = AbortSignal.timeout(endpoint.timeoutMs)
  const signal = deps.signal ? AbortSignal.any([timeout, deps.signal]) : timeout
  let res: Response
  try {
    res = await doFetch(endpoint.url, { method: 'POST', headers, body, redirect: 'manual', signal })
  } catch (err) {
    return { ...base, ok: false, retryable: true, error: requestFailure(err, timeout, endpoint.timeoutMs) }
  }
  const status = res.status
  if (status >= 200 && status < 300) {
    // Free the connection without waiting for a body nobody reads.
    await res.body?.cancel().catch(() => {})
    return { ...base, ok: true, retryable: false, status }
  }
  const snippet = await readSnippet(res)
  if (status === 410) {
    return { ...base, ok: false, retryable: false, status, error: 'endpoint disabled by the receiver (410 Gone): fix or remove it in notify.webhooks' }
  }
  if (RETRYABLE_STATUSES.has(status) || status >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now())
    return { ...base, ok: false, retryable: true, status, error: `HTTP ${status}${snippet}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }
  }
  if (status >= 300 && status < 400) {
    return { ...base, ok: false, retryable: false, status, error: `HTTP ${status} redirect not followed${locationOf(res)}: point the endpoint at the final URL` }
  }
  return { ...base, ok: false, retryable: false, status, error: `HTTP ${status}${snippet}` }
}

function requestFailure(err: unknown, timeout: AbortSignal, timeoutMs: number): string {
  if (timeout.aborted) return `no answer within ${timeoutMs} ms`
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } }
  if (e?.name === 'AbortError') return 'aborted (shutting down)'
  const detail = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)
  return `request failed: ${detail}`
}

async function readSnippet(res: Response): Promise<string> {
  try {
    const text = (await res.text()).replace(/\s+/g, ' ').trim()
    return text === '' ? '' : `: ${text.slice(0, ERROR_BODY_MAX)}`
  } catch {
    return ''
  }
}

function locationOf(res: Response): string {
  const location = res.headers.get('location')
  if (!location) return ''
  try {
    // Only the origin and path: a query string could carry a token.
    const u = new URL(location, res.url || undefined)
    return ` (to ${u.origin}${u.pathname})`
  } catch {
    return ''
  }
}
