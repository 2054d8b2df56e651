-- Graded pairwise comparison, as Anthropic collected HH-RLHF: a project whose tasks show two
-- answers side by side on an 8-point scale, from "A is much better" to "B is much better". Its
-- rankings are rankings of two that also carry how much better the first answer is, kept apart
-- from the ranks (ranks stay dense; a strength is never a rank gap).
ALTER TABLE projects ADD COLUMN comparison_style TEXT NOT NULL DEFAULT 'rate-and-rank'
    CHECK (comparison_style IN ('rate-and-rank', 'graded-pair'));
-- How strongly the answer ranked first is preferred, in a ranking of two: 1 (negligibly better,
-- or unsure) to 4 (much better) from the graded scale folded on its middle, or the `margin` of
-- an imported preference dataset. NULL where no strength was given.
ALTER TABLE rankings ADD COLUMN strength REAL CHECK (strength IS NULL OR strength >= 0);
