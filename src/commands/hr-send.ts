/**
 * `tenure hr send`: build (or read) a delivery in a vendor's format, sign it with the configured
 * secret exactly as that vendor would, and post it to the running server, like `stripe trigger`.
 * Admins use it to test a source end to end; the README's quickstart uses it on the sandbox.
 */
import { readFile } from 'node:fs/promises'
import { adapterFor, type HrSourcesConfig } from '../hr/index.ts'
import { CANONICAL_EVENT_TYPES, HR_SOURCES, type CanonicalEventType, type HrSource } from '../../state-machines/events.ts'

export interface HrSendOptions {
  source: string
  event: string
  employee?: string
  file?: string
  /** Fields merged into the generic sample's data (e.g. department for a mover). */
  set?: Record<string, string>
}

export interface HrSendResult {
  status: number
  body: unknown
  url: string
  sourceEventType: string
}

export class HrSendError extends Error {}

export async function hrSend(options: HrSendOptions, sources: HrSourcesConfig, baseUrl: string): Promise<HrSendResult> {
  if (!(HR_SOURCES as readonly string[]).includes(options.source)) throw new HrSendError(`unknown source "${options.source}"; one of ${HR_SOURCES.join(', ')}`)
  const source = options.source as HrSource
  if (!(CANONICAL_EVENT_TYPES as readonly string[]).includes(options.event)) {
    throw new HrSendError(`unknown event "${options.event}"; one of ${CANONICAL_EVENT_TYPES.join(', ')}`)
  }
  const config = sources[source]
  if (!config?.enabled) throw new HrSendError(`source "${source}" is not configured (hr.${source} in the config file)`)
  const secret = config.secrets[0]
  if (!secret) throw new HrSendError(`hr.${source}.secrets is empty: nothing to sign with`)
  const adapter = adapterFor(source)
  if (!adapter.pushes) throw new HrSendError(`${source} does not send webhooks; it is polled (see docs/hr-sources.md)`)
  const employeeId = options.employee ?? `E${Math.floor(Math.random() * 900_000 + 100_000)}`
  let body: Buffer
  let contentType: string
  if (options.file) {
    body = await readFile(options.file)
    contentType = adapter.contentTypes[0] ?? 'application/json'
  } else {
    const sample = adapter.buildSample(options.event as CanonicalEventType, employeeId)
    contentType = sample.contentType
    body = sample.body
    if (source === 'generic') {
      // Samples carry example dates; a test delivery should happen now: start today, leave now.
      const parsed = JSON.parse(body.toString()) as { timestamp?: string; data?: Record<string, unknown> }
      const now = new Date()
      parsed.timestamp = now.toISOString()
      const data = (parsed.data ??= {})
      if (options.event === 'employee.hired' || options.event === 'employee.rehired') data.startDate = now.toISOString().slice(0, 10)
      if (options.event === 'employee.terminated') {
        delete data.effectiveDate
        data.effectiveAt = now.toISOString()
      }
      if (options.event === 'employee.leave_started' || options.event === 'employee.leave_ended') data.effectiveDate = now.toISOString().slice(0, 10)
      body = Buffer.from(JSON.stringify(parsed, null, 2))
    }
    if (options.set && Object.keys(options.set).length > 0 && contentType === 'application/json') {
      const parsed = JSON.parse(body.toString()) as { data?: Record<string, unknown> }
      const data = (parsed.data ??= {})
      for (const [key, value] of Object.entries(options.set)) {
        const target = options.event === 'employee.updated' ? ((data.changes ??= {}) as Record<string, unknown>) : ((data.profile ??= {}) as Record<string, unknown>)
        target[key] = value
      }
      body = Buffer.from(JSON.stringify(parsed, null, 2))
    }
  }
  const headers = { 'content-type': contentType, ...adapter.sign(body, secret.reveal(), new Date()) }
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
  return { status: response.status, body: parsed, url, sourceEventType: options.event }
}
