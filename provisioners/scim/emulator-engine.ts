/**
 * The server-side semantics of the SCIM emulator that are not HTTP: which filters it serves (the
 * one parser and matcher in provisioners/scim-core/filter.ts, RFC 7644 §3.4.2.2), PATCH paths and
 * operations (§3.5.2), and attribute-name case rules (RFC 7643 §2.1). Kept apart from the routes
 * so each rule is readable on its own.
 */
import {
  keyOf,
  matchesFilter as matches,
  parseFilter as parseScimFilter,
  RFC_GRAMMAR,
  ScimFilterError,
  splitPath,
  type AttributeRules,
  type FilterNode,
} from '../scim-core/filter.ts'
import { SCHEMA, canonicalName } from '../scim-core/schemas.ts'

/** A SCIM error the emulator answers with (RFC 7644 §3.12). */
export class ScimHttpError extends Error {
  readonly status: number
  readonly scimType: string | undefined
  constructor(status: number, scimType: string | undefined, detail: string) {
    super(detail)
    this.status = status
    this.scimType = scimType
  }
}

const invalidPath = (detail: string) => new ScimHttpError(400, 'invalidPath', detail)

/**
 * Parse a filter in the grammar this emulator serves (core/filter.ts RFC_GRAMMAR: no gt/ge/lt/le);
 * anything outside it is 400 invalidFilter, as RFC 7644 §3.4.2.2 requires.
 */
export function parseFilter(input: string): FilterNode {
  try {
    return parseScimFilter(input, RFC_GRAMMAR)
  } catch (err) {
    if (err instanceof ScimFilterError) throw new ScimHttpError(400, 'invalidFilter', err.message)
    throw err
  }
}

// ------------------------------------------------------------------ PATCH (RFC 7644 §3.5.2)

export interface PatchPath {
  ext: string | undefined
  attr: string
  filter: FilterNode | undefined
  sub: string | undefined
}

export function parsePatchPath(path: string, rules: AttributeRules): PatchPath {
  const open = path.indexOf('[')
  let head = path
  let filter: FilterNode | undefined
  let tail = ''
  if (open >= 0) {
    const close = path.lastIndexOf(']')
    if (close < open) throw invalidPath(`unbalanced brackets in path "${path}"`)
    head = path.slice(0, open)
    try {
      filter = parseFilter(path.slice(open + 1, close))
    } catch (err) {
      throw invalidPath(`invalid filter in path "${path}": ${(err as Error).message}`)
    }
    tail = path.slice(close + 1)
    if (tail !== '' && !tail.startsWith('.')) throw invalidPath(`unexpected "${tail}" in path "${path}"`)
    tail = tail.slice(1)
  }
  const { ext, parts } = splitPath(head)
  const [attr, sub, extra] = [...parts, ...(tail ? [tail] : [])]
  if (!attr || extra !== undefined || (filter && sub !== undefined && tail === '')) {
    throw invalidPath(`unsupported path "${path}"`)
  }
  return { ext, attr: keyOf(attr, rules), filter, sub: sub === undefined ? undefined : keyOf(sub, rules) }
}

export interface PatchTarget {
  /** Multi-valued attributes of this resource type (values are arrays). */
  multiValued: ReadonlySet<string>
  /** Attributes the client may not write (id, meta, User.groups). */
  readOnly: ReadonlySet<string>
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/** Canonicalise an incoming value's keys unless the server is strict. */
export function incoming(value: unknown, rules: AttributeRules): unknown {
  if (Array.isArray(value)) return value.map((v) => incoming(v, rules))
  if (!isObject(value)) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    const key = keyOf(k, rules)
    if (!(key in out)) out[key] = incoming(v, rules)
  }
  return out
}

function sameMember(a: unknown, b: unknown): boolean {
  if (isObject(a) && isObject(b) && a.value !== undefined) return a.value === b.value
  return JSON.stringify(a) === JSON.stringify(b)
}

function container(resource: Record<string, unknown>, ext: string | undefined, create: boolean): Record<string, unknown> | undefined {
  if (!ext) return resource
  const existing = resource[ext]
  if (isObject(existing)) return existing
  if (!create) return undefined
  const fresh: Record<string, unknown> = {}
  resource[ext] = fresh
  return fresh
}

function setAttribute(target: Record<string, unknown>, attr: string, value: unknown, op: 'add' | 'replace', spec: PatchTarget): void {
  if (spec.multiValued.has(attr)) {
    const list = Array.isArray(value) ? value : [value]
    if (op === 'replace') {
      target[attr] = list
      return
    }
    const current = Array.isArray(target[attr]) ? (target[attr] as unknown[]) : []
    target[attr] = [...current, ...list.filter((v) => !current.some((c) => sameMember(c, v)))]
    return
  }
  // Complex singular attributes (name, manager) merge sub-attributes (RFC 7644 §3.5.2.1/3).
  if (isObject(value) && isObject(target[attr])) {
    target[attr] = { ...(target[attr] as Record<string, unknown>), ...value }
    return
  }
  target[attr] = value
}

