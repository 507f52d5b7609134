-- 1. One e-mail per notification id: the notify worker's ledger now also asks "was any e-mail sent
--    for this notification?" (src/notify/store.ts), so it looks rows up by notification_id.
CREATE INDEX notify_email_deliveries_notification_id ON notify_email_deliveries (notification_id);

-- 2. People who signed in with single sign-on (OIDC), for the administration screen "who has which
--    role". Tenure stores no SSO accounts: each request's token carries the roles claim. This table
--    records what the newest token of each (issuer, subject) said: the roles it mapped to and the
--    claim values that mapped each role, as of last_seen_at. It grants nothing.
CREATE TABLE sso_users (
  issuer text NOT NULL,
  subject text NOT NULL,
  name text,
  email text,
  roles text[] NOT NULL,
  -- { "admin": ["tenure-admins"], ... }: the roles-claim values that mapped each role.
  role_claims jsonb NOT NULL DEFAULT '{}',
  first_seen_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  -- auth_time (OIDC Core §2) of the newest token, else its iat; null when the token had neither.
  last_sign_in_at timestamptz,
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX sso_users_last_seen ON sso_users (last_seen_at DESC, issuer DESC, subject DESC);
