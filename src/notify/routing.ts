/**
 * Who an escalation email goes to, per ladder step. Pure: the caller passes what it knows about
 * the case (the manager's address from the employee profile, the unverified systems).
 *
 * Unknown is not empty: a kind that resolves to nobody (the profile has no manager, a system has
 * no configured owner) is written into `routing` and the step's mail goes to notify.email.fallback
 * instead; it is never silently dropped.
 */
import type { EmailNotifyConfig, EscalationStep } from './config.ts'

export interface RoutingInput {
  /** The leaver's manager address from the HR profile; undefined when the profile has none. */
  managerEmail?: string | undefined
  /** Systems still unverified on the case. */
  systems: readonly string[]
}

export interface Routing {
  /** Addresses, lower-cased, each once, in a stable order. */
  to: string[]
  /** What could not be resolved and what was done instead; recorded with the delivery. */
  notes: string[]
}

export function resolveRecipients(recipients: EscalationStep['recipients'], input: RoutingInput, config: Pick<EmailNotifyConfig, 'approvers' | 'owners' | 'fallback'>): Routing {
  const to = new Set<string>()
  const notes: string[] = []
  let needFallback = false
  const add = (list: readonly string[]) => list.forEach((a) => to.add(a.toLowerCase()))
  for (const r of recipients) {
    if (r === 'manager') {
      if (input.managerEmail) add([input.managerEmail])
      else {
        notes.push('manager unknown: the employee profile has no manager email')
        needFallback = true
      }
    } else if (r === 'system_owner') {
      for (const system of input.systems) {
        const owners = config.owners[system]
        if (owners) add(owners)
        else {
          notes.push(`system owner unknown for ${system}: not in notify.email.owners`)
          needFallback = true
        }
      }
    } else if (r === 'approvers') {
      if (config.approvers.length > 0) add(config.approvers)
      else {
        notes.push('approver group unknown: notify.email.approvers is empty')
        needFallback = true
      }
    } else add([r])
  }
  if (needFallback) {
    if (config.fallback.length > 0) {
      add(config.fallback)
      notes.push('sent to notify.email.fallback instead')
    } else notes.push('no notify.email.fallback configured')
  }
  return { to: [...to].sort(), notes }
}
