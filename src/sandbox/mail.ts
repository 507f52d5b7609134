/**
 * The sandbox's SMTP sink: `npm start` starts the smtp-server sink tests use (src/notify/smtp-sink.ts)
 * on 127.0.0.1 and points notify.email at it, so a newcomer sees the e-mails Tenure would send
 * (GET /api/v1/sandbox/mail, the console's Sandbox page). Loaded with a dynamic import: smtp-server
 * is a devDependency, present in the dev install the sandbox runs from, never in production.
 */
import type { Logger } from '../log.ts'
import type { NotifyConfigInput } from '../notify/config.ts'
import { startSmtpSink, type SunkMessage } from '../notify/smtp-sink.ts'
import { SANDBOX_MAIL_KEEP_DOC, type CaughtMail, type SandboxMailbox } from './mailbox.ts'

/** The sandbox keeps the newest messages only, so a long-running sandbox does not grow without end. */
export const SANDBOX_MAIL_KEEP = SANDBOX_MAIL_KEEP_DOC

export interface SandboxMail extends SandboxMailbox {
  close(): Promise<void>
}

/** Who the sandbox's routes write to: made-up addresses, caught by the sink, never delivered. */
export function sandboxEmailConfig(port: number, systems: readonly string[]): NonNullable<NotifyConfigInput['email']> {
  return {
    host: '127.0.0.1',
    port,
    // The sink is on loopback and offers no STARTTLS.
    requireTLS: false,
    from: 'Tenure sandbox <tenure@sandbox.example.com>',
    approvers: ['approvers@example.com'],
    admins: ['admins@example.com'],
    owners: Object.fromEntries(systems.map((s) => [s, [`${s.replace(/[^a-z0-9-]/gi, '-')}-owner@example.com`]])),
    fallback: ['it-oncall@example.com'],
  }
}

export async function startSandboxMail(log: Logger): Promise<SandboxMail> {
  const caught: CaughtMail[] = []
  let seq = 0
  const sink = await startSmtpSink({
    onMessage: (m: SunkMessage) => {
      caught.unshift({ seq: ++seq, receivedAt: new Date().toISOString(), from: m.from, to: m.to, subject: m.subject ?? null, messageId: m.messageId ?? null, text: textPart(m.raw) })
      caught.length = Math.min(caught.length, SANDBOX_MAIL_KEEP)
    },
    keep: 0,
  })
  log.info({ port: sink.port }, 'sandbox SMTP sink started: e-mails are caught, listed at GET /api/v1/sandbox/mail')
  return { port: sink.port, list: () => [...caught], close: () => sink.close() }
}

/**
 * The text/plain part of a message nodemailer built (multipart/alternative, quoted-printable or
 * base64 or 7bit; RFC 2045 §6). Enough for the sandbox's own messages, not a general MIME parser.
 */
export function textPart(raw: string): string {
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(raw)?.[1]
  const parts = boundary ? raw.split(`--${boundary}`) : [raw]
  const part = parts.find((p) => /content-type:\s*text\/plain/i.test(p)) ?? parts[0] ?? ''
  const split = part.search(/\r?\n\r?\n/)
  const headers = split >= 0 ? part.slice(0, split) : ''
  let body = split >= 0 ? part.slice(split).replace(/^\r?\n\r?\n/, '') : part
  const encoding = /content-transfer-encoding:\s*([\w-]+)/i.exec(headers)?.[1]?.toLowerCase()
  if (encoding === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
  if (encoding === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => `%${h}`)
    try {
      body = decodeURIComponent(bytes.replace(/%(?![0-9A-F]{2})/gi, '%25'))
    } catch {
      body = bytes
    }
  }
  return body.replace(/\r\n/g, '\n').trim()
}
