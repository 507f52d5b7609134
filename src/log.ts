import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino'

export type Logger = PinoLogger

/**
 * Paths that may carry credentials anywhere in a log object. pino's redaction replaces the
 * value before serialisation, so a secret never reaches the output stream, even at debug level.
 */
export const REDACT_PATHS = [
  'password',
  'secret',
  'secrets',
  'token',
  'accessToken',
  'refreshToken',
  'clientSecret',
  'privateKey',
  'apiKey',
  'authorization',
  '*.password',
  '*.secret',
  '*.secrets',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.clientSecret',
  '*.privateKey',
  '*.apiKey',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["webhook-signature"]',
  'req.headers["bob-signature"]',
  'req.headers["x-bamboohr-signature"]',
  'req.headers["x-merge-webhook-signature"]',
  'req.headers["x-deel-signature"]',
  'req.headers["x-gusto-signature"]',
  'headers.authorization',
]

export interface LogOptions {
  level?: string
  /** Where lines go; defaults to stdout. Tests pass a stream to inspect what was written. */
  destination?: NodeJS.WritableStream
  base?: Record<string, unknown>
}

export function createLogger(options: LogOptions = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'tenure', ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  }
  return options.destination ? pino(opts, options.destination) : pino(opts)
}

/** A logger that drops everything; for unit tests of pure code that still takes a logger. */
export const silentLogger: Logger = pino({ level: 'silent' })
