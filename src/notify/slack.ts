/**
 * Slack channel: chat.postMessage through @slack/web-api with a `text` fallback (what push
 * notifications and screen readers show) and Block Kit blocks: a header, the facts as fields, the
 * body, and a context line with the ids a responder needs to find the case.
 *
 * The WebClient is built with `rejectRateLimitedCalls: true` and `retries: 0`: by default it would
 * sleep through a 429 and retry on its own, holding the job; here one place retries (the notify
 * queue), and a 429's Retry-After travels back in the Delivery.
 */
import type { FetchFunction, LogLevel, Logger as SlackLogger } from '@slack/web-api'
import { RateLimitedError, parseRetryAfter } from '../../provisioners/errors.ts'
import type { CallFacts } from '../../provisioners/slack/classify.ts'
import type { Logger } from '../log.ts'
import type { SlackNotifyConfig } from './config.ts'
import type { Delivery, SendDeps } from './delivery.ts'
import { slackRoute, type Notification, type Severity } from './model.ts'

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks/header-block,
// https://docs.slack.dev/reference/block-kit/blocks/section-block,
// https://docs.slack.dev/reference/block-kit/blocks/context-block): Slack rejects the whole message
// with invalid_blocks when one is exceeded, so every dynamic string is cut to fit.
const HEADER_MAX = 150
const SECTION_TEXT_MAX = 3000
const FIELD_MAX = 2000
const FIELDS_MAX = 10
const CONTEXT_ELEMENTS_MAX = 10

const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: ':rotating_light:',
  warning: ':warning:',
  info: ':information_source:',
}

interface PlainText {
  type: 'plain_text'
  text: string
  emoji?: boolean
}
interface Mrkdwn {
  type: 'mrkdwn'
  text: string
}
export type SlackBlock =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text?: Mrkdwn; fields?: Mrkdwn[] }
  | { type: 'context'; elements: Mrkdwn[] }

export interface SlackMessage {
  text: string
  blocks: SlackBlock[]
}

/** Slack's mrkdwn treats &, < and > as control characters (https://docs.slack.dev/messaging/formatting-message-text#escaping). */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`
}

/** `<!date^…>` renders in each reader's own time zone; the ISO text is the fallback for old clients. */
function slackDate(iso: string): string {
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return escapeMrkdwn(iso)
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${iso}>`
}

/** The message for one notification; pure, so the docs' sample and the tests see what Slack gets. */
export function slackMessage(n: Notification): SlackMessage {
  const s = n.subject
  const fields: Mrkdwn[] = [{ type: 'mrkdwn', text: `*Severity*\n${n.severity}` }]
  if (s.employeeName || s.employeeId) {
    const who = s.employeeName ? `${escapeMrkdwn(s.employeeName)}${s.employeeId ? ` (${escapeMrkdwn(s.employeeId)})` : ''}` : escapeMrkdwn(s.employeeId ?? '')
    fields.push({ type: 'mrkdwn', text: `*Employee*\n${who}` })
  }
  if (s.system) fields.push({ type: 'mrkdwn', text: `*System*\n${escapeMrkdwn(s.system)}` })
  if (s.exceptionId) fields.push({ type: 'mrkdwn', text: `*Exception*\n${escapeMrkdwn(s.exceptionId)}` })
  fields.push({ type: 'mrkdwn', text: `*When*\n${slackDate(n.occurredAt)}` })
  const deadline = typeof n.details?.deadlineAt === 'string' ? n.details.deadlineAt : undefined
  if (deadline) fields.push({ type: 'mrkdwn', text: `*Deadline*\n${slackDate(deadline)}` })

  const context: Mrkdwn[] = [{ type: 'mrkdwn', text: `\`${escapeMrkdwn(n.kind)}\` · notification \`${escapeMrkdwn(n.id)}\`` }]
  if (s.caseId) context.push({ type: 'mrkdwn', text: `case \`${escapeMrkdwn(s.caseId)}\`` })
  if (s.employeeId) context.push({ type: 'mrkdwn', text: `employee \`${escapeMrkdwn(s.employeeId)}\`` })
  if (n.links?.console) context.push({ type: 'mrkdwn', text: `<${n.links.console}|Open in the Tenure console>` })

  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(`${SEVERITY_EMOJI[n.severity]} ${n.title}`, HEADER_MAX), emoji: true } },
    { type: 'section', fields: fields.slice(0, FIELDS_MAX).map((f) => ({ ...f, text: cut(f.text, FIELD_MAX) })) },
  ]
  if (n.text.trim() !== '') blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cut(escapeMrkdwn(n.text), SECTION_TEXT_MAX) } })
  blocks.push({ type: 'context', elements: context.slice(0, CONTEXT_ELEMENTS_MAX) })

  // The fallback is plain text in notifications, so it carries the whole story on its own.
  const text = cut(`${n.title}\n${n.text}`.trim(), SECTION_TEXT_MAX)
  return { text: escapeMrkdwn(text), blocks }
}

