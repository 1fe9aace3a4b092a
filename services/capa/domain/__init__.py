"""The CAPA domain: pure Python, no I/O. State is a fold of events; commands decide events."""
