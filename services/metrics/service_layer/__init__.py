"""Use cases of the metrics service: ingesting a batch of records."""
