/**
 * The server-side semantics of the SCIM emulator that are not HTTP: the filter grammar subset
 * (RFC 7644 §3.4.2.2), PATCH paths and operations (§3.5.2), and attribute-name case rules
 * (RFC 7643 §2.1). Kept apart from the routes so each rule is readable on its own.
 */
import { SCHEMA, canonicalName } from './resources.ts'

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

const invalidFilter = (detail: string) => new ScimHttpError(400, 'invalidFilter', detail)
const invalidPath = (detail: string) => new ScimHttpError(400, 'invalidPath', detail)

type Scalar = string | number | boolean | null
type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew'

export type FilterNode =
  | { type: 'compare'; path: string; op: CompareOp; value: Scalar }
  | { type: 'present'; path: string }
  | { type: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { type: 'not'; inner: FilterNode }
  | { type: 'valuePath'; path: string; filter: FilterNode }

type Token = { kind: '(' | ')' | '[' | ']' | 'string' | 'word'; text: string; value?: string }

function tokenize(input: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < input.length) {
    const c = input[i]!
    if (c === ' ' || c === '\t') {
      i += 1
      continue
    }
    if (c === '(' || c === ')' || c === '[' || c === ']') {
      tokens.push({ kind: c, text: c })
      i += 1
      continue
    }
    if (c === '"') {
      // A JSON string literal (RFC 7644 §3.4.2.2 "string" is a JSON string).
      let j = i + 1
      while (j < input.length && input[j] !== '"') j += input[j] === '\\' ? 2 : 1
      if (j >= input.length) throw invalidFilter('unterminated string literal')
      const text = input.slice(i, j + 1)
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        throw invalidFilter(`invalid string literal ${text}`)
      }
      tokens.push({ kind: 'string', text, value: value as string })
      i = j + 1
      continue
    }
    const match = /^[A-Za-z0-9_$:.+-]+/.exec(input.slice(i))
    if (!match) throw invalidFilter(`unexpected character "${c}" at ${i}`)
    tokens.push({ kind: 'word', text: match[0] })
    i += match[0].length
  }
  return tokens
}

const UNSUPPORTED_OPS = new Set(['gt', 'ge', 'lt', 'le'])

/** Parse a filter; anything outside the supported subset is 400 invalidFilter, as §3.4.2.2 requires. */
export function parseFilter(input: string): FilterNode {
  const tokens = tokenize(input)
  let pos = 0
  const peek = () => tokens[pos]
  const word = (t: Token | undefined, w: string) => t?.kind === 'word' && t.text.toLowerCase() === w
  const expect = (kind: Token['kind']) => {
    const t = tokens[pos]
    if (t?.kind !== kind) throw invalidFilter(`expected "${kind}" at token ${pos + 1} of "${input}"`)
    pos += 1
    return t
  }

  const parseOr = (): FilterNode => {
    let left = parseAnd()
    while (word(peek(), 'or')) {
      pos += 1
      left = { type: 'or', left, right: parseAnd() }
    }
    return left
  }
  const parseAnd = (): FilterNode => {
    let left = parseUnary()
    while (word(peek(), 'and')) {
      pos += 1
      left = { type: 'and', left, right: parseUnary() }
    }
    return left
  }
  const parseUnary = (): FilterNode => {
    const t = peek()
    if (word(t, 'not')) {
      pos += 1
      expect('(')
      const inner = parseOr()
      expect(')')
      return { type: 'not', inner }
    }
    if (t?.kind === '(') {
      pos += 1
      const inner = parseOr()
      expect(')')
      return inner
    }
    return parseAttrExp()
  }
  const parseComparison = (path: string): FilterNode => {
    const opToken = tokens[pos]
    if (opToken?.kind !== 'word') throw invalidFilter(`expected an operator after ${path}`)
    const op = opToken.text.toLowerCase()
    pos += 1
    if (op === 'pr') return { type: 'present', path }
    if (UNSUPPORTED_OPS.has(op)) throw invalidFilter(`operator "${op}" is not supported`)
    if (!['eq', 'ne', 'co', 'sw', 'ew'].includes(op)) throw invalidFilter(`unknown operator "${opToken.text}"`)
    const v = tokens[pos]
    pos += 1
    let value: Scalar
    if (v?.kind === 'string') value = v.value ?? ''
    else if (v?.kind === 'word' && ['true', 'false', 'null'].includes(v.text)) value = v.text === 'null' ? null : v.text === 'true'
    else if (v?.kind === 'word' && /^-?\d+(\.\d+)?$/.test(v.text)) value = Number(v.text)
    else throw invalidFilter(`expected a value after "${path} ${op}"`)
    return { type: 'compare', path, op: op as CompareOp, value }
  }
  const parseAttrExp = (): FilterNode => {
    const t = expect('word')
    if (peek()?.kind === '[') {
      pos += 1
      const inner = parseOr()
      expect(']')
      // Entra ID sends `emails[type eq "work"].value eq "x"`, outside RFC 7644's ABNF but common.
      const next = peek()
      if (next?.kind === 'word' && next.text.startsWith('.')) {
        pos += 1
        const sub = parseComparison(next.text.slice(1))
        return { type: 'valuePath', path: t.text, filter: { type: 'and', left: inner, right: sub } }
      }
      return { type: 'valuePath', path: t.text, filter: inner }
    }
    return parseComparison(t.text)
  }

  if (tokens.length === 0) throw invalidFilter('empty filter')
  const node = parseOr()
  if (pos !== tokens.length) throw invalidFilter(`unexpected "${tokens[pos]?.text}" in "${input}"`)
  return node
}

