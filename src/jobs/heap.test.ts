import { test } from 'node:test'
import assert from 'node:assert/strict'
import { operatorExecArgv, SERVE_HEAP_FLAGS, WORKER_HEAP_FLAGS, workerHeapFlags } from './heap.ts'

test('when the operator set no heap flag, then the worker process gets the young generation cap and the old generation growth', () => {
  assert.deepEqual(workerHeapFlags([], ''), [...WORKER_HEAP_FLAGS])
  assert.deepEqual(workerHeapFlags(['--expose-gc', '--enable-source-maps'], '--no-warnings'), [...WORKER_HEAP_FLAGS])
})

test("when the operator set a heap flag on the parent's command line or in NODE_OPTIONS, then that one is left to the operator's value", () => {
  assert.deepEqual(workerHeapFlags(['--max-semi-space-size=64'], ''), ['--heap-growing-percent=25'])
  assert.deepEqual(workerHeapFlags([], '--max_semi_space_size=1 --heap-growing-percent=30'), [])
})

test('when bin/tenure.js gave the HTTP process its own heap flags, then they are not taken for the operator’s: the worker process gets its own and does not inherit them', () => {
  const execArgv = [...SERVE_HEAP_FLAGS, '--enable-source-maps']
  const launcher = SERVE_HEAP_FLAGS.join(' ')
  assert.deepEqual(operatorExecArgv(execArgv, launcher), ['--enable-source-maps'])
  assert.deepEqual(workerHeapFlags(operatorExecArgv(execArgv, launcher), ''), [...WORKER_HEAP_FLAGS])
  // Without the launcher's list, the same flags are the operator's.
  assert.deepEqual(operatorExecArgv(execArgv, ''), execArgv)
})
