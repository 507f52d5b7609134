-- The key an employee is known by in the target systems (their externalId / employeeId there, the
-- prefix of their job keys' meaning). It is the HR id, except when another HR source already has
-- an employee with the same id: then `<source>:<id>`, so two people who share an id in two HR
-- systems (BambooHR 1002 and a Deel contractor 1002) never share an account, a job or a task.
-- The first employee with an id keeps the bare id (accounts created before keep matching).
ALTER TABLE employees ADD COLUMN account_key text;

UPDATE employees e
   SET account_key = CASE
     WHEN EXISTS (SELECT 1 FROM employees o
                   WHERE o.external_id = e.external_id AND o.id <> e.id
                     AND (o.created_at, o.id) < (e.created_at, e.id))
     THEN e.source || ':' || e.external_id
     ELSE e.external_id
   END;

ALTER TABLE employees ALTER COLUMN account_key SET NOT NULL;
CREATE UNIQUE INDEX employees_account_key_idx ON employees (account_key);
