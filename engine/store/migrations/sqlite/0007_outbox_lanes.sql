-- Outbox lanes: items of one session are sent strictly in order within a
-- lane, and lanes do not wait for each other. The engine puts voice calls
-- (calls, conferences, participants) and TaskRouter calls (tasks,
-- reservations, workers) in separate lanes, so a TaskRouter call that
-- keeps failing no longer holds up the caller's hold, unhold or transfer.
ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT '';

-- Items still pending from before the upgrade join the lanes the engine
-- gives such items now (twilio.OpKind.Lane), so a new item never overtakes
-- an older one of its own lane.
UPDATE outbox SET lane = CASE
        WHEN kind LIKE 'task.%' OR kind LIKE 'reservation.%' OR kind LIKE 'worker.%' THEN 'taskrouter'
        ELSE 'voice' END
    WHERE status = 'pending';

-- The claim takes the head of each session's lane.
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (session, lane, id) WHERE status = 'pending';
