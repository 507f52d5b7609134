import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { notifyConfigSchema } from './config.ts'
import type { EmailLedger } from './delivery.ts'
import { emailContent, sendEmail } from './email.ts'
import { escalationNotification } from '../sla/ladder.ts'
import { resolveRecipients, routeNotification } from './routing.ts'
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts'
import { jobContext, sampleNotification } from './test-support.ts'
import { NotificationDeliveryError } from './delivery.ts'
import { notifyJobs, notifyWorker } from './worker.ts'

function emailConfig(port: number, extra: Record<string, unknown> = {}) {
  return notifyConfigSchema.parse({
    log: false,
    email: { host: '127.0.0.1', port, requireTLS: false, from: 'Tenure <tenure@example.com>', approvers: ['Approvers@example.com'], owners: { google: ['it-google@example.com'] }, fallback: ['it-oncall@example.com'], ...extra },
  })
}

function memoryLedger(): EmailLedger & { ids: Set<string> } {
  const ids = new Set<string>()
  return { ids, sent: async (id) => ids.has(id), record: async (id) => void ids.add(id) }
}

const sinks: SmtpSink[] = []
async function sink(opts: Parameters<typeof startSmtpSink>[0] = {}): Promise<SmtpSink> {
  const s = await startSmtpSink(opts)
  sinks.push(s)
  return s
}
after(async () => Promise.all(sinks.map((s) => s.close())))

describe('email channel against a local SMTP server', () => {
  test('when an escalation is sent, then one message arrives with a stable Message-ID, both bodies and no raw HTML from the name', async () => {
    const s = await sink()
    const config = emailConfig(s.port).email!
    const n = sampleNotification({ title: 'Leaver missed deadline: <b>Ada</b> & co', subject: { employeeId: 'e1', employeeName: '<b>Ada</b>', caseId: 'c1' }, links: { console: 'https://tenure.example.com/cases/c1' } })
    const d = await sendEmail(n, ['manager@example.com'], config, {})
    assert.equal(d.ok, true, d.error)
    assert.equal(s.messages.length, 1)
    const m = s.messages[0]!
    assert.deepEqual(m.to, ['manager@example.com'])
    assert.match(m.messageId ?? '', /^<tenure\.[0-9a-f]{32}@example\.com>$/)
    const { html, text } = emailContent(n)
    assert.ok(html.includes('&lt;b&gt;Ada&lt;/b&gt;') && !html.includes('<b>Ada'))
    assert.ok(text.includes('https://tenure.example.com/cases/c1'))
    assert.match(m.raw, /multipart\/alternative/)
  })

  test('when a delivery is retried after the server accepted it, then the same Message-ID is kept and no second message is sent', async () => {
    const s = await sink()
    const config = emailConfig(s.port).email!
    const ledger = memoryLedger()
    const n = sampleNotification()
    const first = await sendEmail(n, ['a@example.com', 'b@example.com'], config, { emailLedger: ledger })
    const again = await sendEmail(n, ['b@example.com', 'a@example.com'], config, { emailLedger: ledger })
    assert.equal(first.ok, true)
    assert.equal(again.skipped, 'already_sent')
    assert.equal(s.messages.length, 1)
    assert.equal(s.attempts, 1)
  })

  test('when the same notification is sent again to a changed recipient list, then it is still one e-mail (one per notification id)', async () => {
    const s = await sink()
    const config = emailConfig(s.port).email!
    const ledger = memoryLedger()
    const n = sampleNotification()
    assert.equal((await sendEmail(n, ['grace@example.com'], config, { emailLedger: ledger })).ok, true)
    // The manager changed in HR between two routings of the same notification.
    const again = await sendEmail(n, ['alan@example.com'], config, { emailLedger: ledger })
    assert.equal(again.skipped, 'already_sent')
    assert.equal(s.messages.length, 1)
  })

  test('when the server answers 4xx, then the worker throws a retryable error; the retry delivers once', async () => {
    const s = await sink({ answer: (i) => (i === 0 ? { code: 451, message: '4.3.0 try again later' } : 'accept') })
    const config = emailConfig(s.port)
    const [job] = notifyJobs(sampleNotification(), ['email'], { config, email: { to: ['a@example.com'], routing: [] } })
    const worker = notifyWorker({ config })
    await assert.rejects(worker.handler(job!.data, jobContext()), (e: unknown) => e instanceof NotificationDeliveryError && e.retryable && e.status === 451)
    await worker.handler(job!.data, jobContext())
    assert.equal(s.messages.length, 1)
    assert.equal(s.attempts, 2)
  })

  test('when the server answers 5xx, then the delivery is permanent and not retried', async () => {
    const s = await sink({ answer: () => ({ code: 550, message: '5.1.1 mailbox unavailable' }) })
    const d = await sendEmail(sampleNotification(), ['gone@example.com'], emailConfig(s.port).email!, {})
    assert.equal(d.ok, false)
    assert.equal(d.retryable, false)
    assert.equal(d.status, 550)
  })

  test('when the credentials are wrong, then the failure is classified as authentication, permanent, and the password is not in it', async () => {
    const s = await sink({ auth: { user: 'tenure', password: 'right-password' } })
    const config = emailConfig(s.port, { auth: { user: 'tenure', password: 'wrong-password-xyz' } }).email!
    const d = await sendEmail(sampleNotification(), ['a@example.com'], config, {})
    assert.equal(d.ok, false)
    assert.equal(d.retryable, false)
    assert.match(d.error ?? '', /authentication failed/)
    assert.ok(!JSON.stringify(d).includes('wrong-password-xyz'))
    assert.equal(s.messages.length, 0)
    const ok = await sendEmail(sampleNotification(), ['a@example.com'], emailConfig(s.port, { auth: { user: 'tenure', password: 'right-password' } }).email!, {})
    assert.equal(ok.ok, true, ok.error)
  })
})

