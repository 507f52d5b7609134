/**
 * One employee's lifecycle: joiner → mover → leaver (→ rehire), with per-system progress so the
 * machine knows which systems are done, which failed and which wait on an exception. This file is
 * the chart: states, transitions, named guards and named actions. What each action does is in
 * state-machines/lifecycle/ (handlers.ts is the table of names → handlers).
 *
 * Pure: no I/O and no clock. Time arrives in every event as `now`; moments (start of day one,
 * termination) are computed by src/lifecycle/schedule.ts and sent in `moments`.
 *
 * Side effects are ACTIONS (enqueue, schedule, cancelTimer, record, notify) declared here as
 * placeholders and supplied by the engine with `.provide()`. The engine handles an event by locking
 * the employee row, restoring the persisted snapshot, sending the event and persisting the new
 * snapshot plus the jobs/timers/audit rows its actions produced, all in one transaction. Actions run
 * exactly once, during the transition that causes them, and are NOT re-run when a snapshot is
 * restored. Invoked actors would be restarted on restore (an in-flight promise is re-created), so
 * every restore would re-send work; that is why this machine has no actors at all. Results come back
 * later as events (`account.provisioned`, `account.revoked`, ...).
 *
 * Most of the work is done by small pure "handlers" (lifecycle/handlers.ts) that mutate a draft
 * copy of the context and collect effects. Each handler is registered as a named action of the
 * same name (`act()` makes it an `enqueueActions` that assigns the new context and enqueues the
 * effects in order), and each condition as a named guard (lifecycle/guards.ts) combined here with
 * and()/not(): the chart, inspectors and graph paths read `onTerminateNow` guarded by
 * `and(['fresh', 'terminationDueEv'])`. Transitions that need the outcome of that work (every
 * system settled, every system revoked) are eventless `always` transitions guarded on the context.
 */
import { and, enqueueActions, not, setup } from 'xstate'
import type { JobRequest, LifecycleEvent, TimerRequest } from './lifecycle-types.ts'
import type { LifecycleContext, LifecycleInput, LifecyclePhase, NotifyParams, RecordParams } from './lifecycle/context.ts'
import { draftOf, flush, replacing } from './lifecycle/draft.ts'
import { GUARDS, type GuardName } from './lifecycle/guards.ts'
import { HANDLERS, type HandlerName } from './lifecycle/handlers.ts'

export type * from './lifecycle-types.ts'
export { EXCEPTION_KINDS, JOB_ACTIONS, NOTIFY_KINDS, SYSTEM_STATUSES, TIMER_KINDS } from './lifecycle-types.ts'
export type * from './lifecycle/context.ts'
export { LIFECYCLE_STATES } from './lifecycle/context.ts'
export { employeeKeyOf, replacing } from './lifecycle/draft.ts'
export { SEEN_EVENT_IDS, applyHrProfile, hrIgnoreReason } from './lifecycle/hr.ts'
export { MAX_CUTOFF_RERUNS } from './lifecycle/revocation-progress.ts'
export type { GuardName } from './lifecycle/guards.ts'
export type { HandlerName } from './lifecycle/handlers.ts'

/**
 * The shape of this machine's persisted snapshot (states and context). Bump it with every change a
 * snapshot stored by the previous version would not fit (a context field added without a default,
 * renamed or re-typed; a state renamed or removed), and add the step that carries old snapshots over
 * in state-machines/upgrades.ts. Stored beside each snapshot (employees.machine_version): a worker
 * upgrades older snapshots on read and refuses newer ones (docs/operations.md, "Upgrades").
 */
export const EMPLOYEE_LIFECYCLE_VERSION = 1

const notProvided = (name: string) => (): never => {
  throw new Error(`employee lifecycle action "${name}" was not provided: the engine supplies it with .provide()`)
}

/** Params of a handler action: the phase the transition enters (absent: it stays). */
type ActParams = { target?: LifecyclePhase } | undefined

/**
 * The named action for one handler: runs it on a draft of the context (phase already set to the
 * transition's target), assigns the result and enqueues the effects it collected, in order. The
 * engine provides only the five placeholders; these are the machine's own.
 */
