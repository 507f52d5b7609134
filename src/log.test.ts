/**
 * pino-pretty loads only where a terminal shows the lines (src/log.ts): a JSON logger (the worker
 * process, a supervised or containerised `tenure serve`, the benchmark) never pays its memory.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const LOG = fileURLToPath(new URL('./log.ts', import.meta.url))

function loadsPretty(format: 'json' | 'pretty'): boolean {
  const script = `
    const { createLogger } = await import(${JSON.stringify(LOG)})
    createLogger({ format: ${JSON.stringify(format)}, level: 'silent' })
    const { createRequire } = await import('node:module')
    const cache = createRequire(import.meta.url).cache
    process.stdout.write(String(Object.keys(cache).some((k) => k.includes('/pino-pretty/'))))`
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }) === 'true'
}

test('when the log is JSON, then pino-pretty is not loaded; when it is pretty, then it is', () => {
  assert.equal(loadsPretty('json'), false)
  assert.equal(loadsPretty('pretty'), true)
})
