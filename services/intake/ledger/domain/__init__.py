"""Pure audit-trail logic: canonical form, hash chain, checkpoint notes, verification (no I/O)."""
