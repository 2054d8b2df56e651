-- Rankings that cannot be submitted wrong: whether a ranking must rate every answer
-- (InstructGPT's rate-and-rank asked for a rating of each; on by default), and a ranking that
-- ties every answer saying so explicitly (all equally good; or none acceptable, which rankings
-- record already), so that a ranking submitted untouched is refused rather than stored tied.
ALTER TABLE projects ADD COLUMN ratings_required INTEGER NOT NULL DEFAULT 1 CHECK (ratings_required IN (0, 1));
ALTER TABLE rankings ADD COLUMN all_equal INTEGER NOT NULL DEFAULT 0 CHECK (all_equal IN (0, 1));
