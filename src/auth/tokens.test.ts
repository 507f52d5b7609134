import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { startHarness, type Harness } from './test-support.ts'
import { TOKEN_PATTERN } from './token-format.ts'
import { sealAudit } from '../audit/sealer.ts'

type Json = Record<string, unknown>

describe('API tokens over HTTP', () => {
  let h: Harness
  let admin: { token: string; id: string }
  before(async () => {
    h = await startHarness()
    admin = await h.token('admin', { name: 'bootstrap' })
  })
  after(async () => {
    await h.close()
  })

  test('when an admin issues a token, then it is shown once, works at once, and is attributed to its own id', async () => {
    const created = await h.call('post', '/api/v1/tokens', { token: admin.token, body: { name: 'siem-export', role: 'auditor', expiresIn: '90d' } })
    assert.equal(created.status, 201)
    const body = created.json as { token: string; apiToken: Json }
    assert.match(body.token, TOKEN_PATTERN)
    assert.ok(body.token.startsWith('tnr_aud_'))
    assert.equal(body.apiToken.role, 'auditor')
    assert.equal(body.apiToken.status, 'active')
    assert.equal(body.apiToken.createdBy, `api_token:${admin.id}`)
    assert.equal(body.apiToken.expiresAt, new Date(h.clock.now().getTime() + 90 * 86_400_000).toISOString())
    assert.equal(created.headers.get('location'), `/api/v1/tokens/${String(body.apiToken.id)}`)

    const me = await h.call('get', '/api/v1/whoami', { token: body.token })
    assert.equal(me.status, 200)
    assert.deepEqual(me.json, { kind: 'api_token', id: body.apiToken.id, name: 'siem-export', email: null, roles: ['auditor'] })

    const one = await h.call('get', `/api/v1/tokens/${String(body.apiToken.id)}`, { token: admin.token })
    assert.equal(one.status, 200)
    assert.equal(one.text.includes(body.token), false, 'the secret is never shown again')
    assert.equal(one.text.includes(body.token.slice(16)), false)
  })

  test('when a token is created, then the database holds its SHA-256 and never the token', async () => {
    const created = await h.call('post', '/api/v1/tokens', { token: admin.token, body: { name: 'terraform', role: 'operator' } })
    const { token, apiToken } = created.json as { token: string; apiToken: { id: string } }
    const { rows } = await h.pool.query('SELECT * FROM api_tokens WHERE id = $1', [apiToken.id])
    const row = rows[0] as { secret_sha256: Buffer; prefix: string }
    assert.deepEqual(row.secret_sha256, createHash('sha256').update(token).digest())
    assert.equal(row.prefix, token.slice(0, 16))
    assert.equal(JSON.stringify(rows).includes(token.slice(16)), false)
    await sealAudit(h.pool)
    const audit = await h.pool.query(`SELECT actor_type, actor_id, details FROM audit_events WHERE action = 'token.created' AND details->>'tokenId' = $1`, [apiToken.id])
    assert.equal(audit.rows.length, 1)
    assert.deepEqual([audit.rows[0].actor_type, audit.rows[0].actor_id], ['api_token', admin.id])
    assert.equal(JSON.stringify(audit.rows).includes(token.slice(16)), false)
  })

  test('when a token is revoked, then the very next request with it is refused with 401 and a Bearer challenge', async () => {
    const victim = await h.token('operator', { name: 'to-revoke' })
    assert.equal((await h.call('get', '/api/v1/whoami', { token: victim.token })).status, 200)
    const revoked = await h.call('delete', `/api/v1/tokens/${victim.id}`, { token: admin.token })
    assert.equal(revoked.status, 200)
    assert.equal((revoked.json as Json).status, 'revoked')
    assert.equal((revoked.json as Json).revokedBy, `api_token:${admin.id}`)

    const refused = await h.call('get', '/api/v1/whoami', { token: victim.token })
    assert.equal(refused.status, 401)
    assert.equal((refused.json as { error: Json }).error.code, 'token_revoked')
    assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer realm="tenure", error="invalid_token"/)

    const again = await h.call('delete', `/api/v1/tokens/${victim.id}`, { token: admin.token })
    assert.equal(again.status, 200, 'revoking twice answers the same')
    assert.equal((again.json as Json).revokedAt, (revoked.json as Json).revokedAt)
    await sealAudit(h.pool)
    const audit = await h.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'token.revoked' AND details->>'tokenId' = $1`, [victim.id])
    assert.equal(audit.rows[0].n, 1, 'one revocation, one audit record')
  })

  test('when a token reaches its expiry, then it is refused from that moment', async () => {
    const short = await h.token('approver', { name: 'short-lived', expiresIn: '1h' })
    assert.equal((await h.call('get', '/api/v1/whoami', { token: short.token })).status, 200)
    h.clock.advance(3_599_000)
    assert.equal((await h.call('get', '/api/v1/whoami', { token: short.token })).status, 200)
    h.clock.advance(1_000)
    const refused = await h.call('get', '/api/v1/whoami', { token: short.token })
    assert.equal(refused.status, 401)
    assert.equal((refused.json as { error: Json }).error.code, 'token_expired')
    const listed = await h.call('get', `/api/v1/tokens/${short.id}`, { token: admin.token })
    assert.equal((listed.json as Json).status, 'expired')
  })

  test('when a token is used often, then last_used_at moves at most once a minute', async () => {
    const busy = await h.token('auditor', { name: 'busy' })
    const lastUsed = async () => (await h.pool.query('SELECT last_used_at FROM api_tokens WHERE id = $1', [busy.id])).rows[0].last_used_at as Date | null
    assert.equal(await lastUsed(), null)
    await h.call('get', '/api/v1/whoami', { token: busy.token })
    const first = await lastUsed()
    assert.equal(first?.getTime(), h.clock.now().getTime())
    h.clock.advance(30_000)
    await h.call('get', '/api/v1/whoami', { token: busy.token })
    assert.equal((await lastUsed())?.getTime(), first?.getTime(), 'unchanged within the minute')
    h.clock.advance(30_000)
    await h.call('get', '/api/v1/whoami', { token: busy.token })
    assert.equal((await lastUsed())?.getTime(), h.clock.now().getTime(), 'updated once a minute has passed')
  })

  test('when a token is altered by one character, then it is refused as invalid', async () => {
    const good = await h.token('operator', { name: 'typo' })
    const last = good.token.at(-1) === 'A' ? 'B' : 'A'
    const typo = good.token.slice(0, -1) + last
    const res = await h.call('get', '/api/v1/whoami', { token: typo })
    assert.equal(res.status, 401)
    assert.equal((res.json as { error: Json }).error.code, 'invalid_token')
    const forged = good.token.slice(0, 20) + (good.token[20] === 'x' ? 'y' : 'x') + good.token.slice(21)
    assert.equal((await h.call('get', '/api/v1/whoami', { token: forged })).status, 401)
  })

  test('when an admin lists tokens a page at a time, then every token appears once, newest first, without secrets', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2'
      const page = await h.call('get', `/api/v1/tokens${query}&includeRevoked=true`, { token: admin.token })
      assert.equal(page.status, 200)
      const body = page.json as { items: Array<{ id: string; createdAt: string }>; nextCursor: string | null }
      assert.ok(body.items.length <= 2)
      assert.equal(TOKEN_PATTERN.test(page.text), false)
      seen.push(...body.items.map((t) => t.id))
      cursor = body.nextCursor
      pages += 1
    } while (cursor)
    const { rows } = await h.pool.query('SELECT id FROM api_tokens ORDER BY created_at DESC, id DESC')
    assert.deepEqual(seen, rows.map((r) => r.id))
    assert.ok(pages >= 3)
    const active = await h.call('get', '/api/v1/tokens?limit=200', { token: admin.token })
    assert.equal(
      (active.json as { items: Array<{ status: string }> }).items.some((t) => t.status === 'revoked'),
      false,
      'revoked tokens are left out unless asked for',
    )
  })

  test('when a cursor was not issued by the endpoint, then the answer is 400 naming query.cursor', async () => {
    const res = await h.call('get', '/api/v1/tokens?cursor=bm90LWEtY3Vyc29y', { token: admin.token })
    assert.equal(res.status, 400)
    assert.match((res.json as { error: { message: string } }).error.message, /^query\.cursor/)
  })

  test('when a token is created with a bad body, then 400 names each field', async () => {
    const res = await h.call('post', '/api/v1/tokens', { token: admin.token, body: { name: '', role: 'root', expiresIn: 'forever' } })
    assert.equal(res.status, 400)
    const paths = (res.json as { error: { details: { issues: Array<{ path: string }> } } }).error.details.issues.map((i) => i.path).sort()
    assert.deepEqual(paths, ['body.expiresIn', 'body.name', 'body.role'])
  })

  test('when a token that does not exist is revoked, then 404', async () => {
    const res = await h.call('delete', '/api/v1/tokens/5b3c0e0e-8a57-4c6e-9d0f-3f6b5a1b2c3d', { token: admin.token })
    assert.equal(res.status, 404)
    assert.equal((res.json as { error: Json }).error.code, 'not_found')
  })
})
