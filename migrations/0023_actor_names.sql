-- Display names of people who sign in with single sign-on, by their `sub`. The audit trail
-- records an SSO actor by `sub` only (a stable id, not personal data that changes); the console
-- and the API show the name beside it ("People, not ids"). API tokens need no row here: their
-- name is in api_tokens. Written when a person signs in and their name or email changed; a
-- person who never signed in to this Tenure is shown by id.
CREATE TABLE actor_names (
  actor_type text NOT NULL CHECK (actor_type IN ('oidc')),
  actor_id text NOT NULL CHECK (length(actor_id) BETWEEN 1 AND 500),
  name text CHECK (name IS NULL OR length(name) <= 500),
  email text CHECK (email IS NULL OR length(email) <= 500),
  seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor_type, actor_id)
);

REVOKE ALL ON actor_names FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON actor_names TO tenure_app;
