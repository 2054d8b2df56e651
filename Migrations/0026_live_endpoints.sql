-- migrator: foreign keys off
-- A registered OpenAI-compatible endpoint (0023) can answer in live conversations beside the
-- project's model versions: the settings list the endpoints too, and a conversation's side is
-- answered by a model version or by an endpoint. conversations is rebuilt for the nullable
-- version columns (SQLite cannot relax NOT NULL); conversation_turns refers to it.
ALTER TABLE live_conversation_settings ADD COLUMN endpoint_ids TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(endpoint_ids) AND json_type(endpoint_ids) = 'array');

CREATE TABLE new_conversations (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    labeler_id INTEGER NOT NULL REFERENCES users (id),
    -- What answers as A and as B for the whole conversation: a model version or an endpoint
    -- each (the same one twice: two samples of it). The labeler is never told which.
    model_a_id INTEGER REFERENCES model_versions (id),
    model_b_id INTEGER REFERENCES model_versions (id),
    endpoint_a_id INTEGER REFERENCES model_endpoints (id),
    endpoint_b_id INTEGER REFERENCES model_endpoints (id),
    temperature REAL NOT NULL,
    maximum_tokens INTEGER NOT NULL,
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ended_at TEXT,
    CHECK ((model_a_id IS NULL) <> (endpoint_a_id IS NULL)),
    CHECK ((model_b_id IS NULL) <> (endpoint_b_id IS NULL))
) STRICT;
INSERT INTO new_conversations (id, project_id, labeler_id, model_a_id, model_b_id, temperature, maximum_tokens, started_at, ended_at)
    SELECT id, project_id, labeler_id, model_a_id, model_b_id, temperature, maximum_tokens, started_at, ended_at FROM conversations;
DROP TABLE conversations;
ALTER TABLE new_conversations RENAME TO conversations;
CREATE INDEX conversations_by_labeler ON conversations (labeler_id, project_id);
