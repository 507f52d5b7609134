/**
 * What approvers and requesters are told. Approvers get what is asked, by whom, why, for how long
 * and what it does to the revocation deadline; requesters get the decision. Everything goes to
 * the Slack approvals channel (kinds `exception.*` route there), the webhooks that want the kind,
 * and the log. Ids only, plus the employee's display name: no email address goes out.
 */
import type { ExceptionKind } from '../../state-machines/lifecycle-types.ts'
import type { ApprovalNotifyKind } from '../../state-machines/exception-approval.machine.ts'
import type { AccessGrant } from '../domain/access.ts'
import { notificationId, type Notification, type Severity } from '../notify/index.ts'
import { formatDuration } from '../sla/ladder.ts'
import type { OpenCase } from './store.ts'

export interface ExceptionFacts {
  id: string
  kind: ExceptionKind
  employeeId: string
  employeeName?: string | null
  system: string | null
  reason: string
  requestedBy: string
  requesterName?: string | null
  startsAt: string
  endsAt: string
  grant?: AccessGrant
  approvals: { actorId: string; role: string; reason: string | null }[]
}

export interface DecisionFacts {
  actorId: string
  actorName?: string | null
  reason?: string | null
}

/** "14 d", "2 d 4 h", "3h 05m" (formatDuration below a day). */
export function span(ms: number): string {
  const days = Math.floor(ms / 86_400_000)
  if (days === 0) return formatDuration(ms)
  const hours = Math.floor((ms % 86_400_000) / 3_600_000)
  return hours === 0 ? `${days} d` : `${days} d ${hours} h`
}

function who(id: string, name?: string | null): string {
  return name && name !== id ? `${name} (${id})` : id
}

function scope(system: string | null, every: string): string {
  return system ?? every
}

function grantSummary(grant: AccessGrant | undefined): string {
  if (!grant) return 'access'
  const parts: string[] = []
  for (const [list, values] of Object.entries(grant)) if (Array.isArray(values) && values.length > 0) parts.push(`${list} ${values.join(', ')}`)
  if (grant.orgUnit) parts.push(`org unit ${grant.orgUnit}`)
  return parts.length > 0 ? parts.join('; ') : 'an account'
}

/** One sentence: what the exception does if it is approved. */
export function whatItDoes(f: Pick<ExceptionFacts, 'kind' | 'system' | 'endsAt' | 'grant'>): string {
  switch (f.kind) {
    case 'delay_revocation':
      return `Delay the revocation of ${scope(f.system, 'every system')} until ${f.endsAt}`
    case 'retain_account':
      return `Keep the ${scope(f.system, 'every')} account (disabled, never deleted) until ${f.endsAt}`
    case 'legal_hold':
      return `Legal hold on ${scope(f.system, 'every system')}: no deletion and no data transfer until ${f.endsAt}`
    case 'extra_access':
      return `Grant ${grantSummary(f.grant)} on ${scope(f.system, 'every system')} beyond the policy until ${f.endsAt}`
    case 'sla_waiver':
      return `Waive the revocation deadline of ${scope(f.system, 'every system')} until ${f.endsAt}`
  }
}

/**
 * What it does to the leaver case's revocation deadline, as it stands now. `kase` is the open or
 * scheduled leaver case (or the one an sla_waiver is bound to), `now` the moment of the request.
 */
export function deadlineEffect(f: Pick<ExceptionFacts, 'kind' | 'system' | 'endsAt'>, kase: OpenCase | undefined, now: Date): { text: string; deadlineAt?: string } {
  const systems = kase?.systems.filter((s) => f.system === null || s.system === f.system) ?? []
  const deadlines = systems.map((s) => s.deadlineAt).filter((d): d is Date => d !== null)
  const deadline = deadlines.length > 0 ? new Date(Math.min(...deadlines.map((d) => d.getTime()))) : (kase?.deadlineAt ?? undefined)
  const deadlineAt = deadline?.toISOString()
  const noCase = 'No leaver case is open; the revocation deadline is not affected today.'
  switch (f.kind) {
    case 'delay_revocation':
      if (!kase) return { text: `${noCase} If a termination comes before ${f.endsAt}, ${f.system} waits (status waiting_exception, not counted as at risk) and is revoked as soon as the delay ends.` }
      return {
        text: `The case deadline ${deadlineAt ?? '(none)'} does not move: while the delay lasts ${f.system} shows waiting_exception (not at risk), and it is revoked at once when the delay ends. A cut-off already under way is not held back.`,
        ...(deadlineAt ? { deadlineAt } : {}),
      }
    case 'sla_waiver': {
      if (!kase || !deadline) return { text: 'No leaver case is open: an SLA waiver has nothing to extend.' }
      const passed = deadline.getTime() <= now.getTime()
      return {
        text: passed
          ? `The deadline ${deadlineAt} has already passed (${formatDuration(now.getTime() - deadline.getTime())} ago): approving records the waiver, but the breach stays on record.`
          : `Moves the revocation deadline of ${scope(f.system, 'every system')} from ${deadlineAt} to ${f.endsAt}, if approved before ${deadlineAt} (in ${formatDuration(deadline.getTime() - now.getTime())}); the case then shows waived, not breached.`,
        deadlineAt: deadlineAt!,
      }
    }
    case 'legal_hold':
    case 'retain_account':
      return {
        text: `${kase ? `The case deadline ${deadlineAt ?? '(none)'} does not move: ` : ''}accounts are still disabled on time; only deletion${f.kind === 'legal_hold' ? ', licence removal and data transfer are' : ' is'} held back.`,
        ...(deadlineAt ? { deadlineAt } : {}),
      }
    case 'extra_access':
      return { text: 'No effect on revocation deadlines; the access is removed when the exception ends or the person leaves.' }
  }
}

