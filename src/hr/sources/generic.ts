/**
 * `generic`: Tenure's own documented JSON format (docs/hr-events.md), signed per the Standard
 * Webhooks spec v1 (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
 *
 *   webhook-id: msg_…                   unique per event, identical across retries → dedupe key
 *   webhook-timestamp: 1767225600       unix seconds of the attempt → replay window
 *   webhook-signature: v1,<base64> …    space-separated, several during key rotation
 *   signed content: `${id}.${timestamp}.${rawBody}`, HMAC-SHA256 keyed with base64-decoded `whsec_…`
 *
 * The body carries the canonical fields, so nothing is re-fetched: the sender is the authority.
 */
import { z } from 'zod'
import {
  canonicalEventSchema,
  employeeProfileSchema,
  profileChangesSchema,
  type CanonicalEvent,
  type CanonicalEventType,
} from '../../../state-machines/events.ts'
import { PermanentError } from '../../../provisioners/errors.ts'
import { fromRecordByDiff, readJsonDelivery, readNoticeData } from '../adapter-kit.ts'
import { deterministicUuid, fromBase64, hmac, matchSecrets, sha256Hex } from '../crypto.ts'
import { header, withinTolerance } from '../parsing.ts'
import type { HrSourceAdapter, HrSourceConfig, Parsed, RawDelivery, Verification } from '../types.ts'

const SOURCE = 'generic' as const
const isoDate = z.iso.date()
const isoDateTime = z.iso.datetime({ offset: true })
const employeeId = z.string().min(1).max(200)
const profileIn = employeeProfileSchema.extend({ employeeId: employeeId.optional() })

const terminatedData = z
  .object({
    employeeId,
    effectiveDate: isoDate.optional(),
    effectiveAt: isoDateTime.optional(),
    timeZone: z.string().max(100).optional(),
    voluntary: z.enum(['voluntary', 'involuntary', 'unknown']).optional(),
    immediate: z.boolean().optional(),
    reason: z.string().max(500).optional(),
    profile: profileIn.optional(),
  })
  .refine((d) => d.effectiveDate !== undefined || d.effectiveAt !== undefined || d.immediate === true, {
    message: 'a termination needs effectiveDate, effectiveAt or immediate: true',
    path: ['effectiveDate'],
  })

const event = <T extends string, D extends z.ZodType>(type: T, data: D) =>
  z.object({ type: z.literal(type), timestamp: isoDateTime, data })

/** The generic delivery body. `timestamp` is when the change happened in the sending system. */
export const genericPayloadSchema = z.discriminatedUnion('type', [
  event('employee.hired', z.object({ employeeId, profile: profileIn, startDate: isoDate, preHire: z.boolean().optional() })),
  event('employee.updated', z.object({ employeeId, changes: profileChangesSchema, effectiveAt: isoDateTime.optional(), profile: profileIn.optional() })),
  event('employee.terminated', terminatedData),
  event('employee.rehired', z.object({ employeeId, profile: profileIn, startDate: isoDate })),
  event('employee.hire_cancelled', z.object({ employeeId })),
  event('employee.termination_rescinded', z.object({ employeeId })),
  event('employee.leave_started', z.object({ employeeId, effectiveDate: isoDate, expectedReturnDate: isoDate.optional() })),
  event('employee.leave_ended', z.object({ employeeId, effectiveDate: isoDate })),
])
export type GenericPayload = z.infer<typeof genericPayloadSchema>

const WEBHOOK_ID = /^[A-Za-z0-9_-]{1,255}$/

/** The key bytes of a Standard Webhooks secret (`whsec_` + base64); raw base64 is accepted too, as the reference libraries do. */
export function standardWebhooksKey(secret: string): Buffer {
  const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret
  return fromBase64(b64) ?? Buffer.from(secret, 'utf8')
}

function verify(delivery: RawDelivery, config: Pick<HrSourceConfig, 'secrets' | 'timestampToleranceSeconds'>): Verification {
  const id = header(delivery, 'webhook-id')
  const timestamp = header(delivery, 'webhook-timestamp')
  const signature = header(delivery, 'webhook-signature')
  if (!id || !timestamp || !signature)
    return { ok: false, reason: 'missing_signature', message: 'webhook-id, webhook-timestamp and webhook-signature are required' }
  // The spec: id and timestamp must not contain "." or the signed content becomes ambiguous.
  if (!WEBHOOK_ID.test(id)) return { ok: false, reason: 'bad_signature', message: 'webhook-id has characters outside [A-Za-z0-9_-]' }
  if (!/^\d{1,12}$/.test(timestamp.trim()))
    return { ok: false, reason: 'bad_signature', message: 'webhook-timestamp is not integer unix seconds' }
  const ts = Number(timestamp.trim()) * 1000
  if (!withinTolerance(ts, delivery.receivedAt, config.timestampToleranceSeconds))
    return { ok: false, reason: 'timestamp_out_of_tolerance', message: `webhook-timestamp is more than ${config.timestampToleranceSeconds} s from now` }
  const received: Buffer[] = []
  for (const part of signature.split(' ')) {
    const comma = part.indexOf(',')
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue // v1a (ed25519) and unknown versions are skipped
    const sig = fromBase64(part.slice(comma + 1))
    if (sig) received.push(sig)
  }
  if (received.length === 0) return { ok: false, reason: 'missing_signature', message: 'webhook-signature has no v1 signature' }
  return matchSecrets(config.secrets, received, (secret) => hmac('sha256', standardWebhooksKey(secret), `${id}.${timestamp.trim()}.`, delivery.body))
}

