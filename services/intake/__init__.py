"""Intake: the publishing API, the only way events get in."""
