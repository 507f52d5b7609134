import type { Role } from './types.ts'

/** Mirrors the server's rule (src/auth/roles.ts): admin is admitted wherever any role is. */
export function hasRole(roles: readonly Role[], ...any: Role[]): boolean {
  return roles.includes('admin') || any.some((r) => roles.includes(r))
}

export const can = {
  seeCases: (r: readonly Role[]) => hasRole(r, 'operator', 'auditor', 'approver'),
  decideExceptions: (r: readonly Role[]) => hasRole(r, 'approver'),
  seeExceptions: (r: readonly Role[]) => hasRole(r, 'approver', 'operator', 'auditor'),
  completeTasks: (r: readonly Role[]) => hasRole(r, 'approver'),
  seeOperations: (r: readonly Role[]) => hasRole(r, 'operator', 'auditor'),
  redrive: (r: readonly Role[]) => hasRole(r, 'operator'),
  audit: (r: readonly Role[]) => hasRole(r, 'auditor'),
  findings: (r: readonly Role[]) => hasRole(r, 'operator', 'auditor'),
  actOnFindings: (r: readonly Role[]) => hasRole(r, 'operator'),
  sandbox: (r: readonly Role[]) => hasRole(r, 'operator'),
  administer: (r: readonly Role[]) => r.includes('admin'),
}
