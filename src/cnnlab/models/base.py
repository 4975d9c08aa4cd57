"""The interface every zoo model shares: a features/head split and a replaceable classifier (timm's idea)."""

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn


class ZooModel(nn.Module, ABC):
    """An image classifier whose forward is `forward_head(forward_features(x))` and whose last Linear can be swapped."""

    classifier_path: str = "classifier"
    cam_layer: str = "features"  # the last convolutional stage: Grad-CAM's default target layer

    def __init__(self, num_classes: int) -> None:
        """Remember the number of classes; `default_cfg` is filled in by the registry that builds the model."""
        super().__init__()
        self.num_classes = num_classes
        self.default_cfg: dict[str, Any] = {}

    @abstractmethod
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, C, H, W) to the last feature map, before any pooling of the head."""

    @abstractmethod
    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Map a feature map to logits (N, num_classes), or to the classifier's input when `pre_logits`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify a batch of images: the head applied to the features."""
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Linear:
        """The final Linear layer that produces the logits."""
        return self.get_submodule(self.classifier_path)

    def head_modules(self) -> list[nn.Module]:
        """The modules with parameters that `forward_head` runs: what transfer learning trains as the head."""
        return [self.get_classifier()]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final Linear with a fresh one for `num_classes` outputs (same inputs, device and dtype)."""
        old = self.get_classifier()
        new = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
        parent_path, _, child = self.classifier_path.rpartition(".")
        setattr(self.get_submodule(parent_path), child, new)
        self.num_classes = num_classes


class FlattenHeadModel(ZooModel):
    """A conv stack `features`; a head that pools to a fixed grid (`pool`), flattens through the fully connected
    `hidden` layers and ends in `classifier` (SimpleCNN, LeNet-5). Subclasses build those four modules."""

    features: nn.Module
    pool: nn.Module
    hidden: nn.Module
    classifier: nn.Linear

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> the last feature map."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, flatten, the hidden layers; then the classifier unless `pre_logits`."""
        x = self.hidden(self.pool(x))
        return x if pre_logits else self.classifier(x)

    def head_modules(self) -> list[nn.Module]:
        """The fully connected layers: `hidden` and `classifier`."""
        return [self.hidden, self.classifier]
