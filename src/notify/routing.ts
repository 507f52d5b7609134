/**
 * Who a notification's email goes to. Pure: the caller passes what it knows (the manager's
 * address from the employee profile, the requester's from their sign-in, the systems at stake).
 *
 * Unknown is not empty: a kind that resolves to nobody (the profile has no manager, a system has
 * no configured owner, the requester used an API token) is written into `routing` and the mail
 * goes to notify.email.fallback instead; it is never silently dropped.
 */
import { routeFor, type EmailNotifyConfig, type NotifyChannel, type NotifyConfig, type Recipient } from './config.ts'
import type { Notification } from './model.ts'

export interface RoutingInput {
  /** The employee's manager address from the HR profile; undefined when the profile has none. */
  managerEmail?: string | undefined
  /** The address of whoever asked (an exception's requester), when they signed in with one. */
  requesterEmail?: string | undefined
  /** The systems at stake: still unverified on the case, or the one that failed. */
  systems: readonly string[]
}

export interface Routing {
  /** Addresses, lower-cased, each once, in a stable order. */
  to: string[]
  /** What could not be resolved and what was done instead; recorded with the delivery. */
  notes: string[]
}

export function resolveRecipients(
  recipients: readonly Recipient[],
  input: RoutingInput,
  config: Pick<EmailNotifyConfig, 'approvers' | 'owners' | 'fallback'> & Partial<Pick<EmailNotifyConfig, 'admins'>>,
): Routing {
  const to = new Set<string>()
  const notes: string[] = []
  let needFallback = false
  const add = (list: readonly string[]) => list.forEach((a) => to.add(a.toLowerCase()))
  const missing = (note: string) => {
    notes.push(note)
    needFallback = true
  }
  for (const r of recipients) {
    if (r === 'manager') {
      if (input.managerEmail) add([input.managerEmail])
      else missing('manager unknown: the employee profile has no manager email')
    } else if (r === 'requester') {
      if (input.requesterEmail) add([input.requesterEmail])
      else missing('requester unknown: they did not sign in with an e-mail address (an API token, or no email claim)')
    } else if (r === 'system_owner') {
      if (input.systems.length === 0) missing('system owner unknown: the notification names no system')
      for (const system of input.systems) {
        const owners = config.owners[system]
        if (owners) add(owners)
        else missing(`system owner unknown for ${system}: not in notify.email.owners`)
      }
    } else if (r === 'approvers') {
      if (config.approvers.length > 0) add(config.approvers)
      else missing('approver group unknown: notify.email.approvers is empty')
    } else if (r === 'admins') {
      if (config.admins && config.admins.length > 0) add(config.admins)
      else missing('admins unknown: notify.email.admins is empty')
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

export interface RoutedNotification {
  channels: NotifyChannel[]
  /** Set when the route includes email and email is configured. */
  email?: { to: string[]; routing: string[] }
}

/**
 * Channels and email recipients for a notification outside the SLA ladder, from notify.routes
 * (routeFor). The notification's own system is the one whose owners are asked unless the caller
 * names the systems at stake.
 */
export function routeNotification(n: Notification, input: Partial<RoutingInput>, config: NotifyConfig): RoutedNotification {
  const route = routeFor(n.kind, config.routes)
  const channels = [...route.channels]
  if (!channels.includes('email') || !config.email) return { channels }
  const systems = input.systems ?? (n.subject.system ? [n.subject.system] : [])
  const r = resolveRecipients(route.recipients, { ...input, systems }, config.email)
  return { channels, email: { to: r.to, routing: r.notes } }
}
