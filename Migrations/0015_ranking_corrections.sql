-- Corrections: a labeler may correct a ranking within the minutes the project sets. The
-- correction is a new ranking; the one it corrects stays, marked with when it was superseded and
-- by which, so an export as of a time, and a training snapshot, take what was current then.
--
-- A labeler has one current ranking of a prompt, no longer one ranking: the table's
-- UNIQUE (prompt_id, labeler_id) becomes a unique index over the current rankings only. SQLite
-- cannot drop a table constraint, so both tables are rebuilt (SQLite's documented way). The
-- entries are copied first and their old table dropped before the rankings' own, so that no
-- ON DELETE CASCADE runs; renaming the new tables rewrites the entries' reference to the new name.
CREATE TABLE new_rankings (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    labeler_id INTEGER NOT NULL REFERENCES users (id),
    none_acceptable INTEGER NOT NULL DEFAULT 0 CHECK (none_acceptable IN (0, 1)),
    comment TEXT NOT NULL DEFAULT '',
    -- JSON array of candidate ids in the order the labeler saw them (for position bias).
    shown_order TEXT NOT NULL CHECK (json_valid(shown_order)),
    seconds_spent REAL CHECK (seconds_spent IS NULL OR seconds_spent >= 0),
    submitted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    all_equal INTEGER NOT NULL DEFAULT 0 CHECK (all_equal IN (0, 1)),
    strength REAL CHECK (strength IS NULL OR strength >= 0),
    -- The ranking this one corrects (NULL for a first submission), and, once corrected, when.
    corrects_id INTEGER REFERENCES new_rankings (id),
    superseded_at TEXT,
    CHECK (corrects_id IS NULL OR corrects_id < id)
) STRICT;
INSERT INTO new_rankings (id, prompt_id, labeler_id, none_acceptable, comment, shown_order, seconds_spent, submitted_at, all_equal, strength)
    SELECT id, prompt_id, labeler_id, none_acceptable, comment, shown_order, seconds_spent, submitted_at, all_equal, strength FROM rankings;

CREATE TABLE new_ranking_entries (
    ranking_id INTEGER NOT NULL REFERENCES new_rankings (id) ON DELETE CASCADE,
    candidate_id INTEGER NOT NULL REFERENCES candidates (id),
    -- 1 is best; equal ranks are ties.
    rank INTEGER NOT NULL CHECK (rank BETWEEN 1 AND 9),
    rating INTEGER,
    flags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(flags) AND json_type(flags) = 'array'),
    PRIMARY KEY (ranking_id, candidate_id)
) STRICT;
INSERT INTO new_ranking_entries SELECT ranking_id, candidate_id, rank, rating, flags FROM ranking_entries;

DROP TABLE ranking_entries;
DROP TABLE rankings;
ALTER TABLE new_rankings RENAME TO rankings;
ALTER TABLE new_ranking_entries RENAME TO ranking_entries;
CREATE INDEX rankings_by_time ON rankings (submitted_at);
CREATE UNIQUE INDEX rankings_current_per_labeler ON rankings (prompt_id, labeler_id) WHERE superseded_at IS NULL;
CREATE INDEX rankings_by_correction ON rankings (corrects_id) WHERE corrects_id IS NOT NULL;

-- The rankings in force: what queues, counts, agreement and training read. Exports as of a
-- time read the table itself (a ranking is current at T if submitted before T and superseded,
-- if ever, at or after T).
CREATE VIEW current_rankings AS SELECT * FROM rankings WHERE superseded_at IS NULL;

-- Minutes after submitting a ranking during which its labeler may correct it (0: never).
ALTER TABLE projects ADD COLUMN correction_minutes INTEGER NOT NULL DEFAULT 60 CHECK (correction_minutes BETWEEN 0 AND 10080);
