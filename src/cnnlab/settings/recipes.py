"""Named recipes (the `recipe` setting): the settings each chooses, by flat name, and a line on what it is.
`recipe(NAME)` (sections.py) makes one a Settings value; settings chosen beside it override its own."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """A recipe: its name, one line on what it is, and the settings it chooses (the others keep their defaults)."""

    name: str
    description: str
    values: dict

    @classmethod
    def of(cls, name: str, description: str, **values: object) -> "Recipe":
        """A recipe from flat settings."""
        return cls(name, description, values)


FAST85 = {
    "model": "fast", "optimizer": "muon", "muon_lr": 0.12, "muon_momentum": 0.6, "lr": 0.375, "momentum": 0.85,
    "nesterov": True, "weight_decay": 1.33e-3, "bias_lr_mult": 64.0, "schedule": "onecycle", "warmup_epochs": 0.7,
    "label_smoothing": 0.2, "epochs": 3, "batch_size": 256, "crop_padding": 2, "alternate_flip": True, "ema": 0.99,
    "tta": "shift", "precision": "fastest",
}

RECIPES: dict[str, Recipe] = {
    "default": Recipe.of("default", "SimpleCNN, Adam 1e-3, cosine, 15 epochs, crop+flip: a quick sensible start"),
    "lesson": Recipe.of(
        "lesson", "the course's recipe: SimpleCNN, Adam 1e-3, wd 1e-4, cosine, 50 epochs, batch 128, crop(pad 4)+flip",
        model="simplecnn", optimizer="adam", lr=1e-3, weight_decay=1e-4, schedule="cosine", epochs=50,
        batch_size=128, crop_padding=4, flip=True),
    "exercise1": Recipe.of(
        "exercise1", "exercise 1 (3 blocks of 2 conv-BN-ReLU 32-64-128 + Dropout 0.1, GAP head): SGD Nesterov 0.1, wd 5e-4, "
        "one-cycle, label smoothing 0.1, 30 epochs, batch 128, crop(pad 4)+flip",
        model="convnet:widths=32-64-128,convs=2,dropout=0.1,head=gap", optimizer="sgd", lr=0.1, momentum=0.9,
        nesterov=True, weight_decay=5e-4, schedule="onecycle", label_smoothing=0.1, epochs=30, batch_size=128,
        crop_padding=4, flip=True),
    "fast85": Recipe.of(
        "fast85", "85% on CIFAR-10 in about 3 minutes on a 2-core CPU: the fast (airbench-style) network, Muon for the "
        "filters, SGD Nesterov (bias rates x64) for the rest, triangle schedule, label smoothing 0.2, EMA 0.99, "
        "crop(pad 2), alternating flip, shift TTA, bf16 where measured faster; 3 epochs, batch 256", **FAST85),
    "fast94": Recipe.of(
        "fast94", "fast85's recipe for 8 epochs (0.28 PFLOP) with the filters' momentum at 0.85: airbench94's 90.63% "
        "on the JPEG CIFAR-10 copy", **{**FAST85, "epochs": 8, "warmup_epochs": 1.84, "muon_momentum": 0.85}),
}

