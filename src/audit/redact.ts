/**
 * What goes into `details`: JSON that holds no credential and survives a round trip through
 * jsonb unchanged (otherwise the hash computed before the insert would not match the row read
 * back). appendAudit() runs every entry through redactDetails(), so callers cannot forget.
 */
import { resolvedSecretValues, Secret } from '../config/secret.ts'
import type { JsonObject, JsonValue } from './record.ts'

export const REDACTED = '[redacted]'

/**
 * A key is sensitive when its letters and digits, lowercased, END with one of these: `token`,
 * `access_token`, `X-Api-Key`, `set-cookie` and `clientSecret` are masked, while `tokenId`,
 * `tokenCount` or `secretName` (identifiers, not credentials) are kept.
 */
const SENSITIVE_KEY_SUFFIXES = [
  'token',
  'tokens',
  'secret',
  'secrets',
  'password',
  'passwords',
  'passwd',
  'passphrase',
  'pwd',
  'authorization',
  'cookie',
  'cookies',
  'apikey',
  'apikeys',
  'privatekey',
  'signingkey',
  'credential',
  'credentials',
]

/** Values that are credentials whatever their key: HTTP auth schemes and JWTs. */
const SENSITIVE_VALUE_PATTERNS = [/^(bearer|basic|token)\s+\S+/i, /^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$/]

/** Shorter registered secrets are masked only as whole values: masking every "dev" inside text would garble it. */
const MIN_SUBSTRING_SECRET_LENGTH = 8

export function isSensitiveKey(key: string): boolean {
  const normalised = key.toLowerCase().replace(/[^a-z0-9]/g, '')
  return SENSITIVE_KEY_SUFFIXES.some((suffix) => normalised.endsWith(suffix))
}

function redactString(value: string): string {
  // jsonb rejects \u0000 and canonicalize rejects lone surrogates; neither may fail the business
  // transaction that records the change.
  let text = value.toWellFormed().replaceAll('\u0000', '\uFFFD')
  if (SENSITIVE_VALUE_PATTERNS.some((pattern) => pattern.test(text))) return REDACTED
  for (const secret of resolvedSecretValues) {
    if (secret === '') continue
    if (text === secret) return REDACTED
    if (secret.length >= MIN_SUBSTRING_SECRET_LENGTH && text.includes(secret)) text = text.replaceAll(secret, REDACTED)
  }
  return text
}

function redactValue(value: unknown, path: Set<object>): JsonValue | undefined {
  if (value === null) return null
  switch (typeof value) {
    case 'string':
      return redactString(value)
    case 'boolean':
      return value
    case 'number':
      // JSON has no NaN or Infinity; -0 would come back from jsonb as 0.
      return Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : null
    case 'bigint':
      return value.toString()
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined
  }
  if (value instanceof Secret) return REDACTED
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  const object = value as object
  if (path.has(object)) return '[circular]'
  path.add(object)
  try {
    if (Array.isArray(object)) return object.map((item) => redactValue(item, path) ?? null)
    if (object instanceof Error) {
      return { name: redactString(object.name), message: redactString(object.message) }
    }
    const withJson = object as { toJSON?: () => unknown }
    if (typeof withJson.toJSON === 'function') return redactValue(withJson.toJSON(), path)
    const out: JsonObject = {}
    for (const [key, item] of Object.entries(object)) {
      const cleanKey = redactString(key)
      if (isSensitiveKey(key)) {
        if (item !== undefined) out[cleanKey] = REDACTED
        continue
      }
      const cleaned = redactValue(item, path)
      if (cleaned !== undefined) out[cleanKey] = cleaned
    }
    return out
  } finally {
    path.delete(object)
  }
}

/**
 * Mask credentials in an audit entry's details: values under sensitive keys (see
 * SENSITIVE_KEY_SUFFIXES), values that are or contain a secret resolved from configuration
 * (`resolvedSecretValues`), `Secret` objects, bearer/basic credentials and JWTs. Masked values
 * become "[redacted]", so the record still shows that something was there. Also normalises to
 * plain JSON (Dates to ISO strings, bigint to strings, Errors to { name, message }).
 */
export function redactDetails(details: Record<string, unknown> | undefined | null): JsonObject {
  if (details === undefined || details === null) return {}
  const cleaned = redactValue(details, new Set())
  if (cleaned === null || typeof cleaned !== 'object' || Array.isArray(cleaned)) return {}
  return cleaned
}
