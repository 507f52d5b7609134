/**
 * `tenure hr send`: build (or read) a delivery in a vendor's format, sign it with the configured
 * secret exactly as that vendor would, and post it to the running server, like `stripe trigger`.
 * Admins use it to test a source end to end; the README's quickstart and docs/sandbox.md use it
 * on the sandbox.
 *
 * Every send is a new event: a fresh event id and the current time go into the sample, so the
 * server never answers a second send with "duplicate" (a duplicate answer is an error here).
 * Thin-payload vendors re-fetch the employee from their API; in the sandbox, `emulators` gives
 * their emulators' URLs and the change is registered there first, so the re-fetch finds it.
 */
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { adapterFor, type HrSourcesConfig } from '../hr/index.ts'
import { CANONICAL_EVENT_TYPES, HR_SOURCES, type CanonicalEventType, type HrSource } from '../../state-machines/events.ts'

export interface HrSendOptions {
  source: string
  event: string
  employee?: string
  file?: string
  /** Fields merged into the sample's profile (changes, for employee.updated), e.g. department for a mover. */
  set?: Record<string, string>
  /** Sandbox: base URL of each HR emulator (from <dataDir>/sandbox-hr.json). */
  emulators?: Partial<Record<HrSource, string>>
  /** Clock, for tests. */
  now?: Date
}

export interface HrSendResult {
  status: number
  body: unknown
  url: string
  sourceEventType: string
  employeeId: string
  /** What was registered in the sandbox's HR emulator before the webhook was sent. */
  registered?: string
}

export class HrSendError extends Error {}

const FIRST_NAMES = ['Ada', 'Grace', 'Alan', 'Katherine', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Claude', 'Frances', 'Dennis', 'Radia', 'Ken', 'Hedy', 'Tim', 'Sophie', 'John', 'Annie', 'Niklaus', 'Adele', 'Leslie', 'Jean', 'Vint', 'Karen', 'Bjarne', 'Evelyn', 'Guido', 'Mary', 'Linus', 'Lynn', 'Tony', 'Joan']
const LAST_NAMES = ['Lovelace', 'Hopper', 'Turing', 'Johnson', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Shannon', 'Allen', 'Ritchie', 'Perlman', 'Thompson', 'Lamarr', 'Berners-Lee', 'Wilson', 'McCarthy', 'Easley', 'Wirth', 'Goldberg', 'Lamport', 'Sammet', 'Cerf', 'Spärck Jones', 'Stroustrup', 'Berezin', 'van Rossum', 'Keller', 'Torvalds', 'Conway', 'Hoare', 'Clarke']

/**
 * The generated joiner for `employeeId`: a name picked from the id (so the same id gets the same
 * person on every send) and a work email that contains the id, so two joiners never share an
 * address in Google, Entra, Slack or Jira, whatever names they drew.
 */
export function sampleJoiner(employeeId: string): { firstName: string; lastName: string; workEmail: string } {
  let h = 2166136261
  for (const c of employeeId) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0
  const firstName = FIRST_NAMES[h % FIRST_NAMES.length]!
  const lastName = LAST_NAMES[Math.floor(h / FIRST_NAMES.length) % LAST_NAMES.length]!
  const local = `${firstName}.${lastName}`
    .normalize('NFKD')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/[^A-Za-z.-]/g, '')
    .toLowerCase()
  const id = employeeId.toLowerCase().replace(/[^a-z0-9]/g, '')
  return { firstName, lastName, workEmail: `${local}.${id || 'x'}@example.com` }
}

const dateOf = (d: Date) => d.toISOString().slice(0, 10)

async function control(base: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const url = `${base.replace(/\/+$/, '')}/_emulator/hr${path}`
  let res: Response
  try {
    res = await fetch(url, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) })
  } catch (err) {
    throw new HrSendError(`could not reach the HR emulator at ${url}: ${(err as Error).message}. Is the sandbox (npm start) running?`)
  }
  const text = await res.text()
  if (!res.ok) throw new HrSendError(`the HR emulator refused ${method} ${path}: ${res.status} ${text}`)
  return text ? (JSON.parse(text) as unknown) : undefined
}

