/**
 * One step of the approval machine (state-machines/exception-approval.machine.ts), pure: restore
 * the persisted snapshot, send one event, collect the effects the machine asked for, and derive
 * the table's columns from the new context. The service persists the result in one transaction.
 */
import { createActor, type SnapshotFrom } from 'xstate'
import {
  exceptionApprovalMachine,
  type ApprovalActor,
  type ApprovalContext,
  type ApprovalEvent,
  type ApprovalInput,
  type ApprovalNotifyKind,
  type ApprovalTimer,
} from '../../state-machines/exception-approval.machine.ts'
import type { ExceptionActivatedEvent, ExceptionEndedEvent } from '../../state-machines/lifecycle-types.ts'
import type { Role } from '../auth/roles.ts'
import type { ApprovalRecord, ExceptionColumns, ExceptionStatus } from './store.ts'
import { APPROVAL_VERSIONING, upgradeSnapshot } from '../../state-machines/upgrades.ts'

export type ApprovalSnapshot = SnapshotFrom<typeof exceptionApprovalMachine>

export interface ApprovalEffects {
  records: { kind: string; details: Record<string, unknown> }[]
  notifies: { kind: ApprovalNotifyKind; message: string; to?: 'approvers' | 'admins' | 'requester' }[]
  schedules: ApprovalTimer[]
  cancels: string[]
  forwards: { employeeId: string; event: ExceptionActivatedEvent | ExceptionEndedEvent }[]
}

export interface ApprovalStep {
  /** The machine state after the event. */
  value: string
  status: ExceptionStatus
  context: ApprovalContext
  /** JSON-safe, as stored in exceptions.snapshot. */
  persisted: unknown
  effects: ApprovalEffects
  /** The machine refused the event (its context says why in `refusal`). */
  refused: boolean
}

export function emptyEffects(): ApprovalEffects {
  return { records: [], notifies: [], schedules: [], cancels: [], forwards: [] }
}

export function providedApprovalMachine(into: ApprovalEffects) {
  return exceptionApprovalMachine.provide({
    actions: {
      record: (_, params) => {
        into.records.push(params)
      },
      notify: (_, params) => {
        into.notifies.push(params)
      },
      schedule: (_, params) => {
        into.schedules.push(params)
      },
      cancelTimer: (_, params) => {
        into.cancels.push(params.timerId)
      },
      forward: (_, params) => {
        into.forwards.push(params)
      },
    },
  })
}

/** The status column for a machine state (the machine's `expired` is `lapsed` when nobody answered). */
export function statusOf(value: string, context: ApprovalContext): ExceptionStatus {
  switch (value) {
    case 'draft':
    case 'requested':
      return 'requested'
    case 'awaitingSecondApproval':
      return 'awaiting_second_approval'
    case 'approved':
      return 'approved'
    case 'active':
      return 'active'
    case 'rejected':
      return 'rejected'
    case 'revoked':
      return 'revoked'
    case 'expired':
      return context.decision?.outcome === 'unanswered' ? 'lapsed' : 'expired'
    default:
      throw new Error(`exception approval machine is in an unknown state ${value}`)
  }
}

/**
 * The roles the machine sees. `admin` holds every other role's rights (src/auth/roles.ts), so an
 * admin counts as an approver for the first approval too.
 */
export function approvalActor(id: string, roles: readonly Role[]): ApprovalActor {
  const effective = new Set<string>(roles)
  if (effective.has('admin')) effective.add('approver')
  return { id, roles: [...effective].sort() }
}

export function stepApproval(input: ApprovalInput, persisted: unknown, event: ApprovalEvent): ApprovalStep {
  const effects = emptyEffects()
  const machine = providedApprovalMachine(effects)
  const actor =
    persisted === undefined ? createActor(machine, { input }) : createActor(machine, { input, snapshot: persisted as ApprovalSnapshot })
  // A restored `approved` snapshot whose start has passed moves on at start (eventless
  // transition); its effects are collected like those of the event.
  actor.start()
  actor.send(event)
  const snapshot = actor.getSnapshot()
  // Before stop(): a snapshot persisted after it says `stopped`, and a restored stopped actor
  // no longer takes eventless transitions (an approval would stay `approved` instead of `active`).
  const stored = JSON.parse(JSON.stringify(actor.getPersistedSnapshot())) as unknown
  actor.stop()
  if (snapshot.status === 'error') throw new Error(`exception approval machine failed on ${event.type}: ${String(snapshot.error)}`)
  const value = String(snapshot.value)
  return {
    value,
    status: statusOf(value, snapshot.context),
    context: snapshot.context,
    persisted: stored,
    effects,
    refused: effects.records.some((r) => r.kind === 'exception.refused'),
  }
}

/**
 * A stored row's snapshot in this build's shape: upgraded when an older approval machine wrote
 * it, refused (MachineVersionError) when a newer one did, so an old process in a rolling upgrade
 * never steps, and so never overwrites, a snapshot it does not know.
 */
export function currentApprovalSnapshot(row: { snapshot: unknown; machineVersion: number }): unknown {
  return upgradeSnapshot(APPROVAL_VERSIONING, row.snapshot, row.machineVersion).snapshot
}

/** The approval machine's view of a stored snapshot (for reads). */
export function restoredContext(persisted: unknown): { value: string; context: ApprovalContext } {
  const snapshot = exceptionApprovalMachine.resolveState(persisted as Parameters<typeof exceptionApprovalMachine.resolveState>[0])
  return { value: String(snapshot.value), context: snapshot.context }
}

function roleOf(actor: ApprovalActor): ApprovalRecord['role'] {
  return actor.roles.includes('admin') ? 'admin' : 'approver'
}

/**
 * The table columns after a step. `decidedAt` is kept once set; it is the moment of the final
 * approval (the machine left the pending states for approved/active) or of the rejection.
 */
export function columnsOf(step: ApprovalStep, previous: { status: ExceptionStatus; decidedAt: string | null; details: Record<string, unknown> } | undefined, now: string): Omit<ExceptionColumns, 'details'> {
  const ctx = step.context
  const wasPending = previous === undefined || previous.status === 'requested' || previous.status === 'awaiting_second_approval'
  const decidedNow = wasPending && (step.status === 'approved' || step.status === 'active' || step.status === 'rejected')
  const decision = ctx.decision
  return {
    status: step.status,
    // Moves only with an extension (exception.extend); the request fixes it otherwise.
    endsAt: ctx.request?.endsAt ?? null,
    approvals: ctx.approvals.map((a) => ({ actorId: a.actor.id, role: roleOf(a.actor), at: a.at, reason: a.reason ?? null })),
    decidedAt: previous?.decidedAt ?? (decidedNow ? (decision?.outcome === 'rejected' ? decision.at : (ctx.approvals.at(-1)?.at ?? now)) : null),
    rejectedBy: decision?.outcome === 'rejected' ? (decision.actor?.id ?? null) : null,
    rejectionReason: decision?.outcome === 'rejected' ? (decision.reason ?? null) : null,
    revokedAt: decision?.outcome === 'revoked' ? decision.at : null,
    revokedBy: decision?.outcome === 'revoked' ? (decision.actor?.id ?? null) : null,
    revokeReason: decision?.outcome === 'revoked' ? (decision.reason ?? null) : null,
    expiredAt: decision?.outcome === 'ended' || decision?.outcome === 'unanswered' ? decision.at : null,
    snapshot: step.persisted,
  }
}
