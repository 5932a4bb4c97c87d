-- Sessions move from a WITHOUT ROWID table to a rowid table with a unique
-- index on id. A session row carries the call's facts (a kilobyte or two of
-- JSON). SQLite keeps at most about a quarter of a page of a WITHOUT ROWID
-- row on its b-tree page and the rest on overflow pages, so every update of
-- a session wrote two or more pages; a rowid table keeps a row of up to a
-- whole page in place (SQLite's own advice: WITHOUT ROWID suits rows under
-- about a twentieth of a page). About half the writer's time per session
-- update (docs/benchmarks.md).
--
-- The usual table rebuild; the store runs migrations with foreign keys off
-- and checks them before the commit.

CREATE TABLE sessions_v2 (
    id         TEXT    NOT NULL,
    flow       TEXT    NOT NULL,
    revision   TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    final      INTEGER NOT NULL DEFAULT 0,
    version    INTEGER NOT NULL,
    data       BLOB,
    last_seq   INTEGER NOT NULL DEFAULT 0, -- highest history seq, kept here so appends need no MAX()
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO sessions_v2 (id, flow, revision, state, final, version, data, last_seq, created_at, updated_at)
    SELECT id, flow, revision, state, final, version, data, last_seq, created_at, updated_at
    FROM sessions ORDER BY id; -- the old key's order: no sort
DROP TABLE sessions;
ALTER TABLE sessions_v2 RENAME TO sessions;
CREATE UNIQUE INDEX sessions_id ON sessions (id);
CREATE INDEX sessions_live ON sessions (id) WHERE final = 0;
