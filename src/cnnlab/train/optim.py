"""Optimizers (no weight decay on norms and biases) and per-step learning-rate schedules with warmup."""

import math

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.train.config import TrainConfig
from cnnlab.train.freeze import head_parameter_ids
from cnnlab.train.muon import Muon


def param_groups(model: nn.Module, weight_decay: float, lr: float, backbone_mult: float = 1.0,
                 bias_mult: float = 1.0) -> list[dict]:
    """Trainable parameters grouped by decay (convs and linears decay; biases and norms do not) and learning rate
    (the classifier's at `lr`, the backbone's at `lr * backbone_mult`, biases and norms at `bias_mult` times
    their part's); the classifier's groups come first."""
    head = head_parameter_ids(model) if backbone_mult != 1.0 else None
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for param in model.parameters():
        if param.requires_grad:
            backbone = head is not None and id(param) not in head
            groups.setdefault((backbone, param.ndim <= 1), []).append(param)
    if not groups:
        raise CnnlabError("every parameter is frozen: nothing to train (see --freeze)")
    return [
        {"params": params, "weight_decay": 0.0 if no_decay else weight_decay,
         "lr": lr * (backbone_mult if backbone else 1) * (bias_mult if no_decay else 1)}
        for (backbone, no_decay), params in sorted(groups.items())
    ]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, optionally Nesterov), Adam, AdamW or Muon over the model's trainable parameters."""
    groups = param_groups(model, config.weight_decay, config.lr, config.backbone_lr_mult, config.bias_lr_mult)
    if config.optimizer == "muon":
        return Muon(muon_groups(groups, config), lr=config.lr, momentum=config.momentum)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.Adam(groups, lr=config.lr)


def muon_groups(groups: list[dict], config: TrainConfig) -> list[dict]:
    """Each group split in two: its conv filters, orthogonalised by Muon at `muon_lr` (times the group's share of
    `lr`) with `muon_momentum`, no weight decay and (`muon_normalize`) a fixed norm; the rest, SGD with Nesterov
    momentum as before."""
    split = []
    for group in groups:
        filters = [p for p in group["params"] if p.ndim == 4]
        rest = [p for p in group["params"] if p.ndim != 4]
        if rest:
            split.append({**group, "params": rest})
        if filters:
            split.append({**group, "params": filters, "orthogonal": True, "weight_decay": 0.0,
                          "lr": group["lr"] / config.lr * config.muon_lr, "momentum": config.muon_momentum,
                          "normalize": config.muon_normalize})
    return split


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
