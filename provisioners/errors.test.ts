import { test } from 'node:test'
import assert from 'node:assert/strict'
import { classifyHttpStatus, parseRetryAfter, RateLimitedError } from './errors.ts'

test('when Retry-After is delta-seconds, then it is read as milliseconds', () => {
  assert.equal(parseRetryAfter('120'), 120_000)
  assert.equal(parseRetryAfter('0.5'), 500)
})

test('when Retry-After is an HTTP-date, then the wait is measured from now', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000)
  assert.equal(parseRetryAfter('not a date', now), undefined)
  assert.equal(parseRetryAfter(undefined), undefined)
})

test('when a vendor answers with a status, then it is classified into the error family', () => {
  const d = { system: 'x' }
  const cases: Array<[number | undefined, string]> = [
    [undefined, 'Transient'],
    [429, 'RateLimited'],
    [401, 'AuthFailed'],
    [404, 'NotFound'],
    [409, 'Conflict'],
    [400, 'Permanent'],
    [503, 'Transient'],
  ]
  for (const [status, kind] of cases) assert.equal(classifyHttpStatus(status, 'm', d).kind, kind, String(status))
  const limited = classifyHttpStatus(429, 'slow down', { ...d, retryAfterMs: 7000 })
  assert.ok(limited instanceof RateLimitedError)
  assert.equal(limited.retryAfterMs, 7000)
})

test('when a 503 carries Retry-After, then it is RateLimited with that wait; without one it stays Transient', () => {
  const d = { system: 'x' }
  const busy = classifyHttpStatus(503, 'busy', { ...d, retryAfterMs: 12_000 })
  assert.ok(busy instanceof RateLimitedError)
  assert.equal(busy.retryAfterMs, 12_000)
  assert.equal(busy.status, 503)
  assert.equal(classifyHttpStatus(503, 'busy', d).kind, 'Transient')
  // Other 5xx with a Retry-After are still failures of the server, retried with backoff.
  assert.equal(classifyHttpStatus(500, 'broken', { ...d, retryAfterMs: 12_000 }).kind, 'Transient')
})
