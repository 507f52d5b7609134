import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { z } from 'zod'
import { oauthAuth, VendorHttp, bearerAuth } from './http.ts'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

describe('VendorHttp (the one HTTP path of every HR client)', () => {
  let server: Server
  let base: string
  let handler: Handler = (_req, res) => res.end('{}')
  let tokenRequests = 0
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/token') {
        tokenRequests += 1
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ access_token: `tok-${tokenRequests}`, token_type: 'Bearer', expires_in: 3600 }))
        return
      }
      handler(req, res)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => {
    server.closeAllConnections()
    server.close()
  })

  const http = (timeoutMs = 2000, auth = bearerAuth('t')) => new VendorHttp({ source: 'deel', baseUrl: base, auth, timeoutMs })
  const schema = z.object({ id: z.string() })

  test('when the vendor answers 429 with Retry-After, then RateLimited carries the wait', async () => {
    handler = (_req, res) => {
      res.writeHead(429, { 'retry-after': '12', 'content-type': 'application/json' })
      res.end('{"error":"rate_limited"}')
    }
    await assert.rejects(http().request({ operation: 'x', path: '/x', schema }), (e: { kind: string; retryAfterMs: number; system: string; vendorCode: string }) => {
      assert.deepEqual([e.kind, e.retryAfterMs, e.system, e.vendorCode], ['RateLimited', 12_000, 'hr:deel', 'rate_limited'])
      return true
    })
  })

  test('when the vendor does not answer within the timeout, then Transient', async () => {
    handler = () => {}
    await assert.rejects(http(200).request({ operation: 'x', path: '/slow', schema }), { kind: 'Transient' })
  })

  test('when the response lacks a field, then Permanent naming the field path', async () => {
    handler = (_req, res) => res.end('{"name":"x"}')
    await assert.rejects(http().request({ operation: 'x', path: '/x', schema }), (e: Error & { kind: string }) => e.kind === 'Permanent' && /at id:/.test(e.message))
  })

  test('when a vendor link points at another host, then it is not followed', async () => {
    await assert.rejects(http().request({ operation: 'x', path: 'https://evil.example/steal', schema }), { kind: 'Permanent' })
  })

  test('when the API rejects an OAuth token with 401, then the next call fetches a new token', async () => {
    let calls = 0
    handler = (req, res) => {
      calls += 1
      if (calls === 1) {
        res.writeHead(401)
        res.end()
        return
      }
      res.end(JSON.stringify({ id: String(req.headers.authorization) }))
    }
    const client = http(2000, oauthAuth({ tokenUrl: `${base}/token`, form: { grant_type: 'client_credentials' } }))
    await assert.rejects(client.request({ operation: 'x', path: '/x', schema }), { kind: 'AuthFailed' })
    const ok = await client.request({ operation: 'x', path: '/x', schema })
    assert.equal(ok.data.id, `Bearer tok-${tokenRequests}`)
    assert.equal(tokenRequests, 2)
  })
})
