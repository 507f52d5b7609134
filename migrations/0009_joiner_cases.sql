-- Joiner cases: one per hire (kind 'joiner' in cases), open until every account the policy
-- grants is ready. Their systems record when the account was created or restored, the joiner
-- counterpart of a leaver system's verified revocation.
ALTER TABLE case_systems ADD COLUMN provisioned_at timestamptz;