describe('routing per step', () => {
  const config = emailConfig(25).email!

  test('when the manager is unknown, then the fallback gets the mail and the delivery says why', () => {
    const r = resolveRecipients(['manager'], { systems: ['google'] }, config)
    assert.deepEqual(r.to, ['it-oncall@example.com'])
    assert.match(r.notes.join('; '), /manager unknown/)
  })

  test('when a step names manager, system owners and approvers, then each resolves to its addresses, once each', () => {
    const r = resolveRecipients(['manager', 'system_owner', 'approvers', 'ciso@example.com'], { managerEmail: 'grace@example.com', systems: ['google'] }, config)
    assert.deepEqual(r.to, ['approvers@example.com', 'ciso@example.com', 'grace@example.com', 'it-google@example.com'])
    assert.deepEqual(r.notes, [])
  })

  test('when a failing system has no owner configured, then that is recorded and the fallback is added', () => {
    const r = resolveRecipients(['system_owner'], { systems: ['google', 'slack'] }, config)
    assert.deepEqual(r.to, ['it-google@example.com', 'it-oncall@example.com'])
    assert.match(r.notes.join('; '), /system owner unknown for slack/)
  })

  test('when the ladder step is built, then the email names the person, deadline, time left and unverified systems', () => {
    const n = escalationNotification(
      { caseId: 'c1', employeeId: 'e1', employeeName: 'Ada Lovelace', effectiveAt: '2026-01-01T10:00:00Z', deadlineAt: '2026-01-01T14:00:00Z', now: '2026-01-01T13:00:00Z', systems: [{ system: 'google', status: 'revoking', verified: false }], consoleUrl: 'https://t.example.com/cases/c1' },
      { name: 'page', atFraction: 0.75, channels: ['email'], recipients: ['manager'] },
    )
    const { subject, text } = emailContent(n)
    assert.match(subject, /Ada Lovelace/)
    for (const want of ['Ada Lovelace', 'c1', '2026-01-01T14:00:00.000Z', '1h 00m left', 'google: revoking', 'https://t.example.com/cases/c1']) assert.ok(text.includes(want), want)
  })
})

describe('routing per kind (notify.routes)', () => {
  const config = emailConfig(25, { admins: ['admins@example.com'] })

  test('when nothing is configured, then requests go to approvers, decisions to the requester, holds to approvers and admins, lifecycle alerts to owners (and the manager where access may remain)', () => {
    const route = (kind: string, system?: string) =>
      routeNotification(sampleNotification({ kind, subject: { employeeId: 'e1', ...(system ? { system } : {}) } }), { managerEmail: 'grace@example.com', requesterEmail: 'olga@example.com' }, config)
    assert.deepEqual(route('exception.requested').email?.to, ['approvers@example.com'])
    assert.deepEqual(route('exception.decided').email?.to, ['olga@example.com'])
    assert.deepEqual(route('exception.expired').email?.to, ['approvers@example.com', 'olga@example.com'])
    assert.deepEqual(route('hr.bulk_hold.opened').email?.to, ['admins@example.com', 'approvers@example.com'])
    assert.deepEqual(route('job.failed', 'google').email?.to, ['it-google@example.com'])
    assert.deepEqual(route('case.reopened', 'google').email?.to, ['grace@example.com', 'it-google@example.com'])
    assert.deepEqual(route('job.failed', 'google').channels, ['slack', 'webhook', 'log', 'email'])
  })

  test('when notify.routes names a kind or a prefix, then the most specific key wins and the other defaults stay', () => {
    const custom = notifyConfigSchema.parse({
      ...config,
      routes: { 'exception.*': { channels: ['slack'], recipients: ['approvers'] }, 'job.failed': { channels: ['email'], recipients: ['system_owner', 'ciso@example.com'] } },
    })
    const n = (kind: string) => sampleNotification({ kind, subject: { system: 'google' } })
    assert.deepEqual(routeNotification(n('exception.lapsed'), {}, custom), { channels: ['slack'] })
    // exception.requested keeps its own default: an exact key beats a prefix.
    assert.deepEqual(routeNotification(n('exception.requested'), {}, custom).email?.to, ['approvers@example.com'])
    assert.deepEqual(routeNotification(n('job.failed'), {}, custom), { channels: ['email'], email: { to: ['ciso@example.com', 'it-google@example.com'], routing: [] } })
  })

  test('when a route names a system owner but the notification names no system, then that is unknown and the fallback is mailed', () => {
    const r = routeNotification(sampleNotification({ kind: 'job.failed', subject: { employeeId: 'e1' } }), {}, config)
    assert.deepEqual(r.email?.to, ['it-oncall@example.com'])
    assert.match(r.email?.routing.join('; ') ?? '', /names no system/)
  })
})
