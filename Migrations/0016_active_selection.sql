-- Active selection: a project may order its ranking queue by the reward model's uncertainty
-- (the prompts whose candidates its latest reward model scores closest together first), with a
-- share of tasks still drawn at random so the labels stay an unbiased sample as well.
-- 'import' is the order prompts were imported in, as before.
ALTER TABLE projects ADD COLUMN queue_order TEXT NOT NULL DEFAULT 'import' CHECK (queue_order IN ('import', 'uncertainty'));
ALTER TABLE projects ADD COLUMN random_share REAL NOT NULL DEFAULT 0.2 CHECK (random_share BETWEEN 0 AND 1);

-- What a reward model version scored each candidate (before normalization does not matter for
-- margins: the normalization is a shift).
CREATE TABLE candidate_scores (
    candidate_id INTEGER NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    model_version_id INTEGER NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    score REAL NOT NULL,
    PRIMARY KEY (candidate_id, model_version_id)
) STRICT, WITHOUT ROWID;

-- The queue's order key: the smallest score difference between two of a prompt's candidates,
-- by the project's latest reward model; replaced whole after each new reward model version.
CREATE TABLE prompt_uncertainty (
    prompt_id INTEGER PRIMARY KEY REFERENCES prompts (id) ON DELETE CASCADE,
    model_version_id INTEGER NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    smallest_margin REAL NOT NULL CHECK (smallest_margin >= 0),
    scored_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
