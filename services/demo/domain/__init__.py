"""Pure generation of the demo province and of its ground truth (no I/O)."""
