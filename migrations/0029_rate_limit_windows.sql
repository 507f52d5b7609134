-- Sliding-minute limiter buckets (issue #21; src/jobs/limiter.ts, "Sliding minutes"). A vendor
-- that publishes "N queries per minute" (Google's Directory API: 2,400 per minute per user) is
-- within quota when no 60-second interval holds more than N calls; a whole minute's quota may go
-- at once. The row keeps the calls granted per time slot over the last minute (and a margin), so
-- every process on the database shares one window, as the token buckets share their balance.
--
-- window_slots[1] counts the calls granted in slot window_head (slot = epoch ms / window_slot_ms,
-- rounded down), window_slots[i] those of slot window_head - i + 1. A token bucket's row keeps
-- them NULL. Nothing to backfill: a bucket that becomes a window starts with an empty one.
ALTER TABLE rate_limit_buckets
  ADD COLUMN window_slots integer[],
  ADD COLUMN window_head bigint,
  ADD COLUMN window_slot_ms integer;
