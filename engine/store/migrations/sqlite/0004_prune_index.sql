-- Finished sessions by age, for Prune (retention). Partial: a live
-- session is not in it, so the updates of a call in progress never touch
-- it; a session enters it once, when it reaches a final state.
CREATE INDEX sessions_finished ON sessions (updated_at) WHERE final = 1;
