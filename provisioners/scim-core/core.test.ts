/**
 * The SCIM core on its own: the dialect table (what each vendor's server offers and how the one
 * client speaks to it) and the one filter parser the emulators share. The clients against real
 * emulators are tested in scim/, slack/ and jira/.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import {
  nextStartIndex,
  patchBody,
  readScimError,
  ScimCoreClient,
  capabilitiesOf,
  type ScimHttpRequest,
} from './client.ts'
import { ATLASSIAN_DIALECT, describeDialect, filterGrammarOf, genericDialect, SLACK_DIALECT, type ScimDialect } from './dialect.ts'
import { filterEq, matchesFilter, parseFilter, RFC_GRAMMAR, ScimFilterError, scimString, type FilterRefusal } from './filter.ts'
import { SCHEMA } from './schemas.ts'

const GENERIC_CAPS = {
  updateMethod: 'patch',
  filterSupported: true,
  etag: false,
  patchOpCase: 'lower',
  patchValueStyle: 'path',
  attributeNameCase: 'canonical',
  contentType: 'application/scim+json',
  pageSize: 100,
} as const
const GENERIC = genericDialect(GENERIC_CAPS)

/** A client whose transport records the request and answers with `answer`. */
function recording(dialect: ScimDialect, answer: unknown = { id: 'u1' }) {
  const sent: ScimHttpRequest[] = []
  const client = new ScimCoreClient<null>(
    dialect,
    async (_call, req) => {
      sent.push(req)
      return { status: 200, body: answer, etag: 'W/"1"' }
    },
    (operation) => new Error(`${operation}: bad shape`),
  )
  return { client, sent }
}

