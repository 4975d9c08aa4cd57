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
}

DESCRIPTIONS = {
    "default": "SimpleCNN, Adam 1e-3, cosine, 15 epochs, crop+flip: a quick sensible start",
    "lesson": "the course's recipe: SimpleCNN, Adam 1e-3, wd 1e-4, cosine, 50 epochs, batch 128, crop(pad 4)+flip",
}


def recipe_settings(name: str) -> dict:
    """The settings of a recipe, or an error listing the recipes."""
    if name not in RECIPES:
        raise CnnlabError(f"unknown recipe {name!r}: use one of {', '.join(RECIPES)}")
    return dict(RECIPES[name])
