-- Membership changes waiting on a target group whose member list is written whole (Slack's
-- usergroups.users.update replaces the list). Each job that adds or removes someone records the
-- change here; whichever job of any worker process next holds the group's advisory lock reads the
-- group once, applies every pending change in one write, reads the list back and settles each
-- row from that read (provisioners/slack/usergroups.ts, src/db/group-changes.ts). A job handed
-- back by the rate limiter keeps its change here, so the next round carries it.
CREATE SEQUENCE group_membership_changes_seq;

CREATE TABLE group_membership_changes (
  system text NOT NULL,
  group_id text NOT NULL,
  user_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('add', 'remove')),
  -- Request order: a round applies pending changes in this order; a new request takes a new seq,
  -- so a round settles only the requests it read.
  seq bigint NOT NULL,
  -- pending: not applied yet; written: sent, not yet read back (a read-back failed);
  -- changed / unchanged / refused: settled from a read of the group.
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'written', 'changed', 'unchanged', 'refused')),
  code text,
  reason text,
  -- Idempotency keys of the jobs that asked for this change and have not taken the outcome yet.
  waiting text[] NOT NULL DEFAULT '{}',
  -- x-slack-req-id (or the vendor's request ids) of the read, write and read-back that settled it.
  request_ids text[] NOT NULL DEFAULT '{}',
  requested_at timestamptz NOT NULL DEFAULT now(),
  settled_at timestamptz,
  PRIMARY KEY (system, group_id, user_id, kind)
);

CREATE INDEX group_membership_changes_open_idx ON group_membership_changes (system, group_id, seq) WHERE state IN ('pending', 'written');

-- The limiter's line of handed-back callers per bucket (src/jobs/limiter.ts): a caller refused
-- because the bucket is booked further ahead than it may wait is given the next slot after
-- every earlier refused caller's, so N waiting calls come back spread over N slots instead of
-- all re-polling every few seconds.
ALTER TABLE rate_limit_buckets ADD COLUMN deferred_until timestamptz;
