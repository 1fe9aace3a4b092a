"""I/O of the demo generator: publishing to the intake API over HTTP."""
