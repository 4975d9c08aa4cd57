"""cnnlab in a Jupyter notebook: the objects the Python API returns render themselves in a cell (tables, pictures),
and training, decoding and lr-find draw live progress bars there (reporter.py)."""
