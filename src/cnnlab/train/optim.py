"""Optimizers (no weight decay on norms and biases) and per-step learning-rate schedules with warmup."""

import math

import torch
from torch import nn

from cnnlab.train.config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights of convs and linears decay; biases and normalisation parameters do not."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, optionally Nesterov), Adam or AdamW over the model's trainable parameters."""
    groups = param_groups(model, config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.Adam(groups, lr=config.lr)


def lr_factor(step: int, total: int, warmup: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """The multiplier of the base learning rate at a step: linear warmup, then the chosen schedule."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if config.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if config.schedule == "onecycle":
        return max(0.0, 1.0 - progress) if warmup else onecycle_factor(progress)
    if config.schedule == "step":
        return config.gamma ** (step // (config.step_size * steps_per_epoch))
    return 1.0


def onecycle_factor(progress: float) -> float:
    """One cycle without an explicit warmup: from 1/25 up to 1 over the first 25%, then linearly down to zero."""
    return 0.04 + 0.96 * progress / 0.25 if progress < 0.25 else (1.0 - progress) / 0.75


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A scheduler stepped once per batch."""
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, config, steps_per_epoch)
    )