/**
 * Apply PATCH operations to a resource's attributes in place. The caller passes a copy and
 * keeps it only when every operation succeeded (§3.5.2: "the original SCIM resource MUST be
 * restored" after an error).
 */
export function applyPatch(resource: Record<string, unknown>, operations: unknown, spec: PatchTarget, rules: AttributeRules): void {
  if (!Array.isArray(operations) || operations.length === 0) {
    throw new ScimHttpError(400, 'invalidSyntax', 'Operations must be a non-empty array')
  }
  for (const raw of operations) {
    if (!isObject(raw)) throw new ScimHttpError(400, 'invalidSyntax', 'each operation must be an object')
    const op = incoming(raw, rules) as Record<string, unknown>
    const opName = typeof op.op === 'string' ? op.op : ''
    // RFC 7644 names the ops in lower case; Entra sends "Replace". A lenient server accepts both.
    const name = rules.strict ? opName : opName.toLowerCase()
    if (name !== 'add' && name !== 'replace' && name !== 'remove') {
      throw new ScimHttpError(400, 'invalidSyntax', `unknown op "${opName}"`)
    }
    const path = op.path
    const value = incoming(op.value, rules)
    if (path === undefined || path === null || path === '') {
      if (name === 'remove') throw new ScimHttpError(400, 'noTarget', 'remove needs a path')
      if (!isObject(value)) throw new ScimHttpError(400, 'invalidValue', `${name} without a path needs an object value`)
      for (const [key, inner] of Object.entries(value)) {
        if (key.toLowerCase().startsWith('urn:')) {
          const urn = canonicalName(key)
          const subPaths = isObject(inner) ? Object.entries(inner) : []
          // A path-less value may carry a full extension object or URN-qualified attributes.
          if (urn === SCHEMA.enterprise && isObject(inner)) {
            const ext = container(resource, urn, true)!
            for (const [k, v] of subPaths) setAttribute(ext, k, v, name, spec)
            continue
          }
          const parsed = parsePatchPath(key, rules)
          if (!parsed.ext) throw new ScimHttpError(400, 'invalidPath', `unknown schema in "${key}"`)
          const ext = container(resource, parsed.ext, true)!
          if (parsed.sub) {
            const holder = isObject(ext[parsed.attr]) ? (ext[parsed.attr] as Record<string, unknown>) : {}
            holder[parsed.sub] = inner
            ext[parsed.attr] = holder
          } else setAttribute(ext, parsed.attr, inner, name, spec)
          continue
        }
        if (spec.readOnly.has(key)) throw new ScimHttpError(400, 'mutability', `attribute ${key} is readOnly`)
        setAttribute(resource, key, inner, name, spec)
      }
      continue
    }
    if (typeof path !== 'string') throw new ScimHttpError(400, 'invalidPath', 'path must be a string')
    const target = parsePatchPath(path, rules)
    if (spec.readOnly.has(target.attr) && !target.ext) throw new ScimHttpError(400, 'mutability', `attribute ${target.attr} is readOnly`)
    const holder = container(resource, target.ext, name !== 'remove')
    if (!holder) continue // removing from an extension that is not there: nothing to do

    if (target.filter) {
      const list = Array.isArray(holder[target.attr]) ? (holder[target.attr] as unknown[]) : []
      const hit = (item: unknown) => isObject(item) && matches(target.filter!, item, rules, `${target.attr}.`)
      if (name === 'remove') {
        // Removing a member that is not there succeeds (idempotent), as Entra and Okta expect.
        if (target.sub) {
          for (const item of list) if (hit(item)) delete (item as Record<string, unknown>)[target.sub]
        } else {
          holder[target.attr] = list.filter((item) => !hit(item))
        }
        continue
      }
      const matched = list.filter(hit)
      if (matched.length === 0) throw new ScimHttpError(400, 'noTarget', `no value matches "${path}"`)
      for (const item of matched) {
        const record = item as Record<string, unknown>
        if (target.sub) record[target.sub] = value
        else if (isObject(value)) Object.assign(record, value)
        else throw new ScimHttpError(400, 'invalidValue', `"${path}" needs an object value`)
      }
      continue
    }
    if (target.sub) {
      if (name === 'remove') {
        const inner = holder[target.attr]
        if (isObject(inner)) delete inner[target.sub]
        continue
      }
      const inner = isObject(holder[target.attr]) ? (holder[target.attr] as Record<string, unknown>) : {}
      inner[target.sub] = value
      holder[target.attr] = inner
      continue
    }
    if (name === 'remove') {
      delete holder[target.attr]
      continue
    }
    setAttribute(holder, target.attr, value, name, spec)
  }
}
