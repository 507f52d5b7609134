-- Audit trail: an append-only, hash-chained log of every change Tenure makes, and the signed
-- checkpoints that pin it down. Hashes are computed in TypeScript (src/audit/hash.ts) so an
-- auditor can recompute them from an export without this database; docs/audit.md has the recipe.
--
-- Layers, weakest first:
--   1. grants: the application role tenure_app may only SELECT and INSERT;
--   2. triggers: UPDATE, DELETE and TRUNCATE are refused even for the owner, unless it first
--      disables the triggers; the one sanctioned deletion is audit_prune_before();
--   3. the hash chain and the signed checkpoints published outside PostgreSQL, which expose
--      what an owner or superuser could still do (docs/audit.md, "What a superuser can still do").

CREATE TABLE audit_events (
  -- Gapless 1..n, assigned under the chain lock by audit_chain_head(); no sequence object,
  -- because a sequence leaves gaps on rollback and a gap must mean "a row was deleted".
  seq bigint PRIMARY KEY CHECK (seq > 0),
  -- Millisecond precision so the ISO string that is hashed round-trips exactly.
  occurred_at timestamptz NOT NULL CHECK (occurred_at = date_trunc('milliseconds', occurred_at)),
  actor_type text NOT NULL CHECK (actor_type IN ('hr_source', 'api_token', 'oidc', 'system')),
  actor_id text NOT NULL CHECK (actor_id <> ''),
  action text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  employee_id text,
  system text,
  account_id text,
  correlation_id text,
  details jsonb NOT NULL CHECK (jsonb_typeof(details) = 'object'),
  prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);

-- Filters of queryAudit(); each ends in seq so a filtered page is an index range in cursor order.
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_employee_idx ON audit_events (employee_id, seq) WHERE employee_id IS NOT NULL;
CREATE INDEX audit_events_system_idx ON audit_events (system, seq) WHERE system IS NOT NULL;
-- text_pattern_ops so `action LIKE 'lifecycle.%'` can use the index under any collation.
CREATE INDEX audit_events_action_idx ON audit_events (action text_pattern_ops, seq);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, seq);
CREATE INDEX audit_events_correlation_idx ON audit_events (correlation_id, seq) WHERE correlation_id IS NOT NULL;

