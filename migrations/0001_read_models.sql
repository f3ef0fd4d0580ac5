-- Read models of luminad (SQLite + sqlite-vec). Every row of user data carries the log
-- position of the event that wrote it; `tracking` holds each projection's position and is
-- written in the same transaction as its rows.

CREATE TABLE tracking (
    projection TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

-- Events that could not be decoded (key gone is fine; this is corrupt or un-upcastable data).
CREATE TABLE bad_events (
    position INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    avatar_id TEXT,
    started_at TEXT NOT NULL,
    position INTEGER NOT NULL
);

CREATE TABLE turns (
    conversation_id TEXT NOT NULL,
    turn_id TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL,
    interrupted INTEGER NOT NULL DEFAULT 0,
    position INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, turn_id, role)
);
CREATE INDEX turns_by_position ON turns (conversation_id, position);

CREATE TABLE memories (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    avatar_id TEXT,
    conversation_id TEXT,
    turn_id TEXT,
    created_at TEXT NOT NULL,
    position INTEGER NOT NULL
);

-- scope: the avatar id (hex) or '' for memories shared by every avatar.
CREATE VIRTUAL TABLE memory_vectors USING vec0 (
    scope TEXT PARTITION KEY,
    embedding FLOAT[384] distance_metric=cosine
);

CREATE TABLE avatars (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    persona TEXT NOT NULL,
    style TEXT NOT NULL,
    voice TEXT NOT NULL,
    builtin INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    position INTEGER NOT NULL
);

CREATE TABLE profile (
    key TEXT PRIMARY KEY,   -- 'name' for the preferred name, 'pref:<key>' for preferences
    value TEXT NOT NULL,
    position INTEGER NOT NULL
);

CREATE TABLE turn_timings (
    conversation_id TEXT NOT NULL,
    turn_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    ms REAL NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, turn_id, stage)
);
CREATE INDEX turn_timings_by_position ON turn_timings (position);
