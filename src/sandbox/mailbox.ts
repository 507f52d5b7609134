/**
 * What the sandbox's SMTP sink caught, as the API shows it. Types only: the sink itself
 * (src/sandbox/mail.ts, on the smtp-server devDependency) is loaded lazily by `npm start`.
 */
/** How many messages the sandbox keeps (src/sandbox/mail.ts); said in the API description. */
export const SANDBOX_MAIL_KEEP_DOC = 200

export interface CaughtMail {
  /** Order of arrival, from 1. */
  seq: number
  receivedAt: string
  from: string
  to: string[]
  subject: string | null
  messageId: string | null
  /** The text/plain part, decoded. */
  text: string
}

export interface SandboxMailbox {
  /** The sink's port on 127.0.0.1. */
  port: number
  /** Newest first. */
  list(): CaughtMail[]
}
