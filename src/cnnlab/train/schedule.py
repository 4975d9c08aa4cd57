"""Learning-rate schedules, stepped once per batch: linear warmup, then cosine, one-cycle, step or constant."""

import math

import torch

from cnnlab.settings import OptimSettings


def lr_factor(step: int, total: int, warmup: int, optim: OptimSettings, steps_per_epoch: int) -> float:
    """The multiplier of the base learning rate at a step: linear warmup, then the chosen schedule."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if optim.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if optim.schedule == "onecycle":
        return max(0.0, 1.0 - progress) if warmup else onecycle_factor(progress)
    if optim.schedule == "step":
        return optim.gamma ** (step // (optim.step_size * steps_per_epoch))
    return 1.0


def onecycle_factor(progress: float) -> float:
    """One cycle without an explicit warmup: from 1/25 up to 1 over the first 25%, then linearly down to zero."""
    return 0.04 + 0.96 * progress / 0.25 if progress < 0.25 else (1.0 - progress) / 0.75


def build_scheduler(optimizer: torch.optim.Optimizer, optim: OptimSettings, steps_per_epoch: int,
                    total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A schedule over `total` steps (warmup_epochs of them warming up)."""
    warmup = round(optim.warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, optim, steps_per_epoch))
