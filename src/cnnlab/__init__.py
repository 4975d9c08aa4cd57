"""cnnlab: convolutional neural networks on images, from the math to a trained model."""

from typing import Any

from cnnlab.errors import CnnlabError

__version__ = "0.1.0"

__all__ = ["CnnlabError", "__version__", "create_model", "list_models"]

_LAZY = {"create_model": "cnnlab.models", "list_models": "cnnlab.models"}


def __getattr__(name: str) -> Any:
    """Import the exports that need torch on first use, so `import cnnlab` (and the CLI) stays fast."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