function act(name: HandlerName) {
  const handler = HANDLERS[name]
  return enqueueActions<LifecycleContext, LifecycleEvent, ActParams, LifecycleEvent>(({ context, event, enqueue }, params) => {
    const d = draftOf(context, event)
    if (params?.target !== undefined) d.ctx.phase = params.target
    handler(d, event)
    const next = replacing(context, d.ctx)
    enqueue.assign(() => next)
    for (const effect of flush(d)) enqueue(effect)
  })
}

const handlerActions = Object.fromEntries(
  (Object.keys(HANDLERS) as HandlerName[]).map((name) => [name, act(name)]),
) as unknown as Record<HandlerName, (_: unknown, params: ActParams) => void>

const guards = Object.fromEntries(
  Object.entries(GUARDS).map(([name, predicate]) => [name, ({ context, event }: { context: LifecycleContext; event: LifecycleEvent }) => predicate(context, event)]),
) as Record<GuardName, (args: { context: LifecycleContext; event: LifecycleEvent }) => boolean>

const lifecycleSetup = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as LifecycleInput,
  },
  actions: {
    enqueue: notProvided('enqueue') as (_: unknown, params: { jobs: JobRequest[] }) => void,
    schedule: notProvided('schedule') as (_: unknown, params: TimerRequest) => void,
    cancelTimer: notProvided('cancelTimer') as (_: unknown, params: { timerId: string }) => void,
    record: notProvided('record') as (_: unknown, params: RecordParams) => void,
    notify: notProvided('notify') as (_: unknown, params: NotifyParams) => void,
    ...handlerActions,
  },
  guards,
})

/** A transition into `target` that runs the named handler (with the phase already the target's). */
function go<const T extends LifecyclePhase, const A extends HandlerName, const G>(target: T, action: A, guard?: G) {
  const actions = { type: action, params: { target } }
  return guard === undefined ? { target, actions } : { target, guard, actions }
}

/** A transition that stays in the state and runs the named handler. */
function stay<const A extends HandlerName, const G>(action: A, guard?: G) {
  return guard === undefined ? { actions: action } : { guard, actions: action }
}

const terminatedBeforeStart = [
  go('deprovisioning', 'onTerminateNow', and(['fresh', 'terminationDueEv'])),
  go('deprovisioning', 'onTerminateNow', and(['fresh', 'terminationBeforeStartEv'])),
  stay('onTerminateLater', 'fresh'),
]

const rehire = [go('provisioning', 'onHire', and(['fresh', 'provisionDueEv'])), go('preHire', 'onHire', 'fresh')]

/** A leave HR reports before the person is active (still being provisioned): kept, applied on activation. */
const leaveBeforeActive = {
  'employee.leave_started': stay('onChangeBeforeHire', 'fresh'),
  'employee.leave_ended': stay('onChangeBeforeHire', 'fresh'),
}

