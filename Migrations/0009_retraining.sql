-- Automatic retraining: after every N new rankings the worker trains the project's reward model
-- again, then its policy against the new reward model, repeating the last reward job and the
-- last RLOO, GRPO or PPO job a person started (0: off).
ALTER TABLE projects ADD COLUMN retrain_after_rankings INTEGER NOT NULL DEFAULT 0 CHECK (retrain_after_rankings BETWEEN 0 AND 1000000);
