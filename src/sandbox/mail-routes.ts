/**
 *   GET /api/v1/sandbox/mail   sandbox only: the e-mails Tenure sent, caught by the local SMTP sink
 *
 * The sink lives in the process (src/sandbox/mail.ts); this route only reads what it kept.
 */
import { z } from 'zod'
import { ApiError } from '../http/errors.ts'
import { decodeCursor, defineRoute, encodeCursor, pageOf, pageQuery, timestamp } from '../http/routes.ts'
import { SANDBOX_MAIL_KEEP_DOC } from './mailbox.ts'

const caughtMailSchema = z
  .object({
    seq: z.number().int().describe('Order of arrival, from 1.'),
    receivedAt: timestamp,
    from: z.string().describe('The SMTP envelope sender.'),
    to: z.array(z.string()).describe('The SMTP envelope recipients: who the routing chose.'),
    subject: z.string().nullable(),
    messageId: z.string().nullable().describe('Derived from the notification id: one e-mail per notification.'),
    text: z.string().describe('The plain-text body.'),
  })
  .meta({ id: 'SandboxMail' })

export const sandboxMailRoute = defineRoute({
  method: 'get',
  path: '/api/v1/sandbox/mail',
  summary: 'Sandbox: the e-mails Tenure sent, caught by the local SMTP sink',
  description:
    'Only when `npm start` started the sandbox\'s SMTP sink (sandbox.enabled and no notify.email configured; 404 otherwise). ' +
    `Newest first; the sink keeps the newest ${SANDBOX_MAIL_KEEP_DOC}. Nothing leaves the machine: the addresses are made up (docs/sandbox.md).`,
  tags: ['console'],
  roles: ['operator', 'approver', 'auditor'],
  request: { query: pageQuery({ defaultLimit: 20, maxLimit: 100 }).extend({ to: z.string().trim().min(1).max(254).optional().describe('Only messages to this address (case-insensitive).') }) },
  responses: {
    200: { description: 'A page of caught messages, newest first', schema: pageOf(caughtMailSchema).extend({ port: z.number().int().describe("The sink's SMTP port on 127.0.0.1.") }) },
    404: { description: '`not_sandbox`: no SMTP sink runs in this process' },
  },
  handler: async ({ query, deps }) => {
    const box = deps.sandboxMail
    if (!deps.config.sandbox.enabled || !box) throw new ApiError(404, 'not_sandbox', 'the SMTP sink runs only in the sandbox started by npm start, when notify.email is not configured')
    const before = decodeCursor(query.cursor, z.object({ seq: z.number().int() }))?.seq
    const to = query.to?.toLowerCase()
    const all = box.list().filter((m) => (before === undefined || m.seq < before) && (!to || m.to.some((a) => a.toLowerCase() === to)))
    const items = all.slice(0, query.limit)
    const last = items.at(-1)
    return { items, nextCursor: all.length > items.length && last ? encodeCursor({ seq: last.seq }) : null, port: box.port }
  },
})

export const SANDBOX_MAIL_ROUTES = [sandboxMailRoute]
