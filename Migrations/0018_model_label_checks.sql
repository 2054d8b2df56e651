-- The model's check of the labels: after a reward job, each ranking of its snapshot is scored by
-- a reward head fitted without its labeler's labels (labelers split into folds; each fold's
-- rankings are checked by a head fitted on the other folds'), and the preferences that head
-- confidently reverses are counted. Replaced whole for the project after each check, like the
-- queue's uncertainty; the quality page shows each labeler's share beside their agreement.
CREATE TABLE label_checks (
    ranking_id INTEGER PRIMARY KEY REFERENCES rankings (id) ON DELETE CASCADE,
    -- The reward model version whose job made the check (its base's trunk gave the features).
    model_version_id INTEGER NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    -- The ranking's preferences (ordered pairs of answers; ties make none).
    pairs INTEGER NOT NULL CHECK (pairs >= 1),
    -- Those the head reverses with a probability of at least 0.8.
    confident_disagreements INTEGER NOT NULL CHECK (confident_disagreements BETWEEN 0 AND pairs),
    -- The largest probability the head gives to the reverse of one of the ranking's preferences.
    strongest_disagreement REAL NOT NULL CHECK (strongest_disagreement BETWEEN 0 AND 1),
    checked_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
