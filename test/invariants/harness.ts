/**
 * The whole pipeline, driven from outside: Tenure as a child process (`tenure serve`, so a
 * scenario can kill -9 it and start it again), the target emulators and the HR emulators in this
 * process (their state survives Tenure's deaths), signed webhooks over HTTP, and a wait for the
 * pipeline to settle that looks at the queue and the inbox, not at timers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts'
import { runTenure, type Spawned } from '../helpers/process.ts'
import { signStandardWebhook, adapterFor } from '../../src/hr/index.ts'
import { startHrEmulators, type HrEmulators } from '../../src/hr/emulators/index.ts'
import { POLICY, startTargets, type Targets } from './targets.ts'

export const GENERIC_SECRET = `whsec_${Buffer.from('invariant-check-secret-32-bytes!!').toString('base64')}`

export interface Delivery {
  source: 'generic' | 'bamboohr'
  /** Whose change it carries. */
  hrId: string
  body: Buffer
  /** Headers minus the signature: signed when sent (a signature is only valid for minutes). */
  contentType: string
  webhookId: string
}

export interface Pipeline {
  targets: Targets
  hr: HrEmulators
  pool: pg.Pool
  db: TestDatabase
  url(): string
  send(delivery: Delivery): Promise<number>
  /** kill -9 the Tenure process and start a new one. */
  crash(): Promise<void>
  /**
   * Wait until no job is running or due within two minutes (a job pushed back by a rate limit is
   * work still to do; a timer days ahead is not) and the inbox is empty, stable for a moment.
   */
  settle(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
  kills: number
}

export async function startPipeline(options: { log?: (line: string) => void } = {}): Promise<Pipeline> {
  const db = await createTestDatabase('inv')
  const dir = await mkdtemp(path.join(tmpdir(), 'tenure-inv-'))
  const targets = await startTargets()
  const hr = await startHrEmulators()
  const config = {
    server: { port: 0 },
    queue: { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 1, retryDelaySeconds: 1, retryDelayMaxSeconds: 4, expireInSeconds: 30, superviseIntervalSeconds: 2 },
    workers: { cleanupSettleSeconds: 1 },
    hr: {
      // Hundreds of scenarios terminate hundreds of people within the hour: trusted for bulk, or
      // the mass-termination hold would (rightly) wait for a person.
      generic: { secrets: [GENERIC_SECRET], reconcile: { enabled: false }, trustedForBulk: true },
      bamboohr: { ...hr.config.bamboohr, reconcile: { enabled: false }, trustedForBulk: true },
    },
    reconciliation: { enabled: false },
    systems: targets.systemsConfig,
    policy: POLICY,
    log: { level: 'warn' },
  }
  const configFile = path.join(dir, 'tenure.yaml')
  await writeFile(configFile, JSON.stringify(config, null, 2))
  const env = { DATABASE_URL: db.url, TENURE_CONFIG: configFile, TENURE_DATA_DIR: dir, PORT: '0', LOG_LEVEL: 'warn' }
  const pool = new pg.Pool({ connectionString: db.url, max: 4 })
  let child: Spawned | undefined
  let url = ''
  const start = async () => {
    child = runTenure(['serve'], env)
    const [, listening] = await child.waitFor(/Tenure is listening on (http:\/\/[\d.]+:\d+)/, 90_000)
    url = listening!
  }
  await start()
  const pipeline: Pipeline = {
    targets,
    hr,
    pool,
    db,
    kills: 0,
    url: () => url,
    async send(d) {
      const adapter = adapterFor(d.source)
      const headers =
        d.source === 'generic'
          ? signStandardWebhook(d.body, GENERIC_SECRET, new Date(), d.webhookId)
          : adapter.sign(d.body, String(hr.config.bamboohr.secrets?.[0]), new Date())
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await fetch(`${url}/webhooks/hr/${d.source}`, { method: 'POST', headers: { 'content-type': d.contentType, ...headers }, body: d.body })
          await res.arrayBuffer()
          if (res.status >= 500 && attempt < 20) {
            // An HR system retries a delivery Tenure did not acknowledge.
            await new Promise((r) => setTimeout(r, 250))
            continue
          }
          return res.status
        } catch (err) {
          if (attempt >= 40) throw err
          await new Promise((r) => setTimeout(r, 250)) // being restarted: the vendor retries
        }
      }
    },
    async crash() {
      const c = child!
      c.child.kill('SIGKILL')
      await c.exited
      pipeline.kills += 1
      options.log?.(`kill -9 #${pipeline.kills}`)
      await start()
    },
    async settle(timeoutMs = 180_000) {
      const deadline = Date.now() + timeoutMs
      let quiet = 0
      for (;;) {
        const { rows } = await pool.query<{ busy: number }>(
          `SELECT (SELECT count(*) FROM pgboss.job WHERE state IN ('created', 'retry', 'active') AND start_after <= now() + interval '120 seconds'
                     AND (name IN ('hr.event', 'lifecycle.timer') OR name LIKE 'system.%' OR name LIKE 'cleanup.%'))
                + (SELECT count(*) FROM hr_inbox WHERE status = 'received') AS busy`,
        )
        quiet = Number(rows[0]!.busy) === 0 ? quiet + 1 : 0
        if (quiet >= 4) return
        if (Date.now() > deadline) {
          const busy = await pool.query<{ what: string }>(
            `SELECT name || ' ' || state || ' ' || coalesce(data->'request'->>'key', data::text) || ' retry ' || retry_count || ' start ' || start_after AS what
               FROM pgboss.job WHERE state IN ('created', 'retry', 'active') AND start_after <= now() + interval '120 seconds' AND (name IN ('hr.event', 'lifecycle.timer') OR name LIKE 'system.%' OR name LIKE 'cleanup.%')
             UNION ALL SELECT 'inbox ' || source || ' ' || employee_external_id || ' ' || vendor_event_type FROM hr_inbox WHERE status = 'received' LIMIT 10`,
          )
          throw new Error(`the pipeline did not settle within ${timeoutMs} ms: ${busy.rows.map((r) => r.what).join('; ')}`)
        }
        await new Promise((r) => setTimeout(r, 250))
      }
    },
    async stop() {
      if (child && child.child.exitCode === null && child.child.signalCode === null) {
        child.child.kill('SIGTERM')
        await child.exited
      }
      await pool.end()
      await targets.close()
      await hr.close()
      await db.drop()
      await rm(dir, { recursive: true, force: true })
    },
  }
  return pipeline
}
