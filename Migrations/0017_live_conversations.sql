-- Live conversations, as Anthropic collected HH-RLHF and as Chatbot Arena does: a labeler writes
-- a message, two model versions (or two samples of one) answer it, the labeler picks the better
-- on the graded pair's scale, and the chosen answer continues the conversation.
--
-- Every turn is an ordinary prompt (the conversation so far, ending with the labeler's message),
-- its two answers are ordinary candidates, and the labeler's choice is an ordinary ranking of
-- two with its strength: exports, training, corrections and the data browser need nothing new.
-- These tables say which prompts belong to which conversation, and in what order.

-- Which model versions answer in a project's live conversations, and how they sample. One
-- version answers on both sides with two samples; two or more: each conversation draws two.
CREATE TABLE live_conversation_settings (
    project_id INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    model_version_ids TEXT NOT NULL CHECK (json_valid(model_version_ids) AND json_type(model_version_ids) = 'array'),
    temperature REAL NOT NULL DEFAULT 0.7 CHECK (temperature BETWEEN 0 AND 2),
    maximum_tokens INTEGER NOT NULL DEFAULT 256 CHECK (maximum_tokens BETWEEN 1 AND 2048),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    labeler_id INTEGER NOT NULL REFERENCES users (id),
    -- The versions answering as A and as B for the whole conversation (the same one twice: two
    -- samples of it). The labeler is never told which.
    model_a_id INTEGER NOT NULL REFERENCES model_versions (id),
    model_b_id INTEGER NOT NULL REFERENCES model_versions (id),
    temperature REAL NOT NULL,
    maximum_tokens INTEGER NOT NULL,
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ended_at TEXT
) STRICT;
CREATE INDEX conversations_by_labeler ON conversations (labeler_id, project_id);

CREATE TABLE conversation_turns (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    turn INTEGER NOT NULL CHECK (turn >= 1),
    -- The conversation up to and including the labeler's message of this turn.
    prompt_id INTEGER NOT NULL UNIQUE REFERENCES prompts (id) ON DELETE CASCADE,
    answer_a_id INTEGER NOT NULL REFERENCES candidates (id),
    answer_b_id INTEGER NOT NULL REFERENCES candidates (id),
    -- The answer that continued the conversation, once the labeler chose (a later correction of
    -- the ranking changes the label, not what the conversation went on with).
    chosen_id INTEGER REFERENCES candidates (id),
    -- Milliseconds from the message's arrival to each answer's first text and to its end.
    a_first_text_ms REAL NOT NULL CHECK (a_first_text_ms >= 0),
    a_answer_ms REAL NOT NULL CHECK (a_answer_ms >= 0),
    b_first_text_ms REAL NOT NULL CHECK (b_first_text_ms >= 0),
    b_answer_ms REAL NOT NULL CHECK (b_answer_ms >= 0),
    PRIMARY KEY (conversation_id, turn),
    CHECK (chosen_id IS NULL OR chosen_id IN (answer_a_id, answer_b_id))
) STRICT;
