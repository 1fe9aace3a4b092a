-- Placeholder: version 0016 belongs to another change not merged yet, whose migration file
-- replaces this one (delete this file then); until that, it keeps the versions gap-free.
-- The statement changes nothing: the column exists since 0001.

ALTER TABLE events ADD COLUMN IF NOT EXISTS received_time Nullable(DateTime64(3, 'UTC'));
