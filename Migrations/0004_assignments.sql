-- Assignments: a task handed to one labeler from the queue. An active assignment holds one of the
-- item's overlap slots until it is submitted, skipped, or expires (an abandoned task returns to
-- the queue by itself: expiry is a comparison with the clock, not a job that must run).
-- Prompts written by labelers, and how many the project wants.

CREATE TABLE assignments (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    labeler_id INTEGER NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('ranking', 'demonstration')),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'submitted', 'skipped')),
    -- JSON array of candidate ids in the order this labeler is shown them (rankings only).
    shown_order TEXT CHECK (shown_order IS NULL OR json_valid(shown_order)),
    skip_reason TEXT,
    assigned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at TEXT NOT NULL,
    finished_at TEXT,
    UNIQUE (prompt_id, labeler_id, kind),
    CHECK ((status = 'skipped') = (skip_reason IS NOT NULL))
) STRICT;
CREATE INDEX assignments_by_labeler ON assignments (labeler_id, status);
CREATE INDEX assignments_by_prompt ON assignments (prompt_id, kind, status);

-- Minutes an assignment stays with its labeler before it returns to the queue.
ALTER TABLE projects ADD COLUMN assignment_minutes INTEGER NOT NULL DEFAULT 60 CHECK (assignment_minutes BETWEEN 1 AND 10080);
-- How many prompts the project wants its labelers to write (InstructGPT's labeler-written prompts).
ALTER TABLE projects ADD COLUMN prompts_wanted INTEGER NOT NULL DEFAULT 0 CHECK (prompts_wanted >= 0);

-- The labeler who wrote a prompt (source 'labeler'), or the user whose API call submitted it.
ALTER TABLE prompts ADD COLUMN author_id INTEGER REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX prompts_by_author ON prompts (author_id, created_at);
