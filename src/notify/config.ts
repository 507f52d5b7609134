/**
 * The `notify` block of Tenure's config file: where alerts go (Slack, signed webhooks, the log)
 * and the SLA escalation ladder. Every key documents itself through `.describe()`
 * (docs/configuration.md is generated from these texts).
 */
import { z } from 'zod'
import { secretSchema } from '../config/secret.ts'

export const NOTIFY_CHANNELS = ['slack', 'webhook', 'log', 'email'] as const
export type NotifyChannel = (typeof NOTIFY_CHANNELS)[number]

/**
 * Standard Webhooks symmetric secrets are `whsec_` + base64 of 24 to 64 random bytes
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#symmetric-signatures).
 * Returns the key bytes, or a reason the value is not such a secret (never the value itself).
 */
export function decodeWebhookSecret(value: string): Buffer | string {
  if (!value.startsWith('whsec_')) return 'must start with whsec_ (Standard Webhooks format)'
  const b64 = value.slice('whsec_'.length)
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return 'the part after whsec_ must be standard base64'
  const key = Buffer.from(b64, 'base64')
  if (key.length < 24 || key.length > 64) return `must decode to 24 to 64 bytes, got ${key.length}`
  return key
}

const webhookSecretSchema = secretSchema.superRefine((s, ctx) => {
  const key = decodeWebhookSecret(s.reveal())
  if (typeof key === 'string') ctx.addIssue({ code: 'custom', message: `webhook secret ${key}` })
})

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname)
}

export const slackNotifySchema = z
  .object({
    token: secretSchema.describe(
      'Bot token (xoxb-...) of the Tenure Slack app with the chat:write scope; the bot must be a member of both channels. ' +
        'Example: { "env": "SLACK_BOT_TOKEN" }.',
    ),
    apiUrl: z
      .url()
      .default('https://slack.com/api/')
      .describe('Slack Web API base URL. The sandbox points it at the Slack emulator (<emulator>/api/). Must end with /api/ for real Slack.'),
    channels: z
      .object({
        escalations: z
          .string()
          .min(1)
          .describe('Channel for SLA escalations, failed verifications, failed jobs and residual access. A channel id (C0123ABC) is safest; a name works while it is not renamed.'),
        approvals: z.string().min(1).describe('Channel for decisions people must take: exception requests and decisions (exception.*), mass-termination holds (hr.bulk_hold.*) and emergency off-boarding (offboarding.emergency_*).'),
      })
      .strict()
      .describe('Where each kind of notification is posted.'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Per-request timeout for chat.postMessage; a timeout is retried by the notify queue.'),
  })
  .strict()

export const webhookEndpointSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/i, 'letters, digits, - and _ (it is part of the job key)')
      .max(64)
      .describe('Short unique name of the receiver (pagerduty-bridge, siem); shown in logs and part of the delivery job key.'),
    url: z
      .url()
      .describe('Receiver URL. HTTPS, or plain HTTP on a loopback address (or when allowHttp is set). Redirects are never followed.'),
    secret: webhookSecretSchema.describe(
      'Standard Webhooks signing secret: whsec_ followed by base64 of 24-64 random bytes. Example: { "env": "TENURE_WEBHOOK_SECRET" }. ' +
        'Generate one with: node -e "console.log(\'whsec_\' + require(\'crypto\').randomBytes(32).toString(\'base64\'))"',
    ),
    additionalSecrets: z
      .array(webhookSecretSchema)
      .max(4)
      .default([])
      .describe(
        'Extra secrets to sign with during a key rotation: each adds one more v1 signature to webhook-signature, so the receiver ' +
          'can switch keys without downtime. Remove the old one once the receiver has moved.',
      ),
    events: z
      .array(z.string().regex(/^[a-z0-9_.-]+(\.\*)?$|^\*$/, 'a kind like sla.breach, a prefix like sla.*, or *'))
      .min(1)
      .optional()
      .describe('Notification kinds to send (sla.breach), prefixes (sla.*) or *. Unset: every kind.'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(60_000)
      .default(15_000)
      .describe('How long to wait for the receiver to answer; Standard Webhooks suggests 15-30 s. A timeout is retried.'),
    allowHttp: z
      .boolean()
      .default(false)
      .describe('Accept a plain http:// URL on a non-loopback host (a bridge inside the same private network). Signatures still protect integrity, not confidentiality.'),
  })
  .strict()
  .superRefine((w, ctx) => {
    const url = new URL(w.url)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'must be an http(s) URL' })
    } else if (url.protocol === 'http:' && !w.allowHttp && !isLoopback(url.hostname)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'must use https (set allowHttp for a receiver on a private network)' })
    }
    if (url.username !== '' || url.password !== '') {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'must not embed credentials; receivers authenticate Tenure by the signature' })
    }
  })

