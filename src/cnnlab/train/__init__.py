"""Training: configuration, recipes, the loop, checkpoints and logs."""
