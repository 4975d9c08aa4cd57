"""Whether this process is a Jupyter kernel (Jupyter, JupyterLab, VS Code, Colab): there the library's events and
pictures go to the notebook's cells instead of a log or PNG files alone."""

import sys


def in_kernel() -> bool:
    """True inside an IPython kernel (a shell connected to a notebook front end), False in scripts and terminals."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None