const emailAddress = z.email().max(254)

export const RECIPIENT_KINDS = ['manager', 'system_owner', 'approvers', 'admins', 'requester'] as const
export type RecipientKind = (typeof RECIPIENT_KINDS)[number]

export const emailNotifySchema = z
  .object({
    host: z.string().min(1).describe('SMTP server host name. Unset notify.email in the sandbox (npm start): e-mail goes to a local SMTP sink instead (docs/sandbox.md).'),
    port: z.number().int().min(1).max(65535).default(587).describe('SMTP port: 587 (submission, STARTTLS), 465 (implicit TLS, set secure) or 25.'),
    secure: z.boolean().default(false).describe('Implicit TLS from the first byte (port 465). false: plain connection upgraded with STARTTLS when the server offers it.'),
    requireTLS: z
      .boolean()
      .default(true)
      .describe('Refuse to send unless the connection is upgraded with STARTTLS (ignored when secure). Turn off only for a loopback sink.'),
    tls: z
      .object({ rejectUnauthorized: z.boolean().default(true).describe('Verify the server certificate. false only for a local test server.') })
      .strict()
      .optional()
      .describe('TLS options for the SMTP connection.'),
    auth: z
      .object({
        user: z.string().min(1).describe('SMTP user name.'),
        password: secretSchema.describe('SMTP password. Example: { "env": "TENURE_SMTP_PASSWORD" }. Never logged.'),
      })
      .strict()
      .optional()
      .describe('SMTP AUTH credentials. Unset: send without authenticating.'),
    from: z.string().min(3).max(320).describe('From address, e.g. "Tenure <tenure@example.com>"; its domain is used in Message-IDs.'),
    timeoutMs: z.number().int().positive().max(120_000).default(15_000).describe('Connection, greeting and socket timeout; a timeout is retried.'),
    approvers: z.array(emailAddress).default([]).describe("The approver group's addresses (recipient kind approvers)."),
    admins: z.array(emailAddress).default([]).describe("Tenure administrators' addresses (recipient kind admins), e.g. for mass-termination holds."),
    owners: z
      .record(z.string(), z.array(emailAddress).min(1))
      .default({})
      .describe('Owner contacts per system id (recipient kind system_owner), e.g. { "google": ["it-google@example.com"] }.'),
    fallback: z
      .array(emailAddress)
      .default([])
      .describe('Addresses used when a recipient kind resolves to nobody (manager unknown, no owner configured); the delivery says which kind was missing.'),
  })
  .strict()

const recipientsSchema = z.array(z.union([z.enum(RECIPIENT_KINDS), emailAddress])).min(1).default(['approvers'])
export type Recipient = RecipientKind | (string & {})

export const escalationStepSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_-]*$/, 'lower-case letters, digits, - and _ (it becomes the kind sla.<name>)')
      .max(32)
      .describe("Step name; the notification kind is sla.<name>. 'breach' must be the step at 1.0."),
    atFraction: z
      .number()
      .gt(0)
      .lte(1)
      .describe('When the step fires, as the fraction of the SLA budget elapsed since the termination took effect (0.5 = half-way).'),
    channels: z
      .array(z.enum(NOTIFY_CHANNELS))
      .min(1)
      .refine((c) => new Set(c).size === c.length, 'each channel once')
      .describe('Where the step is sent: slack, webhook, log, email.'),
    recipients: recipientsSchema.describe(
      "Who the email channel writes to for this step: manager (the leaver's manager, from the employee profile), system_owner " +
        '(notify.email.owners of each unverified system), approvers (notify.email.approvers), admins (notify.email.admins), or fixed ' +
        'addresses. A kind that resolves to nobody falls back to notify.email.fallback and the delivery records it.',
    ),
  })
  .strict()