/** Attributes compared case-sensitively (RFC 7643 §3.1 id, §3.1 externalId caseExact=true, references). */
const CASE_EXACT = new Set(['id', 'externalid', 'members.value', 'groups.value', 'manager.value', 'meta.version'])

export interface AttributeRules {
  /** Exact key spelling only (a server that does not follow RFC 7643 §2.1). */
  strict: boolean
}

/** Split `[urn:...:]attr[.sub]` into the extension URN (if any) and the attribute parts. */
export function splitPath(path: string): { ext: string | undefined; parts: string[] } {
  const lower = path.toLowerCase()
  for (const urn of [SCHEMA.enterprise, SCHEMA.user, SCHEMA.group]) {
    if (lower.startsWith(`${urn.toLowerCase()}:`)) {
      const rest = path.slice(urn.length + 1)
      return { ext: urn === SCHEMA.enterprise ? urn : undefined, parts: rest.split('.') }
    }
  }
  return { ext: undefined, parts: path.split('.') }
}

/** Read a key with the server's case rule; stored keys are canonical. */
export function keyOf(name: string, rules: AttributeRules): string {
  return rules.strict ? name : canonicalName(name)
}

function valuesAt(resource: Record<string, unknown>, path: string, rules: AttributeRules): unknown[] {
  const { ext, parts } = splitPath(path)
  let current: unknown[] = ext ? [resource[ext]] : [resource]
  for (const part of parts) {
    const key = keyOf(part, rules)
    current = current.flatMap((v) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return []
      const inner = (v as Record<string, unknown>)[key]
      if (inner === undefined || inner === null) return []
      return Array.isArray(inner) ? inner : [inner]
    })
  }
  return current
}

function compare(actual: unknown, op: CompareOp, expected: Scalar, caseExact: boolean): boolean {
  if (typeof actual === 'string' && typeof expected === 'string') {
    const a = caseExact ? actual : actual.toLowerCase()
    const e = caseExact ? expected : expected.toLowerCase()
    if (op === 'eq') return a === e
    if (op === 'ne') return a !== e
    if (op === 'co') return a.includes(e)
    if (op === 'sw') return a.startsWith(e)
    return a.endsWith(e)
  }
  if (op === 'eq') return actual === expected
  if (op === 'ne') return actual !== expected
  return false
}

export function matches(node: FilterNode, resource: Record<string, unknown>, rules: AttributeRules, prefix = ''): boolean {
  switch (node.type) {
    case 'and':
      return matches(node.left, resource, rules, prefix) && matches(node.right, resource, rules, prefix)
    case 'or':
      return matches(node.left, resource, rules, prefix) || matches(node.right, resource, rules, prefix)
    case 'not':
      return !matches(node.inner, resource, rules, prefix)
    case 'present':
      return valuesAt(resource, node.path, rules).some((v) => v !== '' && !(Array.isArray(v) && v.length === 0))
    case 'valuePath': {
      const items = valuesAt(resource, node.path, rules)
      const path = `${prefix}${splitPath(node.path).parts.join('.')}.`
      return items.some(
        (item) => item !== null && typeof item === 'object' && matches(node.filter, item as Record<string, unknown>, rules, path),
      )
    }
    case 'compare': {
      const values = valuesAt(resource, node.path, rules)
      const full = `${prefix}${splitPath(node.path).parts.join('.')}`.toLowerCase()
      const caseExact = CASE_EXACT.has(full)
      if (node.value === null) return node.op === 'eq' ? values.length === 0 : values.length > 0
      if (node.op === 'ne') return !values.some((v) => compare(v, 'eq', node.value, caseExact))
      return values.some((v) => compare(v, node.op, node.value, caseExact))
    }
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
