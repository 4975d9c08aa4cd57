"""How good a trained model is: metrics (metrics.py) and the evaluation of a run on a dataset (evaluate.py)."""