/** Post one notification to the channel its kind is routed to. */
export async function sendSlack(n: Notification, config: SlackNotifyConfig, deps: Pick<SendDeps, 'fetch' | 'now' | 'signal' | 'log'>): Promise<Delivery> {
  const channel = config.channels[slackRoute(n.kind)]
  const facts: CallFacts = { status: undefined, requestId: undefined, retryAfterMs: undefined }
  const doFetch = deps.fetch ?? fetch
  const now = deps.now ?? Date.now
  const fetchFn: FetchFunction = async (url, init) => {
    const signal = init?.signal && deps.signal ? AbortSignal.any([init.signal, deps.signal]) : (init?.signal ?? deps.signal)
    const res = await doFetch(url, { ...init, ...(signal ? { signal } : {}) })
    facts.status = res.status
    facts.requestId = res.headers.get('x-slack-req-id') ?? undefined
    facts.retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now())
    return res
  }
  // Loaded on the first Slack notification, not with this module: the HTTP process imports the
  // notify module (enqueueing) but never sends, and should not carry a vendor SDK (issue 21).
  const [{ WebClient, LogLevel }, { classifyWebApiError }] = await Promise.all([import('@slack/web-api'), import('../../provisioners/slack/classify.ts')])
  const client = new WebClient(config.token.reveal(), {
    slackApiUrl: config.apiUrl.endsWith('/') ? config.apiUrl : `${config.apiUrl}/`,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: config.timeoutMs,
    fetch: fetchFn,
    logger: sdkLogger(deps.log, LogLevel.WARN),
  })
  const message = slackMessage(n)
  try {
    await client.chat.postMessage({ channel, text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false })
    return { channel: 'slack', target: channel, ok: true, retryable: false, ...(facts.status ? { status: facts.status } : {}) }
  } catch (err) {
    const e = classifyWebApiError(err, facts, { system: 'slack', operation: 'chat.postMessage' }, config.timeoutMs)
    const status = facts.status ?? e.status
    return {
      channel: 'slack',
      target: channel,
      ok: false,
      error: e.message,
      retryable: e.kind === 'RateLimited' || e.kind === 'Transient',
      ...(status !== undefined ? { status } : {}),
      ...(e instanceof RateLimitedError ? { retryAfterMs: e.retryAfterMs } : {}),
    }
  }
}

/** @slack/web-api's logger: warnings and errors only (its debug output can echo request arguments). */
function sdkLogger(log: Logger, initial: LogLevel): SlackLogger {
  let level: LogLevel = initial
  return {
    debug: () => {},
    info: () => {},
    warn: (...msg: unknown[]) => log.warn({ sdk: '@slack/web-api' }, msg.map(String).join(' ')),
    error: (...msg: unknown[]) => log.error({ sdk: '@slack/web-api' }, msg.map(String).join(' ')),
    setLevel: (l: LogLevel) => {
      level = l
    },
    getLevel: () => level,
    setName: () => {},
  }
}
