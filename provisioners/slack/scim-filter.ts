/**
 * The SCIM `filter` parameter as Slack documents it (https://docs.slack.dev/reference/scim-api#filter),
 * for the emulator: operators eq, co, sw, pr, gt, ge, lt, le combined with and/or and grouped with
 * parentheses; attribute names and operators are case-insensitive; string literals are JSON strings
 * (single quotes are accepted too, as in Slack's own `restricted eq '1'` example).
 *
 * Slack filters users on `userName` and `email` only. Anything else (externalId, displayName ...)
 * is refused with 400 `invalid_query`, so a client that relies on an undocumented filter fails
 * against the emulator the way it could fail against Slack.
 */

export type FilterOp = 'eq' | 'co' | 'sw' | 'pr' | 'gt' | 'ge' | 'lt' | 'le'

export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'compare'; attribute: string; op: FilterOp; value: string | undefined }

/** Slack's error codes for bad filters. */
export class FilterError extends Error {
  readonly code: 'no_filters' | 'incomplete_filter' | 'invalid_filter_group' | 'invalid_query'
  constructor(code: FilterError['code'], message: string) {
    super(message)
    this.code = code
  }
}

const OPS = new Set<string>(['eq', 'co', 'sw', 'pr', 'gt', 'ge', 'lt', 'le'])

type Token = { t: 'word'; v: string } | { t: 'string'; v: string } | { t: '(' } | { t: ')' }

function tokenize(input: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < input.length) {
    const ch = input[i]!
    if (/\s/.test(ch)) {
      i += 1
    } else if (ch === '(' || ch === ')') {
      tokens.push({ t: ch })
      i += 1
    } else if (ch === '"') {
      let j = i + 1
      while (j < input.length && input[j] !== '"') j += input[j] === '\\' ? 2 : 1
      if (j >= input.length) throw new FilterError('incomplete_filter', 'unterminated string literal')
      try {
        tokens.push({ t: 'string', v: JSON.parse(input.slice(i, j + 1)) as string })
      } catch {
        throw new FilterError('incomplete_filter', 'string literal is not a valid JSON string')
      }
      i = j + 1
    } else if (ch === "'") {
      const j = input.indexOf("'", i + 1)
      if (j < 0) throw new FilterError('incomplete_filter', 'unterminated string literal')
      tokens.push({ t: 'string', v: input.slice(i + 1, j) })
      i = j + 1
    } else {
      let j = i
      while (j < input.length && !/[\s()]/.test(input[j]!)) j += 1
      tokens.push({ t: 'word', v: input.slice(i, j) })
      i = j
    }
  }
  return tokens
}

/** Parse a filter; `attributes` are the (lower-case) attribute names the server supports. */
export function parseFilter(input: string, attributes: ReadonlySet<string>): FilterNode {
  if (input.trim() === '') throw new FilterError('no_filters', 'the filter parameter contains no filter')
  const tokens = tokenize(input)
  let pos = 0
  const peekWord = (): string | undefined => {
    const tok = tokens[pos]
    return tok?.t === 'word' ? tok.v.toLowerCase() : undefined
  }

  const parseOr = (): FilterNode => {
    let left = parseAnd()
    while (peekWord() === 'or') {
      pos += 1
      left = { kind: 'or', left, right: parseAnd() }
    }
    return left
  }
  const parseAnd = (): FilterNode => {
    let left = parseFactor()
    while (peekWord() === 'and') {
      pos += 1
      left = { kind: 'and', left, right: parseFactor() }
    }
    return left
  }
  const parseFactor = (): FilterNode => {
    const tok = tokens[pos]
    if (tok === undefined) throw new FilterError('incomplete_filter', 'expression expected')
    if (tok.t === '(') {
      pos += 1
      const inner = parseOr()
      if (tokens[pos]?.t !== ')') throw new FilterError('invalid_filter_group', 'missing )')
      pos += 1
      return inner
    }
    if (tok.t !== 'word') throw new FilterError('incomplete_filter', 'attribute name expected')
    const attribute = tok.v.toLowerCase()
    pos += 1
    const opTok = tokens[pos]
    if (opTok?.t !== 'word') throw new FilterError('incomplete_filter', `operator expected after ${tok.v}`)
    const op = opTok.v.toLowerCase()
    if (!OPS.has(op)) throw new FilterError('invalid_query', `unsupported operator ${opTok.v}`)
    pos += 1
    if (!attributes.has(attribute)) throw new FilterError('invalid_query', `filtering on ${tok.v} is not supported`)
    if (op === 'pr') return { kind: 'compare', attribute, op, value: undefined }
    const valueTok = tokens[pos]
    if (valueTok === undefined || valueTok.t === '(' || valueTok.t === ')') throw new FilterError('incomplete_filter', `value expected after ${opTok.v}`)
    pos += 1
    return { kind: 'compare', attribute, op: op as FilterOp, value: valueTok.v }
  }

  const node = parseOr()
  if (pos < tokens.length) {
    const extra = tokens[pos]!
    throw new FilterError(extra.t === ')' ? 'invalid_filter_group' : 'incomplete_filter', 'unexpected text after the filter')
  }
  return node
}

/** Evaluate case-insensitively against the values an attribute has on one resource. */
export function matchesFilter(node: FilterNode, valuesOf: (attribute: string) => string[]): boolean {
  if (node.kind !== 'compare') {
    return node.kind === 'and'
      ? matchesFilter(node.left, valuesOf) && matchesFilter(node.right, valuesOf)
      : matchesFilter(node.left, valuesOf) || matchesFilter(node.right, valuesOf)
  }
  const values = valuesOf(node.attribute).map((v) => v.toLowerCase())
  if (node.op === 'pr') return values.some((v) => v !== '')
  const want = (node.value ?? '').toLowerCase()
  return values.some((v) => {
    switch (node.op) {
      case 'eq':
        return v === want
      case 'co':
        return v.includes(want)
      case 'sw':
        return v.startsWith(want)
      case 'gt':
        return v > want
      case 'ge':
        return v >= want
      case 'lt':
        return v < want
      case 'le':
        return v <= want
    }
  })
}
