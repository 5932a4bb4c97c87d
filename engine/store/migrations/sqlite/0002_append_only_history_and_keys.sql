-- History entries and idempotency keys move from WITHOUT ROWID tables,
-- clustered by (session, seq) and by key, to rowid tables with a unique
-- index on those columns. Each event adds one row to each; clustered, that
-- row (most of a kilobyte: the history entry, the stored reply) landed on a
-- random leaf page, which it often split. Now the row is appended at the
-- end of its table, where the rows of every event in a group commit share
-- a page, and only a small index entry lands at random: about a third less
-- writer time per event (docs/benchmarks.md). Reads go through the unique
-- indexes in the same order as before.

CREATE TABLE history_v2 (
    id      INTEGER PRIMARY KEY,
    session TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    data    BLOB
);
INSERT INTO history_v2 (session, seq, at, kind, data)
    SELECT session, seq, at, kind, data FROM history ORDER BY session, seq; -- the old key's order: no sort
DROP TABLE history;
ALTER TABLE history_v2 RENAME TO history;
CREATE UNIQUE INDEX history_session_seq ON history (session, seq);

-- No foreign key, as before: the key is written before the session row
-- exists on create.
CREATE TABLE idempotency_v2 (
    id         INTEGER PRIMARY KEY,
    key        TEXT    NOT NULL,
    session    TEXT    NOT NULL,
    reply      BLOB,
    created_at INTEGER NOT NULL
);
INSERT INTO idempotency_v2 (key, session, reply, created_at)
    SELECT key, session, reply, created_at FROM idempotency ORDER BY created_at, key; -- write order, which Prune relies on
DROP TABLE idempotency;
ALTER TABLE idempotency_v2 RENAME TO idempotency;
CREATE UNIQUE INDEX idempotency_key ON idempotency (key);
