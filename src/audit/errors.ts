/**
 * The audit module's one error type. `status` is the HTTP status the router answers with, so
 * callers outside HTTP (the CLI, pg-boss jobs) can ignore it and branch on `code`.
 */
export class AuditError extends Error {
  readonly code: string
  readonly status: number
  readonly details: unknown

  constructor(code: string, message: string, options: { status?: number; details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AuditError'
    this.code = code
    this.status = options.status ?? 500
    this.details = options.details
  }
}