export const employeeLifecycleMachine = lifecycleSetup.createMachine({
  id: 'employeeLifecycle',
  initial: 'unknown',
  context: ({ input }) => ({
    employeeId: input.employeeId,
    source: input.source,
    phase: 'unknown',
    generation: 0,
    profileAsOf: {},
    plan: {},
    leaver: {},
    systems: {},
    exceptions: {},
    seenHrEventIds: [],
    timers: {},
    keySeq: {},
  }),
  // Fallbacks for every state: job outcomes, exceptions and reconciliation findings update the
  // per-system progress wherever the employee is (the `always` transitions below react to it); HR
  // events and timers no state accepted are recorded as ignored, with the reason.
  on: {
    'account.provisioned': stay('onProvisioned'),
    'account.updated': stay('onChanged'),
    'account.enabled': stay('onChanged'),
    'account.suspended': stay('onChanged'),
    'account.revoked': stay('onRevoked'),
    'account.verified': stay('onVerified'),
    'account.failed': stay('onFailed'),
    'exception.activated': stay('onExceptionActivated'),
    'exception.ended': stay('onExceptionEnded'),
    'reconciliation.account_active': stay('onReconciliationActive'),
    'operator.retry': stay('onOperatorRetry'),
    'operator.resolved': stay('onOperatorResolved'),
    'timer.fired': [stay('onExceptionTimer', 'timer:exception_end'), stay('ignoreEvent')],
    'employee.hired': stay('ignoreEvent'),
    'employee.rehired': stay('ignoreEvent'),
    'employee.updated': stay('ignoreEvent'),
    'employee.terminated': stay('ignoreEvent'),
    'employee.hire_cancelled': stay('ignoreEvent'),
    'employee.termination_rescinded': stay('ignoreEvent'),
    'employee.leave_started': stay('ignoreEvent'),
    'employee.leave_ended': stay('ignoreEvent'),
  },
  states: {
    unknown: {
      on: {
        'employee.hired': rehire,
        'employee.rehired': rehire,
        'employee.terminated': [
          go('deprovisioning', 'onTerminateNow', and(['fresh', 'terminationDueEv'])),
          go('terminationScheduled', 'onTerminateLater', 'fresh'),
        ],
        // Deliveries overtaken by later ones (HR retries, reordering): what HR said after the hire
        // is remembered so the hire, when it arrives, does not undo it.
        'employee.updated': stay('onChangeBeforeHire', 'fresh'),
        'employee.leave_started': stay('onChangeBeforeHire', 'fresh'),
        'employee.leave_ended': stay('onChangeBeforeHire', 'fresh'),
        'employee.hire_cancelled': stay('onCancelBeforeHire', 'fresh'),
      },
    },
    preHire: {
      on: {
        'timer.fired': [go('provisioning', 'onProvisionTimer', 'timer:provision'), go('deprovisioning', 'onTerminateNow', 'timer:terminate')],
        'employee.hired': [go('provisioning', 'onHire', and(['fresh', 'provisionDueEv'])), stay('onHire', 'fresh')],
        'employee.rehired': [go('provisioning', 'onHire', and(['fresh', 'provisionDueEv'])), stay('onHire', 'fresh')],
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.hire_cancelled': go('cancelled', 'onCancelHire', 'fresh'),
        'employee.terminated': terminatedBeforeStart,
        'employee.termination_rescinded': stay('onRescindScheduled', and(['fresh', 'hasTermination'])),
        ...leaveBeforeActive,
      },
    },
    provisioning: {
      always: [go('active', 'enterActiveFromProvisioning', and(['allSettled', 'enableDue'])), go('ready', 'enterReady', 'allSettled')],
      on: {
        'timer.fired': go('deprovisioning', 'onTerminateNow', 'timer:terminate'),
        'employee.hired': stay('onHire', 'fresh'),
        'employee.rehired': stay('onHire', 'fresh'),
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
        'employee.terminated': terminatedBeforeStart,
        'employee.termination_rescinded': stay('onRescindScheduled', and(['fresh', 'hasTermination', not('terminationTookEffect')])),
        ...leaveBeforeActive,
      },
    },
    ready: {
      on: {
        'timer.fired': [go('active', 'onEnable', 'timer:enable'), go('deprovisioning', 'onTerminateNow', 'timer:terminate')],
        'employee.hired': [go('active', 'onHire', and(['fresh', 'enableDueEv'])), stay('onHire', 'fresh')],
        'employee.rehired': [go('active', 'onHire', and(['fresh', 'enableDueEv'])), stay('onHire', 'fresh')],
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
        'employee.terminated': terminatedBeforeStart,
        'employee.termination_rescinded': stay('onRescindScheduled', and(['fresh', 'hasTermination'])),
        ...leaveBeforeActive,
      },
    },
    active: {
      always: [go('terminationScheduled', 'onPendingTerminationReached', 'hasTermination'), go('onLeave', 'onRememberedLeave', 'rememberedLeaveDue')],
      on: {
        'timer.fired': go('onLeave', 'onLeaveStartNow', 'timer:leave_start'),
        'employee.hired': stay('onHire', 'fresh'),
        // A rehire for someone Tenure still has employed (the cancellation or termination it follows
        // has not arrived yet): a hire like any other, so that the late one is then stale.
        'employee.rehired': stay('onHire', 'fresh'),
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.leave_started': [go('onLeave', 'onLeaveStartNow', and(['fresh', 'leaveDueEv'])), stay('onLeaveStartLater', 'fresh')],
        'employee.leave_ended': stay('onLeaveEndNow', and(['fresh', 'hasScheduledLeave'])),
        'employee.terminated': [
          go('deprovisioning', 'onTerminateNow', and(['fresh', 'terminationDueEv'])),
          go('terminationScheduled', 'onTerminateLater', 'fresh'),
        ],
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
      },
    },
    onLeave: {
      on: {
        'timer.fired': go('active', 'onLeaveEndNow', 'timer:leave_end'),
        'employee.hired': stay('onHire', 'fresh'),
        'employee.rehired': stay('onHire', 'fresh'),
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.leave_ended': [go('active', 'onLeaveEndNow', and(['fresh', 'returnDueEv'])), stay('onLeaveEndLater', 'fresh')],
        'employee.terminated': [
          go('deprovisioning', 'onTerminateNow', and(['fresh', 'terminationDueEv'])),
          go('terminationScheduled', 'onTerminateLater', 'fresh'),
        ],
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
      },
    },
    terminationScheduled: {
      on: {
        'timer.fired': [
          go('deprovisioning', 'onTerminateNow', 'timer:terminate'),
          stay('onLeaveStartNow', 'timer:leave_start'),
          stay('onLeaveEndNow', 'timer:leave_end'),
        ],
        'employee.hired': stay('onHire', 'fresh'),
        'employee.rehired': stay('onHire', 'fresh'),
        'employee.updated': stay('onProfileChange', 'fresh'),
        'employee.terminated': [go('deprovisioning', 'onTerminateNow', and(['fresh', 'terminationDueEv'])), stay('onTerminateLater', 'fresh')],
        'employee.termination_rescinded': [
          go('onLeave', 'onRescindScheduled', and(['fresh', 'resumeOnLeave'])),
          go('active', 'onRescindScheduled', 'fresh'),
        ],
        'employee.leave_started': [stay('onLeaveStartNow', and(['fresh', 'leaveDueEv'])), stay('onLeaveStartLater', 'fresh')],
        'employee.leave_ended': [stay('onLeaveEndNow', and(['fresh', 'returnDueEv'])), stay('onLeaveEndLater', 'fresh')],
        'employee.hire_cancelled': go('deprovisioning', 'onCancelHire', 'fresh'),
      },
    },
    deprovisioning: {
      always: [go('cancelled', 'onCaseClosed', and(['caseClosed', 'closingCancelled'])), go('offboarded', 'onCaseClosed', 'caseClosed')],
      on: {
        'employee.termination_rescinded': go('provisioning', 'onRescindAfterEffect', and(['fresh', 'terminationTookEffect'])),
        'employee.hired': stay('onPendingRehire', 'fresh'),
        'employee.rehired': stay('onPendingRehire', 'fresh'),
        'employee.updated': stay('onUpdateWhileGone', 'fresh'),
        'employee.hire_cancelled': stay('onEndWhileLeaving', 'fresh'),
        'employee.terminated': stay('onEndWhileLeaving', 'fresh'),
      },
    },
    offboarded: {
      always: [
        go('deprovisioning', 'onCaseReopened', not('caseClosed')),
        go('provisioning', 'startPendingRehire', and(['hasPendingRehire', 'pendingRehireProvisionDue'])),
        go('preHire', 'startPendingRehire', 'hasPendingRehire'),
      ],
      on: {
        'employee.hired': rehire,
        'employee.rehired': rehire,
        'employee.termination_rescinded': go('provisioning', 'onRescindAfterEffect', and(['fresh', 'terminationTookEffect'])),
        'employee.updated': stay('onUpdateWhileGone', 'fresh'),
      },
    },
    cancelled: {
      always: [
        go('deprovisioning', 'onCaseReopened', not('caseClosed')),
        go('provisioning', 'startPendingRehire', and(['hasPendingRehire', 'pendingRehireProvisionDue'])),
        go('preHire', 'startPendingRehire', 'hasPendingRehire'),
      ],
      on: {
        'employee.hired': rehire,
        'employee.rehired': rehire,
        'employee.updated': stay('onUpdateWhileGone', 'fresh'),
      },
    },
  },
})

export type EmployeeLifecycleMachine = typeof employeeLifecycleMachine
