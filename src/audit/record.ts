/**
 * The audit record and its hash: the one definition shared by the writer, the verifier, the
 * export and the standalone script in docs/audit.md. Changing anything here changes every hash,
 * so existing logs would stop verifying: treat this file as a published format.
 */
import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

/** prev_hash of row 1. */
export const GENESIS_HASH = '0'.repeat(64)

export const ACTOR_TYPES = ['hr_source', 'api_token', 'oidc', 'system'] as const
export type ActorType = (typeof ACTOR_TYPES)[number]

/**
 * The documented vocabulary: dotted, past tense, `<area>.<fact>`. Other dotted names are accepted
 * (the database checks the shape), but an action an auditor will read belongs here, with its
 * meaning, and in docs/audit.md.
 */
export const AUDIT_ACTIONS = {
  'hr.event_stored': 'An HR webhook or reconciliation poll was accepted and stored (before it is applied).',
  'lifecycle.transitioned': "An employee's lifecycle state machine moved from one state to another.",
  'job.enqueued': 'A provisioning, revocation or verification job was queued for a target system.',
  'job.failed': 'A job gave up after its last attempt (or failed permanently) and needs a human.',
  'target.api_called': 'Tenure called a target system API (method, endpoint, status, vendor request id).',
  'target.verified': 'Tenure read an account back from the target system and recorded what it saw.',
  'token.created': 'An API token was issued (its id and scopes, never the token).',
  'token.revoked': 'An API token was revoked.',
  'config.loaded': 'Tenure started with a configuration (its digest and source, never secrets).',
  'exception.decided': 'A person approved or rejected an exception to the revocation SLA.',
  'audit.pruned': 'Retention removed the rows up to a signed checkpoint (the tombstone of that deletion).',
  'target.revoked': 'A revocation phase ran against a target system: each step with its status and time (the evidence).',
  'job.redriven': 'An operator re-queued a job from a dead-letter queue, with a reason.',
  'task.completed': 'A person attested a manual task (who, when, note, evidence reference).',
  'sla.escalated': 'A leaver case reached a step of the escalation ladder (notify, page) with systems still at risk.',
  'sla.breached': 'A leaver case passed its deadline with systems not yet verified.',
  'reconciliation.finding_recorded': 'Target reconciliation found drift: an account active after revocation, an orphan, or access beyond policy.',
  'reconciliation.finding_raised_again': 'An acknowledged reconciliation finding came back: the listed access of the account is no longer what was acknowledged.',
  'reconciliation.finding_acknowledged': 'A person acknowledged a reconciliation finding (who, reason, the access acknowledged).',
  'reconciliation.account_linked': 'A person linked an orphan account in a target system to an employee (who, reason); later runs map it to them.',
  'reconciliation.run_requested': 'A person started an HR or target reconciliation now for one source or system (kind, source or system, job id; already_queued when a run was pending).',
  'reconciliation.cutoff_requested': 'A person turned a reconciliation finding into a cut-off: the lifecycle of the leaver was sent reconciliation.account_active (who, reason).',
  'exception.requested': 'Someone asked for an exception (kind, system, reason, end).',
  'exception.activated': 'An approved exception came into force.',
  'exception.expired': 'An exception reached its end time.',
  'exception.lapsed': 'An exception request went unanswered and the default policy applied.',
  'exception.revoked': 'An exception was ended early.',
  'exception.extended': 'An approved or active exception was given a later end by another approver (who, why, from, to).',
  'hr.bulk_hold_opened': 'An HR source passed its hourly termination threshold: its further terminations are held for a decision (mass-termination hold).',
  'hr.event_held': 'An HR notice was held in a mass-termination hold instead of being applied (why: over the threshold, hold open, or behind a held notice of the same person).',
  'hr.bulk_hold_confirmed': 'A person confirmed a mass-termination hold: its notices are applied, in the order HR sent them (who, reason).',
  'hr.bulk_hold_rejected': 'A person rejected a mass-termination hold: its notices are kept, marked rejected, never applied (who, reason).',
  'hr.employee_not_found': 'An HR notice named an employee the re-fetch found no record of: nothing was applied (source, inbox id, HR id).',
  'hr.timestamp_clamped': "A vendor timestamp further in the future than the source's tolerance was set back to the receipt time (the vendor's value is kept).",
  'offboarding.emergency_requested': 'A person asked to cut someone off now; the request waits for a second approver (who, reason, expiry).',
  'offboarding.emergency_terminated': 'A person cut someone off now without waiting for HR: an immediate termination went through the lifecycle (who asked, who approved, reason, case, deadline).',
  'offboarding.emergency_rejected': 'A pending emergency termination was rejected, or withdrawn by its requester: nothing was cut.',
  'offboarding.emergency_expired': 'A pending emergency termination was not approved in time: nothing was cut.',
  'offboarding.emergency_refused': 'A decision on an emergency termination was refused (four-eyes, no approver role, decided already, expired).',
  'offboarding.emergency_confirmed_by_hr': "HR's own termination of a person cut off by an emergency termination arrived: the cut is confirmed.",
  'offboarding.hr_discrepancy': 'After an emergency termination, HR still showed the person employed (an update, a rehire, a rescind, or the roster): a task for a person; access stays cut.',
  'report.exported': 'An access-revocation report was exported (query, file SHA-256, signed manifest id, audit head).',
  'report.downloaded_again': 'A past report was downloaded again from the history: the kept bytes, checked against its signed manifest (report id, SHA-256).',
  'report.files_pruned': 'The retention sweep removed kept report files past reports.keepDays (report ids); their manifests and history rows stay.',
} as const

export type KnownAuditAction = keyof typeof AUDIT_ACTIONS
/** A known action, or any other `area.fact` name (autocompletion keeps the known ones visible). */
export type AuditAction = KnownAuditAction | `${string}.${string}`

export const ACTION_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/

export interface AuditActor {
  type: ActorType
  id: string
}

export interface AuditSubject {
  employee_id: string | null
  system: string | null
  account_id: string | null
}

/** The fields that are hashed, in the shape they are hashed in. */
export interface AuditRecord {
  seq: number
  /** ISO 8601 UTC with milliseconds: `2025-03-01T09:30:00.123Z`. */
  occurred_at: string
  actor: AuditActor
  action: string
  subject: AuditSubject
  correlation_id: string | null
  details: JsonObject
}

/** One row as stored, returned by the API and written to exports (one JSON object per line). */
export interface AuditRow extends AuditRecord {
  prev_hash: string
  hash: string
}

/** RFC 8785 canonical JSON of the hashed fields. Extra properties of `row` are ignored. */
export function canonicalRecord(row: AuditRecord): string {
  const record: AuditRecord = {
    seq: row.seq,
    occurred_at: row.occurred_at,
    actor: { type: row.actor.type, id: row.actor.id },
    action: row.action,
    subject: { employee_id: row.subject.employee_id, system: row.subject.system, account_id: row.subject.account_id },
    correlation_id: row.correlation_id,
    details: row.details,
  }
  const text = canonicalize(record)
  if (text === undefined) throw new Error('audit record cannot be canonicalised')
  return text
}

/** hash = hex(sha256(utf8(canonical JSON of the record) ‖ utf8(prev_hash as 64 hex digits))). */
export function computeHash(row: AuditRecord, prevHash: string): string {
  return createHash('sha256').update(canonicalRecord(row), 'utf8').update(prevHash, 'utf8').digest('hex')
}
