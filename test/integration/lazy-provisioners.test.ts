/**
 * Only the configured systems' provisioners load, and only where the system workers run
 * (provisioners/registry.ts): `tenure serve` with one system configured loads that system's vendor
 * SDK in its worker process and no vendor SDK in the HTTP process. And each process loads only its
 * half (src/main.ts imports the HTTP side and the job workers dynamically): the HTTP process no job
 * worker, the worker process no express and no API route. The real command, a real PostgreSQL;
 * what each process loaded is read by a module hook (test/helpers/loaded-packages.ts).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTestDatabase } from '../helpers/db.ts'
import { runTenure } from '../helpers/process.ts'

const HOOK = fileURLToPath(new URL('../helpers/loaded-packages.ts', import.meta.url))
/** Every target system's vendor SDK (package.json dependencies). */
const VENDOR_SDKS = ['googleapis', 'googleapis-common', 'google-auth-library', '@microsoft/microsoft-graph-client', 'jira.js', '@slack/web-api']
/** The notification senders' clients: loaded on the first message sent (none is configured here). */
const SENDERS = ['nodemailer', '@slack/web-api']
/** The job workers' modules: only where the workers run. */
const JOB_WORKERS = ['src/jobs/runtime', 'src/jobs/system-worker', 'src/jobs/hr-worker', 'src/jobs/timer-worker', 'src/exceptions/worker', 'src/jobs/limiter']
/** The HTTP side: only where HTTP is served. */
const HTTP_MODULES = ['src/http/app', 'src/http/api-routes', 'src/http/routes', 'src/http/console', 'src/http/webhooks']
const HTTP_PACKAGES = ['express', 'helmet', 'compression', 'pino-http', 'express-rate-limit', 'jose']

test('when tenure serve runs with only Jira configured, then its worker process loads jira.js and no other vendor SDK, and the HTTP process loads none (nor a notification client), and each process loads only its half', async () => {
  const db = await createTestDatabase('lazyprov')
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-lazyprov-'))
  const loaded = path.join(dir, 'loaded')
  const configFile = path.join(dir, 'tenure.yaml')
  await writeFile(
    configFile,
    [
      'server: { port: 0 }',
      // No notification channel: @slack/web-api would otherwise load for notify (src/notify/slack.ts), not for a system.
      'systems: { jira: { host: "https://acme.atlassian.net", email: "tenure@acme.example", apiToken: { env: LAZYPROV_JIRA_TOKEN } } }',
      '',
    ].join('\n'),
  )
  await mkdir(loaded)
  const env = {
    DATABASE_URL: db.url,
    TENURE_CONFIG: configFile,
    TENURE_DATA_DIR: dir,
    PORT: '0',
    LAZYPROV_JIRA_TOKEN: 'not-a-real-token',
    TENURE_FROM_SOURCE: '1',
    TENURE_LOADED_PACKAGES_DIR: loaded,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${HOOK}`.trim(),
  }
  try {
    const serve = runTenure(['serve'], env)
    await serve.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 120_000)
    serve.child.kill('SIGTERM')
    const { code } = await serve.exited
    assert.equal(code, 0, serve.stderr())
    const reports = await Promise.all(
      (await readdir(loaded)).map(async (f) => JSON.parse(await readFile(path.join(loaded, f), 'utf8')) as { role: string; packages: string[]; modules: string[] }),
    )
    const http = reports.find((r) => r.role === 'serve')
    const worker = reports.find((r) => r.role === 'worker')
    assert.ok(http && worker, `both processes reported what they loaded: ${JSON.stringify(reports.map((r) => r.role))}`)
    assert.deepEqual(
      [...VENDOR_SDKS, ...SENDERS].filter((p) => http.packages.includes(p)),
      [],
      'the HTTP process loads no vendor SDK and no notification client',
    )
    assert.deepEqual(
      VENDOR_SDKS.filter((p) => worker.packages.includes(p)),
      ['jira.js'],
      'the worker process loads the configured system’s SDK only',
    )
    assert.deepEqual(
      SENDERS.filter((p) => worker.packages.includes(p)),
      [],
      'the worker process loads no notification client before it sends',
    )
    // Each side first shows the hook saw its own half, so an empty list below is not a blind hook.
    assert.ok(http.modules.includes('src/http/api-routes') && worker.modules.includes('src/jobs/system-worker'), 'the hook lists Tenure’s modules')
    assert.deepEqual(
      JOB_WORKERS.filter((m) => http.modules.includes(m)),
      [],
      'the HTTP process loads no job worker',
    )
    assert.deepEqual(
      [...HTTP_MODULES.filter((m) => worker.modules.includes(m)), ...HTTP_PACKAGES.filter((p) => worker.packages.includes(p))],
      [],
      'the worker process loads no HTTP route and no express',
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
    await db.drop()
  }
})
