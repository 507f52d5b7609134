/**
 * The SCIM emulator as a server, over raw HTTP: the RFC 7644 behaviours the provisioner suite
 * relies on, and the quirk switches that make it behave like less complete servers.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SCIM_DEV_CLIENT, SCIM_DEV_TOKEN, ScimEmulator, type ScimEmulatorOptions } from './emulator.ts'
import { SCHEMA } from '../scim-core/schemas.ts'

interface Reply {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

function client(emu: ScimEmulator, token: string | null = SCIM_DEV_TOKEN) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const res = await fetch(`${emu.scimBaseUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
  }
}

const user = (userName: string, extra: Record<string, unknown> = {}) => ({ schemas: [SCHEMA.user], userName, ...extra })
const patchOp = (...Operations: unknown[]) => ({ schemas: [SCHEMA.patchOp], Operations })

async function withEmulator(options: ScimEmulatorOptions, fn: (emu: ScimEmulator) => Promise<void>): Promise<void> {
  const emu = new ScimEmulator(options)
  await emu.start()
  try {
    await fn(emu)
  } finally {
    await emu.close()
  }
}

describe('SCIM emulator, default (full-featured, case-insensitive) server', () => {
  const emu = new ScimEmulator({ maxResults: 5, rateLimits: { requests: null } })
  const call = client(emu)
  before(() => emu.start())
  after(() => emu.close())

  test('when discovery is read, then ServiceProviderConfig states what the server supports', async () => {
    const res = await client(emu, null)('GET', '/ServiceProviderConfig')
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /application\/scim\+json/)
    assert.deepEqual(res.body.patch, { supported: true })
    assert.deepEqual(res.body.filter, { supported: true, maxResults: 5 })
    assert.deepEqual(res.body.etag, { supported: true })
    const schemas = await call('GET', '/Schemas')
    assert.deepEqual(
      (schemas.body.Resources as Array<{ id: string }>).map((s) => s.id),
      [SCHEMA.user, SCHEMA.group, SCHEMA.enterprise],
    )
  })

  test('when a request has no or a wrong token, then 401 in the SCIM error format with a Bearer challenge', async () => {
    for (const token of [null, 'wrong']) {
      const res = await client(emu, token)('GET', '/Users')
      assert.equal(res.status, 401)
      assert.equal(res.body.status, '401')
      assert.deepEqual(res.body.schemas, [SCHEMA.error])
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /)
    }
  })

  test('when attribute names arrive in any case, then they are stored and filtered canonically (RFC 7643 §2.1)', async () => {
    const created = await call('POST', '/Users', {
      SCHEMAS: [SCHEMA.user.toUpperCase()],
      USERNAME: 'Case.Test@example.com',
      externalid: 'X-1',
      Name: { GIVENNAME: 'Case' },
    })
    assert.equal(created.status, 201)
    assert.equal(created.body.userName, 'Case.Test@example.com')
    assert.deepEqual(created.body.name, { givenName: 'Case' })
    assert.equal(created.headers.get('location'), (created.body.meta as { location: string }).location)
    const found = await call('GET', `/Users?filter=${encodeURIComponent('USERNAME EQ "case.test@EXAMPLE.com" and externalId eq "X-1"')}`)
    assert.equal(found.body.totalResults, 1)
    // externalId is caseExact: a differently cased value is another value.
    const caseExact = await call('GET', `/Users?filter=${encodeURIComponent('externalId eq "x-1"')}`)
    assert.equal(caseExact.body.totalResults, 0)
  })

  test('when userName or externalId is taken, then 409 uniqueness with a string status', async () => {
    await call('POST', '/Users', user('taken@example.com', { externalId: 'T-1' }))
    for (const body of [user('TAKEN@example.com'), user('other@example.com', { externalId: 'T-1' })]) {
      const res = await call('POST', '/Users', body)
      assert.equal(res.status, 409)
      assert.deepEqual(res.body, {
        schemas: [SCHEMA.error],
        status: '409',
        scimType: 'uniqueness',
        detail: res.body.detail,
      })
    }
  })

  test('when a User is invalid, then 400 with the matching scimType', async () => {
    const cases: Array<[unknown, string]> = [
      [{ schemas: [SCHEMA.user] }, 'invalidValue'],
      [{ userName: 'no-schemas@example.com' }, 'invalidSyntax'],
      [user('bad-email@example.com', { emails: [{ value: 'not an email' }] }), 'invalidValue'],
      [user('bad-active@example.com', { active: 'yes' }), 'invalidValue'],
    ]
    for (const [body, scimType] of cases) {
      const res = await call('POST', '/Users', body)
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.equal(res.body.scimType, scimType, JSON.stringify(body))
    }
    const broken = await fetch(`${emu.scimBaseUrl}/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SCIM_DEV_TOKEN}`, 'content-type': 'application/scim+json' },
      body: '{not json',
    })
    assert.equal(broken.status, 400)
    assert.equal(((await broken.json()) as { scimType: string }).scimType, 'invalidSyntax')
  })

  test('when a filter is malformed or uses an operator the server lacks, then 400 invalidFilter', async () => {
    for (const filter of ['userName eq', 'userName gt "a"', 'userName eq "a" extra', '(userName eq "a"']) {
      const res = await call('GET', `/Users?filter=${encodeURIComponent(filter)}`)
      assert.equal(res.status, 400, filter)
      assert.equal(res.body.scimType, 'invalidFilter', filter)
    }
  })

  test("when Entra's emails[type eq \"work\"].value filter is used, then it matches the work address", async () => {
    await call('POST', '/Users', user('entra@example.com', { emails: [{ value: 'work@example.com', type: 'work' }] }))
    const res = await call('GET', `/Users?filter=${encodeURIComponent('emails[type eq "work"].value eq "WORK@example.com"')}`)
    assert.equal(res.body.totalResults, 1)
    const not = await call('GET', `/Users?filter=${encodeURIComponent('emails[type eq "home"].value eq "work@example.com"')}`)
    assert.equal(not.body.totalResults, 0)
  })

  test('when a list is paged, then startIndex is 1-based, count is capped at maxResults and totalResults counts all', async () => {
    const fresh = new ScimEmulator({ maxResults: 5, rateLimits: { requests: null } })
    await fresh.start()
    try {
      for (let i = 0; i < 12; i += 1) fresh.seedUser({ userName: `page${i}@example.com` })
      const get = client(fresh)
      const first = await get('GET', '/Users?count=50')
      assert.equal(first.body.totalResults, 12)
      assert.equal(first.body.itemsPerPage, 5)
      assert.equal(first.body.startIndex, 1)
      assert.deepEqual(first.body.schemas, [SCHEMA.listResponse])
      const last = await get('GET', '/Users?startIndex=11&count=5')
      assert.deepEqual(
        (last.body.Resources as Array<{ userName: string }>).map((u) => u.userName),
        ['page10@example.com', 'page11@example.com'],
      )
      const zero = await get('GET', '/Users?count=-3')
      assert.equal(zero.body.totalResults, 12)
      assert.deepEqual(zero.body.Resources, [])
      const belowOne = await get('GET', '/Users?startIndex=0&count=1')
      assert.equal(belowOne.body.startIndex, 1)
    } finally {
      await fresh.close()
    }
  })

  test('when a write carries a stale If-Match, then 412; the current ETag succeeds and If-None-Match answers 304', async () => {
    const created = await call('POST', '/Users', user('etag@example.com'))
    const id = String(created.body.id)
    const etag = created.headers.get('etag')
    assert.equal(etag, (created.body.meta as { version: string }).version)
    emu.touchUser(id)
    const stale = await call('PATCH', `/Users/${id}`, patchOp({ op: 'replace', path: 'active', value: false }), { 'if-match': etag! })
    assert.equal(stale.status, 412)
    assert.equal(stale.body.status, '412')
    const current = await call('GET', `/Users/${id}`)
    const ok = await call('PATCH', `/Users/${id}`, patchOp({ op: 'replace', path: 'active', value: false }), {
      'if-match': current.headers.get('etag')!,
    })
    assert.equal(ok.status, 200)
    assert.notEqual(ok.headers.get('etag'), current.headers.get('etag'))
    const notModified = await call('GET', `/Users/${id}`, undefined, { 'if-none-match': ok.headers.get('etag')! })
    assert.equal(notModified.status, 304)
  })

  test('when PATCH operations are applied, then path, value-object and filtered forms work and a failing op rolls back all', async () => {
    const created = await call('POST', '/Users', user('patch@example.com', { name: { givenName: 'P', familyName: 'Q' } }))
    const id = String(created.body.id)
    const patched = await call(
      'PATCH',
      `/Users/${id}`,
      patchOp(
        { op: 'Replace', value: { active: false } },
        { op: 'add', path: 'name.givenName', value: 'Pat' },
        { op: 'add', path: `${SCHEMA.enterprise}:department`, value: 'Ops' },
        { op: 'add', path: 'emails', value: [{ value: 'pat@example.com', type: 'work' }] },
        { op: 'replace', path: 'emails[type eq "work"].value', value: 'pat2@example.com' },
      ),
    )
    assert.equal(patched.status, 200)
    assert.equal(patched.body.active, false)
    assert.deepEqual(patched.body.name, { givenName: 'Pat', familyName: 'Q' })
    assert.deepEqual(patched.body[SCHEMA.enterprise], { department: 'Ops' })
    assert.deepEqual(patched.body.emails, [{ value: 'pat2@example.com', type: 'work' }])

    const failed = await call(
      'PATCH',
      `/Users/${id}`,
      patchOp({ op: 'replace', path: 'active', value: true }, { op: 'replace', path: 'emails[type eq "home"].value', value: 'x@example.com' }),
    )
    assert.equal(failed.status, 400)
    assert.equal(failed.body.scimType, 'noTarget')
    assert.equal(emu.getUser(id)?.active, false, 'the first operation was rolled back')

    const readOnly = await call('PATCH', `/Users/${id}`, patchOp({ op: 'replace', path: 'groups', value: [] }))
    assert.equal(readOnly.body.scimType, 'mutability')
  })

  test('when members are added and removed by PATCH on a Group, then membership follows and removing a non-member succeeds', async () => {
    const a = emu.seedUser({ userName: 'member-a@example.com' })
    const b = emu.seedUser({ userName: 'member-b@example.com' })
    const group = emu.seedGroup('Patchers', [a])
    const add = await call('PATCH', `/Groups/${group}`, patchOp({ op: 'add', path: 'members', value: [{ value: b }, { value: a }] }))
    assert.equal(add.status, 204)
    assert.deepEqual(emu.groupMembers(group), [a, b])
    const remove = await call('PATCH', `/Groups/${group}`, patchOp({ op: 'remove', path: `members[value eq "${a}"]` }))
    assert.equal(remove.status, 204)
    assert.deepEqual(emu.groupMembers(group), [b])
    const again = await call('PATCH', `/Groups/${group}`, patchOp({ op: 'remove', path: `members[value eq "${a}"]` }))
    assert.equal(again.status, 204)
    const unknown = await call('PATCH', `/Groups/${group}`, patchOp({ op: 'add', path: 'members', value: [{ value: 'ghost' }] }))
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.scimType, 'invalidValue')

    const byFilter = await call('GET', `/Groups?filter=${encodeURIComponent(`members.value eq "${b}"`)}&excludedAttributes=members`)
    assert.equal(byFilter.body.totalResults, 1)
    assert.equal((byFilter.body.Resources as Array<Record<string, unknown>>)[0]?.members, undefined)
    assert.deepEqual(
      (emu.getUser(b)?.groups as Array<{ display: string }>).map((g) => g.display),
      ['Patchers'],
    )
    emu.deleteUser(b)
    assert.deepEqual(emu.groupMembers(group), [], 'deleting a user ends its memberships')
  })

  test('when faults are injected, then they come back in the SCIM error format', async () => {
    emu.injectFault({ status: 503, retryAfterSeconds: 3, pathIncludes: '/Users' })
    const res = await call('GET', '/Users')
    assert.equal(res.status, 503)
    assert.equal(res.body.status, '503')
    assert.equal(res.headers.get('retry-after'), '3')
    emu.injectFault({ expireToken: true })
    const expired = await call('GET', '/Users')
    assert.equal(expired.status, 401)
    assert.match(String(expired.body.detail), /expired/)
  })

  test('when a resource does not exist, then 404 in the SCIM error format', async () => {
    const res = await call('DELETE', '/Users/does-not-exist')
    assert.equal(res.status, 404)
    assert.equal(res.body.status, '404')
  })
})

describe('SCIM emulator quirk switches', () => {
  test('when PATCH or PUT is switched off, then 501 Not Implemented (RFC 7644 §3.12)', async () => {
    await withEmulator({ patchSupported: false }, async (emu) => {
      const id = emu.seedUser({ userName: 'nopatch@example.com' })
      const res = await client(emu)('PATCH', `/Users/${id}`, patchOp({ op: 'replace', path: 'active', value: false }))
      assert.equal(res.status, 501)
      assert.equal(res.body.status, '501')
      const config = await client(emu)('GET', '/ServiceProviderConfig')
      assert.deepEqual(config.body.patch, { supported: false })
    })
    await withEmulator({ putSupported: false }, async (emu) => {
      const id = emu.seedUser({ userName: 'noput@example.com' })
      const res = await client(emu)('PUT', `/Users/${id}`, user('noput@example.com'))
      assert.equal(res.status, 501)
    })
  })

  test('when filtering is switched off, then any filter is 400 invalidFilter and plain paging still works', async () => {
    await withEmulator({ filterSupported: false }, async (emu) => {
      emu.seedUser({ userName: 'nofilter@example.com' })
      const res = await client(emu)('GET', `/Users?filter=${encodeURIComponent('userName eq "nofilter@example.com"')}`)
      assert.equal(res.status, 400)
      assert.equal(res.body.scimType, 'invalidFilter')
      assert.equal((await client(emu)('GET', '/Users')).body.totalResults, 1)
    })
  })

  test('when ETags are switched off, then no ETag is sent, If-Match is ignored and discovery says etag.supported=false', async () => {
    await withEmulator({ etagSupported: false }, async (emu) => {
      assert.deepEqual((await client(emu)('GET', '/ServiceProviderConfig')).body.etag, { supported: false })
      const created = await client(emu)('POST', '/Users', user('noetag@example.com'))
      assert.equal(created.headers.get('etag'), null)
      assert.equal((created.body.meta as Record<string, unknown>).version, undefined)
      const res = await client(emu)('PUT', `/Users/${String(created.body.id)}`, user('noetag@example.com', { active: false }), {
        'if-match': 'W/"stale"',
      })
      assert.equal(res.status, 200)
    })
  })

  test('when the server is strict, then only canonical attribute names and lower-case ops are accepted', async () => {
    await withEmulator({ strict: true }, async (emu) => {
      const lower = await client(emu)('POST', '/Users', { schemas: [SCHEMA.user], username: 'strict@example.com' })
      assert.equal(lower.status, 400)
      assert.equal(lower.body.scimType, 'invalidValue')
      const created = await client(emu)('POST', '/Users', user('strict@example.com'))
      const capitalised = await client(emu)('PATCH', `/Users/${String(created.body.id)}`, patchOp({ op: 'Replace', path: 'active', value: false }))
      assert.equal(capitalised.body.scimType, 'invalidSyntax')
    })
  })

  test('when User.groups is switched off, then Users come back without it and the User schema does not list it', async () => {
    await withEmulator({ userGroupsAttribute: false }, async (emu) => {
      const id = emu.seedUser({ userName: 'nogroups@example.com' })
      emu.seedGroup('G', [id])
      assert.equal(emu.getUser(id)?.groups, undefined)
      assert.equal((await client(emu)('GET', `/Users/${id}`)).body.groups, undefined)
      assert.deepEqual(emu.groupsOf(id), ['G'])
      const schema = await client(emu)('GET', `/Schemas/${SCHEMA.user}`)
      const names = (schema.body.attributes as Array<{ name: string }>).map((a) => a.name)
      assert.ok(names.includes('userName'))
      assert.ok(!names.includes('groups'), 'discovery tells the truth: no groups on User')
    })
    await withEmulator({}, async (emu) => {
      const schema = await client(emu)('GET', `/Schemas/${SCHEMA.user}`)
      assert.ok((schema.body.attributes as Array<{ name: string }>).some((a) => a.name === 'groups'))
    })
  })

  test('when filters are eq-only, then top-level eq works and members.value eq or other operators are 400 invalidFilter', async () => {
    await withEmulator({ filterSupport: 'eq' }, async (emu) => {
      const id = emu.seedUser({ userName: 'eqonly@example.com', externalId: 'X1' })
      emu.seedGroup('G', [id])
      const call = client(emu)
      const q = (f: string) => `?filter=${encodeURIComponent(f)}`
      assert.equal((await call('GET', `/Users${q('externalId eq "X1"')}`)).body.totalResults, 1)
      assert.equal((await call('GET', `/Groups${q('displayName eq "G"')}`)).body.totalResults, 1)
      for (const [path, filter] of [
        ['/Groups', `members.value eq "${id}"`],
        ['/Users', 'userName sw "eq"'],
        ['/Users', 'userName eq "a" or userName eq "b"'],
      ] as const) {
        const res = await call('GET', `${path}${q(filter)}`)
        assert.equal(res.status, 400, filter)
        assert.equal(res.body.scimType, 'invalidFilter', filter)
      }
      // RFC 7643 §5 cannot say "eq only": filter.supported is true, which is what the server does.
      assert.deepEqual((await call('GET', '/ServiceProviderConfig')).body.filter, { supported: true, maxResults: 100 })
    })
  })

  test('when PATCH is set to answer 204 or 200, then Users and Groups follow it (RFC 7644 §3.5.2)', async () => {
    for (const [patchResponse, status] of [['noContent', 204], ['resource', 200]] as const) {
      await withEmulator({ patchResponse }, async (emu) => {
        const id = emu.seedUser({ userName: `p${status}@example.com` })
        const group = emu.seedGroup('G')
        const call = client(emu)
        const onUser = await call('PATCH', `/Users/${id}`, patchOp({ op: 'replace', path: 'active', value: false }))
        assert.equal(onUser.status, status)
        assert.equal(emu.getUser(id)?.active, false)
        const onGroup = await call('PATCH', `/Groups/${group}`, patchOp({ op: 'add', path: 'members', value: [{ value: id }] }))
        assert.equal(onGroup.status, status)
        if (status === 200) assert.equal(onGroup.body.id, group)
      })
    }
  })

  test('when discovery is switched off, then /ServiceProviderConfig, /Schemas and /ResourceTypes answer 404', async () => {
    await withEmulator({ discovery: false }, async (emu) => {
      for (const path of ['/ServiceProviderConfig', '/Schemas', '/ResourceTypes']) {
        assert.equal((await client(emu)('GET', path)).status, 404, path)
      }
      assert.equal((await client(emu)('GET', '/Users')).status, 200)
    })
  })

  test('when the rate limit is exceeded, then 429 with Retry-After; limits can be changed over /_emulator', async () => {
    await withEmulator({ rateLimits: { requests: { perMinute: 60, burst: 2 } } }, async (emu) => {
      const call = client(emu)
      assert.equal((await call('GET', '/Users')).status, 200)
      assert.equal((await call('GET', '/Users')).status, 200)
      const limited = await call('GET', '/Users')
      assert.equal(limited.status, 429)
      assert.equal(limited.body.status, '429')
      assert.equal(limited.headers.get('retry-after'), '1')
      const origin = emu.scimBaseUrl.replace(/\/scim\/v2$/, '')
      const put = await fetch(`${origin}/_emulator/rate-limits`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ requests: { perMinute: 6000, burst: 50 } }),
      })
      assert.equal(put.status, 204)
      assert.equal((await call('GET', '/Users')).status, 200)
    })
  })

  test('when a client uses the token endpoint, then Basic or form credentials get a working token and bad ones invalid_client', async () => {
    await withEmulator({ bearerTokens: [] }, async (emu) => {
      const form = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
        fetch(emu.tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
          body: new URLSearchParams(fields).toString(),
        })
      const basic = Buffer.from(`${SCIM_DEV_CLIENT.clientId}:${SCIM_DEV_CLIENT.clientSecret}`).toString('base64')
      const viaBasic = await form({ grant_type: 'client_credentials' }, { authorization: `Basic ${basic}` })
      assert.equal(viaBasic.status, 200)
      const token = (await viaBasic.json()) as { access_token: string; token_type: string; expires_in: number }
      assert.equal(token.token_type, 'Bearer')
      assert.ok(token.expires_in > 0)
      assert.equal((await client(emu, token.access_token)('GET', '/Users')).status, 200)
      assert.equal((await client(emu, SCIM_DEV_TOKEN)('GET', '/Users')).status, 401, 'static tokens are off')

      const creds = { client_id: SCIM_DEV_CLIENT.clientId, client_secret: SCIM_DEV_CLIENT.clientSecret }
      const viaForm = await form({ grant_type: 'client_credentials', ...creds })
      assert.equal(viaForm.status, 200)
      const bad = await form({ grant_type: 'client_credentials', client_id: SCIM_DEV_CLIENT.clientId, client_secret: 'nope' })
      assert.equal(bad.status, 401)
      assert.equal(((await bad.json()) as { error: string }).error, 'invalid_client')
      const grant = await form({ grant_type: 'password', ...creds })
      assert.equal(((await grant.json()) as { error: string }).error, 'unsupported_grant_type')
    })
  })
})
