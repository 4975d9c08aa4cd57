"""The learning-rate range test: train briefly while the rate grows exponentially, and read the loss curve."""

import json
import math
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

import torch

from cnnlab import events
from cnnlab.data.pipeline import load_data
from cnnlab.errors import SettingError
from cnnlab.run.directory import RunDir, default_run_name
from cnnlab.settings import Settings
from cnnlab.train.assemble import assemble
from cnnlab.train.defaults import concrete
from cnnlab.train.precision import flush_denormals
from cnnlab.train.trainer import Trainer


@dataclass(repr=False)
class LRFind:
    """The sweep: rates tried, raw and smoothed losses, and the suggested rates."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    steepest: float
    minimum: float
    path: Path

    @property
    def suggestion(self) -> float:
        """The rate where the smoothed loss falls fastest (fastai's `steep`)."""
        return self.steepest

    def __repr__(self) -> str:
        """One line: the suggestion and the sweep (the curves are in `lrs`, `losses`, `smoothed`)."""
        return f"LRFind(suggestion {self.suggestion:.2e}, {len(self.lrs)} steps, {self.path})"


    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return {"suggestion": self.suggestion, "steepest": self.steepest, "minimum_over_10": self.minimum / 10,
                "minimum": self.minimum, "lrs": self.lrs, "losses": self.losses, "smoothed": self.smoothed}


class Smoother:
    """Bias-corrected exponential moving average, as in the range test's original write-up."""

    def __init__(self, beta: float) -> None:
        """Start empty; `beta` is the weight of the past."""
        self.beta, self.average, self.count = beta, 0.0, 0

    def update(self, value: float) -> float:
        """Take one value; return the corrected average so far."""
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * value
        return self.average / (1 - self.beta**self.count)


def suggestions(lrs: list[float], smoothed: list[float]) -> tuple[float, float]:
    """(steepest, minimum): the rate of the most negative slope of loss over log-rate before the lowest loss,
    and the rate of the lowest loss."""
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    if low < 2:
        return lrs[low], lrs[low]
    slopes = [(smoothed[i + 1] - smoothed[i - 1]) / (math.log(lrs[i + 1]) - math.log(lrs[i - 1])) for i in range(1, low)]
    steepest = 1 + min(range(len(slopes)), key=slopes.__getitem__)
    return lrs[steepest], lrs[low]


def range_test(
    trainer: Trainer, start: float, end: float, steps: int, diverge: float, beta: float
) -> tuple[list[float], list[float], list[float]]:
    """Train `steps` batches with the rate growing from start (the optimizer's rate) to end; stop when the loss
    explodes. Returns the rates, the losses and the smoothed losses."""
    growth = (end / start) ** (1 / max(1, steps - 1))
    trainer.scheduler = torch.optim.lr_scheduler.LambdaLR(trainer.optimizer, lambda i: growth**i)
    trainer.parts.model.train()
    smoother = Smoother(beta)
    lrs, losses, smoothed, best = [], [], [], math.inf
    route = trainer.parts.route(0)
    with events.progress("lr-find", steps) as advance:
        for _, (images, labels) in zip(range(steps), cycle(route.train_loader)):
            lrs.append(trainer.optimizer.param_groups[0]["lr"])
            loss, _ = trainer.train_step(route, images, labels)
            losses.append(loss.item())
            smoothed.append(smoother.update(losses[-1]))
            advance(1)
            best = min(best, smoothed[-1])
            if not math.isfinite(smoothed[-1]) or smoothed[-1] > diverge * best:
                break
    return lrs, losses, smoothed


def find_lr(settings: Settings, start: float = 1e-7, end: float = 10.0, steps: int = 100,
            diverge: float = 4.0, beta: float = 0.98) -> LRFind:
    """Run the range test from a fresh model; write lr_find.json and lr_find.png to a new folder under `out`."""
    if not 0 < start < end:
        raise SettingError("start", f"and `end` must satisfy 0 < start < end, got {start} and {end}")
    if steps < 5:
        raise SettingError("steps", f"must be at least 5, got {steps}")
    flush_denormals()
    settings = concrete(settings.replace(ema=None, lr=start))
    data = load_data(settings)
    run = RunDir.create(settings.run.out, "lr-find-" + default_run_name(settings.model.model, settings.data.data))
    trainer = Trainer(assemble(settings, data), run)
    lrs, losses, smoothed = range_test(trainer, start, end, steps, diverge, beta)
    steepest, minimum = suggestions(lrs, smoothed)
    result = LRFind(lrs, losses, smoothed, steepest, minimum, run.path)
    (run.path / "lr_find.json").write_text(json.dumps({"settings": settings.to_dict(), **result.to_dict()},
                                                      indent=2) + "\n")
    from cnnlab.viz.plots import save_lr_curve

    save_lr_curve(lrs, smoothed, steepest, run.path / "lr_find.png", f"{settings.model.model} on {data.name}")
    events.note(f"lr-find: {len(lrs)} steps from {lrs[0]:.1e} to {lrs[-1]:.1e}")
    return result
