-- AI labels (RLAIF): a model version acting as a labeler. An 'ai-labels' job has a reward model
-- rank each prompt's candidates by its scores, or a policy judge them two at a time by a written
-- rubric. Its rankings are stored here, apart from people's
-- (`rankings` holds people's only): no human export, queue, count, agreement or training
-- snapshot reads them; they are exported from their own route and measured against people's
-- rankings of the same prompts like a labeler is.
CREATE TABLE ai_rankings (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    -- The model version that judged (a reward model), and the job in which it did.
    model_version_id INTEGER NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    job_id INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    -- How it judged: 'reward-scores' (a reward model's scores, the higher first) or 'rubric' (a
    -- policy asked which of two answers is better by the rubric, recorded here; ranked by
    -- expected wins over every pair).
    method TEXT NOT NULL CHECK (method IN ('reward-scores', 'rubric')),
    rubric TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK ((method = 'rubric') = (rubric IS NOT NULL)),
    UNIQUE (prompt_id, model_version_id)
) STRICT;

CREATE TABLE ai_ranking_entries (
    ai_ranking_id INTEGER NOT NULL REFERENCES ai_rankings (id) ON DELETE CASCADE,
    candidate_id INTEGER NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    -- 1 is best, dense; equal scores are ties.
    rank INTEGER NOT NULL CHECK (rank BETWEEN 1 AND 9),
    -- The reward, or the expected wins (the sum of the judge's pairwise preferences).
    score REAL NOT NULL,
    PRIMARY KEY (ai_ranking_id, candidate_id)
) STRICT, WITHOUT ROWID;
