"""Training: configuration, recipes, the loop, logs, distributed runs, freezing and the learning-rate range test."""
