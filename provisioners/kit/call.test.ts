import { test } from 'node:test'
import assert from 'node:assert/strict'
import { silentLogger } from '../../src/log.ts'
import { AuthFailedError, PermanentError, TransientError } from '../errors.ts'
import { testCtx, type ApiCallRecord, type Ctx } from '../types.ts'
import { vendorCall, type VendorCall } from './call.ts'

function harness() {
  const calls: ApiCallRecord[] = []
  const throttled: string[] = []
  const ctx: Ctx = { ...testCtx(silentLogger, calls), throttle: async (bucket, cost) => void throttled.push(cost === undefined ? bucket : `${bucket}:${cost}`) }
  return { calls, throttled, ctx }
}

const base = { operation: 'users.get', method: 'GET', path: '/users/{id}', classify: (err: unknown) => new TransientError(String(err), { system: 'x' }) }

test('when a call succeeds, then the limiter is asked first and the call is recorded with what send learned', async () => {
  const h = harness()
  const trace: string[] = []
  const result = await vendorCall(h.ctx, {
    ...base,
    buckets: ['read', { bucket: 'graph', cost: 3 }],
    trace,
    send: async ({ facts }) => {
      facts.status = 200
      facts.requestId = 'r1'
      return 'ok'
    },
  })
  assert.equal(result, 'ok')
  assert.deepEqual(h.throttled, ['read', 'graph:3'])
  assert.equal(h.calls.length, 1)
  assert.deepEqual({ ...h.calls[0], durationMs: 0 }, { operation: 'users.get', method: 'GET', path: '/users/{id}', status: 200, requestId: 'r1', durationMs: 0 })
  assert.deepEqual(trace, ['r1'])
})

test('when a call fails, then it is classified and recorded with the error kind, status and request id', async () => {
  const h = harness()
  const trace: string[] = []
  await assert.rejects(
    vendorCall(h.ctx, {
      ...base,
      buckets: ['read'],
      trace,
      send: async () => {
        throw new Error('socket hang up')
      },
      classify: () => new PermanentError('refused', { system: 'x', status: 400, requestId: 'r2' }),
    }),
    (err: unknown) => err instanceof PermanentError,
  )
  assert.equal(h.calls[0]?.errorKind, 'Permanent')
  assert.equal(h.calls[0]?.status, 400)
  assert.deepEqual(trace, ['r2'])
})

test('when the target refuses the credential, then a fresh one is fetched and the call is sent once more, never twice', async () => {
  const h = harness()
  let token = 0
  const invalidated: number[] = []
  const call: VendorCall<string, number> = {
    ...base,
    buckets: ['read'],
    credential: async () => (token += 1),
    send: async () => {
      throw new AuthFailedError('401', { system: 'x', status: 401 })
    },
    refused: (err, used) => {
      invalidated.push(used)
      return err.status === 401
    },
  }
  await assert.rejects(vendorCall(h.ctx, call), (err: unknown) => err instanceof AuthFailedError)
  assert.deepEqual(invalidated, [1])
  assert.equal(token, 2)
  assert.deepEqual(h.calls.map((c) => c.errorKind), ['AuthFailed', 'AuthFailed'])
})

test('when the job is cancelled, then a refused credential is not replayed', async () => {
  const h = harness()
  const controller = new AbortController()
  const ctx = { ...h.ctx, signal: controller.signal }
  let sent = 0
  await assert.rejects(
    vendorCall(ctx, {
      ...base,
      buckets: [],
      send: async () => {
        sent += 1
        controller.abort()
        throw new AuthFailedError('401', { system: 'x', status: 401 })
      },
      refused: () => true,
    }),
  )
  assert.equal(sent, 1)
})
