"""The model registry: `@register_model` fills it, `create_model` builds from a name or spec, `list_models` lists it."""

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import torch
from torch import nn
from torchvision.models import WeightsEnum

from cnnlab.errors import CnnlabError
from cnnlab.models.spec import VariantValue, format_spec, format_value, parse_spec

Builder = Callable[..., nn.Module]
Shape = tuple[int, int, int]

TIMM_PREFIX = "timm/"


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about one model: its builder, default input and classes, paper, variants and weights."""

    name: str
    family: str
    builder: Builder = field(repr=False)
    default_input: Shape
    num_classes: int
    paper: str
    year: int | None
    variants: dict[str, tuple[VariantValue, ...]]
    defaults: dict[str, VariantValue]
    weights: type[WeightsEnum] | None
    variant_inputs: dict[str, dict[VariantValue, Shape]]
    open_variants: frozenset[str] = frozenset()

    @property
    def in_chans(self) -> int:
        """The default number of input channels."""
        return self.default_input[0]

    @property
    def params(self) -> int:
        """Parameter count of the default configuration (computed once, on the meta device, so it is cheap)."""
        return _count_params(self.name)

    def resolve(self, variant: dict[str, VariantValue]) -> dict[str, VariantValue]:
        """Check each key and value against the declared variants and fill in the defaults."""
        for key, value in variant.items():
            if key not in self.variants:
                allowed = ", ".join([*self.variants, "num_classes", "in_chans"])
                raise CnnlabError(f"{self.name} has no variant {key!r}; allowed: {allowed}")
            choices = self.variants[key]
            if key in self.open_variants:  # any value: the listed ones are examples; the builder checks it
                continue
            if not any(type(value) is type(choice) and value == choice for choice in choices):
                listed = ", ".join(format_value(choice) for choice in choices) + " (the first is the default)"
                raise CnnlabError(f"bad value {value!r} for {self.name} variant {key!r}; allowed: {listed}")
        return {**self.defaults, **variant}

    def input_size(self, variant: dict[str, VariantValue], in_chans: int) -> Shape:
        """The input (C, H, W) the model is meant for, given a resolved variant (e.g. a CIFAR stem wants 32x32)."""
        size = self.default_input
        for key, value in variant.items():
            size = self.variant_inputs.get(key, {}).get(value, size)
        return (in_chans, size[1], size[2])

    def config(self, variant: dict[str, VariantValue], in_chans: int) -> dict[str, Any]:
        """The `default_cfg` of a model built with this (resolved) variant: enough to rebuild it and describe it."""
        changed = {key: value for key, value in variant.items() if value != self.defaults[key]}
        pretrainable = self.weights is not None and not changed and in_chans == self.in_chans
        return {
            "name": self.name,
            "spec": format_spec(self.name, changed),
            "family": self.family,
            "variant": dict(variant),
            "in_chans": in_chans,
            "input_size": self.input_size(variant, in_chans),
            "paper": self.paper,
            "year": self.year,
            "torchvision_weights": self.weights.__name__ if pretrainable else None,
        }

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready description, with the parameter count of the default configuration."""
        return {
            "name": self.name,
            "family": self.family,
            "params": self.params,
            "default_input": list(self.default_input),
            "num_classes": self.num_classes,
            "paper": self.paper,
            "year": self.year,
            "variants": {key: list(choices) for key, choices in self.variants.items()},
            "open_variants": sorted(self.open_variants),
            "defaults": dict(self.defaults),
            "torchvision_weights": self.weights.__name__ if self.weights else None,
        }


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    *,
    family: str,
    default_input: Shape = (3, 224, 224),
    num_classes: int = 1000,
    paper: str,
    year: int | None,
    variants: dict[str, tuple[VariantValue, ...]] | None = None,
    weights: type[WeightsEnum] | None = None,
    variant_inputs: dict[str, dict[VariantValue, Shape]] | None = None,
    open_variants: tuple[str, ...] = (),
) -> Callable[[Builder], Builder]:
    """Register a builder `fn(num_classes, in_chans, **variant)` under its function name.

    `variants` maps each variant key to its allowed values, the first being the default; for the keys in
    `open_variants` those values are only examples and the builder checks whatever value it is given.
    """

    def decorate(builder: Builder) -> Builder:
        """Record the builder and its facts in the registry, and return it unchanged."""
        if builder.__name__ in _REGISTRY:
            raise ValueError(f"model {builder.__name__!r} is registered twice")
        declared = variants or {}
        _REGISTRY[builder.__name__] = ModelInfo(
            name=builder.__name__,
            family=family,
            builder=builder,
            default_input=default_input,
            num_classes=num_classes,
            paper=paper,
            year=year,
            variants=declared,
            defaults={key: choices[0] for key, choices in declared.items()},
            weights=weights,
            variant_inputs=variant_inputs or {},
            open_variants=frozenset(open_variants),
        )
        return builder

    return decorate


def model_info(name: str) -> ModelInfo:
    """The registered model called `name`, or an error naming the closest registered names."""
    info = _REGISTRY.get(name)
    if info is None:
        close = difflib.get_close_matches(name.lower(), list(_REGISTRY), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise CnnlabError(f"unknown model {name!r}{hint} (`cnnlab models` lists them; timm models are timm/<name>)")
    return info


def list_models(family: str | None = None) -> list[ModelInfo]:
    """The registered models, the course's own first then by year, optionally one family (timm/<name> is not listed)."""
    infos = sorted(_REGISTRY.values(), key=lambda info: info.year or 0)
    if family is None:
        return infos
    families = sorted({info.family for info in infos})
    if family not in families:
        raise CnnlabError(f"unknown model family {family!r}; known: {', '.join(families)}")
    return [info for info in infos if info.family == family]


def create_model(name: str, num_classes: int | None = None, in_chans: int | None = None, **variant: Any) -> nn.Module:
    """Build a model from a name or spec (`simplecnn:pooling=strided,se=true`); keyword variants override the spec's.

    `num_classes` and `in_chans` default to the model's own (10 and 3 for simplecnn, 1000 and 3 for resnet18);
    they may also be given in the spec string. `timm/<name>` builds a timm model when timm is installed.
    """
    base, spec_variant = parse_spec(name)
    merged = {**spec_variant, **variant}
    spec_classes, spec_chans = merged.pop("num_classes", None), merged.pop("in_chans", None)
    num_classes = _count("num_classes", spec_classes if num_classes is None else num_classes)
    in_chans = _count("in_chans", spec_chans if in_chans is None else in_chans)
    if base.startswith(TIMM_PREFIX):
        from cnnlab.models.timm_hub import create_timm_model

        return create_timm_model(base.removeprefix(TIMM_PREFIX), num_classes, in_chans, merged)
    info = model_info(base)
    resolved = info.resolve(merged)
    in_chans = in_chans or info.in_chans
    model = info.builder(num_classes=num_classes or info.num_classes, in_chans=in_chans, **resolved)
    model.default_cfg = info.config(resolved, in_chans)
    return model


def _count(what: str, value: Any) -> int | None:
    """Check that a class or channel count is a positive int (None means: the model's default)."""
    if value is not None and (type(value) is not int or value < 1):
        raise CnnlabError(f"{what} must be a positive integer, got {value!r}")
    return value


@cache
def _count_params(name: str) -> int:
    """Build the default configuration of `name` on the meta device (no memory, no init cost) and count parameters."""
    info = _REGISTRY[name]
    with torch.device("meta"):
        model = info.builder(num_classes=info.num_classes, in_chans=info.in_chans, **info.defaults)
    return sum(p.numel() for p in model.parameters())
