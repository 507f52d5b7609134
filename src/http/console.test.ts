/**
 * Serving the web console: the real app (createApp with the console mounted after an API router)
 * over HTTP on 127.0.0.1, with a small built console in a temporary folder. No database.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import express from 'express'
import { createApp } from './app.ts'
import { consoleCsp, consoleRouter } from './console.ts'
import { createMetrics } from './metrics.ts'
import { silentLogger } from '../log.ts'

const INDEX = '<!doctype html><title>Tenure console</title><script type="module" src="/assets/app-1a2b3c.js"></script>'

async function serve(distDir: string, issuer?: string, sourceMaps = false): Promise<{ url: string; close: () => Promise<void> }> {
  const config = { auth: { oidc: issuer ? ({ issuer } as never) : undefined, rateLimit: {} as never }, console: { sourceMaps } }
  const app = createApp({
    log: silentLogger,
    metrics: createMetrics(),
    readiness: [],
    bodyLimitBytes: 1024,
    mounts: [
      {
        path: '/',
        router: express
          .Router()
          .get('/api/v1/ping', (_req, res) => void res.json({ pong: true }))
          .get('/api/v1/big', (_req, res) => void res.json({ rows: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `person ${i}` })) }))
          .post('/webhooks/hr/big', (_req, res) => void res.status(202).json({ accepted: true, padding: 'x'.repeat(4000) })),
      },
      { path: '/', router: consoleRouter({ config, log: silentLogger, distDir }) },
    ],
  })
  const server: Server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

describe('the web console is served by the API process', () => {
  let dist: string
  let built: { url: string; close: () => Promise<void> }
  let missing: { url: string; close: () => Promise<void> }
  let debugging: { url: string; close: () => Promise<void> }

  before(async () => {
    dist = await mkdtemp(path.join(tmpdir(), 'tenure-console-'))
    await mkdir(path.join(dist, 'assets'))
    await writeFile(path.join(dist, 'index.html'), INDEX)
    await writeFile(path.join(dist, 'assets', 'app-1a2b3c.js'), `console.log("app")\n${'export const x = 1\n'.repeat(200)}`)
    await writeFile(path.join(dist, 'assets', 'app-1a2b3c.js.map'), '{"version":3,"sources":["src/App.tsx"],"mappings":""}')
    await writeFile(path.join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
    built = await serve(dist, 'https://login.example.com/realms/acme')
    missing = await serve(path.join(dist, 'not-built'))
    debugging = await serve(dist, undefined, true)
  })
  after(async () => {
    await built.close()
    await missing.close()
    await debugging.close()
    await rm(dist, { recursive: true, force: true })
  })

  test('when the console is opened at /, then index.html is sent uncached under a strict CSP that admits the OIDC issuer', async () => {
    const res = await fetch(`${built.url}/`)
    assert.equal(res.status, 200)
    assert.equal(await res.text(), INDEX)
    assert.equal(res.headers.get('cache-control'), 'no-cache')
    const csp = res.headers.get('content-security-policy') ?? ''
    assert.match(csp, /script-src 'self'(;|$)/)
    assert.match(csp, /connect-src 'self' https:\/\/login\.example\.com(;|$)/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
  })

  test('when a hashed asset is fetched, then it may be cached for a year; an unknown asset is a 404, not the page', async () => {
    const asset = await fetch(`${built.url}/assets/app-1a2b3c.js`)
    assert.equal(asset.status, 200)
    assert.match(asset.headers.get('cache-control') ?? '', /max-age=31536000, immutable/)
    assert.match(asset.headers.get('content-type') ?? '', /javascript/)
    const gone = await fetch(`${built.url}/assets/app-old.js`)
    assert.equal(gone.status, 404)
    assert.doesNotMatch(await gone.text(), /Tenure console/)
  })

  test('when a console path is reloaded, then index.html answers it; API, webhook and probe paths keep their own answers', async () => {
    for (const p of ['/employees/0d9a3e46-8d5e-4b8f-a8b5-2f0d8e8d9c11', '/auth/callback?code=x&state=y', '/audit']) {
      const res = await fetch(`${built.url}${p}`)
      assert.equal(res.status, 200, p)
      assert.equal(await res.text(), INDEX, p)
    }
    assert.deepEqual(await (await fetch(`${built.url}/api/v1/ping`)).json(), { pong: true })
    for (const p of ['/api/v1/nope', '/api', '/webhooks/hr/generic']) {
      const res = await fetch(`${built.url}${p}`)
      assert.equal(res.status, 404, p)
      assert.equal((await res.json() as { error: { code: string } }).error.code, 'route_not_found', p)
    }
    const post = await fetch(`${built.url}/employees`, { method: 'POST' })
    assert.equal(post.status, 404, 'only GET and HEAD are answered with the page')
  })

  test('when the console was not built, then / says how to build it instead of a blank page', async () => {
    const res = await fetch(`${missing.url}/`)
    assert.equal(res.status, 503)
    assert.match(await res.text(), /npm run build/)
  })

  test('when no OIDC issuer is configured, then the console may connect to its own origin only', () => {
    assert.match(consoleCsp({ auth: {} as never }), /connect-src 'self';/)
  })

  test('when a browser accepts gzip or brotli, then assets and API lists come compressed; webhook acknowledgements never are', async () => {
    // Node's fetch decodes for us but drops content-encoding from nothing: ask with an explicit header and read the raw header.
    const { request } = await import('node:http')
    const raw = (url: string, encoding: string, method = 'GET') =>
      new Promise<{ status: number; encoding: string | undefined; vary: string | undefined }>((resolve, reject) => {
        const req = request(url, { method, headers: { 'accept-encoding': encoding } }, (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode ?? 0, encoding: res.headers['content-encoding'], vary: res.headers.vary }))
        })
        req.on('error', reject)
        req.end()
      })
    assert.equal((await raw(`${built.url}/assets/app-1a2b3c.js`, 'gzip')).encoding, 'gzip')
    assert.equal((await raw(`${built.url}/assets/app-1a2b3c.js`, 'br')).encoding, 'br')
    const list = await raw(`${built.url}/api/v1/big`, 'gzip, deflate, br')
    assert.ok(list.encoding === 'br' || list.encoding === 'gzip', String(list.encoding))
    assert.match(list.vary ?? '', /Accept-Encoding/i)
    assert.equal((await raw(`${built.url}/api/v1/big`, 'identity')).encoding, undefined)
    assert.equal((await raw(`${built.url}/api/v1/ping`, 'gzip')).encoding, undefined, 'a few bytes are not worth it')
    const ack = await raw(`${built.url}/webhooks/hr/big`, 'gzip', 'POST')
    assert.deepEqual([ack.status, ack.encoding], [202, undefined])
  })

  test('when a source map is asked for, then it is a 404 unless console.sourceMaps is on', async () => {
    const hidden = await fetch(`${built.url}/assets/app-1a2b3c.js.map`)
    assert.equal(hidden.status, 404)
    assert.doesNotMatch(await hidden.text(), /App\.tsx/)
    const shown = await fetch(`${debugging.url}/assets/app-1a2b3c.js.map`)
    assert.equal(shown.status, 200)
    assert.match(await shown.text(), /App\.tsx/)
  })
})
