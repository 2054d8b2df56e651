-- migrator: foreign keys off
-- A training job handed to a distributed engine: `tally export-job` writes its snapshot's data
-- and a configuration for TRL or OpenRLHF, and the job waits, 'handed-off', until
-- `tally import-model` registers the engine's output as its model version. The job table is
-- rebuilt (as 0023 did) for the new status and the engine column.
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
    -- handed-off: written out for TRL or OpenRLHF to run (`tally export-job`); no worker takes it,
    -- and it succeeds when `tally import-model` registers what the engine made.
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled', 'handed-off')),
    -- JSON object: the stage's options as given; what is missing takes the stage's default.
    parameters TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(parameters) AND json_type(parameters) = 'object'),
    -- The model the job starts from (a policy, or the trunk of a new reward model), and for
    -- rloo, grpo and ppo the reward model it optimizes against.
    base_model_id INTEGER REFERENCES model_versions (id) ON DELETE RESTRICT,
    -- Or, for a job whose answers come from another server, the endpoint they come from.
    endpoint_id INTEGER REFERENCES model_endpoints (id) ON DELETE RESTRICT,
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
    -- The engine a handed-off job was written out for.
    engine TEXT CHECK (engine IS NULL OR engine IN ('trl', 'openrlhf')),
    CHECK ((status = 'running') = (worker IS NOT NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL)),
    CHECK ((base_model_id IS NULL) <> (endpoint_id IS NULL)),
    CHECK (endpoint_id IS NULL OR kind IN ('sample', 'evaluation', 'ai-labels')),
    CHECK (status <> 'handed-off' OR engine IS NOT NULL),
    CHECK (engine IS NULL OR kind IN ('sft', 'reward', 'dpo', 'rloo', 'grpo', 'ppo'))
) STRICT;
INSERT INTO new_jobs (id, project_id, kind, status, parameters, base_model_id, endpoint_id, reward_model_id, requested, automatic, step, total_steps, seconds_running, worker, heartbeat_at, attempts, error, result_model_id, created_by, created_at, started_at, finished_at)
    SELECT id, project_id, kind, status, parameters, base_model_id, endpoint_id, reward_model_id, requested, automatic, step, total_steps, seconds_running, worker, heartbeat_at, attempts, error, result_model_id, created_by, created_at, started_at, finished_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE new_jobs RENAME TO jobs;
CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_project ON jobs (project_id, id);
