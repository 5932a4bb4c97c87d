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

-- Plain INTEGER PRIMARY KEY (no AUTOINCREMENT, whose sqlite_sequence row
-- would cost another page write per commit): ids are max+1, so they only
-- ever increase as long as the newest row is never deleted, which Prune
-- (the only delete) makes sure of.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
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

-- Every index is a page write per commit, so only two: all items of a
-- session (listing), and the pending ones per session, from which the claim
-- takes each session's head.
CREATE INDEX outbox_session ON outbox (session, id);
CREATE INDEX outbox_pending ON outbox (session, id) WHERE status = 'pending';

-- No foreign key: the key is written before the session row exists on create.
CREATE TABLE idempotency (
    key        TEXT    PRIMARY KEY,
    session    TEXT    NOT NULL,
    reply      BLOB,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
