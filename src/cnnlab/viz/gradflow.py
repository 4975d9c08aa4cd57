"""Gradient flow (course section 6): the norm of the loss gradient at each layer's weights, from input to output.

One batch, one backward pass in training mode (BatchNorm on batch statistics, as in training). A run is shown
twice, at initialisation (rebuilt from its config and seed, as the trainer built it) and trained (its best
checkpoint); a model name at initialisation only. Through a deep plain stack the norm drifts geometrically with
depth (with BatchNorm it grows toward the input: plain56 at init measured 1.0e3 at the first conv and 0.57 at the
classifier; largest over smallest 6,000), while shortcuts keep the spread far smaller (resnet56: 4.0 at the first
conv, 11 at the classifier; largest over smallest 46).
"""

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.data.dataset import ImageSet
from cnnlab.data.loader import normalize
from cnnlab.data.sources import load_dataset
from cnnlab.errors import CnnlabError
from cnnlab.inference.loaded import build_model, load_model
from cnnlab.models import create_model
from cnnlab.viz.plots import save_figure


@dataclass(frozen=True)
class GradientFlow:
    """One curve: a label and, per weight layer in depth order, its name and gradient norm."""

    label: str
    layers: list[str]
    norms: list[float]


def gradient_norms(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[list[str], list[float]]:
    """The L2 norm of d(cross-entropy)/d(weight) of every conv and linear layer, after one batch."""
    was_training = model.training
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(images), labels).backward()
    names, norms = [], []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and module.weight.grad is not None:
            names.append(name)
            norms.append(module.weight.grad.norm().item())
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return names, norms


def batch_of(source: str, count: int, size: tuple[int, int] | None = None, data_dir: str | None = None,
             seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, tuple[float, ...], tuple[float, ...], int]:
    """`count` validation images of a dataset drawn with `seed` (uint8), their labels, mean, std and class count."""
    data = load_dataset(source, data_dir=data_dir, seed=seed, size=size, stream=False)
    if not isinstance(data.val, ImageSet):
        raise CnnlabError(f"{source} streams from disk: the gradient flow needs an in-memory dataset")
    chosen = torch.randperm(len(data.val), generator=torch.Generator().manual_seed(seed))[:count]
    return data.val.images[chosen], data.val.labels[chosen], data.mean, data.std, len(data.classes)


def run_flows(run: str | Path, count: int, seed: int) -> list[GradientFlow]:
    """A run's gradient flow at initialisation and trained, on a batch of its own data."""
    loaded = load_model(run)
    settings, (_, height, width) = loaded.settings, loaded.input_shape
    if settings is None:
        raise CnnlabError(f"{run}: holds no training settings, so no dataset to take a batch from")
    seed_of_run = settings.run.seed
    images, labels, _, _, _ = batch_of(settings.data.data, count, (height, width), settings.data.data_dir, seed_of_run)
    x = loaded.preprocess(images)
    torch.manual_seed(seed_of_run)  # the trainer's initialisation
    fresh = build_model(loaded.record)
    name = Path(run).name if Path(run).is_dir() else Path(run).parent.parent.name
    torch.manual_seed(seed)
    flows = [GradientFlow(f"{name} at init", *gradient_norms(fresh, x, labels))]
    torch.manual_seed(seed)
    flows.append(GradientFlow(f"{name} trained", *gradient_norms(loaded.model, x, labels)))
    return flows


def model_flow(spec: str, data: str, count: int, seed: int, data_dir: str | None = None) -> GradientFlow:
    """A zoo model's gradient flow at initialisation (seeded) on a batch of `data`."""
    torch.manual_seed(seed)
    model = create_model(spec)
    channels, height, width = model.default_cfg["input_size"]
    images, labels, mean, std, classes = batch_of(data, count, (height, width), data_dir)
    if images.shape[1] != channels:
        raise CnnlabError(f"{spec} takes {channels} channels, {data} has {images.shape[1]}")
    model.reset_classifier(classes)
    torch.manual_seed(seed)
    return GradientFlow(f"{spec} at init", *gradient_norms(model, normalize(images.float(), mean, std), labels))


def is_run(source: str) -> bool:
    """Whether `source` names a run directory or checkpoint file (else it is a model name or spec)."""
    path = Path(source)
    return path.is_file() or (path / "checkpoints").is_dir()


def gradient_flows(sources: list[str], data: str = "sample", count: int = 64, seed: int = 0,
                   data_dir: str | None = None) -> list[GradientFlow]:
    """The curves of each source: two per run (init, trained), one per model name (init)."""
    flows: list[GradientFlow] = []
    for source in sources:
        if is_run(source):
            flows.extend(run_flows(source, count, seed))
        else:
            flows.append(model_flow(source, data, count, seed, data_dir))
    return flows


def save_gradflow(flows: list[GradientFlow], path: Path) -> Path:
    """Gradient norm per layer on a log axis, layers by relative depth (0 = input side, 1 = output), one line each."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for flow in flows:
        depth = [i / max(1, len(flow.norms) - 1) for i in range(len(flow.norms))]
        style = "--" if flow.label.endswith("at init") else "-"
        ax.plot(depth, flow.norms, style, marker=".", label=f"{flow.label} ({len(flow.norms)} layers)")
    ax.set(yscale="log", xlabel="layer depth (0 = first conv, 1 = classifier)", ylabel="gradient norm of the weights",
           title="gradient flow: one batch, cross-entropy")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, path)
