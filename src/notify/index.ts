/** Notifications: Slack, signed webhooks, email and the log; the `notify` queue. The SLA escalation ladder that sends some of them lives in src/sla/. */
export {
  DEFAULT_ESCALATION_STEPS,
  DEFAULT_NOTIFY_ROUTES,
  notifyRouteSchema,
  routeFor,
  type NotifyRoute,
  type Recipient,
  NOTIFY_CHANNELS,
  RECIPIENT_KINDS,
  emailNotifySchema,
  decodeWebhookSecret,
  endpointWants,
  escalationSchema,
  escalationStepSchema,
  notifyConfigSchema,
  slackNotifySchema,
  webhookEndpointSchema,
  type EmailNotifyConfig,
  type EscalationStep,
  type RecipientKind,
  type NotifyChannel,
  type NotifyConfig,
  type NotifyConfigInput,
  type SlackNotifyConfig,
  type WebhookEndpoint,
} from './config.ts'
export { NotificationDeliveryError, type Delivery, type EmailLedger, type SendDeps } from './delivery.ts'
export { classifySmtpError, emailContent, escapeHtml, messageIdFor, sendEmail } from './email.ts'
export { resolveRecipients, routeNotification, type RoutedNotification, type Routing, type RoutingInput } from './routing.ts'
export { enqueueNotification, type EnqueueContext } from './enqueue.ts'
export { logNotification } from './log-channel.ts'
export {
  NOTIFICATION_KINDS,
  SEVERITIES,
  lifecycleNotification,
  notificationId,
  notificationSchema,
  slackRoute,
  type KnownNotificationKind,
  type LifecycleNotifyInput,
  type Notification,
  type NotificationKind,
  type Severity,
} from './model.ts'
export { sendNotification, sendTarget, type Target } from './send.ts'
export { escapeMrkdwn, sendSlack, slackMessage, type SlackBlock, type SlackMessage } from './slack.ts'
export { signV1, signedRequest, sendWebhook, webhookBody, type SignedRequest } from './webhook.ts'
export {
  NOTIFY_QUEUE,
  NOTIFY_QUEUE_OPTIONS,
  jobIdFor,
  notifyJobSchema,
  notifyJobs,
  notifyWorker,
  type NotifyJob,
  type NotifyJobPayload,
  type NotifyWorkerDeps,
} from './worker.ts'
export { managerEmailOf, pgEmailLedger } from './store.ts'
// The sandbox's notify form (./sandbox.ts) is not re-exported: it loads the Slack emulator (express),
// which a process that only sends notifications must not carry. Import it from './sandbox.ts'.