describe('scim-core dialect table', () => {
  test('when each vendor is described, then filter support, PATCH form and paging are as documented', () => {
    assert.deepEqual(
      [SLACK_DIALECT, ATLASSIAN_DIALECT, GENERIC, genericDialect({ ...GENERIC_CAPS, updateMethod: 'put', filterSupported: false, pageSize: 50 })].map(describeDialect),
      [
        { vendor: 'slack', filter: 'eq/co/sw/pr/gt/ge/lt/le on userName, email with and/or', patch: 'PATCH path+value', paging: 'startIndex/count, at most 1000 a page' },
        { vendor: 'atlassian', filter: 'eq on userName, externalId, one comparison', patch: 'PATCH path+value', paging: 'startIndex/count, at most 100 a page' },
        { vendor: 'generic', filter: 'eq/ne/co/sw/ew/gt/ge/lt/le/pr on any attribute with and/or', patch: 'PATCH path+value', paging: 'startIndex/count, at most 100 a page' },
        { vendor: 'generic', filter: 'none (page and match)', patch: 'PUT the whole resource', paging: 'startIndex/count, at most 50 a page' },
      ],
    )
  })

  test('when a user is deactivated, then each dialect sends its own PatchOp form and content type', async () => {
    const cases: Array<[ScimDialect, unknown, string]> = [
      [SLACK_DIALECT, { op: 'replace', path: 'active', value: false }, 'application/json'],
      [ATLASSIAN_DIALECT, { op: 'replace', path: 'active', value: false }, 'application/scim+json'],
      [genericDialect({ ...GENERIC_CAPS, patchOpCase: 'capitalized', patchValueStyle: 'valueObject' }), { op: 'Replace', value: { active: false } }, 'application/scim+json'],
      [genericDialect({ ...GENERIC_CAPS, attributeNameCase: 'lower' }), { op: 'replace', path: 'active', value: false }, 'application/scim+json'],
    ]
    for (const [dialect, operation, contentType] of cases) {
      const { client, sent } = recording(dialect)
      await client.patch(null, '/Users/u1', [{ op: 'replace', attr: 'active', value: false }], 'scim.Users.patch')
      assert.deepEqual(sent[0]?.body, { schemas: [SCHEMA.patchOp], Operations: [operation] }, dialect.vendor)
      assert.equal(sent[0]?.headers['content-type'], contentType, dialect.vendor)
    }
  })

  test('when a member is removed, then the remove carries a path with a value filter in every form (RFC 7644 §3.5.2.2)', () => {
    const body = patchBody(genericDialect({ ...GENERIC_CAPS, patchValueStyle: 'valueObject' }), [
      { op: 'remove', attr: 'members', filter: filterEq('value', 'u"1') },
    ])
    assert.deepEqual(body, { schemas: [SCHEMA.patchOp], Operations: [{ op: 'remove', path: 'members[value eq "u\\"1"]' }] })
  })

  test('when a lookup runs, then each dialect sends its own lookup count from startIndex 1', async () => {
    for (const [dialect, count] of [[SLACK_DIALECT, 10], [ATLASSIAN_DIALECT, 2], [GENERIC, 10]] as const) {
      const { client, sent } = recording(dialect, { totalResults: 0 })
      await client.search(null, '/Users', filterEq('userName', 'a@b.c'), 'scim.Users.search')
      assert.deepEqual(sent[0]?.query, { filter: 'userName eq "a@b.c"', startIndex: 1, count }, dialect.vendor)
    }
  })

  test('when a page comes back short or the server names its own startIndex, then the next index follows what came back (RFC 7644 §3.4.2.4)', () => {
    const list = (startIndex: number | undefined, n: number, totalResults: number) => ({
      totalResults,
      ...(startIndex === undefined ? {} : { startIndex }),
      Resources: Array.from({ length: n }, () => ({})),
    })
    assert.equal(nextStartIndex(list(1, 40, 100), 1), 41) // asked for 100, the server served 40
    assert.equal(nextStartIndex(list(undefined, 40, 100), 61), undefined) // 61 + 40 is past totalResults
    assert.equal(nextStartIndex(list(61, 40, 100), 61), undefined)
    assert.equal(nextStartIndex(list(1, 0, 5), 1), undefined) // an empty page ends the listing
  })

  test('when an ETag was read, then the write carries If-Match where the dialect has ETags and not elsewhere (RFC 7644 §3.14)', async () => {
    const withEtags = recording(genericDialect({ ...GENERIC_CAPS, etag: true }))
    await withEtags.client.delete(null, '/Users/u1', 'scim.Users.delete', 'W/"7"')
    assert.equal(withEtags.sent[0]?.headers['if-match'], 'W/"7"')
    const without = recording(SLACK_DIALECT)
    await without.client.delete(null, '/Users/u1', 'scim.Users.delete', 'W/"7"')
    assert.equal(without.sent[0]?.headers['if-match'], undefined)
  })

  test('when a lookup uses a filter outside the vendor dialect, then the client refuses it and sends nothing', async () => {
    const cases: Array<[ScimDialect, string]> = [
      [SLACK_DIALECT, filterEq('externalId', 'E1')], // Slack filters on userName and email only
      [ATLASSIAN_DIALECT, `${filterEq('userName', 'a')} or ${filterEq('externalId', 'E1')}`], // one comparison
      [ATLASSIAN_DIALECT, 'userName co "a"'], // eq only
      [genericDialect({ ...GENERIC_CAPS, filterSupported: false }), filterEq('userName', 'a')],
    ]
    for (const [dialect, filter] of cases) {
      const { client, sent } = recording(dialect)
      assert.throws(() => client.search(null, '/Users', filter, 'scim.Users.search'), ScimFilterError, `${dialect.vendor}: ${filter}`)
      assert.equal(sent.length, 0)
    }
    const { client, sent } = recording(SLACK_DIALECT, { totalResults: 0 })
    await client.search(null, '/Users', filterEq('email', 'a@b.c'), 'scim.Users.search')
    assert.equal(sent.length, 1)
  })

  test('when a read-only User attribute is patched, then the client refuses it (Slack user groups change through the Web API)', () => {
    const { client, sent } = recording(SLACK_DIALECT)
    assert.throws(() => client.patch(null, '/Users/u1', [{ op: 'add', attr: 'groups', value: [{ value: 'S1' }] }], 'scim.Users.patch'), /read-only/)
    assert.equal(sent.length, 0)
  })

  test('when a generic app answers in odd key case, then the body is read canonically and the raw JSON kept; Slack and Atlassian are read as sent', async () => {
    const generic = recording(GENERIC, { ID: 'u1', USERNAME: 'a' })
    const res = await generic.client.request(null, { operation: 'x', method: 'GET', path: '/Users/u1' })
    assert.deepEqual(res.body, { id: 'u1', userName: 'a' })
    assert.deepEqual(res.raw, { ID: 'u1', USERNAME: 'a' })
    const slack = recording(SLACK_DIALECT, { ID: 'u1' })
    assert.deepEqual((await slack.client.request(null, { operation: 'x', method: 'GET', path: '/Users/u1' })).body, { ID: 'u1' })
  })

  test('when a 2xx body does not fit, then the vendor error from badShape is thrown', async () => {
    const { client } = recording(SLACK_DIALECT, { nope: true })
    const res = await client.get(null, '/Users/u1', 'scim.Users.get')
    assert.throws(() => client.parse(z.object({ id: z.string() }), res, 'scim.Users.get'), /scim.Users.get: bad shape/)
  })

  test('when an error body comes back, then RFC servers give scimType and Slack gives its code from detail or Errors (RFC 7644 §3.12)', () => {
    assert.deepEqual(readScimError(GENERIC, { SCHEMAS: [SCHEMA.error], STATUS: '400', SCIMTYPE: 'invalidFilter', DETAIL: 'no' }), {
      scimType: 'invalidFilter',
      detail: 'no',
      code: 'invalidFilter',
    })
    assert.equal(readScimError(ATLASSIAN_DIALECT, { status: 409, scimType: 'uniqueness', detail: 'taken' }).code, 'uniqueness')
    assert.equal(readScimError(SLACK_DIALECT, { schemas: [SCHEMA.error], detail: 'user_not_found', status: 404 }).code, 'user_not_found')
    assert.equal(readScimError(SLACK_DIALECT, { Errors: { description: 'invalid_authentication', code: 401 } }).code, 'invalid_authentication')
    assert.equal(readScimError(GENERIC, 'Bad gateway').code, undefined)
  })

  test('when /ServiceProviderConfig is read, then patch, filter, etag and maxResults are taken and silence stays unknown (RFC 7643 §5)', () => {
    assert.deepEqual(capabilitiesOf({ patch: { supported: false }, filter: { supported: true, maxResults: '200' }, etag: { supported: true } }), {
      patch: false,
      filter: true,
      maxResults: 200,
      etag: true,
    })
    assert.deepEqual(capabilitiesOf({ bulk: { supported: true } }), {})
    assert.deepEqual(capabilitiesOf('not json'), {})
  })
})

