/**
 * One error type for the API and one handler: every error answers
 * `{ "error": { "code", "message", "details" } }`. Codes are stable, machine-readable strings;
 * messages are for humans; no stack trace or secret ever reaches a response.
 */
import type { NextFunction, Request, Response } from 'express'
import { z } from 'zod'
import type { Logger } from '../log.ts'
import { MachineVersionError } from '../../state-machines/upgrades.ts'

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: unknown
  readonly headers: Record<string, string>
  constructor(status: number, code: string, message: string, details?: unknown, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details
    this.headers = headers
  }
}

export function notFound(what: string): ApiError {
  return new ApiError(404, 'not_found', `${what} was not found`)
}

/** Turn a zod error into a 400 naming each failing field path. */
export function validationError(err: z.ZodError, where: 'body' | 'query' | 'params' = 'body'): ApiError {
  const issues = err.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message, code: i.code }))
  const first = issues[0]
  return new ApiError(400, 'validation_failed', first ? `${first.path}: ${first.message}` : 'invalid request', { issues })
}

export function parseOr400<T extends z.ZodType>(schema: T, value: unknown, where: 'body' | 'query' | 'params' = 'body'): z.output<T> {
  const result = schema.safeParse(value)
  if (!result.success) throw validationError(result.error, where)
  return result.data
}

interface BodyParserError {
  type?: string
  status?: number
  expose?: boolean
}

/** Express error handler: the last middleware. Logs once, here, with the request id. */
export function errorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let apiError: ApiError
    if (err instanceof ApiError) apiError = err
    else if (err instanceof z.ZodError) apiError = validationError(err)
    else {
      const bodyErr = err as BodyParserError
      if (bodyErr?.type === 'entity.too.large') apiError = new ApiError(413, 'body_too_large', 'request body is larger than the limit')
      else if (bodyErr?.type === 'entity.parse.failed') apiError = new ApiError(400, 'malformed_json', 'request body is not valid JSON')
      else if (bodyErr?.type === 'encoding.unsupported' || bodyErr?.type === 'charset.unsupported')
        apiError = new ApiError(415, 'unsupported_encoding', 'unsupported content encoding or charset')
      else if (typeof bodyErr?.status === 'number' && bodyErr.status >= 400 && bodyErr.status < 500 && bodyErr.expose)
        apiError = new ApiError(bodyErr.status, 'bad_request', (err as Error).message)
      // An old process in a rolling upgrade met a snapshot a newer machine wrote: a new one can serve it.
      else if (err instanceof MachineVersionError && err.problem === 'newer')
        apiError = new ApiError(503, 'newer_machine_version', err.message, { machine: err.machine, stored: err.stored, current: err.current }, { 'Retry-After': '30' })
      else if (isUnavailable(err))
        apiError = new ApiError(503, 'service_unavailable', 'the database is unreachable; retry shortly', null, { 'Retry-After': '5' })
      else apiError = new ApiError(500, 'internal_error', 'Tenure could not handle the request')
    }
    const requestId = String(req.id ?? '')
    if (apiError.status >= 500) log.error({ err: serializeError(err), requestId, path: req.path }, 'request failed')
    else log.info({ code: apiError.code, status: apiError.status, requestId, path: req.path }, 'request rejected')
    if (res.headersSent) {
      res.destroy()
      return
    }
    for (const [k, v] of Object.entries(apiError.headers)) res.setHeader(k, v)
    res.status(apiError.status).json({
      error: { code: apiError.code, message: apiError.message, details: apiError.details ?? null, requestId },
    })
  }
}

/** Error fields safe to log: no request bodies, no headers. */
export function serializeError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const e = err as Error & { code?: string }
    return { name: e.name, message: e.message, code: e.code, stack: e.stack }
  }
  return { message: String(err) }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300'])

/** True for errors that mean "our database (or queue) is unreachable right now", not a bug. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined
  if (!e) return false
  if (e.code && (CONNECTION_CODES.has(e.code) || e.code.startsWith('08'))) return true
  const message = e.message ?? ''
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED/i.test(message)
}
