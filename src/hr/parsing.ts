/**
 * Body handling shared by the adapters: content-type gate (415), JSON and form decoding, and
 * zod failures turned into a 400 that names the offending field path (`data.employeeId`).
 * Nothing here throws on hostile input: every outcome is a structured result.
 */
import { z } from 'zod'
import type { Parsed, RawDelivery } from './types.ts'

export type BodyResult<T> = { ok: true; value: T } | Extract<Parsed, { ok: false }>

/** Media type without parameters, lower-cased (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined
  const type = contentType.split(';')[0]?.trim().toLowerCase()
  return type === '' ? undefined : type
}

export function checkContentType(delivery: RawDelivery, accepted: readonly string[]): Extract<Parsed, { ok: false }> | undefined {
  const type = mediaType(delivery.contentType ?? delivery.headers['content-type'])
  if (type !== undefined && accepted.includes(type)) return undefined
  return {
    ok: false,
    status: 415,
    code: 'unsupported_media_type',
    message: `expected ${accepted.join(' or ')}, got ${type ?? 'no content type'}`,
  }
}

export function parseJson(body: Buffer): BodyResult<unknown> {
  if (body.length === 0) return { ok: false, status: 400, code: 'empty_body', message: 'the request body is empty' }
  try {
    // fatal: true rejects invalid UTF-8 instead of replacing it, so what we parse is what was signed.
    const text = new TextDecoder('utf-8', { fatal: true }).decode(body)
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch (err) {
    return { ok: false, status: 400, code: 'invalid_json', message: `body is not valid JSON: ${(err as Error).message}` }
  }
}

/** Decode application/x-www-form-urlencoded into a flat key → value map (last value wins). */
export function parseForm(body: Buffer): BodyResult<Record<string, string>> {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body)
  } catch {
    return { ok: false, status: 400, code: 'invalid_form', message: 'form body is not valid UTF-8' }
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  for (const pair of text.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const rawKey = eq < 0 ? pair : pair.slice(0, eq)
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1)
    try {
      const key = decodeURIComponent(rawKey.replace(/\+/g, ' '))
      out[key] = decodeURIComponent(rawValue.replace(/\+/g, ' '))
    } catch {
      return { ok: false, status: 400, code: 'invalid_form', message: 'form body has a malformed percent-encoding' }
    }
  }
  return { ok: true, value: out }
}

/**
 * Expand PHP-style bracket keys (`employees[12][fields][First Name]=Bryony`) into nested
 * objects; numeric-looking keys stay object keys and arrays are detected afterwards.
 */
export function expandBracketForm(flat: Record<string, string>): Record<string, unknown> {
  const root: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  for (const [key, value] of Object.entries(flat)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key)
    if (!m) continue
    const path = [m[1]!, ...[...m[2]!.matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1]!)]
    let node = root
    for (const [i, segment] of path.entries()) {
      if (segment === '__proto__' || segment === 'constructor' || segment === 'prototype') break
      if (i === path.length - 1) {
        node[segment] = value
      } else {
        const next = node[segment]
        if (typeof next !== 'object' || next === null) node[segment] = Object.create(null) as Record<string, unknown>
        node = node[segment] as Record<string, unknown>
      }
    }
  }
  return arrayify(root) as Record<string, unknown>
}

function arrayify(node: unknown): unknown {
  if (typeof node !== 'object' || node === null) return node
  const obj = node as Record<string, unknown>
  const keys = Object.keys(obj)
  const converted: Record<string, unknown> = {}
  for (const k of keys) converted[k] = arrayify(obj[k])
  if (keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => converted[k])
  return converted
}

/** Run a zod schema; on failure a 400 naming the first issue's path. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, code = 'invalid_payload'): BodyResult<z.output<S>> {
  const result = schema.safeParse(value)
  if (result.success) return { ok: true, value: result.data }
  const issue = result.error.issues[0]
  const path = issue ? issue.path.map(String).join('.') : ''
  return {
    ok: false,
    status: 400,
    code,
    message: issue ? `${path === '' ? 'body' : path}: ${issue.message}` : 'payload does not match the expected shape',
    ...(path === '' ? {} : { path }),
  }
}

/** Lower-case header lookup that tolerates callers who forgot to lower-case. */
export function header(delivery: RawDelivery, name: string): string | undefined {
  const direct = delivery.headers[name]
  if (direct !== undefined) return direct
  const lower = name.toLowerCase()
  for (const [k, v] of Object.entries(delivery.headers)) if (k.toLowerCase() === lower) return v
  return undefined
}

/** Seconds-or-milliseconds unix time, or an ISO 8601 string, to epoch ms; undefined when unreadable. */
export function readTimestamp(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const t = value.trim()
  if (/^\d{1,16}$/.test(t)) {
    const n = Number(t)
    return n > 1e12 ? n : n * 1000
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(t)) return undefined
  // BambooHR documents "+0000" offsets (Date.parse wants "+00:00"); HiBob's triggeredAt has no
  // zone at all and is UTC. Without the explicit Z, Date.parse would use the process zone.
  const zoned = /([zZ]|[+-]\d{2}:?\d{2})$/.test(t) ? t.replace(/([+-]\d{2})(\d{2})$/, '$1:$2') : `${t}Z`
  // JavaScript dates carry milliseconds; HiBob sends microseconds.
  const ms = Date.parse(zoned.replace(/(\.\d{3})\d+/, '$1'))
  return Number.isNaN(ms) ? undefined : ms
}

export function withinTolerance(timestampMs: number, now: Date, toleranceSeconds: number): boolean {
  return Math.abs(now.getTime() - timestampMs) <= toleranceSeconds * 1000
}

/** An ISO 8601 string with offset from a vendor date-time (adds Z where the vendor omits the zone). */
export function toIsoDateTime(value: string | number | undefined, fallback: Date): string {
  if (value === undefined) return fallback.toISOString()
  if (typeof value === 'number') return new Date(value > 1e12 ? value : value * 1000).toISOString()
  const ms = readTimestamp(value)
  return ms === undefined ? fallback.toISOString() : new Date(ms).toISOString()
}

/** A vendor field that may be a string, a number, null, empty or absent: a non-empty string or undefined. */
export const optionalText = z
  .union([z.string(), z.number(), z.null()])
  .optional()
  .transform((v) => (v === null || v === undefined || v === '' ? undefined : String(v)))