-- Signed heads of the chain, themselves chained by previous_signature (CloudTrail's digest files).
CREATE TABLE audit_checkpoints (
  id bigint PRIMARY KEY CHECK (id > 0),
  created_at timestamptz NOT NULL CHECK (created_at = date_trunc('milliseconds', created_at)),
  seq bigint NOT NULL CHECK (seq >= 0),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  -- occurred_at of the head row; NULL only for a checkpoint of the empty chain.
  occurred_at timestamptz CHECK (occurred_at = date_trunc('milliseconds', occurred_at)),
  -- Events appended since the previous checkpoint (seq - previous seq).
  count bigint NOT NULL CHECK (count >= 0),
  previous_signature text,
  key_id text NOT NULL,
  signature text NOT NULL
);
CREATE INDEX audit_checkpoints_seq_idx ON audit_checkpoints (seq);

-- The chain lock (advisory key 7402519401), taken by every append and by audit_prune_before() below.
-- Returned head and clock are read AFTER the lock is granted: in a VOLATILE plpgsql function each
-- statement takes a fresh snapshot under READ COMMITTED, so the previous holder's commit is visible.
CREATE FUNCTION audit_chain_head(OUT head_seq bigint, OUT head_hash text, OUT now_at text, OUT xact_id text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- Under REPEATABLE READ the snapshot predates the lock, so the head read here could be stale
  -- and two transactions would claim the same seq.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'audit appends need READ COMMITTED isolation, this transaction is %', current_setting('transaction_isolation')
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Append audit rows in a READ COMMITTED transaction (the PostgreSQL default).';
  END IF;
  PERFORM pg_advisory_xact_lock(7402519401);
  SELECT e.seq, e.hash INTO head_seq, head_hash FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
  IF NOT FOUND THEN
    head_seq := 0;
    head_hash := repeat('0', 64);
  END IF;
  -- clock_timestamp(), not now(): now() is the transaction start, which would let a long
  -- transaction append a row dated before the row it follows.
  now_at := to_char(date_trunc('milliseconds', clock_timestamp()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  xact_id := pg_current_xact_id()::text;
END
$$;

-- Structural integrity at write time: every row continues the head (no fork, no gap), so a writer
-- that skips appendAudit() fails loudly instead of corrupting the chain. The row hash itself is
-- checked by the verifier, not here (RFC 8785 canonical JSON is not available in SQL).
CREATE FUNCTION audit_events_check_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  head record;
BEGIN
  -- A row-level BEFORE trigger sees rows inserted earlier by the same statement, so a batch
  -- insert is checked row by row against its own predecessors.
  SELECT e.seq, e.hash INTO head FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
  IF FOUND THEN
    IF NEW.seq <> head.seq + 1 OR NEW.prev_hash <> head.hash THEN
      RAISE EXCEPTION 'audit_events row % does not continue the chain head (seq %)', NEW.seq, head.seq
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'Append through appendAudit(), which takes the chain lock.';
    END IF;
  ELSIF NEW.seq = 1 THEN
    IF NEW.prev_hash <> repeat('0', 64) THEN
      RAISE EXCEPTION 'the first audit row must have the genesis prev_hash' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  -- An empty table after pruning everything: the chain continues from the signed checkpoint.
  ELSIF NOT EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.seq = NEW.seq - 1 AND c.hash = NEW.prev_hash) THEN
    RAISE EXCEPTION 'audit_events row % does not continue the chain', NEW.seq USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER audit_events_check_append BEFORE INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_check_append();

CREATE FUNCTION audit_checkpoints_check_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  last record;
BEGIN
  SELECT c.id, c.signature INTO last FROM audit_checkpoints c ORDER BY c.id DESC LIMIT 1;
  IF FOUND THEN
    IF NEW.id <> last.id + 1 OR NEW.previous_signature IS DISTINCT FROM last.signature THEN
      RAISE EXCEPTION 'audit checkpoint % does not continue checkpoint %', NEW.id, last.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  ELSIF NEW.id <> 1 OR NEW.previous_signature IS NOT NULL THEN
    RAISE EXCEPTION 'the first audit checkpoint must have id 1 and no previous signature' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER audit_checkpoints_check_append BEFORE INSERT ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_check_append();

-- Refuses UPDATE, DELETE and TRUNCATE for everyone, the owner and superusers included (only
-- ALTER TABLE ... DISABLE TRIGGER, which needs ownership, gets past it). The single exception is a
-- DELETE of rows at or below tenure.audit_prune_through, which only audit_prune_before() sets,
-- transaction-locally, after checking the checkpoint and the tombstone.
CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  through text;
BEGIN
  IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' AND TG_TABLE_NAME = 'audit_events' THEN
    through := current_setting('tenure.audit_prune_through', true);
    IF through IS NOT NULL AND through <> '' AND OLD.seq <= through::bigint THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Audit rows are removed only by retention pruning (audit_prune_before), which records an audit.pruned event.';
END
$$;

CREATE TRIGGER audit_events_refuse_change BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_refuse_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_refuse_change BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_refuse_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- Retention, the only sanctioned deletion. Runs as the table owner (SECURITY DEFINER) so the
-- application role needs no DELETE grant. It deletes rows 1..through_seq only when a checkpoint
-- covers exactly that prefix and still matches the chain, and only together with the tombstone
-- row that records the deletion in the chain (computed by src/audit/retention.ts, which also
-- verified the checkpoint's signature and the rows being removed).
CREATE FUNCTION audit_prune_before(through_seq bigint, tombstone jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  head record;
  cp record;
  t audit_events;
  first_seq bigint;
  deleted bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(7402519401);
  SELECT c.id, c.hash INTO cp FROM audit_checkpoints c WHERE c.seq = through_seq ORDER BY c.id DESC LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no audit checkpoint at seq %: pruning stops only at a signed checkpoint', through_seq USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT e.seq, e.hash INTO head FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'nothing to prune: the audit log is empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT min(e.seq) INTO first_seq FROM audit_events e;
  IF head.seq < through_seq OR first_seq > through_seq THEN
    RAISE EXCEPTION 'nothing to prune through seq %', through_seq USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Pruning behind a checkpoint that no longer matches would destroy the evidence of a rewrite.
  IF NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.seq = through_seq AND e.hash = cp.hash) THEN
    RAISE EXCEPTION 'audit checkpoint % does not match the row at seq %', cp.id, through_seq USING ERRCODE = 'data_corrupted';
  END IF;
  t := jsonb_populate_record(NULL::audit_events, tombstone);
  IF t.action IS DISTINCT FROM 'audit.pruned' OR t.seq IS DISTINCT FROM head.seq + 1 OR t.prev_hash IS DISTINCT FROM head.hash
     OR (t.details ->> 'throughSeq')::bigint IS DISTINCT FROM through_seq
     OR (t.details ->> 'deletedCount')::bigint IS DISTINCT FROM through_seq - first_seq + 1 THEN
    RAISE EXCEPTION 'the tombstone does not describe pruning through seq %', through_seq USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM set_config('tenure.audit_prune_through', through_seq::text, true);
  DELETE FROM audit_events e WHERE e.seq <= through_seq;
  GET DIAGNOSTICS deleted = ROW_COUNT;
  PERFORM set_config('tenure.audit_prune_through', '', true);
  INSERT INTO audit_events SELECT t.*;
  RETURN deleted;
END
$$;

-- A SECURITY DEFINER function must not resolve names through a schema its callers can write to
-- (a temporary table named audit_events would shadow the real one). Pin this schema, pg_temp last.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION audit_prune_before(bigint, jsonb) SET search_path = pg_catalog, %I, pg_temp', current_schema());
END
$$;

-- The application role. NOLOGIN: deployments connect as a login role that is a member of it and
-- does not own these tables (docs/audit.md, "Production roles"). Roles are cluster-wide, so two
-- databases migrating at once may both try to create it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenure_app') THEN
    BEGIN
      CREATE ROLE tenure_app NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
END
$$;

-- Revoked from tenure_app too: ALTER DEFAULT PRIVILEGES set up for the other tables would
-- otherwise hand it UPDATE and DELETE here as well.
REVOKE ALL ON audit_events, audit_checkpoints FROM PUBLIC, tenure_app;
REVOKE ALL ON FUNCTION audit_prune_before(bigint, jsonb) FROM PUBLIC;
GRANT SELECT, INSERT ON audit_events, audit_checkpoints TO tenure_app;
GRANT EXECUTE ON FUNCTION audit_chain_head(), audit_prune_before(bigint, jsonb) TO tenure_app;
