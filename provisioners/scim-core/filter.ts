/**
 * SCIM filters (RFC 7644 §3.4.2.2), both directions, in one place:
 *
 * - building: `scimString` / `filterEq` quote a value as a JSON string, which is what §3.4.2.2's
 *   ABNF (`compValue = ... / string`, RFC 7159 strings) asks for, so `"` and `\` in a name or an
 *   email are escaped (`\"`, `\\`) instead of ending the literal early;
 * - parsing and matching, for the emulators (generic SCIM, Slack, Atlassian). Each emulator states
 *   its vendor's *grammar* (operators, filterable attributes, whether `and`/`or`/`not`/`[...]`
 *   exist, single-quoted or bare values); the parser refuses anything outside it with a
 *   `ScimFilterError` whose `reason` the emulator turns into its vendor's wire error (400
 *   invalidFilter for RFC servers, Slack's invalid_query / incomplete_filter ...).
 *
 * Precedence follows §3.4.2.2 ("logical operators ... precedence ... and, or"; grouping
 * "( )" and `not( )` bind tightest): `a or b and c` is `a or (b and c)`.
 */
import { canonicalName, SCHEMA } from './schemas.ts'

// ------------------------------------------------------------------ building

/** A SCIM string literal for filters and PATCH paths: RFC 7644 §3.4.2.2 uses JSON strings. */
export function scimString(value: string): string {
  return JSON.stringify(value)
}

/** `attribute eq "value"`, the value escaped per §3.4.2.2. */
export function filterEq(attribute: string, value: string): string {
  return `${attribute} eq ${scimString(value)}`
}

// ------------------------------------------------------------------ AST

export type Scalar = string | number | boolean | null
/** RFC 7644 §3.4.2.2 Table 3 comparison operators (`pr` is its own node). */
export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le'
export const COMPARE_OPS: readonly CompareOp[] = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']

export type FilterNode =
  | { type: 'compare'; path: string; op: CompareOp; value: Scalar }
  | { type: 'present'; path: string }
  | { type: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { type: 'not'; inner: FilterNode }
  | { type: 'valuePath'; path: string; filter: FilterNode }

/**
 * Why a filter was refused. `empty`: no filter text; `incomplete`: the text stops or goes wrong
 * mid-expression; `group`: unbalanced parentheses; `unsupported`: valid SCIM the server does not
 * offer (an operator or attribute outside its grammar).
 */
export type FilterRefusal = 'empty' | 'incomplete' | 'group' | 'unsupported'

export class ScimFilterError extends Error {
  readonly reason: FilterRefusal
  constructor(reason: FilterRefusal, message: string) {
    super(message)
    this.name = 'ScimFilterError'
    this.reason = reason
  }
}

/** What one server's filter language offers. */
export interface FilterGrammar {
  /** Comparison operators accepted, plus `pr` when presence tests are. */
  operators: ReadonlySet<CompareOp | 'pr'>
  /** Lower-case attribute paths that may be filtered on; undefined = any. */
  attributes?: ReadonlySet<string>
  /** `and` / `or` and parentheses (false: one comparison only, as Atlassian documents). */
  logical: boolean
  /** `not ( ... )` and `attr[ ... ]` value paths (RFC 7644 §3.4.2.2 valuePath). */
  complex: boolean
  /** 'single' quotes around values (Slack's own docs use `restricted eq '1'`). */
  singleQuotes: boolean
  /** Values written without quotes are strings (Slack); otherwise only true/false/null/numbers. */
  bareValues: boolean
}

/** The full RFC 7644 grammar minus ordering (gt/ge/lt/le), which the generic emulator lacks. */
export const RFC_GRAMMAR: FilterGrammar = {
  operators: new Set<CompareOp | 'pr'>(['eq', 'ne', 'co', 'sw', 'ew', 'pr']),
  logical: true,
  complex: true,
  singleQuotes: false,
  bareValues: false,
}

// ------------------------------------------------------------------ parsing

type Token = { kind: '(' | ')' | '[' | ']' | 'string' | 'word'; text: string; value?: string }

const PUNCTUATION = new Set(['(', ')', '[', ']'])

function tokenize(input: string, grammar: FilterGrammar): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < input.length) {
    const c = input[i]!
    if (/\s/.test(c)) {
      i += 1
    } else if (PUNCTUATION.has(c)) {
      tokens.push({ kind: c as Token['kind'], text: c })
      i += 1
    } else if (c === '"') {
      // A JSON string literal (RFC 7644 §3.4.2.2: "string" is a JSON string, RFC 7159 §7).
      let j = i + 1
      while (j < input.length && input[j] !== '"') j += input[j] === '\\' ? 2 : 1
      if (j >= input.length) throw new ScimFilterError('incomplete', 'unterminated string literal')
      const text = input.slice(i, j + 1)
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        throw new ScimFilterError('incomplete', `invalid string literal ${text}`)
      }
      tokens.push({ kind: 'string', text, value: value as string })
      i = j + 1
    } else if (c === "'" && grammar.singleQuotes) {
      const j = input.indexOf("'", i + 1)
      if (j < 0) throw new ScimFilterError('incomplete', 'unterminated string literal')
      tokens.push({ kind: 'string', text: input.slice(i, j + 1), value: input.slice(i + 1, j) })
      i = j + 1
    } else {
      const match = /^[^\s()[\]"']+/.exec(input.slice(i))
      if (!match) throw new ScimFilterError('incomplete', `unexpected character "${c}" at ${i}`)
      tokens.push({ kind: 'word', text: match[0] })
      i += match[0].length
    }
  }
  return tokens
}

