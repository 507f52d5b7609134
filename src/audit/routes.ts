/**
 * API endpoints of the audit log (auditors; admins are always admitted), as route definitions:
 * the same `defineRoute` values mount them, check the role, validate the query, and generate the
 * OpenAPI document and the role matrix, like every other endpoint (until now they were a plain
 * express router that neither listed).
 *
 *   GET  /api/v1/audit/events        a page of rows, or every matching row as NDJSON or CSV
 *   GET  /api/v1/audit/verify        verifyAudit() with the signing key and the published checkpoint file
 *   POST /api/v1/audit/checkpoints   sign and publish a checkpoint now
 *   GET  /api/v1/audit/checkpoints   stored checkpoints (a page, or NDJSON: the publish-file format)
 *   GET  /api/v1/audit/public-key    the checkpoint public key
 *
 * The key is the one in effect (effectiveAuditConfig): `audit.signingKey`, or the data folder's.
 */
import { employeeDisplayNames } from '../db/employees.ts'
import { readFile } from 'node:fs/promises'
import type { Request, Response } from 'express'
import { z } from 'zod'
import { ApiError } from '../http/errors.ts'
import { defineRoute, type ApiDeps } from '../http/routes.ts'
import { actorNames, labelNames } from '../api/actor-names.ts'
import type { Logger } from '../log.ts'
import { csvRows } from './csv.ts'
import { ACTOR_TYPES } from './record.ts'
import { signedCheckpointSchema } from './checkpoint-format.ts'
import { auditPublicKey, createCheckpoint, listCheckpoints, signingKeyOf } from './checkpoints.ts'
import type { AuditConfig } from './config.ts'
import { AuditError } from './errors.ts'
import { effectiveAuditConfig } from './local-key.ts'
import { parsePublished, readPublished } from './published.ts'
import { MAX_PAGE_SIZE, matchEmployees, queryAudit, streamAudit, type AuditFilters } from './query.ts'
import { verifyAudit } from './verify.ts'

const NDJSON = 'application/x-ndjson'
const text = z.string().min(1).max(512)
const datetime = z.iso.datetime({ offset: true })
const format = z.enum(['json', 'ndjson']).optional().describe('`ndjson`: every matching row, one JSON object a line (also chosen by `Accept: application/x-ndjson`). Default: one page as JSON.')

export const auditEventsQuerySchema = z
  .object({
    from: datetime.optional().describe('occurred_at at or after (ISO 8601)'),
    to: datetime.optional().describe('occurred_at before (ISO 8601)'),
    employee: text
      .optional()
      .describe("An employee as people name them: Tenure's id, the HR employee id (any source) or the work e-mail. The page's `employees` lists the Tenure ids it matched (empty: no such employee, not \"no events\")."),
    employeeId: text.optional().describe("The employee's Tenure id (subject.employee_id), exactly."),
    system: text.optional().describe('The target system (subject.system), e.g. `google` or `manual:badge`.'),
    action: z
      .string()
      .max(200)
      .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/, 'an action such as lifecycle.transitioned, or a prefix such as lifecycle.*')
      .optional()
      .describe('An exact action, or a prefix ending in `.*` (`lifecycle.*`).'),
    actor: text.optional().describe('Who did it: actor.id, e.g. an API token id, an SSO subject, `tenure` for the system.'),
    actorId: text.optional().describe('The same as `actor` (its first name).'),
    correlationId: text.optional(),
    cursor: z.string().min(1).max(200).optional().describe('`nextCursor` of the previous page.'),
    // The handler's own bound (queryAudit refuses more than MAX_PAGE_SIZE): said here, so the document and a 400 agree.
    limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional().describe(`Rows per page, 1–${MAX_PAGE_SIZE} (default 100). With ndjson: the most rows to send (default all).`),
    order: z.enum(['asc', 'desc']).optional().describe('By seq; `desc` is newest first. Default `asc`.'),
    format: z
      .enum(['json', 'ndjson', 'csv'])
      .optional()
      .describe(
        'Default: one page as JSON. `ndjson` (or `Accept: application/x-ndjson`): every matching row, one JSON object a line, with prev_hash and hash (a contiguous range verifies offline). `csv` (or `Accept: text/csv`): every matching row for a spreadsheet, RFC 4180, formula-guarded. Both download as attachments.',
      ),
  })
  .strict()
  .refine((q) => q.actor === undefined || q.actorId === undefined || q.actor === q.actorId, { path: ['actor'], message: 'give actor or actorId, not two different ones' })

