"""cnnlab: convolutional neural networks on images, from the math to a trained model."""

from cnnlab.errors import CnnlabError

__version__ = "0.1.0"

__all__ = ["CnnlabError", "__version__"]
