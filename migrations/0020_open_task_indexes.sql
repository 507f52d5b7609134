-- Stale tasks close themselves (src/db/manual-tasks.ts closeStaleTasks): every lifecycle event
-- looks for the person's open tasks, by the manual system's account key and, for residual-access
-- tasks, by employee id. Only open tasks are indexed: they are the few a person still has to do.
CREATE INDEX manual_tasks_open_account_idx ON manual_tasks (employee_external_id) WHERE status = 'open';
CREATE INDEX manual_tasks_open_employee_idx ON manual_tasks (employee_id) WHERE status = 'open' AND employee_id IS NOT NULL;
