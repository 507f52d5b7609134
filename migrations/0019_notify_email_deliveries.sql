-- Email escalations accepted by the SMTP server, by Message-ID (derived from the notification id
-- and the recipient list). The notify worker checks here before sending, so a job re-run after a
-- send whose completion was lost (crash, expired job) does not mail the same people twice.
CREATE TABLE notify_email_deliveries (
  message_id text PRIMARY KEY,
  notification_id text NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now()
);