const checkpointsQuerySchema = z
  .object({
    cursor: z.string().min(1).max(200).optional().describe('`nextCursor` of the previous page.'),
    limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional().describe(`Checkpoints per page, 1–${MAX_PAGE_SIZE} (default 100).`),
    format,
  })
  .strict()

const nullableText = z.string().nullable()

export const auditRowResponseSchema = z
  .object({
    seq: z.number().int().positive(),
    occurred_at: z.string(),
    actor: z.object({ type: z.enum(ACTOR_TYPES), id: z.string() }),
    action: z.string(),
    subject: z.object({ employee_id: nullableText, system: nullableText, account_id: nullableText }),
    correlation_id: nullableText,
    details: z.record(z.string(), z.unknown()),
    prev_hash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditRow' })

const headSchema = z.object({ seq: z.number().int().nonnegative(), hash: z.string() })

export const auditVerifySchema = z
  .discriminatedUnion('ok', [
    z.object({
      ok: z.literal(true),
      count: z.number().int().describe('Rows verified.'),
      head: headSchema,
      checkpoints: z.number().int().describe('Signed checkpoints whose signature and chain position were verified.'),
      anchor: headSchema.describe('Where verification started: seq 0, or the signed checkpoint retention pruned up to.'),
      uncheckpointed: z.number().int().describe('Rows after the newest checkpoint: hash-chained, not yet under a signature.'),
      covered: z.number().int().describe('Rows at or before the newest signed checkpoint.'),
      coverage: z
        .enum(['full', 'partial', 'none'])
        .describe('`none`: no row is under a signed checkpoint, so the chain alone cannot show a rewrite of the whole log; never report that as intact and protected.'),
      newestCheckpoint: z.object({ id: z.number().int(), seq: z.number().int(), createdAt: z.string() }).nullable(),
      summary: z.string().describe('E.g. "chain intact; 1,234 of 1,250 entries covered by 12 signed checkpoints; last checkpoint 2025-06-01T14:02:00.000Z".'),
    }),
    z.object({
      ok: z.literal(false),
      firstBadSeq: z.number().int(),
      reason: z.string().describe('edited, deleted, inserted, reordered, checkpoint_* …: see docs/audit.md.'),
      message: z.string(),
    }),
  ])
  .meta({ id: 'AuditVerification' })

const outcome = z.union([z.object({ ok: z.literal(true) }), z.object({ ok: z.literal(false), error: z.string() })])
const signedCheckpoint = signedCheckpointSchema.meta({ id: 'AuditCheckpoint' })

/** AuditError carries its HTTP status: the API answers it in the one error shape. */
async function asApi<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof AuditError && err.status < 500) throw new ApiError(err.status, err.code, err.message, err.details ?? null)
    throw err
  }
}

async function auditConfigOf(deps: ApiDeps): Promise<AuditConfig> {
  return (await effectiveAuditConfig(deps.config)).config
}

/** The format a request without `format` asks for by its Accept header. */
function negotiate(req: Request): 'json' | 'ndjson' | 'csv' {
  const best = req.accepts(['application/json', NDJSON, 'text/csv'])
  return best === NDJSON ? 'ndjson' : best === 'text/csv' ? 'csv' : 'json'
}

function wantsNdjson(req: Request, requested: 'json' | 'ndjson' | undefined): boolean {
  if (requested !== undefined) return requested === 'ndjson'
  return negotiate(req) === 'ndjson'
}

/** Stream text lines; resolves when the response is complete or the client went away. */
function sendLines(res: Response, contentType: string, lines: AsyncIterable<string> & { destroy?: (err?: Error) => void }, log: Logger): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let started = false
    const start = () => {
      if (started) return
      res.status(200).type(contentType)
      started = true
    }
    res.on('close', () => {
      if (!res.writableFinished) lines.destroy?.()
      resolve()
    })
    void (async () => {
      try {
        for await (const line of lines) {
          start()
          if (!res.write(line)) await new Promise((r) => res.once('drain', r))
          if (res.destroyed) return
        }
        start()
        res.end()
      } catch (err) {
        // Before the first byte: a JSON error. After it: cut the response, so the client sees an incomplete download.
        if (!started) reject(err)
        else {
          log.error({ err: (err as Error).message }, 'audit export failed')
          res.destroy(err as Error)
        }
      }
    })()
  })
}

