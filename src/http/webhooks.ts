/**
 * `POST /webhooks/hr/:source`: signed HR deliveries in, 202 out, as fast as a durable insert
 * (concurrent deliveries are group-committed: one transaction, one audit append for all of them).
 *
 * Order of checks, and the answer for each (vendors retry on 5xx only, BambooHR never retries a
 * 4xx, so a 4xx is only ever about the request, never about us):
 *   unknown or disabled source → 404; body over the limit → 413; wrong content type → 415;
 *   missing/bad signature or credential, timestamp outside tolerance → 401;
 *   not JSON / not the vendor's shape → 400 naming the field path;
 *   stored → 202 (duplicate of a stored notice → 200); our own failure → 503.
 * Nothing from a rejected request is stored. Signatures are checked on the exact raw bytes.
 */
import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import type { Registry } from 'prom-client'
import { createWebhookMetrics } from './metrics.ts'
import type { Pool } from '../db/pool.ts'
import type { Boss } from '../jobs/boss.ts'
import type { Logger } from '../log.ts'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { adapterFor, gustoVerificationToken } from '../hr/index.ts'
import type { HrSourcesConfig, RawDelivery } from '../hr/index.ts'
import { HR_SOURCES, type HrSource } from '../../state-machines/events.ts'
import { createInboxWriter, storableHeaders } from '../db/hr-inbox.ts'
import { ApiError, serializeError } from './errors.ts'

export interface WebhookDeps {
  pool: Pool
  boss: Boss
  /** pg-boss's schema (config.queue.schema): the intake deletes the jobs of duplicate notices in its one round trip. */
  jobSchema: string
  log: Logger
  sources: HrSourcesConfig
  registry: Registry
  bodyLimitBytes: number
  /** Where Gusto's one-time verification token is saved (config.database.dataDir). */
  dataDir?: string
}

export function webhookRouter(deps: WebhookDeps): Router {
  const { rejections, accepted } = createWebhookMetrics(deps.registry)
  // Group commit: concurrent deliveries share one transaction (src/db/hr-inbox.ts createInboxWriter).
  const inbox = createInboxWriter({ pool: deps.pool, boss: deps.boss, jobSchema: deps.jobSchema })
  const router = express.Router()
  const reject = (source: string, reason: string, error: ApiError): never => {
    rejections.inc({ source, reason })
    throw error
  }

  router.post(
    '/hr/:source',
    // Resolve the source before reading a byte of the body.
    (req: Request, _res: Response, next: NextFunction) => {
      const source = String(req.params.source)
      const config = (HR_SOURCES as readonly string[]).includes(source) ? deps.sources[source as HrSource] : undefined
      if (!config || !config.enabled) {
        rejections.inc({ source: (HR_SOURCES as readonly string[]).includes(source) ? source : 'unknown', reason: 'unknown_source' })
        return next(new ApiError(404, 'source_not_found', `no enabled HR source "${source}"`))
      }
      next()
    },
    express.raw({ type: () => true, limit: deps.bodyLimitBytes }),
    async (req: Request, res: Response) => {
      const source = String(req.params.source) as HrSource
      const config = deps.sources[source]!
      const adapter = adapterFor(source)
      const receivedAt = new Date()
      const headers: Record<string, string | undefined> = {}
      for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      const contentType = req.get('content-type')
      const delivery: RawDelivery = { source, headers, body, contentType, receivedAt, method: req.method }

      const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
      if (!adapter.contentTypes.includes(mediaType)) {
        reject(source, 'unsupported_media_type', new ApiError(415, 'unsupported_media_type', `${source} deliveries are ${adapter.contentTypes.join(' or ')}, not "${mediaType || 'none'}"`))
      }
      const verification = adapter.verify(delivery, config)
      if (!verification.ok && source === 'gusto' && deps.dataDir) {
        // Gusto's subscription handshake: an unsigned {"verification_token"} that the admin must
        // send back to Gusto, and that becomes the signing secret. It is a secret, so it goes to
        // a file only the operator can read, never to the log.
        const token = gustoVerificationToken(delivery, config)
        if (token) {
          const file = path.resolve(deps.dataDir, 'gusto-verification-token')
          await writeFile(file, `${token}\n`, { mode: 0o600 })
          deps.log.warn({ file }, 'Gusto subscription verification token received: verify the subscription with it and set hr.gusto.secrets (docs/hr-sources.md)')
          res.status(200).json({ status: 'verification_token_received' })
          return
        }
      }
      if (!verification.ok) {
        reject(source, verification.reason, new ApiError(401, verification.reason, verification.message, null, { 'WWW-Authenticate': 'Signature' }))
      }
      const parsed = adapter.parse(delivery)
      if (!parsed.ok) {
        reject(source, parsed.code, new ApiError(parsed.status, parsed.code, parsed.message, parsed.path ? { path: parsed.path } : null))
      }
      if (!parsed.ok) return
      const correlationId = String(req.id)
      let result
      try {
        result = await inbox.store({
          source,
          foundBy: 'webhook',
          body,
          contentType,
          headers: storableHeaders(headers),
          receivedAt,
          correlationId,
          actor: { type: 'hr_source', id: source },
          notices: parsed.notices.map((n) => ({ dedupeKey: n.dedupeKey, employeeId: n.employeeId, vendorEventType: n.vendorEventType, occurredAt: n.occurredAt, notice: n.data })),
        })
      } catch (err) {
        // Our fault, never the sender's: 503 so the vendor retries (a 4xx would drop the event).
        deps.log.error({ err: serializeError(err), source, correlationId }, 'could not store an HR delivery')
        throw new ApiError(503, 'storage_unavailable', 'the delivery could not be stored; retry later', null, { 'Retry-After': '30' })
      }
      accepted.inc({ source, outcome: 'stored' }, result.stored.length)
      accepted.inc({ source, outcome: 'duplicate' }, result.duplicates.length)
      const status = result.stored.length === 0 && result.duplicates.length > 0 ? 200 : 202
      res.status(status).json({
        status: status === 202 ? 'accepted' : 'duplicate',
        stored: result.stored.map((s) => s.inboxId),
        duplicates: result.duplicates.length,
        requestId: correlationId,
      })
    },
  )
  // Body-parser errors on this router (413, bad encoding) keep the webhook semantics.
  router.use((err: unknown, req: Request, _res: Response, next: NextFunction) => {
    const e = err as { type?: string }
    if (e?.type === 'entity.too.large') {
      rejections.inc({ source: String(req.params.source ?? 'unknown'), reason: 'body_too_large' })
      return next(new ApiError(413, 'body_too_large', `the body is larger than ${deps.bodyLimitBytes} bytes`))
    }
    next(err)
  })
  return router
}
