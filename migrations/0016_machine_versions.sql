-- The version of the state machine that wrote each persisted snapshot (the constants
-- EMPLOYEE_LIFECYCLE_VERSION and EXCEPTION_APPROVAL_VERSION beside the machines). A worker upgrades
-- an older snapshot on read (state-machines/upgrades.ts) and refuses one written by a newer
-- machine, so during a rolling upgrade an old worker never overwrites what a new one wrote.
--
-- Every snapshot stored before this migration was written by version 1 (the shape when
-- versioning began), hence the default. Workers from before this migration do not know the
-- column: their writes leave it as it is, which is right while every machine is version 1 (see
-- docs/operations.md, "Upgrades": this release must run everywhere before a release that bumps
-- a machine version). A constant default adds the column without rewriting the table.
ALTER TABLE employees ADD COLUMN machine_version integer NOT NULL DEFAULT 1 CHECK (machine_version >= 1);
ALTER TABLE exceptions ADD COLUMN machine_version integer NOT NULL DEFAULT 1 CHECK (machine_version >= 1);
