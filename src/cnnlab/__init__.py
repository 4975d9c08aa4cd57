"""cnnlab: convolutional neural networks on images, from the math to a trained model.

In Python (and in Jupyter, where the results draw themselves in the cell):

    import cnnlab
    run = cnnlab.train(epochs=3)              # the settings of `cnnlab train`, by name
    run.metrics; run.evaluate(); run.gradcam(images); run.export("onnx")
    cnnlab.load("runs/simplecnn-sample-..."); cnnlab.summary("resnet18"); cnnlab.ops.conv2d(x, k)
"""

from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.kernel import in_kernel

__version__ = "0.1.0"

__all__ = ["CnnlabError", "Run", "Settings", "__version__", "augment_preview", "create_model", "gradient_flow", "list_models", "load",
           "lr_find", "ops", "quiet", "reporting", "summary", "train"]

# what `import cnnlab` exports, imported on first use so that `import cnnlab` (and the CLI) stays fast
_LAZY = {"create_model": "cnnlab.models", "list_models": "cnnlab.models", "load": "cnnlab.notebook.api",
         "summary": "cnnlab.notebook.api", "lr_find": "cnnlab.notebook.api", "augment_preview": "cnnlab.notebook.api",
         "gradient_flow": "cnnlab.notebook.api",
         "Run": "cnnlab.notebook.run", "Settings": "cnnlab.settings", "quiet": "cnnlab.events",
         "reporting": "cnnlab.events"}
_MODULES = ("ops", "train")  # subpackages; `cnnlab.train` is also callable (train/__init__.py)


def __getattr__(name: str) -> Any:
    """Import the exports that need torch on first use."""
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _MODULES:
        return importlib.import_module(f"cnnlab.{name}")
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")


if in_kernel():  # a notebook's cells draw the library's events and results
    import IPython

    from cnnlab.notebook.kernel_display import install

    install(IPython.get_ipython())
