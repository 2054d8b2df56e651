-- Corrections of demonstrations, as of rankings (0015): a labeler may correct their own
-- demonstration within the project's correction minutes of first writing one for the prompt.
-- The correction is a new demonstration; the one it corrects stays, marked with when it was
-- superseded, so an export as of a time and a job's snapshot take what was current then.
--
-- A labeler has one current demonstration of a prompt, no longer one demonstration: the
-- table's UNIQUE (prompt_id, labeler_id) becomes a unique index over the current ones only.
-- SQLite cannot drop a table constraint, so the table is rebuilt (SQLite's documented way);
-- nothing references it, so dropping the old one cascades nowhere.
CREATE TABLE new_demonstrations (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    labeler_id INTEGER NOT NULL REFERENCES users (id),
    text TEXT NOT NULL CHECK (length(trim(text)) > 0),
    -- The model suggestion the labeler started from and edited, when there was one.
    prefilled_from_candidate_id INTEGER REFERENCES candidates (id) ON DELETE SET NULL,
    seconds_spent REAL CHECK (seconds_spent IS NULL OR seconds_spent >= 0),
    submitted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- The demonstration this one corrects (NULL for a first submission), and, once corrected, when.
    corrects_id INTEGER REFERENCES new_demonstrations (id),
    superseded_at TEXT,
    CHECK (corrects_id IS NULL OR corrects_id < id)
) STRICT;
INSERT INTO new_demonstrations (id, prompt_id, labeler_id, text, prefilled_from_candidate_id, seconds_spent, submitted_at)
    SELECT id, prompt_id, labeler_id, text, prefilled_from_candidate_id, seconds_spent, submitted_at FROM demonstrations;
DROP TABLE demonstrations;
ALTER TABLE new_demonstrations RENAME TO demonstrations;
CREATE INDEX demonstrations_by_time ON demonstrations (submitted_at);
CREATE UNIQUE INDEX demonstrations_current_per_labeler ON demonstrations (prompt_id, labeler_id) WHERE superseded_at IS NULL;

-- The demonstrations in force: what queues, counts and the browser read. Exports as of a time
-- read the table itself (current at T if submitted before T and superseded, if ever, at or after T).
CREATE VIEW current_demonstrations AS SELECT * FROM demonstrations WHERE superseded_at IS NULL;
