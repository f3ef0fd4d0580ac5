-- Timers (set / fired / cancelled); the label is user content.
CREATE TABLE timers (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX timers_by_due ON timers (state, due_at);
