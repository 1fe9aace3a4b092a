"""The `qms demo` command."""
