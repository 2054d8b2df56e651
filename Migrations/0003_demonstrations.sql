-- Demonstrations: a labeler's own answer to a prompt, for supervised fine-tuning.

CREATE TABLE demonstrations (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    labeler_id INTEGER NOT NULL REFERENCES users (id),
    text TEXT NOT NULL CHECK (length(trim(text)) > 0),
    -- The model suggestion the labeler started from and edited, when there was one.
    prefilled_from_candidate_id INTEGER REFERENCES candidates (id) ON DELETE SET NULL,
    seconds_spent REAL CHECK (seconds_spent IS NULL OR seconds_spent >= 0),
    submitted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (prompt_id, labeler_id)
) STRICT;
CREATE INDEX demonstrations_by_time ON demonstrations (submitted_at);
