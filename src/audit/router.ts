/**
 * HTTP API of the audit log. The lead mounts it at /api/v1/audit behind authentication; this
 * router does no authentication of its own.
 *
 *   GET  /events        a page of rows (JSON), or every matching row as NDJSON when the request
 *                       says `Accept: application/x-ndjson` or `format=ndjson`
 *   GET  /verify        verifyAudit() with the configured key and the published checkpoint file
 *   POST /checkpoints   sign and publish a checkpoint now
 *   GET  /checkpoints   stored checkpoints (JSON page, or NDJSON: the publish-file format)
 *   GET  /public-key    the checkpoint public key, for auditors
 */
import { readFile } from 'node:fs/promises'
import { Transform } from 'node:stream'
import express, { type NextFunction, type Request, type Response } from 'express'
import type pg from 'pg'
import { z } from 'zod'
import type { Logger } from '../log.ts'
import { auditPublicKey, createCheckpoint, listCheckpoints, signingKeyOf, type CheckpointOptions } from './checkpoints.ts'
import type { AuditConfig } from './config.ts'
import { AuditError } from './errors.ts'
import { parsePublished } from './published.ts'
import { MAX_PAGE_SIZE, queryAudit, streamAudit, type AuditFilters } from './query.ts'
import { verifyAudit } from './verify.ts'

export interface AuditRouterDeps {
  pool: pg.Pool
  config: AuditConfig
  log: Logger
  /** Passed to createCheckpoint (tests). */
  checkpointOptions?: CheckpointOptions
}

const NDJSON = 'application/x-ndjson'
const text = z.string().min(1).max(512)
const datetime = z.iso.datetime({ offset: true })

const eventsQuerySchema = z
  .object({
    from: datetime.optional().describe('occurred_at at or after (ISO 8601)'),
    to: datetime.optional().describe('occurred_at before (ISO 8601)'),
    employeeId: text.optional(),
    system: text.optional(),
    action: z
      .string()
      .max(200)
      .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/, 'an action such as lifecycle.transitioned, or a prefix such as lifecycle.*')
      .optional(),
    actorId: text.optional(),
    correlationId: text.optional(),
    cursor: z.string().min(1).max(200).optional(),
    limit: z.coerce.number().int().positive().optional(),
    order: z.enum(['asc', 'desc']).optional(),
    format: z.enum(['json', 'ndjson']).optional(),
  })
  .strict()

const checkpointsQuerySchema = z
  .object({
    cursor: z.string().min(1).max(200).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional(),
    format: z.enum(['json', 'ndjson']).optional(),
  })
  .strict()

function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.output<T> {
  const parsed = schema.safeParse(query)
  if (!parsed.success) {
    throw new AuditError('invalid_request', z.prettifyError(parsed.error), { status: 400, details: parsed.error.issues })
  }
  return parsed.data
}

function wantsNdjson(req: Request, format: 'json' | 'ndjson' | undefined): boolean {
  if (format !== undefined) return format === 'ndjson'
  return req.accepts(['application/json', NDJSON]) === NDJSON
}

function ndjsonLines(): Transform {
  return new Transform({
    writableObjectMode: true,
    transform(row: unknown, _encoding, callback) {
      callback(null, `${JSON.stringify(row)}\n`)
    },
  })
}

/** Read the published checkpoint file (JSON lines), so /verify compares the database with it. */
async function readPublishedCheckpoints(file: string | undefined): Promise<unknown[]> {
  if (file === undefined) return []
  let content: string
  try {
    content = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  // The same reading as `tenure audit verify --published` (webhook bodies, duplicates).
  return parsePublished(content, file)
}

export function auditRouter(deps: AuditRouterDeps): express.Router {
  const { pool, config, log } = deps
  const router = express.Router()

  router.get('/events', async (req: Request, res: Response) => {
    const { format, ...filters } = parseQuery(eventsQuerySchema, req.query)
    const auditFilters: AuditFilters = filters
    if (!wantsNdjson(req, format)) {
      res.json(await queryAudit(pool, auditFilters))
      return
    }
    const rows = streamAudit(pool, auditFilters)
    const lines = ndjsonLines()
    res.status(200).type(NDJSON)
    // Not pipeline(): an error before the first byte must still get a JSON error response.
    rows.on('error', (err) => {
      log.error({ err: err.message }, 'audit export failed')
      if (!res.headersSent) sendError(res, err)
      else res.destroy(err)
    })
    res.on('close', () => {
      if (!res.writableFinished) rows.destroy()
    })
    rows.pipe(lines).pipe(res)
  })

  router.get('/verify', async (_req: Request, res: Response) => {
    const result = await verifyAudit(pool, {
      publicKey: signingKeyOf(config),
      publishedCheckpoints: await readPublishedCheckpoints(config.publish.file),
    })
    if (!result.ok) log.error({ reason: result.reason, firstBadSeq: result.firstBadSeq }, `audit verification failed: ${result.message}`)
    res.json(result)
  })

  router.post('/checkpoints', async (_req: Request, res: Response) => {
    res.status(201).json(await createCheckpoint(pool, config, log, deps.checkpointOptions))
  })

  router.get('/checkpoints', async (req: Request, res: Response) => {
    const query = parseQuery(checkpointsQuerySchema, req.query)
    if (!wantsNdjson(req, query.format)) {
      res.json(await listCheckpoints(pool, { cursor: query.cursor, limit: query.limit }))
      return
    }
    res.status(200).type(NDJSON)
    let cursor = query.cursor
    do {
      const page = await listCheckpoints(pool, { cursor, limit: MAX_PAGE_SIZE })
      for (const cp of page.checkpoints) res.write(`${JSON.stringify(cp)}\n`)
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
    res.end()
  })

  router.get('/public-key', (_req: Request, res: Response) => {
    const { pem, keyId } = auditPublicKey(config)
    res.json({ keyId, algorithm: 'Ed25519', pem })
  })

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err)
    if (!(err instanceof AuditError) || err.status >= 500) log.error({ err }, 'audit API error')
    sendError(res, err)
  })

  return router
}

function sendError(res: Response, err: unknown): void {
  res.type('application/json')
  if (err instanceof AuditError) {
    res.status(err.status).json({ error: { code: err.code, message: err.message, details: err.details ?? null } })
    return
  }
  // Unexpected errors carry internals (SQL, paths): the client gets a code, the log gets the rest.
  res.status(500).json({ error: { code: 'internal_error', message: 'the audit API failed; see the server log', details: null } })
}
