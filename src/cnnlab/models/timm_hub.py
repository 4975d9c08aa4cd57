"""`timm/<name>` models: any timm architecture behind the zoo's interface, when the optional timm is installed."""

import difflib
from types import ModuleType
from typing import Any

from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.spec import VariantValue, format_spec, format_value

INSTALL_HINT = "pip install 'cnnlab[timm]'"


def import_timm() -> ModuleType:
    """The timm module, or an error telling how to install it."""
    try:
        import timm
    except ImportError:
        raise CnnlabError(f"timm models need the timm package: {INSTALL_HINT}") from None
    return timm


def create_timm_model(
    name: str, num_classes: int | None, in_chans: int | None, variant: dict[str, VariantValue]
) -> nn.Module:
    """Build timm's `name` without pretrained weights (None keeps timm's classes/channels); variant goes to timm."""
    timm = import_timm()
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f"; did you mean {', '.join('timm/' + c for c in close)}?" if close else ""
        raise CnnlabError(f"unknown timm model {name!r}{hint}")
    counts = {key: value for key, value in (("num_classes", num_classes), ("in_chans", in_chans)) if value is not None}
    try:
        model = timm.create_model(name, pretrained=False, **counts, **variant)
    except TypeError as err:
        if not variant:
            raise
        given = ", ".join(f"{key}={format_value(value)}" for key, value in variant.items())
        raise CnnlabError(f"timm model {name!r} does not accept {given}: {err}") from None
    model.default_cfg = timm_config(name, model, in_chans, variant)
    return model


def timm_config(name: str, model: nn.Module, in_chans: int | None, variant: dict[str, VariantValue]) -> dict[str, Any]:
    """The zoo's `default_cfg` for a timm model (timm's own stays in `model.pretrained_cfg`)."""
    timm_input = tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))
    chans = in_chans or timm_input[0]
    return {
        "name": f"timm/{name}",
        "spec": format_spec(f"timm/{name}", variant),
        "family": "timm",
        "variant": dict(variant),
        "in_chans": chans,
        "input_size": (chans, timm_input[1], timm_input[2]),
        "paper": None,
        "year": None,
        "torchvision_weights": None,
    }