describe('scim-core filter parser', () => {
  const refusal = (input: string, grammar = RFC_GRAMMAR): FilterRefusal | 'parsed' => {
    try {
      parseFilter(input, grammar)
      return 'parsed'
    } catch (err) {
      assert.ok(err instanceof ScimFilterError, String(err))
      return err.reason
    }
  }

  test('when a value holds quotes and backslashes, then the built filter escapes them and parses back to the same value (RFC 7644 §3.4.2.2)', () => {
    const value = 'o"brien\\x@example.com'
    const filter = filterEq('userName', value)
    assert.equal(filter, 'userName eq "o\\"brien\\\\x@example.com"')
    assert.deepEqual(parseFilter(filter), { type: 'compare', path: 'userName', op: 'eq', value })
    assert.equal(scimString('a"b'), '"a\\"b"')
  })

  test('when and and or are mixed, then and binds tighter and parentheses override', () => {
    assert.deepEqual(parseFilter('a eq "1" or b eq "2" and c eq "3"'), {
      type: 'or',
      left: { type: 'compare', path: 'a', op: 'eq', value: '1' },
      right: { type: 'and', left: { type: 'compare', path: 'b', op: 'eq', value: '2' }, right: { type: 'compare', path: 'c', op: 'eq', value: '3' } },
    })
    const grouped = parseFilter('(a eq "1" or b eq "2") and c eq "3"')
    assert.equal(grouped.type, 'and')
    const user = { a: '1', b: 'x', c: 'no' }
    assert.equal(matchesFilter(parseFilter('a eq "1" or b eq "2" and c eq "3"'), user, { strict: false }), true)
    assert.equal(matchesFilter(grouped, user, { strict: false }), false)
  })

  test('when not, value paths and literals are used, then they parse and match case-insensitively except caseExact attributes', () => {
    const user = { userName: 'Ann', externalId: 'E1', emails: [{ type: 'work', value: 'ann@x.io' }], active: true }
    const m = (f: string) => matchesFilter(parseFilter(f), user, { strict: false })
    assert.equal(m('USERNAME eq "ann"'), true)
    assert.equal(m('externalId eq "e1"'), false) // RFC 7643 §3.1: externalId is caseExact
    assert.equal(m('not (active eq false)'), true)
    assert.equal(m('emails[type eq "work" and value ew "@X.IO"]'), true)
    assert.equal(m('emails[type eq "work"].value eq "ANN@x.io"'), true)
    assert.equal(m('title pr'), false)
  })

  test('when a filter is malformed or outside the grammar, then it is refused with a reason, never read as "no filter"', () => {
    const slack = filterGrammarOf(SLACK_DIALECT, { singleQuotes: true, bareValues: true })
    const atlassian = filterGrammarOf(ATLASSIAN_DIALECT)
    const cases: Array<[string, FilterRefusal | 'parsed', typeof RFC_GRAMMAR]> = [
      ['', 'empty', RFC_GRAMMAR],
      ['userName eq', 'incomplete', RFC_GRAMMAR],
      ['userName eq "open', 'incomplete', RFC_GRAMMAR],
      ['userName eq "a" extra', 'incomplete', RFC_GRAMMAR],
      ['(userName eq "a"', 'group', RFC_GRAMMAR],
      ['userName eq "a")', 'group', RFC_GRAMMAR],
      ['userName gt "a"', 'unsupported', RFC_GRAMMAR],
      ['userName regex "a"', 'unsupported', RFC_GRAMMAR],
      ["userName eq 'a'", 'incomplete', RFC_GRAMMAR],
      ["userName eq 'a' or email co bob", 'parsed', slack],
      ['externalId eq "E1"', 'unsupported', slack],
      ['userName gt "a"', 'parsed', slack],
      ['externalId eq "E1"', 'parsed', atlassian],
      ['displayName eq "x"', 'unsupported', atlassian],
      ['userName co "x"', 'unsupported', atlassian],
      ['userName eq "a" or externalId eq "b"', 'unsupported', atlassian],
      ['(userName eq "a")', 'unsupported', atlassian],
    ]
    for (const [input, want, grammar] of cases) assert.equal(refusal(input, grammar), want, input)
  })
})