export type EscalationStep = z.output<typeof escalationStepSchema>

export const DEFAULT_ESCALATION_STEPS: readonly EscalationStep[] = [
  { name: 'notify', atFraction: 0.5, channels: ['slack', 'webhook', 'log', 'email'], recipients: ['system_owner'] },
  { name: 'page', atFraction: 0.75, channels: ['slack', 'webhook', 'log', 'email'], recipients: ['system_owner', 'manager'] },
  { name: 'breach', atFraction: 1, channels: ['slack', 'webhook', 'log', 'email'], recipients: ['system_owner', 'manager', 'approvers'] },
]

export const escalationSchema = z
  .object({
    steps: z
      .array(escalationStepSchema)
      .min(1)
      .default(() => DEFAULT_ESCALATION_STEPS.map((s) => ({ ...s, channels: [...s.channels], recipients: [...s.recipients] })))
      .describe(
        'The ladder, earliest first: fractions strictly increasing in (0, 1], exactly one step named breach at 1.0. ' +
          'Default: notify at 0.5 (system owners), page at 0.75 (+ manager), breach at 1.0 (+ approvers), each to slack, webhook, log and email.',
      ),
  })
  .strict()
  .superRefine((e, ctx) => {
    const names = new Set<string>()
    e.steps.forEach((step, i) => {
      if (names.has(step.name)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'name'], message: `step name ${step.name} is used twice` })
      names.add(step.name)
      const prev = e.steps[i - 1]
      if (prev && step.atFraction <= prev.atFraction) {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'atFraction'],
          message: `fractions must strictly increase: ${step.atFraction} follows ${prev.atFraction}`,
        })
      }
    })
    const breaches = e.steps.filter((s) => s.name === 'breach')
    if (breaches.length !== 1) {
      ctx.addIssue({ code: 'custom', path: ['steps'], message: "exactly one step must be named 'breach'" })
    } else if (breaches[0]!.atFraction !== 1) {
      ctx.addIssue({ code: 'custom', path: ['steps', e.steps.indexOf(breaches[0]!), 'atFraction'], message: "the 'breach' step must be at 1.0 (the deadline)" })
    }
  })

/**
 * Where each notification kind that is not an SLA ladder step goes (the ladder has its own
 * channels and recipients per step). Keys are a kind (job.failed), a prefix (exception.*) or *;
 * the most specific key wins: exact, then the longest prefix, then *.
 */
export const notifyRouteSchema = z
  .object({
    channels: z
      .array(z.enum(NOTIFY_CHANNELS))
      .min(1)
      .refine((c) => new Set(c).size === c.length, 'each channel once')
      .describe('Where notifications of this kind are sent: slack, webhook, log, email.'),
    recipients: recipientsSchema.describe(
      'Who the email channel writes to: manager (the employee\'s manager, from the HR profile), system_owner (notify.email.owners of the ' +
        "notification's system), approvers, admins, requester (the person who asked for an exception, when they signed in with an e-mail), " +
        'or fixed addresses. A kind that resolves to nobody falls back to notify.email.fallback and the delivery records it.',
    ),
  })
  .strict()

export type NotifyRoute = z.output<typeof notifyRouteSchema>

const ALL_CHANNELS: NotifyChannel[] = ['slack', 'webhook', 'log', 'email']

/**
 * The routes used when notify.routes does not name a kind. Decisions people must take go to the
 * approver group; a decision goes back to whoever asked; a failing system to its owners, and the
 * leaver's manager where the person may still have access (a reopened case, access re-enabled,
 * residual access).
 */
