"""CAPA use cases: what the faust agents do with each record, without faust."""
