/**
 * A leaver's SLA deadlines: each system's budget from the policy (240 minutes where it names
 * none), the moment it runs out (an absolute duration after the HR effective moment: wall clocks
 * do not matter), and the case's deadline, the earliest of its systems'. The engine's projection,
 * the what-if plan and an exception's waiver all compute them here.
 */
import { DEFAULT_SLA_MINUTES, evaluatePolicy } from '../policy/index.ts'
import type { EmployeeProfile } from '../domain/access.ts'
import type { EngineDeps } from '../lifecycle/engine.ts'
import { plusMinutes } from '../lifecycle/schedule.ts'

/** Each system's SLA budget in minutes, as the policy gives it for this employee. */
export function slaMinutesFor(deps: Pick<EngineDeps, 'policy' | 'systems'>, profile: EmployeeProfile | undefined): Record<string, number> {
  const evaluation = evaluatePolicy(profile ?? { employeeId: '-', firstName: '-', lastName: '-' }, deps.policy, deps.systems())
  return evaluation.slaMinutes
}

/** SLA deadline: an absolute duration after the effective moment (wall clocks do not matter). */
export function slaDeadline(effectiveAt: string, minutes: number): string {
  if (!Number.isFinite(minutes) || minutes < 0) throw new RangeError(`SLA minutes must be ≥ 0, got ${minutes}`)
  return plusMinutes(effectiveAt, minutes, 'effectiveAt')
}

/**
 * A leaver case's deadlines: each system's (the HR effective moment plus its SLA budget, 240
 * minutes where the policy names none) and the case's, the earliest of them. The what-if plan
 * (src/lifecycle/what-if.ts) shows the same figures for a termination that has not happened.
 */
export function leaverDeadlines(effectiveAt: string, systems: readonly string[], slaMinutes: Record<string, number>): { caseDeadline: string; systems: Record<string, string> } {
  const perSystem = Object.fromEntries(systems.map((s) => [s, slaDeadline(effectiveAt, slaMinutes[s] ?? DEFAULT_SLA_MINUTES)]))
  const deadlines = Object.values(perSystem).sort()
  return { caseDeadline: deadlines[0] ?? slaDeadline(effectiveAt, DEFAULT_SLA_MINUTES), systems: perSystem }
}
