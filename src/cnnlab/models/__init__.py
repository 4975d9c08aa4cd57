"""The model zoo: `create_model(name_or_spec, num_classes=..., in_chans=..., **variant)` and `list_models()`.

Importing this package registers every model (simplecnn, convnet, lenet5, vgg*, resnet*, and He et al.'s CIFAR
plain<depth>/resnet<depth>); `timm/<name>` is built on demand.
"""

from cnnlab.models import cifar_resnet, convnet, efficientnet_lite, fast, lenet, resnet, simple, vgg  # noqa: F401,E501
from cnnlab.models.base import ZooModel
from cnnlab.models.registry import ModelInfo, create_model, list_models, model_info, register_model
from cnnlab.models.spec import format_spec, parse_spec

__all__ = [
    "ModelInfo",
    "ZooModel",
    "create_model",
    "format_spec",
    "list_models",
    "model_info",
    "parse_spec",
    "register_model",
]
