-- The source of every flow revision a session may be pinned to, so that a
-- call in progress keeps running the flow it started on after a restart
-- with edited flow files. Written once per revision (a few per deploy).
CREATE TABLE flow_revisions (
    revision   TEXT    PRIMARY KEY, -- hex sha256 of source
    name       TEXT    NOT NULL,
    file       TEXT    NOT NULL,
    source     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
