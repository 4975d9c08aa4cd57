"""Pretrained weights for a zoo model: resolve `pretrained` (imagenet, a weights name, timm's hub, a file, a
cnnlab run) to a state dict, adapt the first conv to the input channels, and load it with a new head."""

import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn
from torchvision.models import WeightsEnum

from cnnlab.errors import CnnlabError, SettingError
from cnnlab.models.layers import first_conv
from cnnlab.models.registry import TIMM_PREFIX, model_info
from cnnlab.models.spec import parse_spec
from cnnlab.models.state import load_state
from cnnlab.run.checkpoint import checkpoint_path, load_checkpoint, read_record
from cnnlab.run.record import ModelRecord

HUB_NAMES = ("imagenet", "timm")  # `pretrained` imagenet on a zoo model, `timm` (or imagenet) on timm/<name>


@dataclass(frozen=True)
class Preprocessing:
    """The input the weights were trained on: square size (None: any) and per-channel mean/std in [0, 1] units."""

    size: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def for_channels(self, channels: int) -> "Preprocessing":
        """The same statistics for `channels` inputs (grey from RGB: the average; RGB from grey: repeated)."""
        if len(self.mean) == channels:
            return self
        mean, std = sum(self.mean) / len(self.mean), sum(self.std) / len(self.std)
        return Preprocessing(self.size, (mean,) * channels, (std,) * channels)


def is_local(source: str) -> bool:
    """Whether `pretrained` names a file or a run directory rather than hub weights."""
    return Path(source).expanduser().exists() or "/" in source or source.endswith((".pth", ".pt", ".safetensors"))


def torchvision_weights(model_name: str, source: str) -> WeightsEnum:
    """The torchvision weights enum member for a zoo model: `imagenet` is its DEFAULT, else a member name."""
    base, variant = parse_spec(model_name)
    info = model_info(base)
    if info.weights is None:
        raise CnnlabError(f"{base} has no torchvision weights; use `pretrained` FILE or a cnnlab run directory")
    changed = {key: value for key, value in info.resolve(variant).items() if value != info.defaults[key]}
    if changed:
        raise CnnlabError(f"torchvision's weights fit {base} without variants, not {model_name}")
    names = [member.name for member in info.weights]
    if source.lower() == "imagenet":
        return info.weights.DEFAULT
    if source.upper() not in names:
        raise CnnlabError(f"unknown weights {source!r} for {base}; known: imagenet (= DEFAULT), {', '.join(names)}")
    return info.weights[source.upper()]


def download_state(weights: WeightsEnum) -> dict[str, torch.Tensor]:
    """torchvision's own download (cached under $TORCH_HOME/hub/checkpoints, hash-checked), or an offline hint."""
    filename = weights.url.rsplit("/", 1)[-1]
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (urllib.error.URLError, OSError) as err:
        hub = Path(torch.hub.get_dir()) / "checkpoints" / filename
        reason = getattr(err, "reason", None) or err
        raise CnnlabError(
            f"cannot download {weights.url} ({reason}); offline: copy {filename} to {hub} "
            f"(a pre-filled TORCH_HOME) or pass `pretrained` /path/to/{filename}"
        ) from None
    except RuntimeError as err:  # torch.hub's hash check
        raise CnnlabError(f"{weights.url}: {str(err).splitlines()[0]}") from None


