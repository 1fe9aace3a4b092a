"""Demo generator: a seeded, realistic province published through the intake API."""
