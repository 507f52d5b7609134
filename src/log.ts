import { createRequire } from 'node:module'
import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino'
import type pretty from 'pino-pretty'

/**
 * pino-pretty (and its dependencies) only where a terminal shows the lines: a process that logs
 * JSON (under a supervisor, in a container, the worker process, the benchmark) never loads it.
 * It is CommonJS, so a synchronous require keeps createLogger() synchronous.
 */
const loadPretty = (): typeof pretty => createRequire(import.meta.url)('pino-pretty') as typeof pretty

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

/** `auto`: readable lines on a terminal, JSON lines otherwise (piped, redirected, under a supervisor). */
export type LogFormat = 'auto' | 'json' | 'pretty'

export interface LogOptions {
  level?: string
  /** Where lines go; defaults to stdout. Tests pass a stream to inspect what was written (always JSON). */
  destination?: NodeJS.WritableStream
  base?: Record<string, unknown>
  /** Default: LOG_FORMAT, else `auto`. */
  format?: LogFormat
}

/** What `format` means here: pretty only when asked, or when `auto` and stdout is a terminal. */
export function resolveLogFormat(format: string | undefined = process.env.LOG_FORMAT, isTTY = Boolean(process.stdout.isTTY)): 'json' | 'pretty' {
  if (format === 'json' || format === 'pretty') return format
  return isTTY ? 'pretty' : 'json'
}

export function createLogger(options: LogOptions = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'tenure', ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  }
  if (options.destination) return pino(opts, options.destination)
  if (resolveLogFormat(options.format) === 'pretty') {
    // In this thread and synchronous (not pino's worker transport): a line is on the terminal
    // before the next statement runs, and nothing is lost when the process exits. Redaction
    // happens before the line reaches the prettifier, as for JSON.
    return pino(
      opts,
      loadPretty()({
        sync: true,
        colorize: Boolean(process.stdout.isTTY),
        singleLine: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,service',
      }),
    )
  }
  return pino(opts)
}

/** A logger that drops everything; for unit tests of pure code that still takes a logger. */
export const silentLogger: Logger = pino({ level: 'silent' })
