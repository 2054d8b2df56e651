-- Models Tally knows: the base policy it starts from and, later, every model its training stages
-- make, with where the weights are, what they were made from, and how they measured.

CREATE TABLE model_versions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- policy: generates answers; sft, reward and value: what the training stages make.
    kind TEXT NOT NULL CHECK (kind IN ('policy', 'sft', 'reward', 'value')),
    -- The model this one was trained from; NULL for a pretrained base.
    parent_id INTEGER REFERENCES model_versions (id) ON DELETE RESTRICT,
    architecture TEXT NOT NULL CHECK (architecture IN ('gpt2', 'llama')),
    -- The checkpoint (a GGUF file or a Hugging Face folder) and the SHA-256 of its weights file.
    checkpoint_path TEXT NOT NULL,
    checkpoint_sha256 TEXT NOT NULL CHECK (length(checkpoint_sha256) = 64),
    parameter_count INTEGER NOT NULL CHECK (parameter_count > 0),
    -- JSON: where the model came from (for a base: its source and license), what data trained it.
    lineage TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(lineage)),
    metrics TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
