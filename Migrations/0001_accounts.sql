-- Accounts, sessions, API tokens and the audit log: what every later table refers to.
-- Tables are STRICT, enumerations are CHECK constraints, timestamps are ISO 8601 UTC text.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE
        CHECK (length(username) BETWEEN 1 AND 64),
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'researcher', 'labeler')),
    -- applicant: registered, not yet screened; active: may work; suspended and rejected: may not.
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('applicant', 'active', 'suspended', 'rejected')),
    -- training: their labels train models; held_out: their labels only evaluate (InstructGPT 5.2).
    labeler_group TEXT NOT NULL DEFAULT 'training' CHECK (labeler_group IN ('training', 'held_out')),
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Browser sessions. Only the SHA-256 of the token is stored, so a stolen database file does
-- not hand out live sessions.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Bearer tokens for researchers' scripts; stored hashed like sessions.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT,
    revoked_at TEXT
) STRICT;

-- Sign-ins and administrative actions, append only.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    actor_user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    subject TEXT,
    detail TEXT,
    remote_address TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX audit_log_by_time ON audit_log (created_at);