/** Parse a filter in one server's grammar; anything outside it throws ScimFilterError. */
export function parseFilter(input: string, grammar: FilterGrammar = RFC_GRAMMAR): FilterNode {
  if (input.trim() === '') throw new ScimFilterError('empty', 'the filter parameter contains no filter')
  const tokens = tokenize(input, grammar)
  let pos = 0
  const peek = () => tokens[pos]
  const isWord = (t: Token | undefined, w: string) => t?.kind === 'word' && t.text.toLowerCase() === w
  const close = (kind: ')' | ']') => {
    if (tokens[pos]?.kind !== kind) throw new ScimFilterError('group', `missing "${kind}" in "${input}"`)
    pos += 1
  }

  const parseOr = (): FilterNode => {
    let left = parseAnd()
    while (grammar.logical && isWord(peek(), 'or')) {
      pos += 1
      left = { type: 'or', left, right: parseAnd() }
    }
    return left
  }
  const parseAnd = (): FilterNode => {
    let left = parseUnary()
    while (grammar.logical && isWord(peek(), 'and')) {
      pos += 1
      left = { type: 'and', left, right: parseUnary() }
    }
    return left
  }
  const parseUnary = (): FilterNode => {
    const t = peek()
    if (t === undefined) throw new ScimFilterError('incomplete', 'expression expected')
    if (grammar.complex && isWord(t, 'not') && tokens[pos + 1]?.kind === '(') {
      pos += 1
      pos += 1
      const inner = parseOr()
      close(')')
      return { type: 'not', inner }
    }
    if (t.kind === '(') {
      if (!grammar.logical) throw new ScimFilterError('unsupported', 'grouping is not supported')
      pos += 1
      const inner = parseOr()
      close(')')
      return inner
    }
    return parseAttrExp()
  }
  const allowed = (path: string) => {
    if (grammar.attributes && !grammar.attributes.has(path.toLowerCase())) {
      throw new ScimFilterError('unsupported', `filtering on ${path} is not supported`)
    }
  }
  const parseComparison = (path: string, checkAttribute: boolean): FilterNode => {
    const opToken = tokens[pos]
    if (opToken?.kind !== 'word') throw new ScimFilterError('incomplete', `operator expected after ${path}`)
    const op = opToken.text.toLowerCase()
    if (!(COMPARE_OPS as readonly string[]).includes(op) && op !== 'pr') {
      throw new ScimFilterError('unsupported', `unknown operator "${opToken.text}"`)
    }
    if (!grammar.operators.has(op as CompareOp | 'pr')) throw new ScimFilterError('unsupported', `operator "${op}" is not supported`)
    pos += 1
    if (checkAttribute) allowed(path)
    if (op === 'pr') return { type: 'present', path }
    const v = tokens[pos]
    if (v === undefined || v.kind !== 'string' && v.kind !== 'word') {
      throw new ScimFilterError('incomplete', `value expected after "${path} ${op}"`)
    }
    pos += 1
    let value: Scalar
    if (v.kind === 'string') value = v.value ?? ''
    else if (grammar.bareValues) value = v.text
    else if (['true', 'false', 'null'].includes(v.text)) value = v.text === 'null' ? null : v.text === 'true'
    else if (/^-?\d+(\.\d+)?$/.test(v.text)) value = Number(v.text)
    else throw new ScimFilterError('incomplete', `expected a value after "${path} ${op}", got ${v.text}`)
    return { type: 'compare', path, op: op as CompareOp, value }
  }
  const parseAttrExp = (): FilterNode => {
    const t = tokens[pos]
    if (t?.kind !== 'word') throw new ScimFilterError('incomplete', 'attribute name expected')
    pos += 1
    if (peek()?.kind === '[') {
      if (!grammar.complex) throw new ScimFilterError('unsupported', `value paths (${t.text}[...]) are not supported`)
      allowed(t.text)
      pos += 1
      const inner = parseOr()
      close(']')
      // Entra ID sends `emails[type eq "work"].value eq "x"`, outside RFC 7644's ABNF but common.
      const next = peek()
      if (next?.kind === 'word' && next.text.startsWith('.')) {
        pos += 1
        const sub = parseComparison(next.text.slice(1), false)
        return { type: 'valuePath', path: t.text, filter: { type: 'and', left: inner, right: sub } }
      }
      return { type: 'valuePath', path: t.text, filter: inner }
    }
    return parseComparison(t.text, true)
  }

  const node = parseOr()
  if (!grammar.logical && (isWord(peek(), 'and') || isWord(peek(), 'or'))) {
    throw new ScimFilterError('unsupported', 'only one comparison is supported')
  }
  if (pos !== tokens.length) {
    const extra = tokens[pos]!
    throw new ScimFilterError(extra.kind === ')' || extra.kind === ']' ? 'group' : 'incomplete', `unexpected "${extra.text}" in "${input}"`)
  }
  return node
}

