-- Residual access: what a provisioner could not remove (an entitlement its API cannot touch, a
-- clean-up or cut-off that failed for good) becomes a task for a person, who either removes it by
-- hand or keeps it under an approved exception. Residual tasks belong to a target system with an
-- API, so they name the employee directly instead of through a manual system's account.
ALTER TABLE manual_tasks DROP CONSTRAINT manual_tasks_kind_check;
ALTER TABLE manual_tasks ADD CONSTRAINT manual_tasks_kind_check
  CHECK (kind IN ('provision', 'revoke', 'suspend', 'enable', 'change', 'residual'));
ALTER TABLE manual_tasks ADD COLUMN employee_id uuid REFERENCES employees (id);
ALTER TABLE manual_tasks ADD COLUMN case_id uuid REFERENCES cases (id);
-- removed: taken away by hand; accepted: kept under the approved exception named in exception_id.
ALTER TABLE manual_tasks ADD COLUMN resolution text CHECK (resolution IN ('removed', 'accepted'));
ALTER TABLE manual_tasks ADD COLUMN exception_id uuid REFERENCES exceptions (id);
CREATE INDEX manual_tasks_case_idx ON manual_tasks (case_id) WHERE case_id IS NOT NULL;
