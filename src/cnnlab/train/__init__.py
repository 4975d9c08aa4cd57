"""Training: configuration, recipes, the loop, checkpoints, logs and the learning-rate range test."""
