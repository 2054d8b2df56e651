-- migrator: foreign keys off
-- An OpenAI-compatible endpoint (0023) can judge too: an 'ai-labels' job started from one asks
-- it, by the rubric, which of two answers is better. Its rankings name the endpoint instead of
-- a model version, so ai_rankings is rebuilt with exactly one of the two (SQLite cannot relax
-- NOT NULL); ai_ranking_entries refers to it, hence foreign keys off during the rebuild.
CREATE TABLE new_ai_rankings (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    -- The judge: a model version (a reward model or a policy), or an endpoint; and the job in
    -- which it judged.
    model_version_id INTEGER REFERENCES model_versions (id) ON DELETE CASCADE,
    endpoint_id INTEGER REFERENCES model_endpoints (id) ON DELETE CASCADE,
    job_id INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    -- How it judged: 'reward-scores' (a reward model's scores, the higher first) or 'rubric' (a
    -- policy or an endpoint asked which of two answers is better by the rubric, recorded here;
    -- ranked by expected wins over every pair).
    method TEXT NOT NULL CHECK (method IN ('reward-scores', 'rubric')),
    rubric TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK ((method = 'rubric') = (rubric IS NOT NULL)),
    CHECK ((model_version_id IS NULL) <> (endpoint_id IS NULL)),
    CHECK (endpoint_id IS NULL OR method = 'rubric'),
    UNIQUE (prompt_id, model_version_id),
    UNIQUE (prompt_id, endpoint_id)
) STRICT;
INSERT INTO new_ai_rankings (id, prompt_id, model_version_id, job_id, method, rubric, created_at)
    SELECT id, prompt_id, model_version_id, job_id, method, rubric, created_at FROM ai_rankings;
DROP TABLE ai_rankings;
ALTER TABLE new_ai_rankings RENAME TO ai_rankings;
