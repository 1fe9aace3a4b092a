-- Version 12 is reserved for a migration that is merged separately; this statement only
-- keeps the sequence without gaps and the file goes when that migration arrives.
DROP VIEW IF EXISTS reserved_0012;
