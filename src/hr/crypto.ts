/**
 * Signature primitives shared by the adapters. Every comparison is constant-time
 * (`timingSafeEqual` after a length check): a byte-by-byte early exit would turn the webhook
 * endpoint into a signing oracle (Standard Webhooks spec, "Verifying webhook authenticity").
 */
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto'
import type { Secret } from '../config/secret.ts'
import type { Verification } from './types.ts'

export type HmacAlgorithm = 'sha256' | 'sha512'

/**
 * Imported keys by secret. Importing the key is a measurable share of each webhook's CPU (the
 * ingest benchmark's profile, docs/benchmarks.md); the secrets are few and already in memory, so
 * the import is done once per secret. Bounded so a caller passing ever-new keys cannot grow it.
 */
const KEYS = new Map<string, KeyObject>()
const MAX_KEYS = 256

function keyObject(key: string | Buffer): KeyObject {
  const id = typeof key === 'string' ? `s:${key}` : `b:${key.toString('base64')}`
  let k = KEYS.get(id)
  if (!k) {
    k = createSecretKey(typeof key === 'string' ? Buffer.from(key, 'utf8') : key)
    if (KEYS.size >= MAX_KEYS) KEYS.delete(KEYS.keys().next().value!)
    KEYS.set(id, k)
  }
  return k
}

export function hmac(algorithm: HmacAlgorithm, key: string | Buffer, ...parts: Array<string | Buffer>): Buffer {
  const mac = createHmac(algorithm, keyObject(key))
  for (const part of parts) mac.update(part)
  return mac.digest()
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Constant-time equality of two byte strings; unequal lengths are unequal without comparing. */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Constant-time equality of two strings (UTF-8 bytes). */
export function safeEqualString(a: string, b: string): boolean {
  return safeEqual(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** Decode a hex signature; undefined when it is not hex (so a malformed header never throws). */
export function fromHex(text: string): Buffer | undefined {
  const t = text.trim()
  if (t.length === 0 || t.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(t)) return undefined
  return Buffer.from(t, 'hex')
}

/**
 * Decode base64 or base64url, with or without padding (Merge strips padding in some
 * implementations; Bob and Standard Webhooks send standard padded base64).
 */
export function fromBase64(text: string): Buffer | undefined {
  const t = text.trim()
  if (t.length === 0 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return undefined
  const normalised = t.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '')
  if (normalised.length % 4 === 1) return undefined
  return Buffer.from(normalised, 'base64')
}

/**
 * Try every configured secret (two during rotation) against the received signature(s).
 * `expected(secret)` computes the MAC the vendor would have sent with that secret.
 */
export function matchSecrets(
  secrets: readonly Secret[],
  received: readonly Buffer[],
  expected: (secret: string) => Buffer,
): Verification {
  if (secrets.length === 0) return { ok: false, reason: 'missing_credentials', message: 'no webhook secret is configured for this source' }
  if (received.length === 0) return { ok: false, reason: 'bad_signature', message: 'the signature header could not be decoded' }
  for (const [index, secret] of secrets.entries()) {
    const mac = expected(secret.reveal())
    // Compare against every candidate without short-circuiting on the first success, so the
    // time taken does not reveal which position matched.
    let matched = false
    for (const candidate of received) if (safeEqual(mac, candidate)) matched = true
    if (matched) return { ok: true, secretIndex: index }
  }
  return { ok: false, reason: 'bad_signature', message: 'signature does not match any configured secret' }
}

/** A shared-token check (Personio, Rippling): the header equals a secret, optionally after "Bearer ". */
export function matchToken(secrets: readonly Secret[], header: string | undefined, acceptBearerPrefix: boolean): Verification {
  if (secrets.length === 0) return { ok: false, reason: 'missing_credentials', message: 'no webhook token is configured for this source' }
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing_credentials', message: 'the request carries no token' }
  const value = header.trim()
  const candidates = [value]
  const bearer = /^Bearer\s+(.+)$/i.exec(value)
  if (acceptBearerPrefix && bearer?.[1]) candidates.push(bearer[1].trim())
  for (const [index, secret] of secrets.entries()) {
    let matched = false
    for (const c of candidates) if (safeEqualString(c, secret.reveal())) matched = true
    if (matched) return { ok: true, secretIndex: index }
  }
  return { ok: false, reason: 'bad_credentials', message: 'token does not match any configured secret' }
}

// Tenure's UUID namespace for canonical event ids (a random v4, fixed forever: changing it
// changes every event id and defeats de-duplication of re-processed notices).
const EVENT_NAMESPACE = Buffer.from('6f1d3c2e8b7a4e0f9a5b3c1d2e4f6a7b', 'hex')

/**
 * A UUIDv5 (RFC 9562 §5.5: SHA-1 of namespace ‖ name, version and variant bits set) from the
 * parts, so re-processing the same notice yields the same canonical event ids.
 */
export function deterministicUuid(...parts: string[]): string {
  const hash = createHash('sha1').update(EVENT_NAMESPACE).update(parts.join('\u001f')).digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}
