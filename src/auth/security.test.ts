import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { validateConfig } from '../config/load.ts'
import { errorHandler } from '../http/errors.ts'
import { silentLogger } from '../log.ts'
import { webhookRateLimiter } from './security.ts'
import { fakeClock, startHarness, type Harness } from './test-support.ts'

type ErrorBody = { error: { code: string; message: string; details: Record<string, unknown> | null } }

describe('rate limits', () => {
  let h: Harness
  before(async () => {
    h = await startHarness({ config: { auth: { rateLimit: { perIpPerMinute: 8, perCredentialPerMinute: 3, failedAuthPerIpPerMinute: 2 } } } })
  })
  after(async () => {
    await h.close()
  })

  test('when a credential exceeds its limit, then it gets 429 with Retry-After in the error shape, others do not, and it recovers after the window', async () => {
    const busy = await h.token('auditor', { name: 'busy' })
    const other = await h.token('auditor', { name: 'other' })
    for (let i = 0; i < 3; i++) assert.equal((await h.call('get', '/api/v1/whoami', { token: busy.token })).status, 200)
    const limited = await h.call('get', '/api/v1/whoami', { token: busy.token })
    assert.equal(limited.status, 429)
    assert.equal(limited.headers.get('retry-after'), '60')
    const body = limited.json as ErrorBody
    assert.equal(body.error.code, 'rate_limited')
    assert.deepEqual(body.error.details, { scope: 'credential', limit: 3, windowSeconds: 60, retryAfterSeconds: 60 })
    assert.equal((await h.call('get', '/api/v1/whoami', { token: other.token })).status, 200, 'another credential from the same IP is not limited')
    h.clock.advance(20_000)
    assert.equal((await h.call('get', '/api/v1/whoami', { token: busy.token })).headers.get('retry-after'), '40')
    h.clock.advance(40_000)
    assert.equal((await h.call('get', '/api/v1/whoami', { token: busy.token })).status, 200, 'a new window, a new allowance')
  })

  test('when one IP exceeds its limit, then every request from it gets 429 until the window ends', async () => {
    h.clock.advance(60_000)
    const statuses: number[] = []
    for (let i = 0; i < 9; i++) statuses.push((await h.call('get', '/api/v1/openapi.json')).status)
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 429])
    const limited = await h.call('get', '/api/v1/openapi.json')
    assert.equal((limited.json as ErrorBody).error.details?.scope, 'ip')
    assert.ok(Number(limited.headers.get('retry-after')) >= 1)
    h.clock.advance(60_000)
    assert.equal((await h.call('get', '/api/v1/openapi.json')).status, 200)
  })

  test('when an IP keeps presenting bad credentials, then after the limit it gets 429 even with a good one, until the window ends', async () => {
    h.clock.advance(60_000)
    const good = await h.token('operator', { name: 'good' })
    assert.equal((await h.call('get', '/api/v1/whoami', { token: 'tnr_adm_guess1' })).status, 401)
    assert.equal((await h.call('get', '/api/v1/whoami')).status, 401)
    const blocked = await h.call('get', '/api/v1/whoami', { token: good.token })
    assert.equal(blocked.status, 429)
    assert.match((blocked.json as ErrorBody).error.message, /too many requests/)
    h.clock.advance(60_000)
    assert.equal((await h.call('get', '/api/v1/whoami', { token: good.token })).status, 200)
  })

  test('when the webhook limiter is in front of /webhooks, then one IP gets 429 past its limit and recovers', async () => {
    const clock = fakeClock()
    const config = validateConfig({ auth: { rateLimit: { webhooksPerIpPerMinute: 2 } } })
    const app = express()
    app.use('/webhooks', webhookRateLimiter(config, { now: () => clock.now().getTime() }), (_req, res) => void res.status(202).end())
    app.use(errorHandler(silentLogger))
    const server: Server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/bamboohr`
    try {
      const post = () => fetch(url, { method: 'POST' })
      assert.equal((await post()).status, 202)
      assert.equal((await post()).status, 202)
      const limited = await post()
      assert.equal(limited.status, 429)
      assert.equal(limited.headers.get('retry-after'), '60')
      assert.equal(((await limited.json()) as ErrorBody).error.details?.scope, 'webhook_ip')
      clock.advance(60_000)
      assert.equal((await post()).status, 202)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('hardening', () => {
  let h: Harness
  let cors: Harness
  before(async () => {
    h = await startHarness({ config: { server: { bodyLimitBytes: 1024 }, auth: { rateLimit: { enabled: false } } } })
    cors = await startHarness({ pool: h.pool, config: { server: { cors: { origins: ['https://console.example.com/'] } }, auth: { rateLimit: { enabled: false } } } })
  })
  after(async () => {
    await cors.close()
    await h.close()
  })

  test('when the API answers, then security headers are set and nothing may be cached', async () => {
    const res = await h.call('get', '/api/v1/openapi.json')
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.match(res.headers.get('strict-transport-security') ?? '', /max-age=\d+/)
    assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN')
    assert.equal(res.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none'")
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(res.headers.get('x-powered-by'), null)
    assert.equal(res.headers.get('access-control-allow-origin'), null)
  })

  test('when no CORS origins are configured, then a browser on another origin gets no CORS headers, even on preflight', async () => {
    const res = await h.call('get', '/api/v1/openapi.json', { headers: { origin: 'https://console.example.com' } })
    assert.equal(res.headers.get('access-control-allow-origin'), null)
    const preflight = await h.call('options', '/api/v1/tokens', {
      headers: { origin: 'https://console.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    })
    assert.equal(preflight.headers.get('access-control-allow-origin'), null)
  })

  test('when an origin is configured, then it alone gets CORS headers and preflights are answered without a credential', async () => {
    const preflight = await cors.call('options', '/api/v1/tokens', {
      headers: { origin: 'https://console.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://console.example.com')
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/)
    assert.equal(preflight.headers.get('access-control-allow-credentials'), null, 'bearer tokens only, never cookies')
    const res = await cors.call('get', '/api/v1/openapi.json', { headers: { origin: 'https://console.example.com' } })
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://console.example.com')
    assert.match(res.headers.get('vary') ?? '', /Origin/)
    const other = await cors.call('get', '/api/v1/openapi.json', { headers: { origin: 'https://evil.example.com' } })
    assert.equal(other.headers.get('access-control-allow-origin'), null)
  })

  test('when a body is larger than the limit, then 413 answers whatever its content type', async () => {
    const token = (await h.token('admin')).token
    const big = 'x'.repeat(2048)
    for (const [type, body] of [
      ['application/json', JSON.stringify({ name: big, role: 'admin' })],
      ['application/x-www-form-urlencoded', `name=${big}`],
      ['text/plain', big],
      ['application/octet-stream', big],
    ] as const) {
      const res = await h.call('post', '/api/v1/tokens', { token, rawBody: body, headers: { 'content-type': type } })
      assert.equal(res.status, 413, type)
      assert.equal((res.json as ErrorBody).error.code, 'body_too_large')
    }
  })

  test('when the Authorization header is not a bearer credential, then 401 says how to send one', async () => {
    const res = await h.call('get', '/api/v1/whoami', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } })
    assert.equal(res.status, 401)
    assert.equal((res.json as ErrorBody).error.code, 'invalid_request')
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /)
    const none = await h.call('get', '/api/v1/whoami')
    assert.equal(none.status, 401)
    assert.equal((none.json as ErrorBody).error.code, 'unauthenticated')
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="tenure"')
  })
})
