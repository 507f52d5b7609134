-- Audit entries committed by their writer but not yet in the chain (issue #21; docs/audit.md,
-- "Writers and the sealer"). The design of transparency logs (Certificate Transparency, Trillian):
-- a writer queues its entries durably, in its own transaction and without the chain lock; a
-- sealer integrates them into audit_events shortly after, in batches, under the chain lock.
--
-- Before this, every writer took the chain lock (audit_chain_head()) inside its own transaction
-- and held it across its COMMIT and WAL flush, so every transaction that audits was serialised,
-- one flush each. Now only the sealer takes the lock, and one sealing transaction (one flush)
-- chains up to 1,000 entries.
--
-- A rollback removes the writer's pending row with its change, so it never gets a seq: the chain
-- stays gapless. A process that dies between its commit and the seal loses nothing: any process's
-- sealer (each runs a periodic backstop) seals what it finds.
CREATE TABLE audit_pending (
  -- Sealing order. A bigserial has gaps (rollbacks) and is assigned before commit, so a lower id
  -- may commit after a higher one and be sealed after it: fine, because seq, not id, is the
  -- order of the chain, and an entry caused by another transaction's change is inserted after
  -- that transaction committed, so it always gets a higher id and a higher seq.
  id bigserial PRIMARY KEY,
  -- The writer's time (statement_timestamp() of its INSERT: one value for the entries of one call).
  -- audit_events.occurred_at keeps it, so it is not strictly non-decreasing in seq order (docs/audit.md).
  occurred_at timestamptz NOT NULL CHECK (occurred_at = date_trunc('milliseconds', occurred_at)),
  -- The same checks as audit_events: a row the sealer could not insert would stop the chain, so
  -- it is refused here, in the writer's transaction.
  actor_type text NOT NULL CHECK (actor_type IN ('hr_source', 'api_token', 'oidc', 'system')),
  actor_id text NOT NULL CHECK (actor_id <> ''),
  action text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  employee_id text,
  system text,
  account_id text,
  correlation_id text,
  details jsonb NOT NULL CHECK (jsonb_typeof(details) = 'object')
);

-- A pending row leaves only by being sealed: UPDATE, DELETE and TRUNCATE are refused, except the
-- DELETE of audit_seal_pending() below, which sets tenure.audit_sealing transaction-locally (the
-- same shape as retention's tenure.audit_prune_through in 0002).
CREATE FUNCTION audit_pending_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' AND current_setting('tenure.audit_sealing', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_pending rows leave only by being sealed: % is refused', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Pending audit entries are moved into audit_events by audit_seal_pending() (src/audit/sealer.ts).';
END
$$;

CREATE TRIGGER audit_pending_refuse_change BEFORE UPDATE OR DELETE ON audit_pending
  FOR EACH ROW EXECUTE FUNCTION audit_pending_refuse_change();
CREATE TRIGGER audit_pending_refuse_truncate BEFORE TRUNCATE ON audit_pending
  FOR EACH STATEMENT EXECUTE FUNCTION audit_pending_refuse_change();

-- The sealer's one write: moves the pending rows `ids` into audit_events with the seq, prev_hash
-- and hash the sealer computed (src/audit/sealer.ts, with computeHash(): RFC 8785 is not
-- available in SQL). The content comes from the pending rows themselves, not from the caller.
-- The caller took the chain lock with audit_chain_head() before reading the head and the rows;
-- taking it again here is a no-op for it and makes any other caller wait for the lock. The
-- append trigger of audit_events still checks that every row continues the head.
CREATE FUNCTION audit_seal_pending(ids bigint[], seqs bigint[], prev_hashes text[], hashes text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  sealed bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(7402519401);
  PERFORM set_config('tenure.audit_sealing', 'on', true);
  WITH s AS (
    SELECT * FROM unnest(ids, seqs, prev_hashes, hashes) AS s(id, seq, prev_hash, hash)
  ), moved AS (
    DELETE FROM audit_pending p USING s WHERE p.id = s.id
    RETURNING p.*, s.seq AS sealed_seq, s.prev_hash AS sealed_prev_hash, s.hash AS sealed_hash
  )
  INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, employee_id, system, account_id,
                            correlation_id, details, prev_hash, hash)
  SELECT m.sealed_seq, m.occurred_at, m.actor_type, m.actor_id, m.action, m.employee_id, m.system, m.account_id,
         m.correlation_id, m.details, m.sealed_prev_hash, m.sealed_hash
  FROM moved m ORDER BY m.sealed_seq;
  GET DIAGNOSTICS sealed = ROW_COUNT;
  PERFORM set_config('tenure.audit_sealing', '', true);
  IF sealed <> coalesce(cardinality(ids), 0) THEN
    RAISE EXCEPTION 'sealed % of % pending audit entries: some were not pending', sealed, coalesce(cardinality(ids), 0)
      USING ERRCODE = 'integrity_constraint_violation',
            HINT = 'Seal under the chain lock (audit_chain_head()), from rows read after taking it.';
  END IF;
  RETURN sealed;
END
$$;

DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION audit_seal_pending(bigint[], bigint[], text[], text[]) SET search_path = pg_catalog, %I, pg_temp', current_schema());
END
$$;

REVOKE ALL ON audit_pending FROM PUBLIC, tenure_app;
REVOKE ALL ON FUNCTION audit_seal_pending(bigint[], bigint[], text[], text[]) FROM PUBLIC;
GRANT SELECT, INSERT ON audit_pending TO tenure_app;
GRANT USAGE ON SEQUENCE audit_pending_id_seq TO tenure_app;
GRANT EXECUTE ON FUNCTION audit_seal_pending(bigint[], bigint[], text[], text[]) TO tenure_app;
