/**
 * The `exceptions` configuration section: how long each kind of exception may last, how long a
 * request may wait for an answer, how much of a reason people must write. Every key documents
 * itself (docs/configuration.md is generated from these texts).
 */
import { z } from 'zod'
import { EXCEPTION_KINDS, type ExceptionKind } from '../../state-machines/lifecycle-types.ts'
import type { ApprovalInput } from '../../state-machines/exception-approval.machine.ts'

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const
const DURATION = /^(\d+)\s*(s|m|h|d|w)$/

/** `90s`, `30m`, `24h`, `14d`, `2w` → milliseconds; undefined when the text is not such a duration. */
export function durationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim())
  if (!match) return undefined
  const n = Number(match[1])
  return n > 0 ? n * UNIT_MS[match[2] as keyof typeof UNIT_MS] : undefined
}

const duration = (example: string) =>
  z
    .string()
    .refine((v) => durationMs(v) !== undefined, `a positive duration: a number and s, m, h, d or w (e.g. ${example})`)

const DEFAULT_MAX_DURATION: Record<ExceptionKind, string> = {
  delay_revocation: '14d',
  retain_account: '365d',
  legal_hold: '3650d',
  extra_access: '90d',
  sla_waiver: '3d',
}

const KIND_TEXT: Record<ExceptionKind, string> = {
  delay_revocation: 'Longest delay of one system\'s revocation (e.g. a mailbox kept readable for a hand-over).',
  retain_account: 'Longest time a leaver\'s account is kept (disabled, not deleted).',
  legal_hold: 'Longest legal hold: no deletion and no data transfer while it lasts (disabling still happens on time).',
  extra_access: 'Longest non-birthright grant to a joiner or mover.',
  sla_waiver: 'Longest extension of a leaver case\'s revocation deadline beyond the four-hour SLA.',
}

const maxDurationShape = Object.fromEntries(
  EXCEPTION_KINDS.map((kind) => [kind, duration(DEFAULT_MAX_DURATION[kind]).default(DEFAULT_MAX_DURATION[kind]).describe(`${KIND_TEXT[kind]} Default ${DEFAULT_MAX_DURATION[kind]}.`)]),
) as Record<ExceptionKind, z.ZodDefault<z.ZodString>>

/**
 * The floor of every exception reason, in the route schemas (src/exceptions/routes.ts) and so in
 * the OpenAPI document. exceptions.minReasonLength may raise it, never lower it: a lower value
 * would make the documented schema refuse what the configuration allows.
 */
export const REASON_MIN_LENGTH = 10

export const exceptionsConfigSchema = z
  .object({
    maxDuration: z
      .object(maxDurationShape)
      .strict()
      .prefault({})
      .describe('Per kind: the longest an exception may last, counted from its start (s, m, h, d or w). A request beyond it is refused with 400 naming endsAt.'),
    requestExpiry: duration('24h')
      .default('24h')
      .describe('A request nobody approved or rejected within this time lapses (status lapsed) and the default policy applies, as if it had never been asked.'),
    minReasonLength: z
      .number()
      .int()
      .min(REASON_MIN_LENGTH)
      .max(500)
      .default(REASON_MIN_LENGTH)
      .describe(
        `Requests, approvals, rejections and revocations must give a reason of at least this many characters (it goes into the audit trail). At least ${REASON_MIN_LENGTH}: the API's schema (and its OpenAPI document) refuses shorter reasons before the service sees them.`,
      ),
  })
  .strict()
  .prefault({})
  .describe('Exceptions to the default policy (delayed revocation, retained accounts, legal holds, extra access, SLA waivers) and their approval. See docs/exceptions.md.')

export type ExceptionsConfig = z.output<typeof exceptionsConfigSchema>

/** The defaults, for callers that run without a config file (tests, tools). */
export const DEFAULT_EXCEPTIONS_CONFIG: ExceptionsConfig = exceptionsConfigSchema.parse({})

export function maxDurationMs(config: ExceptionsConfig, kind: ExceptionKind): number {
  return durationMs(config.maxDuration[kind])!
}

/** The approval machine's configuration (it counts in days and hours; fractions are fine). */
export function approvalConfig(config: ExceptionsConfig): NonNullable<ApprovalInput['config']> {
  const maxDays = Object.fromEntries(EXCEPTION_KINDS.map((k) => [k, maxDurationMs(config, k) / UNIT_MS.d])) as Record<ExceptionKind, number>
  return { maxDays, answerWithinHours: durationMs(config.requestExpiry)! / UNIT_MS.h, minReasonLength: config.minReasonLength }
}
