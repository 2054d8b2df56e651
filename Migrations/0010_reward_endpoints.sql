-- Remote reward endpoints: a reward-model version served to OpenRLHF's PPO over its remote
-- reward protocol. OpenRLHF sends no credentials, so the URL carries the secret
-- (/openrlhf/{token}/get_reward); only its SHA-256 is stored, and revoking the row ends it.
CREATE TABLE reward_endpoints (
    id INTEGER PRIMARY KEY,
    reward_model_id INTEGER NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token_hash TEXT NOT NULL UNIQUE,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at TEXT,
    -- Queries scored, and when the last request came.
    queries_scored INTEGER NOT NULL DEFAULT 0 CHECK (queries_scored >= 0),
    last_used_at TEXT
) STRICT;
