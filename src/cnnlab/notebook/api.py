"""The Python API that `import cnnlab` gives: `cnnlab.train(...)`, `cnnlab.load(...)`, `cnnlab.summary(...)`,
`cnnlab.lr_find(...)`, `cnnlab.augment_preview(...)`. The training functions take the settings of `cnnlab train`
by their names (`lr=0.01`, `recipe="lesson"`), checked by the same declarations (settings/sections.py)."""

import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from cnnlab import events
from cnnlab.analysis.summary import Summary, summarize, summarize_model
from cnnlab.errors import CnnlabError
from cnnlab.notebook.run import Run
from cnnlab.notebook.views import Picture
from cnnlab.settings import Settings, resolve

if TYPE_CHECKING:
    from cnnlab.train.lr_find import LRFind


def setting_values(given: dict[str, object]) -> dict[str, object]:
    """Settings as the declarations take them: a path (or a Run, for `pretrained`) as its text."""
    return {k: str(v.path if isinstance(v, Run) else v) if isinstance(v, (Path, Run)) else v for k, v in given.items()}


def reported(quiet: bool) -> contextlib.AbstractContextManager:
    """Silence for `quiet`, else the current reporter (in a notebook, live bars in the cell)."""
    return events.quiet() if quiet else contextlib.nullcontext()


def train(settings: Settings | None = None, *, resume: str | Path | Run | None = None, quiet: bool = False,
          **given: object) -> Run:
    """Train and return the run: `cnnlab.train()` (SimpleCNN on the embedded sample), `cnnlab.train(epochs=3,
    model="resnet18:stem=cifar")`, `cnnlab.train(recipe="fast85", data="/tmp/cifar10")`, `cnnlab.train(settings)`,
    `cnnlab.train(resume=run)`. Every keyword is a setting of `cnnlab train`; `quiet` draws nothing."""
    from cnnlab.train.fit import fit

    given = setting_values(given)
    with reported(quiet):
        if resume is not None:
            result = fit(settings, resume=resume.path if isinstance(resume, Run) else resume, **given)
        else:
            result = fit(settings, **given)
    return Run(result.run_dir)


def load(run_or_model: str | Path | Run) -> Run:
    """A trained run (a run directory or checkpoint), or a zoo model with ImageNet weights by name
    (`efficientnet_lite0`), ready to evaluate, predict, explain and export."""
    run = run_or_model if isinstance(run_or_model, Run) else Run(run_or_model)
    run.loaded  # noqa: B018  (load now: a wrong path fails here, not at the first method)
    return run


def summary(model: str | nn.Module | Run | Path, input: tuple[int, ...] | str | None = None,
            num_classes: int | None = None) -> Summary:
    """Per-layer output shape, parameters, FLOPs and receptive field, with totals: of a zoo model by name or spec
    (`"resnet50"`, `"simplecnn:se=true"`; built without weights), a PyTorch module, or a run. `input` is
    channels x height x width (`(3, 32, 32)` or `"3x32x32"`; default: the model's own)."""
    shape = tuple(int(d) for d in input.split("x")) if isinstance(input, str) else input
    if isinstance(model, Run):
        return model.summary()
    if isinstance(model, nn.Module):
        if shape is None:
            cfg = getattr(model, "default_cfg", None) or {}
            if "input_size" not in cfg:
                raise CnnlabError("give `input` (channels, height, width) for a model that does not name its input")
            shape = cfg["input_size"]
        return summarize(model, shape, name=type(model).__name__)
    if Path(model).exists():
        return Run(model).summary()
    return summarize_model(str(model), shape, num_classes)


def lr_find(*, start: float = 1e-7, end: float = 10.0, steps: int = 100, quiet: bool = False,
            **given: object) -> "LRFind":
    """Smith's range test on a fresh model: the rate grows from `start` to `end` over `steps` batches; returns the
    rates, the losses and the suggested rate (shown with its plot in a notebook). Keywords are `cnnlab train`'s
    settings (data, model, optimizer, ...)."""
    from cnnlab.train.lr_find import find_lr

    with reported(quiet):
        return find_lr(resolve(**setting_values(given)), start=start, end=end, steps=steps)


def augment_preview(images: list[str] | None = None, data: str | None = None, policies: list[str] | None = None,
                    seed: int = 0, count: int = 4, out: str | Path | None = None) -> Picture:
    """The course's six augmentations and the policies (autoaugment, randaugment, trivialaugment, augmix, mixup,
    cutmix) on image files or on `count` images of a dataset (`data="sample"`), one column each."""
    from cnnlab.viz.augment_preview import augment_preview as write_preview

    if images is None and data is None:
        data = "sample"
    path = Path(out) if out else Path(tempfile.mkdtemp(prefix="cnnlab-")) / "augment_preview.png"
    return Picture(write_preview(images, data, path, policies, seed, count), "augmentation preview")


def gradient_flow(*sources: str | Path | Run, data: str = "sample", count: int = 64, seed: int = 0,
                  out: str | Path | None = None) -> Picture:
    """The gradient norm at each layer's weights, input to output, for model names (at initialisation) and runs
    (at initialisation and trained), on one batch of `data`: `cnnlab.gradient_flow("plain56", "resnet56")`."""
    from cnnlab.viz.gradflow import gradient_flows, save_gradflow

    names = [str(s.path) if isinstance(s, Run) else str(s) for s in sources]
    if not names:
        raise CnnlabError("name at least one model or run")
    path = Path(out) if out else Path(tempfile.mkdtemp(prefix="cnnlab-")) / "gradflow.png"
    return Picture(save_gradflow(gradient_flows(names, data, count, seed), path), "gradient flow")
