-- Each task kind has its own guidelines: projects.guidelines are the ranking (and comparison)
-- guidelines; writing a demonstration and writing a prompt are other tasks with other rules.
-- Empty means none were given; at most 100,000 code points, as the ranking guidelines.
ALTER TABLE projects ADD COLUMN demonstration_guidelines TEXT NOT NULL DEFAULT '' CHECK (length(demonstration_guidelines) <= 100000);
ALTER TABLE projects ADD COLUMN prompt_guidelines TEXT NOT NULL DEFAULT '' CHECK (length(prompt_guidelines) <= 100000);