/** Stream objects as NDJSON. */
function sendNdjson(res: Response, rows: AsyncIterable<unknown> & { destroy?: (err?: Error) => void }, log: Logger): Promise<void> {
  async function* lines() {
    for await (const row of rows) yield `${JSON.stringify(row)}\n`
  }
  const it = Object.assign(lines(), { destroy: (err?: Error) => rows.destroy?.(err) })
  return sendLines(res, NDJSON, it, log)
}

/**
 * The published checkpoints, so /verify compares the database with them: the publish file (JSON
 * lines) when configured, else the object store's objects.
 */
async function readPublishedCheckpoints(publish: AuditConfig['publish']): Promise<unknown[]> {
  const { file, objectStore } = publish
  if (file === undefined) return objectStore ? await readPublished(`s3://${objectStore.bucket}/${objectStore.prefix}`, { objectStore }) : []
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

export const auditEventsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/audit/events',
  summary: 'Search the audit log',
  description:
    'Rows of the hash-chained audit log matching every filter given, by seq. JSON: one page `{ events, nextCursor }`. ' +
    '`format=ndjson` (or `Accept: application/x-ndjson`): every matching row streamed as one JSON line, read through a database cursor; ' +
    'an unfiltered export is a contiguous stretch of the chain and verifies offline (docs/audit.md).',
  tags: ['audit'],
  roles: ['auditor'],
  request: { query: auditEventsQuerySchema },
  responses: {
    200: {
      description: 'A page of rows (or, per `format`, every row as NDJSON or CSV).',
      schema: z.object({
        events: z.array(auditRowResponseSchema),
        nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
        employees: z.array(z.string()).nullable().describe('With `employee`: the Tenure ids it matched (empty: no such employee). Otherwise null.'),
        actorNames: z
          .record(z.string(), z.string().nullable())
          .describe('The actors of this page by name, keyed `type:id` (`api_token:…`, `oidc:…`); null: only the id is known. The rows themselves stay as hashed.'),
        employeeNames: z.record(z.string(), z.string().nullable()).describe("The subjects' employees of this page by display name, keyed by Tenure's employee id."),
      }),
    },
  },
  handler: async ({ req, res, query, deps, log }) => {
    const { format: requested, actor, actorId, ...rest } = query
    const filters: AuditFilters = { ...rest, ...(actor ?? actorId ? { actorId: actor ?? actorId } : {}) }
    const format = requested ?? negotiate(req)
    if (format === 'json') {
      const page = await asApi(() => queryAudit(deps.pool, filters))
      const names = await actorNames(deps.pool, page.events.map((e) => e.actor))
      return {
        ...page,
        employees: filters.employee === undefined ? null : await matchEmployees(deps.pool, filters.employee),
        actorNames: Object.fromEntries(names),
        employeeNames: await employeeNamesOf(deps, page.events.map((e) => e.subject.employee_id)),
      }
    }
    res.setHeader('Content-Disposition', `attachment; filename="audit-events.${format}"`)
    res.setHeader('Cache-Control', 'no-store')
    if (format === 'csv') await asApi(() => sendLines(res, 'text/csv; charset=utf-8; header=present', csvRows(streamAudit(deps.pool, filters)), log))
    else await asApi(() => sendNdjson(res, streamAudit(deps.pool, filters), log))
    return { events: [], nextCursor: null, employees: null, actorNames: {}, employeeNames: {} }
  },
})

async function employeeNamesOf(deps: ApiDeps, ids: Array<string | null>): Promise<Record<string, string | null>> {
  return Object.fromEntries(await employeeDisplayNames(deps.pool, ids.filter((id): id is string => id !== null)))
}

export const actorNamesRoute = defineRoute({
  method: 'get',
  path: '/api/v1/audit/actors',
  summary: 'Actors by name: who an actor id in the audit trail, a report manifest or a task is',
  description:
    'Give `actor` once per actor, as `type:id` (`api_token:<uuid>`, `oidc:<sub>`, `system:tenure`, `hr_source:bamboohr`) or a bare id. ' +
    "API tokens answer with the token's name, SSO users with the name they last signed in with; null: only the id is known. " +
    "For what cannot carry a name itself, such as a signed report manifest's `generatedBy`.",
  tags: ['audit'],
  roles: ['auditor', 'operator', 'approver'],
  request: {
    query: z.object({
      actor: z
        .union([z.string().min(1).max(600), z.array(z.string().min(1).max(600)).max(200)])
        .describe('`type:id` or a bare id; repeat for several (at most 200).'),
    }),
  },
  responses: {
    200: { description: 'The names, keyed by the `actor` values asked for', schema: z.object({ names: z.record(z.string(), z.string().nullable()) }) },
  },
  handler: async ({ query, deps }) => {
    const asked = Array.isArray(query.actor) ? query.actor : [query.actor]
    const nameOf = await labelNames(deps.pool, asked)
    return { names: Object.fromEntries(asked.map((a) => [a, nameOf(a)])) }
  },
})

