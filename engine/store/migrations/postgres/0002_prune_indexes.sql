-- For Prune (retention): finished sessions by age (partial, so the updates
-- of a call in progress never touch it) and idempotency keys by age.
CREATE INDEX sessions_finished ON sessions (updated_at) WHERE final;
CREATE INDEX idempotency_created ON idempotency (created_at);
