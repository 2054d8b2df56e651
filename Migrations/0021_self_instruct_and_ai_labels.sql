-- migrator: foreign keys off
-- Two job kinds: 'self-instruct' (Wang et al. 2022), in which a policy writes new prompts from
-- the project's own, with a prompt source 'model' for what it writes; and 'ai-labels', in which
-- a reward model ranks candidates as a labeler would, its labels kept apart (0022).
-- SQLite cannot change a CHECK constraint, so both tables are rebuilt (SQLite's documented
-- way). Many tables refer to both, so the first line asks the migrator for foreign keys off
-- during the rebuild (no cascade runs when the old tables are dropped; the references then
-- name the new tables) and a foreign-key check before the commit.
CREATE TABLE new_prompts (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- text: content is the prompt; conversation: content is a JSON array of {role, content}.
    kind TEXT NOT NULL CHECK (kind IN ('text', 'conversation')),
    content TEXT NOT NULL,
    category TEXT CHECK (category IN ('generation', 'open_qa', 'brainstorming', 'chat', 'rewrite', 'summarization',
                                      'classification', 'closed_qa', 'extract', 'other')),
    split TEXT NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'validation', 'test')),
    -- model: written by a model version (a Self-Instruct job; metadata says which and how).
    source TEXT NOT NULL CHECK (source IN ('imported', 'labeler', 'api', 'model')),
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    -- SHA-256 of the kind and content: re-importing a prompt finds it instead of copying it.
    content_hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    author_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    UNIQUE (project_id, content_hash)
) STRICT;
INSERT INTO new_prompts (id, project_id, kind, content, category, split, source, metadata, content_hash, created_at, author_id)
    SELECT id, project_id, kind, content, category, split, source, metadata, content_hash, created_at, author_id FROM prompts;
DROP TABLE prompts;
ALTER TABLE new_prompts RENAME TO prompts;
CREATE INDEX prompts_by_author ON prompts (author_id, created_at);

CREATE TABLE new_jobs (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- sft: demonstrations; reward: rankings; rloo, grpo, ppo: a policy against a reward model on
    -- the project's prompts; dpo: a policy on rankings; sample: new candidates for prompts;
    -- evaluation: a policy's answers to the held-out prompts, paired blind with other versions';
    -- reward-evaluation: a reward model's accuracy on the held-out rankings; best-of-n: candidates
    -- chosen by a reward model among n sampled; self-instruct: new prompts a policy writes from
    -- the project's own (Self-Instruct's bootstrap); ai-labels: a reward model ranks the
    -- project's candidates, its rankings kept apart from people's (RLAIF).
    kind TEXT NOT NULL CHECK (kind IN ('sft', 'reward', 'rloo', 'grpo', 'ppo', 'dpo', 'sample', 'evaluation', 'reward-evaluation', 'best-of-n', 'self-instruct', 'ai-labels')),
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled')),
    -- JSON object: the stage's options as given; what is missing takes the stage's default.
    parameters TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(parameters) AND json_type(parameters) = 'object'),
    -- The model the job starts from (a policy, or the trunk of a new reward model), and for
    -- rloo, grpo and ppo the reward model it optimizes against.
    base_model_id INTEGER NOT NULL REFERENCES model_versions (id) ON DELETE RESTRICT,
    reward_model_id INTEGER REFERENCES model_versions (id) ON DELETE RESTRICT,
    -- Asked by a person while the job runs; the worker reads it between optimizer steps.
    requested TEXT CHECK (requested IS NULL OR requested IN ('pause', 'cancel')),
    -- Started by the project's retraining rule rather than by a person.
    automatic INTEGER NOT NULL DEFAULT 0 CHECK (automatic IN (0, 1)),
    step INTEGER NOT NULL DEFAULT 0 CHECK (step >= 0),
    total_steps INTEGER CHECK (total_steps IS NULL OR total_steps >= 0),
    -- Seconds spent running over all attempts (time left is estimated from it).
    seconds_running REAL NOT NULL DEFAULT 0 CHECK (seconds_running >= 0),
    -- The worker holding a running job and when it last said so: a running job whose worker
    -- has been silent longer than the lease was interrupted (a crash, a kill -9) and resumes.
    worker TEXT,
    heartbeat_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error TEXT,
    result_model_id INTEGER REFERENCES model_versions (id) ON DELETE SET NULL,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at TEXT,
    finished_at TEXT,
    CHECK ((status = 'running') = (worker IS NOT NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL))
) STRICT;
INSERT INTO new_jobs (id, project_id, kind, status, parameters, base_model_id, reward_model_id, requested, automatic, step, total_steps, seconds_running, worker, heartbeat_at, attempts, error, result_model_id, created_by, created_at, started_at, finished_at)
    SELECT id, project_id, kind, status, parameters, base_model_id, reward_model_id, requested, automatic, step, total_steps, seconds_running, worker, heartbeat_at, attempts, error, result_model_id, created_by, created_at, started_at, finished_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE new_jobs RENAME TO jobs;
CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_project ON jobs (project_id, id);