def unwrap(state: dict) -> dict[str, torch.Tensor]:
    """The weights inside common wrappers (`state_dict`, `model`), without a DataParallel `module.` prefix."""
    for key in ("state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}


def read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a .pth/.pt (weights_only), a .safetensors file, a cnnlab checkpoint or a run directory."""
    path = checkpoint_path(path)
    if path.suffix == ".safetensors":
        return load_checkpoint(path)[0]["model"] if is_checkpoint(path) else load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle and zip errors of a file that is not a weights file
        raise CnnlabError(f"{path}: not a readable weights file ({str(err).splitlines()[0]})") from None
    if not isinstance(state, dict):
        raise CnnlabError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return unwrap(state)


def resolve_state(model_name: str, source: str) -> dict[str, torch.Tensor]:
    """The state dict that `pretrained` SOURCE names for a zoo model (timm's hub is handled by `load_timm_pretrained`)."""
    if is_local(source):
        return read_weights_file(Path(source).expanduser())
    return download_state(torchvision_weights(model_name, source))


def adapt_conv_weight(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """A first-conv weight for `in_chans` inputs: summed to one channel, or repeated and rescaled (as timm does)."""
    source = weight.shape[1]
    if source == in_chans:
        return weight
    if in_chans == 1:
        return weight.sum(1, keepdim=True)
    repeats = -(-in_chans // source)
    return weight.repeat(1, repeats, 1, 1)[:, :in_chans] * (source / in_chans)


def adapt_input_channels(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The state with its first conv's weight changed to the model's input channels when they differ."""
    key = first_conv(model) + ".weight"
    if key not in state:
        return state
    target = model.get_parameter(key).shape[1]
    return {**state, key: adapt_conv_weight(state[key], target)}


def classifier_name(model: nn.Module) -> str:
    """The qualified name of the model's classifier Linear (zoo and timm models both have get_classifier)."""
    head = model.get_classifier()
    return next(name for name, module in model.named_modules() if module is head)


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str, reset_head: bool = True) -> None:
    """Load weights strictly, then give the model a fresh head (`reset_classifier`) unless `reset_head` is False.

    Keeping the head needs the same class count as the model.
    """
    state = adapt_input_channels(state, model)
    head = classifier_name(model) + ".weight"
    classes = model.get_classifier().out_features
    source_classes = state[head].shape[0] if head in state else classes
    if source_classes != classes and not reset_head:
        raise SettingError("keep_head", f"needs as many classes as the weights' head: {source} has {source_classes}, "
                           f"the data {classes}; without it the head is replaced")
    model.reset_classifier(source_classes)
    if reset_head:  # weights without a head (a backbone) are fine: the head is new anyway
        prefix = classifier_name(model) + "."
        state = {**{prefix + k: v for k, v in model.get_classifier().state_dict().items()}, **state}
    load_state(model, state, source)
    if reset_head:
        model.reset_classifier(classes)


def load_timm_pretrained(model: nn.Module, source: str) -> None:
    """timm's own pretrained loader (its hub, its head and in_chans handling) on a timm/<name> model."""
    if source.lower() not in HUB_NAMES:
        raise CnnlabError(f"unknown weights {source!r} for a timm model; use timm (or imagenet), a file or a run")
    from timm.models import load_pretrained

    try:
        load_pretrained(model, num_classes=model.num_classes, in_chans=model.default_cfg["in_chans"])
    except (OSError, RuntimeError, ValueError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CnnlabError(f"cannot load timm's weights for {model.default_cfg['name']} ({message}); offline: "
                          "a pre-filled HF_HOME, or `pretrained` /path/to/weights.safetensors") from None


def apply_pretrained(model: nn.Module, model_name: str, source: str, reset_head: bool = True) -> None:
    """Load the weights of `pretrained` SOURCE into a freshly built model whose head already has the data's class count."""
    if model_name.startswith(TIMM_PREFIX) and not is_local(source):
        load_timm_pretrained(model, source)
        return
    load_weights(model, resolve_state(model_name, source), source, reset_head)


def run_record(source: str) -> ModelRecord | None:
    """The model record of a cnnlab run or checkpoint; None for other sources."""
    if not Path(source).expanduser().exists():
        return None
    path = checkpoint_path(Path(source).expanduser())
    if path.suffix != ".safetensors" or not is_checkpoint(path):
        return None
    return read_record(load_checkpoint(path)[2], str(path))


def run_model_name(source: str) -> str | None:
    """The model (name and variants) a cnnlab run or checkpoint was trained as; None for other sources."""
    record = run_record(source)
    return record.architecture if record else None


def weights_channels(source: str) -> int | None:
    """The input channels the weights of `pretrained` SOURCE were trained on: a cnnlab run's own, a weights file's
    first convolution's, RGB for the hubs' ImageNet weights; None when a file holds no convolution."""
    if not is_local(source):
        return 3
    record = run_record(source)
    if record is not None:
        return record.in_chans
    filters = [value for value in read_weights_file(Path(source).expanduser()).values() if value.ndim == 4]
    return filters[0].shape[1] if filters else None


def weights_preprocessing(model_name: str, source: str) -> Preprocessing:
    """The input size and mean/std the weights were trained with (a plain weights file does not say: an error)."""
    if is_local(source):
        record = run_record(source)
        if record is None:
            raise SettingError("preprocess", f"weights: {source} does not say what input it was trained on: use data")
        return Preprocessing(record.input_shape[1], record.mean, record.std)
    if model_name.startswith(TIMM_PREFIX):
        from cnnlab.models import create_model

        with torch.device("meta"):
            cfg = create_model(model_name).pretrained_cfg
        return Preprocessing(cfg["input_size"][1], tuple(cfg["mean"]), tuple(cfg["std"]))
    transform = torchvision_weights(model_name, source).transforms()
    return Preprocessing(transform.crop_size[0], tuple(transform.mean), tuple(transform.std))


def is_checkpoint(path: Path) -> bool:
    """Whether a safetensors file is a cnnlab checkpoint (has cnnlab metadata); an error if it is unreadable."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return "cnnlab" in (f.metadata() or {})
    except Exception as err:  # safetensors raises its own error types for foreign files
        raise CnnlabError(f"{path}: not a readable safetensors file ({err})") from None