/**
 * Make the emulator's record say what the event claims, as HR would before it sends the webhook.
 * Terminations are dated yesterday (the last day worked), so the leaver loses access now, as the
 * generic sample's `effectiveAt: now` does; vendors with an exact moment also get `at: now`.
 */
async function registerInEmulator(base: string, event: CanonicalEventType, employeeId: string, set: Record<string, string>, now: Date): Promise<string> {
  const people = (await control(base, 'GET', '/employees')) as Array<{ id: string }>
  const exists = people.some((p) => p.id === employeeId)
  const seed = async (extra: Record<string, unknown> = {}) =>
    control(base, 'POST', '/employees', {
      id: employeeId,
      ...(exists ? {} : { ...sampleJoiner(employeeId), department: 'Engineering', title: 'Engineer', timeZone: 'Europe/London', countryCode: 'GB', startDate: dateOf(now) }),
      ...set,
      ...extra,
    })
  const need = async () => {
    if (!exists) await seed({ status: 'active' })
  }
  switch (event) {
    case 'employee.hired':
      await seed({ status: 'active', startDate: set.startDate ?? dateOf(now) })
      return exists ? `updated ${employeeId} as a joiner` : `added ${employeeId} as a joiner`
    case 'employee.rehired':
      await need()
      await control(base, 'POST', `/employees/${encodeURIComponent(employeeId)}/rescind`)
      await seed({ status: 'active', startDate: dateOf(now) })
      return `rehired ${employeeId}`
    case 'employee.updated':
      await seed()
      return `updated ${employeeId}${Object.keys(set).length > 0 ? ` (${Object.keys(set).join(', ')})` : ''}`
    case 'employee.terminated': {
      await need()
      const yesterday = dateOf(new Date(now.getTime() - 24 * 3600_000))
      await control(base, 'POST', `/employees/${encodeURIComponent(employeeId)}/terminate`, { date: yesterday, at: now.toISOString(), type: 'voluntary', reason: 'Resignation' })
      return `terminated ${employeeId} (last day ${yesterday})`
    }
    case 'employee.termination_rescinded':
      await need()
      await control(base, 'POST', `/employees/${encodeURIComponent(employeeId)}/rescind`)
      return `rescinded ${employeeId}'s termination`
    case 'employee.hire_cancelled':
      await control(base, 'DELETE', `/employees/${encodeURIComponent(employeeId)}`)
      return `removed ${employeeId}`
    case 'employee.leave_started':
      await need()
      await control(base, 'POST', `/employees/${encodeURIComponent(employeeId)}/leave`, { startDate: dateOf(now) })
      return `started ${employeeId}'s leave`
    case 'employee.leave_ended':
      await need()
      await control(base, 'POST', `/employees/${encodeURIComponent(employeeId)}/return`)
      return `ended ${employeeId}'s leave`
  }
}

