-- flowd store schema, SQLite. Times are INTEGER Unix nanoseconds (UTC): exact,
-- compact and compared as plain integers by the outbox claim.

CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    flow       TEXT    NOT NULL,
    revision   TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    final      INTEGER NOT NULL DEFAULT 0,
    version    INTEGER NOT NULL,
    data       BLOB,
    last_seq   INTEGER NOT NULL DEFAULT 0, -- highest history seq, kept here so appends need no MAX()
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX sessions_live ON sessions (id) WHERE final = 0;

CREATE TABLE aliases (
    alias   TEXT PRIMARY KEY,
    session TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX aliases_session ON aliases (session);

CREATE TABLE history (
    session TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    data    BLOB,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;

-- AUTOINCREMENT: IDs are never reused, so "increasing" holds even after rows
-- are deleted by a future retention job.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    session      TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    payload      BLOB,
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    lease_owner  TEXT    NOT NULL DEFAULT '',
    lease_until  INTEGER,
    last_error   TEXT    NOT NULL DEFAULT '',
    result       BLOB,
    created_at   INTEGER NOT NULL
);

CREATE INDEX outbox_session ON outbox (session, id);
-- The claim scans pending items only (by id, and per session for the
-- "oldest unfinished item" rule); sent/failed rows accumulate.
CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
CREATE INDEX outbox_pending_session ON outbox (session, id) WHERE status = 'pending';

-- No foreign key: the key is written before the session row exists on create.
CREATE TABLE idempotency (
    key        TEXT    PRIMARY KEY,
    session    TEXT    NOT NULL,
    reply      BLOB,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
