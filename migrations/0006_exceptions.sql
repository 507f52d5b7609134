-- Exceptions to the default policy and their approval (src/exceptions, docs/exceptions.md).
-- The columns up to `details` are a contract with the reports (docs/exceptions.md lists them);
-- `snapshot` is the approval machine's XState persisted snapshot, `version` increases with every
-- transition (checked under the row lock, the same restore → send → persist as the engine).

CREATE TABLE exceptions (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('delay_revocation', 'retain_account', 'legal_hold', 'extra_access', 'sla_waiver')),
  employee_id uuid NOT NULL REFERENCES employees (id),
  -- The system it affects; NULL = every system of the employee.
  system text,
  reason text NOT NULL CHECK (reason <> ''),
  -- Actor id (API token id or OIDC sub) and its kind, as the audit trail records them.
  requested_by text NOT NULL,
  requested_by_type text NOT NULL CHECK (requested_by_type IN ('api_token', 'oidc', 'system')),
  requested_at timestamptz NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
  status text NOT NULL CHECK (status IN ('requested', 'awaiting_second_approval', 'approved', 'active', 'rejected', 'expired', 'revoked', 'lapsed')),
  -- [{ "actorId", "role", "at", "reason" }] in the order they were given.
  approvals jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(approvals) = 'array'),
  -- The final decision: the approval that made it approved, or the rejection.
  decided_at timestamptz,
  rejected_by text,
  rejection_reason text,
  revoked_at timestamptz,
  revoked_by text,
  revoke_reason text,
  expired_at timestamptz,
  -- { "grant": {...} } for extra_access; { "caseId", "newDeadlineAt", "originalDeadlineAt",
  -- "breachNotHidden", "systems": [...] } for sla_waiver; "requesterName", "approverNames".
  details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
  -- The leaver case an sla_waiver extends (required for that kind, informative for the others).
  case_id uuid REFERENCES cases (id),
  snapshot jsonb NOT NULL,
  version integer NOT NULL DEFAULT 1,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (kind <> 'sla_waiver' OR case_id IS NOT NULL)
);
-- The list endpoint pages newest first, optionally by status, employee or kind.
CREATE INDEX exceptions_requested_idx ON exceptions (requested_at DESC, id DESC);
CREATE INDEX exceptions_status_idx ON exceptions (status, requested_at DESC, id DESC);
CREATE INDEX exceptions_employee_idx ON exceptions (employee_id, requested_at DESC, id DESC);
CREATE INDEX exceptions_case_waiver_idx ON exceptions (case_id) WHERE kind = 'sla_waiver';

-- ---------------------------------------------------------------------------------------------
-- SLA waivers move revocation deadlines.
--
-- The engine re-projects `case_systems.deadline_at` and `cases.deadline_at` from the termination
-- moment and the SLA budget after every lifecycle event. An approved sla_waiver must survive that,
-- so the waiver is applied where the rows are written: the deadline the engine proposes is taken
-- as the system's original deadline and extended to the waiver's end, but only when the waiver was
-- approved (decided_at) before that original deadline: a waiver approved after the deadline passed
-- never hides the breach. A revoked waiver counts until it was revoked.

CREATE FUNCTION exceptions_waived_deadline(p_case uuid, p_system text, p_deadline timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
  -- GREATEST ignores NULL: with no waiver that applies, the original deadline stands.
  SELECT GREATEST(p_deadline, max(CASE WHEN x.status = 'revoked' THEN LEAST(x.revoked_at, x.ends_at) ELSE x.ends_at END))
    FROM exceptions x
   WHERE x.case_id = p_case
     AND x.kind = 'sla_waiver'
     AND (x.system IS NULL OR x.system = p_system)
     AND x.status IN ('approved', 'active', 'expired', 'revoked')
     AND x.decided_at IS NOT NULL
     AND x.decided_at < p_deadline
$$;

CREATE FUNCTION exceptions_case_has_waiver(p_case uuid)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM exceptions x WHERE x.case_id = p_case AND x.kind = 'sla_waiver' AND x.decided_at IS NOT NULL)
$$;

CREATE FUNCTION exceptions_case_systems_deadline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.deadline_at IS NOT NULL AND exceptions_case_has_waiver(NEW.case_id) THEN
    NEW.deadline_at := exceptions_waived_deadline(NEW.case_id, NEW.system, NEW.deadline_at);
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER case_systems_sla_waiver BEFORE INSERT OR UPDATE OF deadline_at ON case_systems
  FOR EACH ROW EXECUTE FUNCTION exceptions_case_systems_deadline();

-- With a waiver on the case, its deadline is the earliest deadline among the systems still to be
-- secured: the SLA escalation counts every unverified system as at risk at the case deadline, so
-- a case whose other systems are done must not breach at their (earlier) deadline while the
-- waived one is within its extension. Once every system is secured the deadline stays as it was.
CREATE FUNCTION exceptions_cases_deadline() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  open_min timestamptz;
BEGIN
  IF NEW.kind <> 'leaver' OR NOT exceptions_case_has_waiver(NEW.id) THEN
    RETURN NEW;
  END IF;
  SELECT min(cs.deadline_at) INTO open_min
    FROM case_systems cs
   WHERE cs.case_id = NEW.id AND cs.verified_at IS NULL AND cs.status NOT IN ('absent', 'done');
  NEW.deadline_at := COALESCE(open_min, OLD.deadline_at, NEW.deadline_at);
  RETURN NEW;
END $$;

CREATE TRIGGER cases_sla_waiver BEFORE UPDATE ON cases
  FOR EACH ROW EXECUTE FUNCTION exceptions_cases_deadline();

-- The engine writes the case row before its systems: refresh the case deadline after a system row
-- changed, so it follows the systems of this projection rather than the previous one.
CREATE FUNCTION exceptions_case_systems_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF exceptions_case_has_waiver(NEW.case_id) THEN
    UPDATE cases SET deadline_at = deadline_at WHERE id = NEW.case_id;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER case_systems_sla_waiver_refresh AFTER INSERT OR UPDATE ON case_systems
  FOR EACH ROW EXECUTE FUNCTION exceptions_case_systems_refresh();
