-- The reward-hacking watch's fourth bound: the reward model's score against human evaluation of
-- the same policy. After each human verdict on a pair of evaluation answers, a policy version
-- made by an RLOO, GRPO or PPO job is checked: the share of its judged pairs the job's reward
-- model gives to it, against the share people gave it. A reward model that keeps preferring the
-- policy while people do not is being exploited. 0 turns the bound off.
ALTER TABLE projects ADD COLUMN alarm_reward_human_gap REAL NOT NULL DEFAULT 0
    CHECK (alarm_reward_human_gap >= 0 AND alarm_reward_human_gap < 1);

-- job_alarms gains the kind 'human_evaluation'. SQLite cannot change a CHECK constraint, so the
-- table is rebuilt (SQLite's documented way); nothing references it, so no cascade runs.
CREATE TABLE new_job_alarms (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('kl', 'length', 'entropy', 'human_evaluation')),
    -- The iteration that crossed the bound; for 'human_evaluation', the verdicts counted.
    step INTEGER NOT NULL CHECK (step >= 0),
    value REAL NOT NULL,
    bound REAL NOT NULL,
    -- The starting policy's value the bound is relative to (none for the KL, which starts at 0);
    -- for 'human_evaluation', the share of the verdicts people gave the policy.
    baseline REAL,
    raised_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (job_id, kind)
) STRICT;
INSERT INTO new_job_alarms (id, job_id, kind, step, value, bound, baseline, raised_at)
    SELECT id, job_id, kind, step, value, bound, baseline, raised_at FROM job_alarms;
DROP TABLE job_alarms;
ALTER TABLE new_job_alarms RENAME TO job_alarms;
