-- Human evaluation: model versions' answers to held-out prompts, shown to labelers two at a
-- time without their names (InstructGPT's and Chatbot Arena's pairwise comparisons), the
-- verdicts, and each reward model's scores of the same answers (its agreement with the
-- labelers). Kept apart from candidates: held-out answers are never training data.

-- One version's answer to one held-out prompt, reused in every pair it takes part in, so that
-- a version is judged on the same answer against every opponent.
CREATE TABLE evaluation_answers (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    model_version_id INTEGER NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    -- The evaluation job that sampled it.
    job_id INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    text TEXT NOT NULL CHECK (length(text) > 0),
    -- Whether the answer ended with the end token rather than at the length limit.
    ended INTEGER NOT NULL CHECK (ended IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (prompt_id, model_version_id)
) STRICT;

-- Two versions' answers to the same prompt, the sides drawn at random when the pair is made
-- (and recorded here: position bias is measured from it).
CREATE TABLE evaluation_pairs (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    left_answer_id INTEGER NOT NULL REFERENCES evaluation_answers (id) ON DELETE CASCADE,
    right_answer_id INTEGER NOT NULL REFERENCES evaluation_answers (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (left_answer_id, right_answer_id),
    CHECK (left_answer_id <> right_answer_id)
) STRICT;
CREATE INDEX evaluation_pairs_by_project ON evaluation_pairs (project_id, id);

-- A labeler's verdict on a pair: the left answer is better, the right one, or a tie.
CREATE TABLE evaluation_judgments (
    id INTEGER PRIMARY KEY,
    pair_id INTEGER NOT NULL REFERENCES evaluation_pairs (id) ON DELETE CASCADE,
    labeler_id INTEGER NOT NULL REFERENCES users (id),
    preference TEXT NOT NULL CHECK (preference IN ('left', 'right', 'tie')),
    comment TEXT NOT NULL DEFAULT '',
    seconds_spent REAL CHECK (seconds_spent IS NULL OR seconds_spent >= 0),
    submitted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (pair_id, labeler_id)
) STRICT;

-- A reward model's score of an evaluation answer (its prompt and the answer).
CREATE TABLE evaluation_rewards (
    answer_id INTEGER NOT NULL REFERENCES evaluation_answers (id) ON DELETE CASCADE,
    reward_model_id INTEGER NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    reward REAL NOT NULL,
    PRIMARY KEY (answer_id, reward_model_id)
) STRICT, WITHOUT ROWID;