export const auditVerifyRoute = defineRoute({
  method: 'get',
  path: '/api/v1/audit/verify',
  summary: 'Verify the audit chain and say how much signed checkpoints cover',
  description:
    'Recomputes every hash from genesis (or from the checkpoint retention pruned up to), checks every checkpoint signature and position, ' +
    'and compares the published checkpoints (audit.publish.file, else audit.publish.objectStore) with the stored checkpoints. ' +
    'A success says how much of the chain is under a signed checkpoint (`covered`, `coverage`, `summary`): rows after the newest checkpoint are only hash-chained.',
  tags: ['audit'],
  roles: ['auditor'],
  responses: { 200: { description: 'The verdict (a failed verification is a 200 with ok: false).', schema: auditVerifySchema } },
  handler: async ({ deps, log }) => {
    const config = await auditConfigOf(deps)
    const result = await asApi(async () =>
      verifyAudit(deps.pool, { publicKey: signingKeyOf(config), publishedCheckpoints: await readPublishedCheckpoints(config.publish) }),
    )
    if (!result.ok) log.error({ reason: result.reason, firstBadSeq: result.firstBadSeq }, `audit verification failed: ${result.message}`)
    return result
  },
})

export const createCheckpointRoute = defineRoute({
  method: 'post',
  path: '/api/v1/audit/checkpoints',
  summary: 'Sign and publish a checkpoint of the chain head now',
  description: 'What the scheduled checkpoint job does, on demand. A publication that failed is listed in `published`; the checkpoint is stored either way.',
  tags: ['audit'],
  roles: ['auditor'],
  responses: {
    201: {
      description: 'The signed checkpoint and the outcome of each configured publication.',
      schema: z.object({ checkpoint: signedCheckpoint, published: z.object({ file: outcome.optional(), webhook: outcome.optional() }) }),
    },
  },
  handler: async ({ deps, log }) => asApi(async () => createCheckpoint(deps.pool, await auditConfigOf(deps), log)),
})

export const listCheckpointsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/audit/checkpoints',
  summary: 'Stored checkpoints, oldest first',
  description: '`format=ndjson` (or `Accept: application/x-ndjson`): every checkpoint, one a line: the format of the publish file, for `tenure audit verify --published`.',
  tags: ['audit'],
  roles: ['auditor'],
  request: { query: checkpointsQuerySchema },
  responses: { 200: { description: 'A page of checkpoints (or NDJSON).', schema: z.object({ checkpoints: z.array(signedCheckpoint), nextCursor: z.string().nullable() }) } },
  handler: async ({ req, res, query, deps, log }) => {
    if (!wantsNdjson(req, query.format)) return asApi(() => listCheckpoints(deps.pool, { cursor: query.cursor, limit: query.limit }))
    const pool = deps.pool
    async function* all() {
      let cursor = query.cursor
      do {
        const page = await listCheckpoints(pool, { cursor, limit: MAX_PAGE_SIZE })
        yield* page.checkpoints
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
    }
    await asApi(() => sendNdjson(res, all(), log))
    return { checkpoints: [], nextCursor: null }
  },
})

export const auditPublicKeyRoute = defineRoute({
  method: 'get',
  path: '/api/v1/audit/public-key',
  summary: 'The public key that signs checkpoints',
  description: 'The same key signs report manifests: `GET /api/v1/reports/signing-key` serves it with its fingerprint and where it comes from.',
  tags: ['audit'],
  roles: ['auditor'],
  responses: { 200: { description: 'The public key', schema: z.object({ keyId: z.string(), algorithm: z.literal('Ed25519'), pem: z.string() }) } },
  handler: async ({ deps }) => {
    const { pem, keyId } = auditPublicKey(await auditConfigOf(deps))
    return { keyId, algorithm: 'Ed25519' as const, pem }
  },
})

export const AUDIT_ROUTES = [auditEventsRoute, actorNamesRoute, auditVerifyRoute, createCheckpointRoute, listCheckpointsRoute, auditPublicKeyRoute]
