/**
 * Routes the web console needs beyond the capability APIs:
 *
 *   GET  /api/v1/console/config       public: how to sign in (the OIDC client), whether this is the sandbox
 *   POST /api/v1/sandbox/hr-events    sandbox only: send a sample HR event through the real webhook
 *
 * The browser cannot sign an HR delivery (the webhook secret must not reach it), so the sandbox
 * panel asks the server to do what `tenure hr send` does: build the vendor's sample, sign it with
 * the configured secret and POST it to /webhooks/hr/generic. The delivery then takes the same path
 * as one from a real HR system (signature check, inbox, HR worker, lifecycle), nothing is skipped.
 */
import { z } from 'zod'
import { ApiError } from '../http/errors.ts'
import { defineRoute } from '../http/routes.ts'
import { hrSend, HrSendError } from '../commands/hr-send.ts'
import { TENURE_VERSION } from '../reports/export.ts'
import { SAMPLE_EVENTS } from './sample-events.ts'

const consoleConfigResponse = z
  .object({
    oidc: z
      .object({
        issuer: z.string().describe('The OpenID Connect issuer (`auth.oidc.issuer`); the console reads its discovery document.'),
        clientId: z.string().describe('The console\'s public client id (`console.oidc.clientId`).'),
        scopes: z.array(z.string()),
      })
      .nullable()
      .describe('Null when single sign-on is not configured for the console: sign in with an API token.'),
    sandbox: z.boolean().describe('The sandbox (`npm start`): the console offers the sample HR events panel.'),
    version: z.string(),
  })
  .meta({ id: 'ConsoleConfig' })


export const consoleConfigRoute = defineRoute({
  method: 'get',
  path: '/api/v1/console/config',
  summary: 'How the web console signs in, and whether this is the sandbox',
  description: 'Public: the console reads it before anyone is signed in. Holds no secret (the OIDC client is public and uses PKCE).',
  tags: ['console'],
  roles: 'public',
  responses: { 200: { description: 'The console configuration', schema: consoleConfigResponse } },
  handler: async ({ deps }) => {
    const { auth, console: consoleConfig, sandbox } = deps.config
    const oidc =
      auth.oidc && consoleConfig.oidc
        ? {
            issuer: auth.oidc.issuer,
            clientId: consoleConfig.oidc.clientId,
            scopes: [...new Set(['openid', ...consoleConfig.oidc.scopes])],
          }
        : null
    return { oidc, sandbox: sandbox.enabled, version: TENURE_VERSION }
  },
})

const name = z.string().trim().min(1).max(60).regex(/^[\p{L}\p{M}' .-]+$/u, 'letters, spaces, apostrophes, dots and hyphens')

const sampleBody = z
  .object({
    event: z.enum(Object.keys(SAMPLE_EVENTS) as [keyof typeof SAMPLE_EVENTS]).describe('joiner (starts today), mover (changes department), leaver (leaves now), rescind (cancels a termination).'),
    employeeId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/, '1 to 40 letters, digits, _ or -')
      .describe('The HR employee id (the same id for each step of one lifecycle).'),
    firstName: name.optional().describe('joiner: default Ada.'),
    lastName: name.optional().describe('joiner: default Lovelace.'),
    department: z.string().trim().min(1).max(100).optional().describe('joiner: default Engineering; mover: the new department, default Sales.'),
  })
  .strict()
  .meta({ id: 'SandboxHrEvent' })

const slug = (s: string) =>
  s
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9]+/g, '')
    .toLowerCase() || 'x'

export const sandboxHrEventRoute = defineRoute({
  method: 'post',
  path: '/api/v1/sandbox/hr-events',
  summary: 'Sandbox: send a sample HR event (joiner, mover, leaver, rescind) through the signed webhook',
  description:
    'Only when `sandbox.enabled` (404 otherwise). Builds the generic source\'s sample delivery, signs it with `hr.generic`\'s secret like `tenure hr send`, ' +
    'and posts it to `/webhooks/hr/generic` on this server: the same pipeline as a real HR delivery. Answers with the webhook\'s own status and body.',
  tags: ['console'],
  roles: ['operator'],
  request: { body: sampleBody },
  responses: {
    202: {
      description: 'The webhook accepted the delivery; the HR worker applies it within moments',
      schema: z.object({
        event: z.string().describe('The canonical event type sent.'),
        employeeId: z.string(),
        webhookStatus: z.number().int(),
        webhook: z.unknown().describe('The webhook\'s answer, as it sent it.'),
      }),
    },
    404: { description: 'Not the sandbox' },
    502: { description: 'The webhook refused the delivery (details.webhook says why)' },
  },
  handler: async ({ body, deps, req, log }) => {
    if (!deps.config.sandbox.enabled || !deps.hrSources) throw new ApiError(404, 'not_sandbox', 'sample HR events are only offered by the sandbox (sandbox.enabled)')
    const event = SAMPLE_EVENTS[body.event]
    const set: Record<string, string> = {}
    if (body.event === 'joiner') {
      const first = body.firstName ?? 'Ada'
      const last = body.lastName ?? 'Lovelace'
      Object.assign(set, {
        firstName: first,
        lastName: last,
        // Unique per employee: the emulators answer a create for an existing address with that account.
        workEmail: `${slug(first)}.${slug(last)}.${body.employeeId.toLowerCase()}@example.com`,
        department: body.department ?? 'Engineering',
      })
    }
    if (body.event === 'mover') set.department = body.department ?? 'Sales'
    // This very server, on the address the request came in on (never a configured or forwarded host).
    const address = req.socket.localAddress ?? '127.0.0.1'
    const host = address.includes(':') ? `[${address.replace(/^::ffff:/, '')}]` : address
    const base = `http://${address.startsWith('::ffff:') ? address.slice(7) : host}:${req.socket.localPort}`
    let result
    try {
      result = await hrSend({ source: 'generic', event, employee: body.employeeId, set }, deps.hrSources, base)
    } catch (err) {
      if (err instanceof HrSendError) throw new ApiError(502, 'webhook_unreachable', err.message)
      throw err
    }
    log.info({ event, employeeId: body.employeeId, webhookStatus: result.status }, 'sandbox HR event sent')
    if (result.status >= 300) {
      throw new ApiError(502, 'webhook_refused', `the webhook answered ${result.status}`, { webhookStatus: result.status, webhook: result.body })
    }
    return { event, employeeId: body.employeeId, webhookStatus: result.status, webhook: result.body }
  },
})

export const CONSOLE_ROUTES = [consoleConfigRoute, sandboxHrEventRoute]
