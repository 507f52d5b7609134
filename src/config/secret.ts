/**
 * Secrets in configuration. The config file never has to hold one: a secret is written as
 * `{ "env": "VAR_NAME" }` (read from the environment at start) or `{ "file": "/run/secrets/x" }`
 * (read from a file, e.g. a mounted Kubernetes secret). A plain string is accepted for local
 * development only (the sandbox's documented development secrets).
 *
 * Resolved values are wrapped in `Secret`, whose JSON and string forms are `[redacted]`, so a
 * secret that ends up in a log line, an error body or an export shows as `[redacted]`.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'

export class Secret {
  readonly #value: string
  readonly source: string

  constructor(value: string, source: string) {
    this.#value = value
    this.source = source
  }

  reveal(): string {
    return this.#value
  }

  toJSON(): string {
    return '[redacted]'
  }

  toString(): string {
    return '[redacted]'
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secret(${this.source})`
  }
}

/** Every secret value resolved so far, so tests can assert none of them reached a log line. */
export const resolvedSecretValues = new Set<string>()

const envRef = z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }).strict()
const fileRef = z.object({ file: z.string().min(1) }).strict()

/**
 * zod schema for one secret. Resolution happens during parsing, so a missing variable is a
 * validation error naming the key, like any other config problem.
 */
export const secretSchema = z
  .union([z.string().min(1), envRef, fileRef])
  .describe('A secret: { "env": "VAR" }, { "file": "/path" }, or (development only) a literal string')
  .transform((ref, ctx): Secret => {
    if (typeof ref === 'string') {
      resolvedSecretValues.add(ref)
      return new Secret(ref, 'literal')
    }
    if ('env' in ref) {
      const value = process.env[ref.env]
      if (value === undefined || value === '') {
        ctx.addIssue({ code: 'custom', message: `environment variable ${ref.env} is not set` })
        return z.NEVER
      }
      resolvedSecretValues.add(value)
      return new Secret(value, `env:${ref.env}`)
    }
    try {
      const value = readFileSync(ref.file, 'utf8').trim()
      resolvedSecretValues.add(value)
      return new Secret(value, `file:${ref.file}`)
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `cannot read secret file ${ref.file}: ${(err as Error).message}` })
      return z.NEVER
    }
  })

/** For code that builds configs in memory (tests, the sandbox). */
export function secret(value: string): Secret {
  resolvedSecretValues.add(value)
  return new Secret(value, 'literal')
}
