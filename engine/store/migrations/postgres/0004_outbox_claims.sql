-- How many times each outbox item was leased. A lease that ended without
-- MarkSent, Retry or MarkFailed (a crash mid-send) shows as more claims
-- than settled attempts, and the dispatcher then checks with Twilio before
-- repeating a request that cannot be repeated safely (CreateTask).
ALTER TABLE outbox ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
