-- Screening (InstructGPT appendix B.1): how applicants register, the tests they take, the
-- researchers' gold answers those tests are scored against, and the admins' grades and
-- decisions. Also gold items mixed into the ranking queues of working labelers.

-- Invite codes, stored as their SHA-256 like sessions: the code itself is shown once.
CREATE TABLE invite_codes (
    id INTEGER PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    note TEXT NOT NULL DEFAULT '',
    uses_allowed INTEGER NOT NULL DEFAULT 1 CHECK (uses_allowed BETWEEN 1 AND 10000),
    uses INTEGER NOT NULL DEFAULT 0 CHECK (uses BETWEEN 0 AND uses_allowed),
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE screening_tests (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- Shown to the applicant above the test.
    instructions TEXT NOT NULL DEFAULT '',
    -- JSON array of the flag names applicants may set in flagging items.
    flags TEXT NOT NULL CHECK (json_valid(flags) AND json_type(flags) = 'array'),
    -- Pass marks: agreement with the gold flags, pairwise agreement with the gold rankings
    -- (fractions), and the average grade of the demonstrations (on 1 to 7).
    flag_threshold REAL NOT NULL DEFAULT 0.75 CHECK (flag_threshold BETWEEN 0 AND 1),
    ranking_threshold REAL NOT NULL DEFAULT 0.75 CHECK (ranking_threshold BETWEEN 0 AND 1),
    demonstration_threshold REAL NOT NULL DEFAULT 6 CHECK (demonstration_threshold BETWEEN 1 AND 7),
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Who may register, and which test applicants take. One row: the server's single policy.
CREATE TABLE registration (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- closed: only admins create accounts; open: anyone may apply; invite: applying needs a code.
    mode TEXT NOT NULL DEFAULT 'closed' CHECK (mode IN ('closed', 'open', 'invite')),
    screening_test_id INTEGER REFERENCES screening_tests (id) ON DELETE SET NULL,
    updated_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
INSERT INTO registration (id) VALUES (1);

-- One question of a test. Its gold answer lives beside it: a screening item is a document of
-- its own, not a project prompt.
CREATE TABLE screening_items (
    id INTEGER PRIMARY KEY,
    test_id INTEGER NOT NULL REFERENCES screening_tests (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('flagging', 'ranking', 'demonstration', 'self_assessment')),
    -- The prompt (flagging, ranking, demonstration) or the question (self_assessment).
    prompt TEXT NOT NULL CHECK (length(prompt) >= 1),
    -- JSON array of the outputs to flag or to rank; empty for the other kinds.
    candidates TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(candidates) AND json_type(candidates) = 'array'),
    -- Gold answers: ranks aligned with the candidates (ranking), a flag list per candidate
    -- (flagging), an exemplary response shown to graders (demonstration).
    gold_ranks TEXT CHECK (gold_ranks IS NULL OR json_valid(gold_ranks)),
    gold_flags TEXT CHECK (gold_flags IS NULL OR json_valid(gold_flags)),
    reference_response TEXT,
    UNIQUE (test_id, position),
    CHECK (kind <> 'ranking' OR gold_ranks IS NOT NULL),
    CHECK (kind <> 'flagging' OR gold_flags IS NOT NULL)
) STRICT;

CREATE TABLE screening_attempts (
    id INTEGER PRIMARY KEY,
    test_id INTEGER NOT NULL REFERENCES screening_tests (id) ON DELETE CASCADE,
    applicant_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    submitted_at TEXT,
    -- The admin's decision on the applicant, with their note.
    decision TEXT CHECK (decision IS NULL OR decision IN ('accepted', 'rejected')),
    decided_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    decided_at TEXT,
    decision_note TEXT,
    UNIQUE (test_id, applicant_id),
    CHECK (decision IS NULL OR submitted_at IS NOT NULL)
) STRICT;
CREATE INDEX screening_attempts_by_applicant ON screening_attempts (applicant_id);

-- The applicant's answer to one item, and the admin's grade of a demonstration.
CREATE TABLE screening_responses (
    attempt_id INTEGER NOT NULL REFERENCES screening_attempts (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL REFERENCES screening_items (id) ON DELETE CASCADE,
    -- JSON: {"flags": [[...], ...]}, {"ranks": [...], "ratings": [...]}, {"text": "..."} or {"value": n}.
    answer TEXT NOT NULL CHECK (json_valid(answer)),
    grade INTEGER CHECK (grade IS NULL OR grade BETWEEN 1 AND 7),
    grade_note TEXT,
    graded_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    graded_at TEXT,
    PRIMARY KEY (attempt_id, item_id)
) STRICT;

-- Gold answers of project prompts: a researcher's ranking and flags, against which the
-- labelers who are served the prompt from the queue are scored. One row per candidate.
CREATE TABLE gold_answers (
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    candidate_id INTEGER NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    rank INTEGER NOT NULL CHECK (rank BETWEEN 1 AND 9),
    flags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(flags) AND json_type(flags) = 'array'),
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (prompt_id, candidate_id)
) STRICT;

-- The chance that a labeler asking for a ranking task is served a gold prompt instead.
ALTER TABLE projects ADD COLUMN gold_rate REAL NOT NULL DEFAULT 0 CHECK (gold_rate BETWEEN 0 AND 1);
