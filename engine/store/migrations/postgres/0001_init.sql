-- flowd store schema, PostgreSQL. Opaque JSON is bytea so it round-trips
-- byte for byte (jsonb would reformat it and reject empty payloads).

CREATE TABLE sessions (
    id         text        PRIMARY KEY,
    flow       text        NOT NULL,
    revision   text        NOT NULL,
    state      text        NOT NULL,
    final      boolean     NOT NULL DEFAULT false,
    version    bigint      NOT NULL,
    data       bytea,
    last_seq   bigint      NOT NULL DEFAULT 0, -- highest history seq; its row lock orders appends
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX sessions_live ON sessions (id) WHERE NOT final;

CREATE TABLE aliases (
    alias   text PRIMARY KEY,
    session text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);

CREATE INDEX aliases_session ON aliases (session);

CREATE TABLE history (
    session text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq     bigint      NOT NULL,
    at      timestamptz NOT NULL,
    kind    text        NOT NULL,
    data    bytea,
    PRIMARY KEY (session, seq)
);

CREATE TABLE outbox (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session      text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind         text        NOT NULL,
    payload      bytea,
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL,
    lease_owner  text        NOT NULL DEFAULT '',
    lease_until  timestamptz,
    last_error   text        NOT NULL DEFAULT '',
    result       bytea,
    created_at   timestamptz NOT NULL
);

CREATE INDEX outbox_session ON outbox (session, id);
-- The claim scans pending items only (by id, and per session for the
-- "oldest unfinished item" rule); sent/failed rows accumulate.
CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
CREATE INDEX outbox_pending_session ON outbox (session, id) WHERE status = 'pending';

-- No foreign key: the key is written before the session row exists on create.
CREATE TABLE idempotency (
    key        text        PRIMARY KEY,
    session    text        NOT NULL,
    reply      bytea,
    created_at timestamptz NOT NULL
);
