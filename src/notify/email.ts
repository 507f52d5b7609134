/**
 * Email channel (nodemailer over SMTP). One message per notification, with a Message-ID derived
 * from the notification id alone, so a retried delivery whose first attempt did
 * reach the server carries the same Message-ID and mail systems (and people) can dedupe it
 * (RFC 5322 §3.6.4: a Message-ID identifies one message).
 *
 * Classification, per RFC 5321 §4.2.1: a 4yz reply is a transient negative completion (retry),
 * a 5yz reply is permanent (do not retry); authentication failures (535, RFC 4954 §6) are
 * permanent until an operator fixes the credentials. Network errors and timeouts are retried.
 */
import { createHash } from 'node:crypto'
import type { EmailNotifyConfig } from './config.ts'
import type { Delivery, SendDeps } from './delivery.ts'
import type { Notification } from './model.ts'

/**
 * Stable Message-ID for a notification: one e-mail per notification id. It does not depend on the
 * recipients, so the same notification routed again to a changed list (the manager changed in HR,
 * notify.email.owners edited) is still the one message already sent, not a second one.
 */
export function messageIdFor(n: Notification, from: string): string {
  const domain = from.split('@')[1]?.replace(/[>\s]/g, '') || 'tenure.invalid'
  const h = createHash('sha256').update(`tenure-email:${n.id}`).digest('hex').slice(0, 32)
  return `<tenure.${h}@${domain}>`
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** Subject, plain text and HTML of one notification. No secrets: only what the notification carries. */
export function emailContent(n: Notification): { subject: string; text: string; html: string } {
  const who = n.subject.employeeName ?? n.subject.employeeId ?? ''
  const caseLine = n.subject.caseId ? `Case: ${n.subject.caseId}` : ''
  const link = n.links?.console
  const text = [n.title, '', ...(who ? [`Person: ${who}`] : []), ...(caseLine ? [caseLine] : []), '', n.text, ...(link ? ['', `Open the case: ${link}`] : [])].join('\n')
  const html = [
    `<h2>${escapeHtml(n.title)}</h2>`,
    who ? `<p><strong>Person:</strong> ${escapeHtml(who)}</p>` : '',
    caseLine ? `<p><strong>Case:</strong> ${escapeHtml(n.subject.caseId!)}</p>` : '',
    `<pre style="font-family:inherit;white-space:pre-wrap">${escapeHtml(n.text)}</pre>`,
    link ? `<p><a href="${escapeHtml(link)}">Open the case in the Tenure console</a></p>` : '',
  ].join('\n')
  return { subject: `[Tenure ${n.severity}] ${n.title}`.replace(/[\r\n]+/g, ' '), text, html }
}

/** Send one notification to `to`. Never throws. */
export async function sendEmail(n: Notification, to: readonly string[], config: EmailNotifyConfig, deps: Pick<SendDeps, 'signal' | 'emailLedger'>): Promise<Delivery> {
  // The target names how many, not who: deliveries are logged and stored in job rows.
  const base = { channel: 'email' as const, target: `${to.length} recipient${to.length === 1 ? '' : 's'}` }
  if (to.length === 0) return { ...base, ok: false, retryable: false, error: 'no recipients resolved for this step (and no fallback)' }
  const messageId = messageIdFor(n, config.from)
  if (await deps.emailLedger?.sent(messageId, n.id)) return { ...base, ok: true, retryable: false, skipped: 'already_sent' }
  // Loaded on the first e-mail, not with this module: the HTTP process imports the notify module
  // (enqueueing) but never sends (issue 21: it carries no SMTP client).
  const { default: nodemailer } = await import('nodemailer')
  const transport = nodemailer.createTransport({
    host: config.host,
    port: config.port,
    secure: config.secure,
    requireTLS: config.requireTLS,
    ...(config.auth ? { auth: { user: config.auth.user, pass: config.auth.password.reveal() } } : {}),
    connectionTimeout: config.timeoutMs,
    greetingTimeout: config.timeoutMs,
    socketTimeout: config.timeoutMs,
    ...(config.tls ? { tls: config.tls } : {}),
  })
  const onAbort = () => transport.close()
  deps.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await transport.sendMail({ from: config.from, to: [...to], messageId, ...emailContent(n) })
  } catch (err) {
    return { ...base, ...classifySmtpError(err) }
  } finally {
    deps.signal?.removeEventListener('abort', onAbort)
    transport.close()
  }
  // Accepted by the server: a failure to record now would let a re-run mail again, so it throws
  // (the job is retried and the ledger consulted before any second send).
  await deps.emailLedger?.record(messageId, n.id)
  return { ...base, ok: true, retryable: false }
}

/** Retry 4yz, network errors and timeouts; never 5yz or authentication failures. */
export function classifySmtpError(err: unknown): Pick<Delivery, 'ok' | 'retryable' | 'status' | 'error'> {
  const e = err as { code?: string; responseCode?: number; response?: string; message?: string }
  const status = typeof e?.responseCode === 'number' ? e.responseCode : undefined
  // The server's reply text, never the credentials (nodemailer does not echo them).
  const reply = (e?.response ?? e?.message ?? String(err)).replace(/\s+/g, ' ').slice(0, 200)
  if (e?.code === 'EAUTH') {
    return { ok: false, retryable: status !== undefined && status >= 400 && status < 500, ...(status ? { status } : {}), error: `SMTP authentication failed: ${reply}` }
  }
  if (status !== undefined && status >= 500) return { ok: false, retryable: false, status, error: `SMTP ${reply}` }
  if (status !== undefined && status >= 400) return { ok: false, retryable: true, status, error: `SMTP ${reply}` }
  return { ok: false, retryable: true, error: `SMTP ${e?.code ?? 'error'}: ${reply}` }
}
