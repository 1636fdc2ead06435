-- A program bounds what its bonus plug-in may award: at most this share of a partner's
-- attributed revenue in the period (1 = 100 %). Existing programs get the default.
-- TEXT holding an exact decimal, as every rate here; the CHECK casts only to test the range.
ALTER TABLE programs
    ADD COLUMN max_bonus_share TEXT NOT NULL DEFAULT '1'
        CHECK (CAST(max_bonus_share AS REAL) >= 0 AND CAST(max_bonus_share AS REAL) <= 1);