export async function hrSend(options: HrSendOptions, sources: HrSourcesConfig, baseUrl: string): Promise<HrSendResult> {
  if (!(HR_SOURCES as readonly string[]).includes(options.source)) throw new HrSendError(`unknown source "${options.source}"; one of ${HR_SOURCES.join(', ')}`)
  const source = options.source as HrSource
  if (!(CANONICAL_EVENT_TYPES as readonly string[]).includes(options.event)) {
    throw new HrSendError(`unknown event "${options.event}"; one of ${CANONICAL_EVENT_TYPES.join(', ')}`)
  }
  const event = options.event as CanonicalEventType
  const config = sources[source]
  if (!config?.enabled) throw new HrSendError(`source "${source}" is not configured (hr.${source} in the config file)`)
  const secret = config.secrets[0]
  if (!secret) throw new HrSendError(`hr.${source}.secrets is empty: nothing to sign with`)
  const adapter = adapterFor(source)
  if (!adapter.pushes) throw new HrSendError(`${source} does not send webhooks; it is polled (see docs/hr-sources.md)`)
  const employeeId = options.employee ?? `E${Math.floor(Math.random() * 900_000 + 100_000)}`
  const now = options.now ?? new Date()
  const set = options.set ?? {}

  // Thin-payload vendors re-fetch the person: in the sandbox, put the change in the emulator first.
  let registered: string | undefined
  const emulator = source === 'generic' ? undefined : options.emulators?.[source]
  if (emulator && !options.file) registered = await registerInEmulator(emulator, event, employeeId, set, now)

  let body: Buffer
  let contentType: string
  if (options.file) {
    body = await readFile(options.file)
    contentType = adapter.contentTypes[0] ?? 'application/json'
  } else {
    const sample = adapter.buildSample(event, employeeId, { now, eventId: randomUUID() })
    contentType = sample.contentType
    body = sample.body
    if (source === 'generic') {
      // Samples carry example dates; a test delivery should happen now: start today, leave now.
      const parsed = JSON.parse(body.toString()) as { timestamp?: string; data?: Record<string, unknown> }
      parsed.timestamp = now.toISOString()
      const data = (parsed.data ??= {})
      if (event === 'employee.hired' || event === 'employee.rehired') data.startDate = dateOf(now)
      if (event === 'employee.terminated') {
        delete data.effectiveDate
        data.effectiveAt = now.toISOString()
      }
      if (event === 'employee.leave_started' || event === 'employee.leave_ended') data.effectiveDate = dateOf(now)
      // A generated person per employee id: the sample's one name and address would collide in
      // every system from the second joiner on.
      const profile = data.profile as Record<string, unknown> | undefined
      if (profile) Object.assign(profile, sampleJoiner(employeeId))
      body = Buffer.from(JSON.stringify(parsed, null, 2))
    }
    if (source === 'merge') {
      // Merge's payload carries the employee (used when no API is configured): the same person.
      const parsed = JSON.parse(body.toString()) as { data?: Record<string, unknown> }
      const j = sampleJoiner(employeeId)
      if (parsed.data) Object.assign(parsed.data, { first_name: j.firstName, last_name: j.lastName, display_full_name: `${j.firstName} ${j.lastName}`, work_email: j.workEmail })
      body = Buffer.from(JSON.stringify(parsed))
    }
    if (source === 'generic' && Object.keys(set).length > 0) {
      const parsed = JSON.parse(body.toString()) as { data?: Record<string, unknown> }
      const data = (parsed.data ??= {})
      for (const [key, value] of Object.entries(set)) {
        const target = event === 'employee.updated' ? ((data.changes ??= {}) as Record<string, unknown>) : ((data.profile ??= {}) as Record<string, unknown>)
        target[key] = value
      }
      body = Buffer.from(JSON.stringify(parsed, null, 2))
    }
  }
  const headers = { 'content-type': contentType, ...adapter.sign(body, secret.reveal(), now) }
  const url = `${baseUrl.replace(/\/+$/, '')}/webhooks/hr/${source}`
  let response: Response
  try {
    response = await fetch(url, { method: 'POST', headers, body })
  } catch (err) {
    throw new HrSendError(`could not reach ${url}: ${(err as Error).message}. Is Tenure running? (TENURE_URL)`)
  }
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    /* not JSON */
  }
  if (response.ok && (parsed as { status?: unknown } | null)?.status === 'duplicate') {
    // Nothing was stored: the server already had an event with this id (or this exact body).
    throw new HrSendError(
      `${response.status} duplicate: ${url} already has this ${source} event, so nothing was applied${options.file ? ` (${options.file} was sent before; change its event id or, for vendors without one, its timestamp)` : ''}`,
    )
  }
  return { status: response.status, body: parsed, url, sourceEventType: event, employeeId, ...(registered ? { registered } : {}) }
}
