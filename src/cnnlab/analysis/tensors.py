"""Finding the tensors inside the nested arguments and results of torch calls."""

from typing import Any

import torch


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor inside a value built from tensors, tuples, lists and dicts, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [tensor for item in value for tensor in tensors_in(item)]
    if isinstance(value, dict):
        return [tensor for item in value.values() for tensor in tensors_in(item)]
    return []
