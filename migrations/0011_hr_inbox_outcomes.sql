-- HR intake outcomes a person must be able to see.
-- not_found: a thin notice (joiner, change, leave) whose re-fetch found no such employee in the
-- HR system; nothing was applied, and before this it was recorded as 'processed' with 0 events.
ALTER TABLE hr_inbox DROP CONSTRAINT hr_inbox_status_check;
ALTER TABLE hr_inbox ADD CONSTRAINT hr_inbox_status_check
  CHECK (status IN ('received', 'processed', 'failed', 'held', 'rejected', 'not_found'));
-- Vendor timestamps further in the future than the source's tolerance, clamped to the receipt
-- time: [{eventId, type, vendorOccurredAt, clampedTo}]. NULL when none was.
ALTER TABLE hr_inbox ADD COLUMN timestamps_clamped jsonb;
-- The console's "HR notices that need a look": failed, not found, or clamped.
CREATE INDEX hr_inbox_attention_idx ON hr_inbox (received_at DESC)
  WHERE status IN ('failed', 'not_found') OR timestamps_clamped IS NOT NULL;
