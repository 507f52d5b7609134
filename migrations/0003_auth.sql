-- API tokens: credentials for scripts and integrations (people sign in with OIDC instead).
-- Only the SHA-256 of a token is stored; the token is shown once, when it is created
-- (docs/security.md, "API tokens"). Rows are never deleted, so every actor id in the audit
-- trail keeps pointing at a token whose name, role and creator can be looked up.
CREATE TABLE api_tokens (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  role text NOT NULL CHECK (role IN ('admin', 'approver', 'operator', 'auditor')),
  -- The token's first 16 characters (tnr_adm_ + 8 random): shown to admins, used to find the row.
  prefix text NOT NULL UNIQUE CHECK (prefix ~ '^tnr_(adm|apr|opr|aud)_[A-Za-z0-9_-]{8}$'),
  secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
  -- The actor that issued it: api_token:<id>, oidc:<sub>, system:cli:<os user>, system:sandbox.
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz CHECK (expires_at IS NULL OR expires_at > created_at),
  revoked_at timestamptz,
  revoked_by text,
  last_used_at timestamptz
);

-- The list is read newest first with a (created_at, id) cursor.
CREATE INDEX api_tokens_created_idx ON api_tokens (created_at DESC, id DESC);
-- The sandbox looks up its tokens by name at every start.
CREATE INDEX api_tokens_name_idx ON api_tokens (name) WHERE revoked_at IS NULL;

-- The application role (created in 0002) issues, uses and revokes tokens, never deletes them.
REVOKE ALL ON api_tokens FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON api_tokens TO tenure_app;
