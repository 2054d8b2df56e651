-- Training jobs the background worker runs, what they report, and the exact labels each
-- trained on; model versions and candidates gain where they came from.

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- sft: demonstrations; reward: rankings; rloo, grpo, ppo: a policy against a reward model on
    -- the project's prompts; dpo: a policy on rankings; sample: new candidates for prompts;
    -- evaluation: a policy's answers to the held-out prompts, paired blind with other versions';
    -- reward-evaluation: a reward model's accuracy on the held-out rankings; best-of-n: candidates
    -- chosen by a reward model among n sampled.
    kind TEXT NOT NULL CHECK (kind IN ('sft', 'reward', 'rloo', 'grpo', 'ppo', 'dpo', 'sample', 'evaluation', 'reward-evaluation', 'best-of-n')),
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
CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_project ON jobs (project_id, id);

-- What a job reports: TRL's metric names, one row per report and metric.
CREATE TABLE job_metrics (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    phase TEXT NOT NULL CHECK (phase IN ('train', 'eval')),
    step INTEGER NOT NULL CHECK (step >= 0),
    name TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (job_id, name, phase, step)
) STRICT, WITHOUT ROWID;

-- Lines a researcher reads on the job's page: what the data came to, stops, resumes, failures.
CREATE TABLE job_log (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    line TEXT NOT NULL
) STRICT;
CREATE INDEX job_log_by_job ON job_log (job_id, id);

-- Answers a policy wrote at an evaluation step, to read beside the curves.
CREATE TABLE job_samples (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    answer TEXT NOT NULL,
    reward REAL,
    ended INTEGER NOT NULL CHECK (ended IN (0, 1))
) STRICT;

-- The snapshot: the exact demonstrations, rankings or prompts a job trains on, taken when it
-- first starts, so labels arriving later change nothing a resumed job does.
CREATE TABLE job_snapshot (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    item_kind TEXT NOT NULL CHECK (item_kind IN ('demonstration', 'ranking', 'prompt')),
    item_id INTEGER NOT NULL,
    PRIMARY KEY (job_id, item_kind, item_id)
) STRICT, WITHOUT ROWID;

ALTER TABLE model_versions ADD COLUMN project_id INTEGER REFERENCES projects (id) ON DELETE SET NULL;
-- The job that trained it (its snapshot is the version's training data).
ALTER TABLE model_versions ADD COLUMN job_id INTEGER REFERENCES jobs (id) ON DELETE SET NULL;
CREATE INDEX model_versions_by_job ON model_versions (job_id);

-- The model version that wrote a candidate, when Tally's own model did.
ALTER TABLE candidates ADD COLUMN model_version_id INTEGER REFERENCES model_versions (id) ON DELETE SET NULL;

