"""A training run's files: its directory (config, metrics, events), its checkpoints, and the record of its model."""