function parse(delivery: RawDelivery): Parsed {
  const payload = readJsonDelivery(delivery, generic.contentTypes, genericPayloadSchema)
  if (!payload.ok) return payload
  const p = payload.value
  const id = header(delivery, 'webhook-id')
  return {
    ok: true,
    notices: [
      {
        dedupeKey: id && WEBHOOK_ID.test(id) ? id : `sha256:${sha256Hex(delivery.body)}`,
        vendorEventType: p.type,
        employeeId: p.data.employeeId,
        occurredAt: new Date(p.timestamp).toISOString(),
        data: p,
      },
    ],
  }
}

function toEvent(p: GenericPayload, sourceEventId: string, receivedAt: string, foundBy: CanonicalEvent['foundBy']): CanonicalEvent {
  const { employeeId: id } = p.data
  const data: Record<string, unknown> = { ...p.data }
  if ('profile' in p.data && p.data.profile) data.profile = { ...p.data.profile, employeeId: id }
  const candidate = {
    ...data,
    eventId: deterministicUuid(SOURCE, sourceEventId, p.type),
    type: p.type,
    source: SOURCE,
    sourceEventId,
    employeeId: id,
    occurredAt: new Date(p.timestamp).toISOString(),
    receivedAt,
    foundBy,
  }
  const parsed = canonicalEventSchema.safeParse(candidate)
  if (!parsed.success)
    throw new PermanentError(`generic ${p.type} for ${id} is not a valid canonical event`, {
      system: 'hr:generic',
      operation: 'normalize',
      vendorCode: 'invalid_canonical_event',
      cause: parsed.error,
    })
  return parsed.data
}

const SAMPLE_PROFILE = {
  firstName: 'Ada',
  lastName: 'Lovelace',
  workEmail: 'ada.lovelace@example.com',
  department: 'Engineering',
  title: 'Staff Engineer',
  timeZone: 'Europe/London',
  countryCode: 'GB',
}

export function genericSample(kind: CanonicalEventType, id: string, timestamp = '2026-01-15T09:30:00Z'): GenericPayload {
  switch (kind) {
    case 'employee.hired':
      return { type: kind, timestamp, data: { employeeId: id, profile: { employeeId: id, ...SAMPLE_PROFILE }, startDate: '2026-02-02' } }
    case 'employee.updated':
      return { type: kind, timestamp, data: { employeeId: id, changes: { title: 'Principal Engineer', department: 'Platform' } } }
    case 'employee.terminated':
      return {
        type: kind,
        timestamp,
        data: { employeeId: id, effectiveDate: '2026-01-30', timeZone: 'Europe/London', voluntary: 'voluntary', immediate: false, reason: 'Resignation' },
      }
    case 'employee.rehired':
      return { type: kind, timestamp, data: { employeeId: id, profile: { employeeId: id, ...SAMPLE_PROFILE }, startDate: '2026-06-01' } }
    case 'employee.hire_cancelled':
    case 'employee.termination_rescinded':
      return { type: kind, timestamp, data: { employeeId: id } }
    case 'employee.leave_started':
      return { type: kind, timestamp, data: { employeeId: id, effectiveDate: '2026-02-01', expectedReturnDate: '2026-08-01' } }
    case 'employee.leave_ended':
      return { type: kind, timestamp, data: { employeeId: id, effectiveDate: '2026-08-01' } }
  }
}

/** Sign a body the way a Standard Webhooks sender does. `id` defaults to a hash of the body. */
export function signStandardWebhook(body: Buffer, secret: string, now: Date, id = `msg_${sha256Hex(body).slice(0, 24)}`): Record<string, string> {
  const timestamp = String(Math.floor(now.getTime() / 1000))
  const sig = hmac('sha256', standardWebhooksKey(secret), `${id}.${timestamp}.`, body).toString('base64')
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${sig}` }
}

export const generic: HrSourceAdapter = {
  source: SOURCE,
  contentTypes: ['application/json'],
  pushes: true,
  verify,
  parse,
  async normalize(notice, ctx) {
    const payload = readNoticeData(SOURCE, genericPayloadSchema, notice)
    return [toEvent(payload, notice.dedupeKey, ctx.receivedAt.toISOString(), ctx.foundBy)]
  },
  fromRecord: fromRecordByDiff,
  buildSample(kind, id, options = {}) {
    return {
      body: Buffer.from(JSON.stringify(genericSample(kind, id, options.now?.toISOString()), null, 2)),
      contentType: 'application/json',
      notes: 'Tenure generic format; sign with signStandardWebhook() or any Standard Webhooks library',
    }
  },
  sign: (body, secret, now) => signStandardWebhook(body, secret, now),
  createClient: () => undefined,
}