export const DEFAULT_NOTIFY_ROUTES: Readonly<Record<string, NotifyRoute>> = {
  'exception.requested': { channels: ALL_CHANNELS, recipients: ['approvers'] },
  'exception.decided': { channels: ALL_CHANNELS, recipients: ['requester'] },
  'exception.activated': { channels: ALL_CHANNELS, recipients: ['requester'] },
  'exception.not_applied': { channels: ALL_CHANNELS, recipients: ['system_owner', 'approvers'] },
  'exception.*': { channels: ALL_CHANNELS, recipients: ['requester', 'approvers'] },
  'hr.bulk_hold.*': { channels: ALL_CHANNELS, recipients: ['approvers', 'admins'] },
  'verification.failed': { channels: ALL_CHANNELS, recipients: ['system_owner'] },
  'job.failed': { channels: ALL_CHANNELS, recipients: ['system_owner'] },
  'case.reopened': { channels: ALL_CHANNELS, recipients: ['system_owner', 'manager'] },
  'residual.access': { channels: ALL_CHANNELS, recipients: ['system_owner', 'manager'] },
  'access.reenabled': { channels: ALL_CHANNELS, recipients: ['system_owner', 'manager'] },
  'access.not_restored': { channels: ALL_CHANNELS, recipients: ['system_owner'] },
  '*': { channels: ALL_CHANNELS, recipients: ['approvers'] },
}

/**
 * The route for a kind, from the defaults with notify.routes laid over them (a configured key
 * replaces the default of the same key): the exact kind, else the longest matching prefix, else *.
 */
export function routeFor(kind: string, routes: Readonly<Record<string, NotifyRoute>>): NotifyRoute {
  const table: Record<string, NotifyRoute> = { ...DEFAULT_NOTIFY_ROUTES, ...routes }
  if (table[kind]) return table[kind]
  const prefix = Object.keys(table)
    .filter((k) => k.endsWith('.*') && kind.startsWith(k.slice(0, -1)))
    .sort((a, b) => b.length - a.length)[0]
  return table[prefix ?? '*']!
}

export const notifyConfigSchema = z
  .object({
    slack: slackNotifySchema.optional().describe('Post notifications to Slack. Unset: the slack channel is off.'),
    webhooks: z
      .array(webhookEndpointSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>()
        list.forEach((w, i) => {
          if (seen.has(w.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `webhook name ${w.name} is used twice` })
          seen.add(w.name)
        })
      })
      .describe('Signed outgoing webhooks (Standard Webhooks v1) to paging bridges, SIEMs or ticketing.'),
    email: emailNotifySchema.optional().describe('Send escalations by email over SMTP (nodemailer). Unset: the email channel is off.'),
    routes: z
      .record(z.string().regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?$|^\*$/, 'a kind like job.failed, a prefix like exception.*, or *'), notifyRouteSchema)
      .default({})
      .describe(
        'Channels and e-mail recipients per notification kind outside the SLA ladder, e.g. { "job.failed": { "channels": ["slack", "email"], ' +
          '"recipients": ["system_owner", "it-oncall@example.com"] } }. Keys: a kind, a prefix (exception.*) or *; the most specific wins. ' +
          'Kinds not named keep their defaults (docs/notifications.md lists them): approvers for exception requests, the requester for ' +
          'decisions, approvers and admins for mass-termination holds, system owners (and the manager where access may remain) for lifecycle alerts.',
      ),
    log: z.boolean().default(true).describe('Also write each notification as one structured log line, at the level of its severity (info, warn, error for critical).'),
    escalation: escalationSchema
      .default(() => ({ steps: DEFAULT_ESCALATION_STEPS.map((s) => ({ ...s, channels: [...s.channels], recipients: [...s.recipients] })) }))
      .describe('SLA escalation ladder for open leaver cases.'),
  })
  .strict()
  .describe('Notifications: Slack, signed webhooks (Standard Webhooks v1), email, the log, and the SLA escalation ladder. See docs/notifications.md.')

export type NotifyConfig = z.output<typeof notifyConfigSchema>
export type NotifyConfigInput = z.input<typeof notifyConfigSchema>
export type SlackNotifyConfig = z.output<typeof slackNotifySchema>
export type WebhookEndpoint = z.output<typeof webhookEndpointSchema>
export type EmailNotifyConfig = z.output<typeof emailNotifySchema>

/** True when an endpoint's `events` filter lets a kind through. */
export function endpointWants(endpoint: Pick<WebhookEndpoint, 'events'>, kind: string): boolean {
  if (!endpoint.events) return true
  return endpoint.events.some((e) => e === '*' || e === kind || (e.endsWith('.*') && kind.startsWith(e.slice(0, -1))))
}
