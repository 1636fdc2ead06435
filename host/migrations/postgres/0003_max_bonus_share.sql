-- A program bounds what its bonus plug-in may award: at most this share of a partner's
-- attributed revenue in the period (1 = 100 %). Existing programs get the default.
ALTER TABLE programs
    ADD COLUMN max_bonus_share NUMERIC NOT NULL DEFAULT 1
        CHECK (max_bonus_share >= 0 AND max_bonus_share <= 1);
