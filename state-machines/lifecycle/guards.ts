/**
 * Named guards of the employee lifecycle chart: one pure predicate each, on the context and the
 * event. The chart registers every entry under its name (setup({ guards })) and combines them with
 * XState's and()/or()/not(), e.g. `and(['fresh', 'terminationDueEv'])`, `not('caseClosed')`, so the
 * statechart and inspectors show which conditions a transition waits for. Names ending in `Ev` read
 * the event's moments; the others read the context.
 */
import type { LifecycleEvent, TimerKind } from '../lifecycle-types.ts'
import type { LifecycleContext } from './context.ts'
import { atOrBefore, isCurrentTimer, isHrEvent } from './draft.ts'
import { caseClosed } from './case.ts'
import { hrIgnoreReason } from './hr.ts'
import { enableDue } from './systems.ts'

const timerIs = (kind: TimerKind) => (ctx: LifecycleContext, ev: LifecycleEvent): boolean =>
  ev.type === 'timer.fired' && ev.timer === kind && isCurrentTimer(ctx, ev.timerId, kind)

export const GUARDS = {
  /** The HR event applies: not a duplicate, not older than what the state reflects. */
  fresh: (ctx: LifecycleContext, ev: LifecycleEvent) => isHrEvent(ev) && hrIgnoreReason(ctx, ev) === undefined,
  provisionDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    isHrEvent(ev) && (ev.moments.provisionAt === undefined || atOrBefore(ev.moments.provisionAt, ev.now)),
  enableDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    isHrEvent(ev) && (ev.moments.enableAt === undefined || atOrBefore(ev.moments.enableAt, ev.now)),
  terminationDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    ev.type === 'employee.terminated' &&
    (ev.hr.immediate || ev.moments.terminationAt === undefined || atOrBefore(ev.moments.terminationAt, ev.now)),
  /** Terminated before the first day: there is no working period to wait for. */
  terminationBeforeStartEv: (ctx: LifecycleContext, ev: LifecycleEvent) =>
    ev.type === 'employee.terminated' &&
    ctx.enableAt !== undefined &&
    ev.moments.terminationAt !== undefined &&
    atOrBefore(ev.moments.terminationAt, ctx.enableAt),
  leaveDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    ev.type === 'employee.leave_started' && (ev.moments.leaveAt === undefined || atOrBefore(ev.moments.leaveAt, ev.now)),
  returnDueEv: (_: LifecycleContext, ev: LifecycleEvent) =>
    ev.type === 'employee.leave_ended' && (ev.moments.returnAt === undefined || atOrBefore(ev.moments.returnAt, ev.now)),
  'timer:provision': timerIs('provision'),
  'timer:enable': timerIs('enable'),
  'timer:terminate': timerIs('terminate'),
  'timer:leave_start': timerIs('leave_start'),
  'timer:leave_end': timerIs('leave_end'),
  'timer:exception_end': timerIs('exception_end'),
  hasTermination: (ctx: LifecycleContext) => ctx.termination !== undefined,
  hasScheduledLeave: (ctx: LifecycleContext) => ctx.timers['leave_start'] !== undefined,
  /** A leave HR reported before the hire arrived, now in effect (no timer: it was never scheduled). */
  rememberedLeaveDue: (ctx: LifecycleContext) =>
    ctx.leave?.startAt !== undefined && ctx.timers['leave_start'] === undefined && (ctx.now === undefined || atOrBefore(ctx.leave.startAt, ctx.now)),
  resumeOnLeave: (ctx: LifecycleContext) => ctx.resumeTo === 'onLeave',
  terminationTookEffect: (ctx: LifecycleContext) => ctx.closing === 'offboarded',
  /** Every system the plan grants has an account (or failed for good) and no job in flight. */
  allSettled: (ctx: LifecycleContext) =>
    Object.values(ctx.systems).every(
      (p) => p.desired?.account !== true || (p.pending === undefined && p.purpose === undefined && p.status !== 'planned'),
    ),
  enableDue: (ctx: LifecycleContext) => enableDue(ctx),
  caseClosed: (ctx: LifecycleContext) => caseClosed(ctx),
  closingCancelled: (ctx: LifecycleContext) => ctx.closing === 'cancelled',
  hasPendingRehire: (ctx: LifecycleContext) => ctx.pendingRehire !== undefined,
  pendingRehireProvisionDue: (ctx: LifecycleContext) => {
    const ev = ctx.pendingRehire
    return ev !== undefined && (ev.moments.provisionAt === undefined || ctx.now === undefined || atOrBefore(ev.moments.provisionAt, ctx.now))
  },
} satisfies Record<string, (ctx: LifecycleContext, ev: LifecycleEvent) => boolean>
export type GuardName = keyof typeof GUARDS
