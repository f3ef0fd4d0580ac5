-- How each timed turn ended: completed, interrupted or failed (TurnTimed.outcome).
CREATE TABLE turn_outcomes (
    conversation_id TEXT NOT NULL,
    turn_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, turn_id)
);
CREATE INDEX turn_outcomes_by_position ON turn_outcomes (position);
