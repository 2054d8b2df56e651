-- The reward-hacking watch: bounds a project sets on its RLOO, GRPO and PPO jobs, checked by the
-- worker at every iteration against the starting (SFT) policy's own values, and the alarms that
-- crossed them. 0 turns a bound off.
-- The KL to the reference per answer, in nats, above which the policy has left the SFT model.
ALTER TABLE projects ADD COLUMN alarm_kl_per_answer REAL NOT NULL DEFAULT 0 CHECK (alarm_kl_per_answer >= 0);
-- The mean answer length, as a multiple of the starting policy's, above which answers are
-- growing to please the reward model (length hacking).
ALTER TABLE projects ADD COLUMN alarm_length_ratio REAL NOT NULL DEFAULT 0 CHECK (alarm_length_ratio = 0 OR alarm_length_ratio > 1);
-- The entropy per token, as a share of the starting policy's, below which the policy is
-- collapsing onto a few answers.
ALTER TABLE projects ADD COLUMN alarm_entropy_fraction REAL NOT NULL DEFAULT 0 CHECK (alarm_entropy_fraction >= 0 AND alarm_entropy_fraction < 1);
-- Whether an alarm pauses the job (its checkpoint kept, resumable) besides being raised.
ALTER TABLE projects ADD COLUMN alarm_pauses_job INTEGER NOT NULL DEFAULT 0 CHECK (alarm_pauses_job IN (0, 1));

-- One alarm per job and kind: the first iteration that crossed the bound.
CREATE TABLE job_alarms (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('kl', 'length', 'entropy')),
    step INTEGER NOT NULL CHECK (step >= 0),
    value REAL NOT NULL,
    bound REAL NOT NULL,
    -- The starting policy's value the bound is relative to (none for the KL, which starts at 0).
    baseline REAL,
    raised_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (job_id, kind)
) STRICT;
