/**
 * Readable names for what the timeline and the audit log record: systems by their product name,
 * audit actions and HR event types as a sentence ("target.api_called" on google → "Called Google
 * Workspace"). The raw name stays available on hover; an action without a label here is shown as
 * its words ("reconciliation.run_requested" → "Reconciliation: run requested"), never dropped.
 */

const SYSTEMS: Record<string, string> = {
  google: 'Google Workspace',
  entra: 'Microsoft Entra ID',
  slack: 'Slack',
  jira: 'Jira',
  sandbox: 'Sandbox directory',
}

/** "google" → "Google Workspace", "scim:github" → "GitHub (SCIM)", "manual:badge" → "badge (manual)". */
export function systemLabel(system: string | null | undefined): string {
  if (!system) return 'every system'
  const known = SYSTEMS[system]
  if (known) return known
  const [kind, name] = system.split(':', 2)
  if (kind === 'scim' && name) return `${name === 'github' ? 'GitHub' : name.charAt(0).toUpperCase() + name.slice(1)} (SCIM)`
  if (kind === 'manual' && name) return `${name.replaceAll('_', ' ').replaceAll('-', ' ')} (manual)`
  return system
}

const words = (s: string) => s.replaceAll('_', ' ')

const ACTIONS: Record<string, (system: string, d: Record<string, unknown>) => string> = {
  'employee.hired': () => 'HR: hired',
  'employee.updated': () => 'HR: changed',
  'employee.terminated': () => 'HR: terminated',
  'employee.termination_rescinded': () => 'HR: termination rescinded',
  'employee.rehired': () => 'HR: rehired',
  'hr.event_stored': () => 'HR notice received',
  'hr.event_held': () => 'HR notice held (mass-termination guard)',
  'hr.employee_not_found': () => 'HR notice named nobody HR knows',
  'hr.timestamp_clamped': () => 'HR timestamp set back to when it arrived',
  'lifecycle.transitioned': (_s, d) => (d.from || d.to ? `State: ${words(String(d.from ?? '?'))} → ${words(String(d.to ?? '?'))}` : 'State changed'),
  // What the lifecycle recorded (`lifecycle.` + its record kind, dots as underscores).
  'lifecycle.case_opened': () => 'Case opened',
  'lifecycle.case_closed': () => 'Case closed',
  'lifecycle.case_reopened': () => 'Case re-opened',
  'lifecycle.account_provisioned': (s) => `Account created in ${s}`,
  'lifecycle.system_cut_off': (s) => `Cut off in ${s}`,
  'lifecycle.system_verified': (s) => `Removal verified in ${s}`,
  'lifecycle.system_cleaned': (s) => `Cleaned up in ${s}`,
  'lifecycle.system_residual_access': (s) => `Access left in ${s} (residual)`,
  'lifecycle.verification_failed': (s) => `Check failed in ${s}`,
  'lifecycle.revocation_delayed': (s) => `Removal delayed in ${s}`,
  'lifecycle.termination_scheduled': () => 'Termination scheduled',
  'lifecycle.termination_accepted': () => 'Termination accepted',
  'lifecycle.termination_rescinded': () => 'Termination rescinded',
  'lifecycle.hr_applied': () => 'HR change applied',
  'lifecycle.access_reenabled': (s) => `Access found re-enabled in ${s}`,
  'lifecycle.operator_retry': (s) => `Retry requested for ${s}`,
  'lifecycle.operator_resolved': (s) => `Resolved by hand in ${s}`,
  'job.enqueued': (s, d) => `Queued ${d.action ? words(String(d.action)) : 'work'} in ${s}`,
  'job.failed': (s, d) => `Gave up on ${d.action ? words(String(d.action)) : 'a job'} in ${s}`,
  'job.redriven': (s) => `Retried a failed job in ${s}`,
  'job.settled': (s) => `Settled a failed job in ${s}`,
  'target.api_called': (s) => `Called ${s}`,
  'target.verified': (s) => `Checked the account in ${s}`,
  'target.revoked': (s, d) => `Removed access in ${s}${d.phase ? ` (${words(String(d.phase))})` : ''}`,
  'task.created': (s) => `Task opened for ${s}`,
  'task.completed': (s) => `Task completed for ${s}`,
  'task.cancelled': (s) => `Task cancelled for ${s}`,
  'exception.requested': (s) => `Exception requested for ${s}`,
  'exception.decided': (_s, d) => `Exception ${d.decision ? words(String(d.decision)) : 'decided'}`,
  'exception.activated': () => 'Exception in force',
  'exception.expired': () => 'Exception ended',
  'exception.lapsed': () => 'Exception request lapsed unanswered',
  'exception.revoked': () => 'Exception revoked',
  'exception.extended': () => 'Exception extended',
  'exception.refused': () => 'Exception refused',
  'sla.escalated': (_s, d) => `Escalated${d.step ? ` (${words(String(d.step))})` : ''}`,
  'sla.breached': () => 'Deadline missed (SLA breached)',
  'reconciliation.finding_recorded': (s) => `Drift found in ${s}`,
  'reconciliation.finding_raised_again': (s) => `Drift in ${s} raised again`,
  'reconciliation.finding_acknowledged': (s) => `Drift in ${s} acknowledged`,
  'reconciliation.account_linked': (s) => `Account in ${s} linked to this person`,
  'reconciliation.cutoff_requested': (s) => `Cut-off requested from a finding in ${s}`,
  'report.exported': () => 'Report exported',
}

/** The readable name of an audit action or HR event type. */
export function eventLabel(action: string, system?: string | null, details: Record<string, unknown> = {}): string {
  const label = ACTIONS[action]
  const sys = system ?? (typeof details.system === 'string' ? details.system : null)
  if (label) return label(systemLabel(sys), details)
  // Other lifecycle records read as their own words: "lifecycle.leave_started" → "Leave started".
  if (action.startsWith('lifecycle.')) {
    const fact = words(action.slice('lifecycle.'.length))
    return `${fact.charAt(0).toUpperCase()}${fact.slice(1)}`
  }
  const [area, ...rest] = action.split('.')
  const fact = words(rest.join(' ') || '')
  const head = words(area ?? action)
  return `${head.charAt(0).toUpperCase()}${head.slice(1)}${fact ? `: ${fact}` : ''}`
}

/** One value for a line of text: never JSON; lists joined, objects as their own key: value pairs. */
export function valueText(v: unknown, depth = 0): string {
  if (v === null || v === undefined || v === '') return '—'
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.map((x) => valueText(x, depth + 1)).join(', ')
  if (typeof v === 'object') {
    if (depth > 1) return '…'
    const o = v as Record<string, unknown>
    // An error as the lifecycle and the jobs record it.
    if (typeof o.message === 'string') return `${typeof o.kind === 'string' ? `${o.kind}: ` : typeof o.code === 'string' ? `${o.code}: ` : ''}${o.message}`
    return Object.entries(o)
      .filter(([, x]) => x !== null && x !== undefined && x !== '')
      .map(([k, x]) => `${words(k)} ${valueText(x, depth + 1)}`)
      .join('; ')
  }
  return String(v)
}
