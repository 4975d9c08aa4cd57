"""Named presets of training settings (`--recipe NAME`); explicit flags override them."""

from cnnlab.errors import CnnlabError

RECIPES: dict[str, dict] = {
    "default": {},
    "lesson": {
        "model": "simplecnn",
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "schedule": "cosine",
        "epochs": 50,
        "batch_size": 128,
        "crop_padding": 4,
        "flip": True,
    },
    "exercise1": {
        "model": "convnet:widths=32-64-128,convs=2,dropout=0.1,head=gap",
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 5e-4,
        "schedule": "onecycle",
        "label_smoothing": 0.1,
        "epochs": 30,
        "batch_size": 128,
        "crop_padding": 4,
        "flip": True,
    },
}

DESCRIPTIONS = {
    "default": "SimpleCNN, Adam 1e-3, cosine, 15 epochs, crop+flip: a quick sensible start",
    "lesson": "the course's recipe: SimpleCNN, Adam 1e-3, wd 1e-4, cosine, 50 epochs, batch 128, crop(pad 4)+flip",
    "exercise1": "exercise 1 (3 blocks of 2 conv-BN-ReLU 32-64-128 + Dropout 0.1, GAP head): SGD Nesterov 0.1, "
    "wd 5e-4, one-cycle, label smoothing 0.1, 30 epochs, batch 128, crop(pad 4)+flip",
}


def recipe_settings(name: str) -> dict:
    """The settings of a recipe, or an error listing the recipes."""
    if name not in RECIPES:
        raise CnnlabError(f"unknown recipe {name!r}: use one of {', '.join(RECIPES)}")
    return dict(RECIPES[name])
