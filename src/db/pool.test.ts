import { test } from 'node:test'
import assert from 'node:assert/strict'
import { defaultPoolSize, HTTP_POOL_CONNECTIONS, WORKER_POOL_HEADROOM } from './pool.ts'
import { configSchema } from '../config/index.ts'

test('when database.poolSize is unset, then the pool follows what the process runs: its workers’ concurrency plus headroom, and the HTTP share where it serves', () => {
  const workers = { concurrency: 8, hrEventConcurrency: 4 }
  // The HTTP process of `tenure serve` (its workers in the worker process): the HTTP share only.
  assert.equal(defaultPoolSize({ http: true, workers: false }), HTTP_POOL_CONNECTIONS)
  // `tenure worker`, and the worker process of `tenure serve`.
  assert.equal(defaultPoolSize({ http: false, workers }), 8 + 4 + WORKER_POOL_HEADROOM)
  // `tenure serve` with workers.inProcess.
  assert.equal(defaultPoolSize({ http: true, workers }), 8 + 4 + WORKER_POOL_HEADROOM + HTTP_POOL_CONNECTIONS)
  // Raising the concurrency raises the pool with it (a fixed 10 made jobs wait for connections).
  assert.equal(defaultPoolSize({ http: false, workers: { concurrency: 32, hrEventConcurrency: 8 } }), 32 + 8 + WORKER_POOL_HEADROOM)
  assert.equal(defaultPoolSize({ http: false, workers: { concurrency: 1, hrEventConcurrency: 1 } }), 1 + 1 + WORKER_POOL_HEADROOM)
})

test('when the configuration leaves the pool keys out, then poolSize is unset (derived) and the connect timeout is 5 s; a set poolSize is kept', () => {
  const defaults = configSchema.parse({})
  assert.equal(defaults.database.poolSize, undefined)
  assert.equal(defaults.database.connectTimeoutMs, 5_000)
  assert.equal(configSchema.parse({ database: { poolSize: 6, connectTimeoutMs: 2_000 } }).database.poolSize, 6)
})
