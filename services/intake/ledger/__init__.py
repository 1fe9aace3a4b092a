"""Tamper-evident audit trail of the intake service: hash chains and signed checkpoints."""