// ------------------------------------------------------------------ matching

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

function valueOf(record: Record<string, unknown>, part: string, rules: AttributeRules): unknown {
  const key = keyOf(part, rules)
  if (key in record || rules.strict) return record[key]
  // RFC 7643 §2.1: names outside the canonical list still match whatever their case.
  const lower = part.toLowerCase()
  const found = Object.keys(record).find((k) => k.toLowerCase() === lower)
  return found === undefined ? undefined : record[found]
}

function valuesAt(resource: Record<string, unknown>, path: string, rules: AttributeRules): unknown[] {
  const { ext, parts } = splitPath(path)
  let current: unknown[] = ext ? [resource[ext]] : [resource]
  for (const part of parts) {
    current = current.flatMap((v) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return []
      const inner = valueOf(v as Record<string, unknown>, part, rules)
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
    switch (op) {
      case 'eq':
        return a === e
      case 'ne':
        return a !== e
      case 'co':
        return a.includes(e)
      case 'sw':
        return a.startsWith(e)
      case 'ew':
        return a.endsWith(e)
      // §3.4.2.2: strings order lexicographically.
      case 'gt':
        return a > e
      case 'ge':
        return a >= e
      case 'lt':
        return a < e
      case 'le':
        return a <= e
    }
  }
  if (op === 'eq') return actual === expected
  if (op === 'ne') return actual !== expected
  return false
}

/** Does one resource match? String comparisons ignore case except on caseExact attributes (RFC 7643 §2.2). */
export function matchesFilter(node: FilterNode, resource: Record<string, unknown>, rules: AttributeRules, prefix = ''): boolean {
  switch (node.type) {
    case 'and':
      return matchesFilter(node.left, resource, rules, prefix) && matchesFilter(node.right, resource, rules, prefix)
    case 'or':
      return matchesFilter(node.left, resource, rules, prefix) || matchesFilter(node.right, resource, rules, prefix)
    case 'not':
      return !matchesFilter(node.inner, resource, rules, prefix)
    case 'present':
      return valuesAt(resource, node.path, rules).some((v) => v !== '' && !(Array.isArray(v) && v.length === 0))
    case 'valuePath': {
      const items = valuesAt(resource, node.path, rules)
      const path = `${prefix}${splitPath(node.path).parts.join('.')}.`
      return items.some(
        (item) => item !== null && typeof item === 'object' && matchesFilter(node.filter, item as Record<string, unknown>, rules, path),
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
