/**
 * A case's SLA health, as the read API and the dashboard show it: which systems are still at
 * risk, and whether the case is on track, at risk (past three quarters of its budget with systems
 * at risk, a forecast that ends after the deadline, or a joiner's provisioning failed for good),
 * or breached. Pure: the caller passes the rows, the forecast and `now`. The escalation ladder
 * (escalation.ts) uses the same at-risk rule to decide whether a step is sent.
 */

/** The fraction of the budget after which an open case counts as at risk (the ladder's "page"). */
export const AT_RISK_FRACTION = 0.75

export type CaseHealth = 'scheduled' | 'on_track' | 'at_risk' | 'breached' | 'closed' | 'cancelled'

/**
 * A leaver's system still at risk: not verified, not found in the target (`absent`), and not
 * waiting on an approved exception.
 */
export function leaverSystemAtRisk(s: { status: string; verified_at: Date | null; waiting_on: string | null }): boolean {
  return !s.verified_at && !s.waiting_on && s.status !== 'absent' && s.status !== 'waiting_exception'
}

/** A joiner's system still at risk: not provisioned yet, or its provisioning failed. */
export function joinerSystemAtRisk(s: { status: string; provisioned_at: Date | null }): boolean {
  return !s.provisioned_at || s.status === 'failed'
}

export interface HealthInput {
  kind: string
  status: string
  effectiveAt: Date | null
  openedAt: Date
  deadlineAt: Date | null
  breachedAt: Date | null
  /** Each system's status, whether it is at risk, and its forecast end when it is. */
  systems: ReadonlyArray<{ status: string; atRisk: boolean; forecastDoneAt: string | null }>
}

/** The case's health and the seconds left to its deadline (null without a deadline). */
export function caseHealth(r: HealthInput, now: Date): { health: CaseHealth; remaining: number | null } {
  const joiner = r.kind === 'joiner'
  const mapped = r.systems
  const remaining = r.deadlineAt ? Math.round((r.deadlineAt.getTime() - now.getTime()) / 1000) : null
  // remaining is in seconds, budget in milliseconds. A leaver's budget runs from the HR effective moment; a joiner's from the hire to day one.
  const budgetStart = joiner ? r.openedAt : r.effectiveAt
  const budget = r.deadlineAt && budgetStart ? r.deadlineAt.getTime() - budgetStart.getTime() : null
  // A joiner whose provisioning failed for good needs a person now, however far day one is.
  const failedForGood = joiner && mapped.some((s) => s.status === 'failed')
  const forecastLate = mapped.some((s) => s.forecastDoneAt && r.deadlineAt && Date.parse(s.forecastDoneAt) > r.deadlineAt.getTime())
  const health: CaseHealth =
    r.status === 'closed'
      ? 'closed'
      : r.status === 'cancelled'
        ? 'cancelled'
        : r.status === 'scheduled'
          ? 'scheduled'
          : r.breachedAt || (remaining !== null && remaining < 0 && mapped.some((s) => s.atRisk))
            ? 'breached'
            : failedForGood || forecastLate || (budget && remaining !== null && mapped.some((s) => s.atRisk) && remaining * 1000 < budget * (1 - AT_RISK_FRACTION))
              ? 'at_risk'
              : 'on_track'
  return { health, remaining }
}
