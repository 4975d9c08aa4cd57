"""What a trained model is, for everything that uses it later: architecture, classes, input, preprocessing and
where its starting weights came from. One class writes it (into checkpoints, config.json and exports) and reads it."""

import math
from dataclasses import asdict, dataclass
from typing import Any

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class ModelRecord:
    """A model's architecture (name with variants), class names, input (C, H, W), per-channel mean/std in [0, 1]
    units, `weights`: what training started from (a pretrained source), None when from scratch, `temperature`:
what the logits are divided by before a softmax (1 until `cnnlab calibrate` fits one on validation images),
`multi_label`: each class is a label of its own (a sigmoid per logit, any number of them per image) and
`thresholds`: the probability above which each label is answered, tuned on validation images (None: 0.5)."""

    architecture: str
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: str | None = None
    temperature: float = 1.0
    multi_label: bool = False
    thresholds: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        """Refuse thresholds that a multi-label model cannot use: one probability per class."""
        if self.thresholds is None:
            return
        if not self.multi_label or len(self.thresholds) != len(self.classes) or not all(
                0 <= t <= 1 for t in self.thresholds):
            raise CnnlabError(f"thresholds {list(self.thresholds)[:5]}... must be one probability per class, "
                              "for a multi-label model")

    def label_thresholds(self) -> tuple[float, ...]:
        """The probability above which a multi-label model answers each label: its tuned thresholds, else 0.5."""
        return self.thresholds if self.thresholds is not None else (0.5,) * len(self.classes)

    @property
    def num_classes(self) -> int:
        """How many classes the head predicts."""
        return len(self.classes)

    @property
    def in_chans(self) -> int:
        """Input channels."""
        return self.input_shape[0]

    @property
    def image_size(self) -> int | tuple[int, int]:
        """The size images are decoded to for this model: one side when square, else (height, width)."""
        _, height, width = self.input_shape
        return height if height == width else (height, width)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**asdict(self), "classes": list(self.classes), "input_shape": list(self.input_shape),
                "mean": list(self.mean), "std": list(self.std),
                "thresholds": None if self.thresholds is None else list(self.thresholds)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "the record") -> "ModelRecord":
        """The record back from `to_dict`, or from the keys earlier versions wrote (`model`, `num_classes`, ...)."""
        try:
            record = cls(
                architecture=str(values["architecture"] if "architecture" in values else values["model"]),
                classes=tuple(str(c) for c in values["classes"]),
                input_shape=tuple(int(n) for n in values["input_shape"]),
                mean=tuple(float(v) for v in values["mean"]),
                std=tuple(float(v) for v in values["std"]),
                weights=values.get("weights"),
                temperature=float(values.get("temperature", 1.0)),  # records written before calibration: none
                multi_label=values.get("multi_label", False),  # and before multi-label: single-label
                thresholds=None if values.get("thresholds") is None else tuple(float(t) for t in values["thresholds"]),
            )
        except CnnlabError as err:
            raise CnnlabError(f"{source}: not a usable model record ({err})") from None
        except (KeyError, TypeError, ValueError) as err:
            raise CnnlabError(f"{source}: not a model record ({type(err).__name__}: {err})") from None
        if not isinstance(record.multi_label, bool):
            raise CnnlabError(f"{source}: not a usable model record (multi_label {record.multi_label!r} must be true or "
                              "false)")
        if not (record.temperature > 0 and math.isfinite(record.temperature)):
            raise CnnlabError(f"{source}: not a usable model record (temperature {record.temperature} must be a finite "
                              "number above 0)")
        return record