const TITLES: Record<Exclude<ApprovalNotifyKind, 'request_refused'> | 'exception_lapsed', { kind: string; severity: Severity; title: string }> = {
  approval_requested: { kind: 'exception.requested', severity: 'warning', title: 'Approval needed' },
  second_approval_needed: { kind: 'exception.requested', severity: 'warning', title: 'Second approval needed (admin)' },
  exception_approved: { kind: 'exception.decided', severity: 'info', title: 'Approved' },
  exception_rejected: { kind: 'exception.decided', severity: 'info', title: 'Rejected' },
  exception_active: { kind: 'exception.activated', severity: 'info', title: 'In force' },
  exception_expired: { kind: 'exception.expired', severity: 'info', title: 'Ended' },
  exception_lapsed: { kind: 'exception.lapsed', severity: 'warning', title: 'Lapsed unanswered' },
  exception_revoked: { kind: 'exception.revoked', severity: 'warning', title: 'Revoked' },
  exception_extended: { kind: 'exception.decided', severity: 'info', title: 'Extended' },
}

export interface NotificationInput {
  /** The machine's notify kind; `exception_expired` with an unanswered request becomes lapsed. */
  kind: ApprovalNotifyKind
  lapsed: boolean
  facts: ExceptionFacts
  decision?: DecisionFacts
  deadline?: { text: string; deadlineAt?: string }
  /** Approved and active in the same step (the title says so; no separate activation message). */
  inForce?: boolean
  /** Makes the id unique per transition (the row version after it). */
  version: number
  occurredAt: string
}

/** The notification for one `notify` effect; undefined for refusals (the audit trail has them). */
export function exceptionNotification(input: NotificationInput): Notification | undefined {
  if (input.kind === 'request_refused') return undefined
  const key = input.kind === 'exception_expired' && input.lapsed ? 'exception_lapsed' : input.kind
  const f = input.facts
  const t = key === 'exception_approved' && input.inForce ? { ...TITLES[key], title: 'Approved, in force' } : TITLES[key]
  const target = `${f.kind}${f.system ? ` on ${f.system}` : ''} for ${f.employeeName ?? f.employeeId}`
  const lines: string[] = []
  lines.push(`What: ${whatItDoes(f)} (${span(Date.parse(f.endsAt) - Date.parse(f.startsAt))} from ${f.startsAt}).`)
  lines.push(`Requested by: ${who(f.requestedBy, f.requesterName)}`)
  lines.push(`Why: ${f.reason}`)
  if (input.deadline) lines.push(`Deadline: ${input.deadline.text}`)
  if (f.approvals.length > 0) lines.push(`Approved by: ${f.approvals.map((a) => `${a.actorId} (${a.role})${a.reason ? `: ${a.reason}` : ''}`).join('; ')}`)
  if (input.decision && (key === 'exception_rejected' || key === 'exception_revoked' || key === 'exception_extended')) {
    lines.push(`${key === 'exception_rejected' ? 'Rejected' : key === 'exception_extended' ? `Extended to ${f.endsAt}` : 'Revoked'} by: ${who(input.decision.actorId, input.decision.actorName)}${input.decision.reason ? `: ${input.decision.reason}` : ''}`)
  }
  if (key === 'approval_requested' || key === 'second_approval_needed') {
    const needs = key === 'second_approval_needed' ? 'an admin other than the requester and the first approver' : 'an approver other than the requester'
    lines.push(`Decide (${needs}): tenure exceptions approve ${f.id} --reason "…" (or reject), or POST /api/v1/exceptions/${f.id}/approve`)
  }
  if (key === 'exception_lapsed') lines.push('Nobody answered in time: the default policy applies.')
  return {
    id: notificationId('exception', f.id, String(input.version), t.kind),
    kind: t.kind,
    severity: t.severity,
    title: `${t.title}: ${target}`,
    text: lines.join('\n'),
    subject: {
      employeeId: f.employeeId,
      ...(f.employeeName ? { employeeName: f.employeeName } : {}),
      ...(f.system ? { system: f.system } : {}),
      exceptionId: f.id,
    },
    occurredAt: input.occurredAt,
    details: {
      exceptionKind: f.kind,
      status: key.replace(/^exception_/, ''),
      requestedBy: f.requestedBy,
      startsAt: f.startsAt,
      endsAt: f.endsAt,
      ...(input.deadline?.deadlineAt ? { deadlineAt: input.deadline.deadlineAt } : {}),
      ...(input.decision ? { decidedBy: input.decision.actorId } : {}),
    },
  }
}
