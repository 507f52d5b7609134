/**
 * A local SMTP server (the smtp-server package, a real RFC 5321 implementation) that stores what
 * it accepts and answers from a script: tests use it instead of a mock transport, and the sandbox
 * (`npm start`, src/sandbox/mail.ts) catches its e-mails with it. Not used by production code
 * (smtp-server is a devDependency).
 */
import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'

export interface SunkMessage {
  from: string
  to: string[]
  /** The raw RFC 5322 message as it arrived. */
  raw: string
  messageId: string | undefined
  subject: string | undefined
}

/** What the sink answers at DATA: accept, or an SMTP reply code with text. */
export type SinkAnswer = 'accept' | { code: number; message: string }

export interface SmtpSink {
  port: number
  messages: SunkMessage[]
  /** Every DATA attempt, accepted or refused. */
  attempts: number
  close(): Promise<void>
}

function header(raw: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:\\s*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(raw)
  return m?.[1]?.replace(/\r?\n[ \t]/g, ' ').trim()
}

export interface SinkOptions {
  answer?: (index: number) => SinkAnswer
  auth?: { user: string; password: string }
  /** Called for each accepted message (the sandbox keeps its own bounded list). */
  onMessage?: (m: SunkMessage) => void
  /** How many accepted messages `messages` keeps, newest last; default: all. */
  keep?: number
}

export async function startSmtpSink(opts: SinkOptions = {}): Promise<SmtpSink> {
  const messages: SunkMessage[] = []
  const sink = { messages, attempts: 0 }
  const options: SMTPServerOptions = {
    disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, cb) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.password) return cb(null, { user: auth.username })
      // RFC 4954 §6: 535 Authentication credentials invalid.
      const err = Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 })
      cb(err)
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const index = sink.attempts++
        const answer = opts.answer?.(index) ?? 'accept'
        if (answer !== 'accept') return cb(Object.assign(new Error(answer.message), { responseCode: answer.code }))
        const raw = Buffer.concat(chunks).toString('utf8')
        const m: SunkMessage = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          messageId: header(raw, 'Message-ID'),
          subject: header(raw, 'Subject'),
        }
        if (opts.keep !== 0) messages.push(m)
        if (opts.keep !== undefined && messages.length > opts.keep) messages.splice(0, messages.length - opts.keep)
        opts.onMessage?.(m)
        cb()
      })
    },
  }
  const server = new SMTPServer(options)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.server.address() as AddressInfo).port
  return Object.assign(sink, {
    port,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  })
}
