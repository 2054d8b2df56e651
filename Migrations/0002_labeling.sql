-- Projects, prompts, candidate outputs and the rankings labelers give them.

CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- Shown to labelers on every task.
    guidelines TEXT NOT NULL DEFAULT '',
    -- Candidates per ranking task (InstructGPT ranked K = 4 to 9).
    ranking_size INTEGER NOT NULL DEFAULT 4 CHECK (ranking_size BETWEEN 2 AND 9),
    -- Distinct labelers who label each item.
    overlap INTEGER NOT NULL DEFAULT 1 CHECK (overlap BETWEEN 1 AND 20),
    rating_minimum INTEGER NOT NULL DEFAULT 1,
    rating_maximum INTEGER NOT NULL DEFAULT 7,
    -- JSON array of the flag names labelers may set on a candidate.
    flags TEXT NOT NULL CHECK (json_valid(flags) AND json_type(flags) = 'array'),
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (rating_minimum < rating_maximum)
) STRICT;

CREATE TABLE prompts (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- text: content is the prompt; conversation: content is a JSON array of {role, content}.
    kind TEXT NOT NULL CHECK (kind IN ('text', 'conversation')),
    content TEXT NOT NULL,
    category TEXT CHECK (category IN ('generation', 'open_qa', 'brainstorming', 'chat', 'rewrite', 'summarization',
                                      'classification', 'closed_qa', 'extract', 'other')),
    split TEXT NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'validation', 'test')),
    source TEXT NOT NULL CHECK (source IN ('imported', 'labeler', 'api')),
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    -- SHA-256 of the kind and content: re-importing a prompt finds it instead of copying it.
    content_hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (project_id, content_hash)
) STRICT;

CREATE TABLE candidates (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (prompt_id, content_hash)
) STRICT;
CREATE INDEX candidates_by_prompt ON candidates (prompt_id);

-- One labeler's ranking of a prompt's candidates.
CREATE TABLE rankings (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    labeler_id INTEGER NOT NULL REFERENCES users (id),
    none_acceptable INTEGER NOT NULL DEFAULT 0 CHECK (none_acceptable IN (0, 1)),
    comment TEXT NOT NULL DEFAULT '',
    -- JSON array of candidate ids in the order the labeler saw them (for position bias).
    shown_order TEXT NOT NULL CHECK (json_valid(shown_order)),
    seconds_spent REAL CHECK (seconds_spent IS NULL OR seconds_spent >= 0),
    submitted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (prompt_id, labeler_id)
) STRICT;
CREATE INDEX rankings_by_time ON rankings (submitted_at);

CREATE TABLE ranking_entries (
    ranking_id INTEGER NOT NULL REFERENCES rankings (id) ON DELETE CASCADE,
    candidate_id INTEGER NOT NULL REFERENCES candidates (id),
    -- 1 is best; equal ranks are ties.
    rank INTEGER NOT NULL CHECK (rank BETWEEN 1 AND 9),
    rating INTEGER,
    flags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(flags) AND json_type(flags) = 'array'),
    PRIMARY KEY (ranking_id, candidate_id)
) STRICT;
