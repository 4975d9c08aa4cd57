"""Optimizers over a model's trainable parameters, grouped by weight decay (none on norms and biases) and rate."""

import torch
from torch import nn

from cnnlab.errors import SettingError
from cnnlab.models.freeze import head_parameter_ids
from cnnlab.settings import OptimSettings
from cnnlab.train.muon import Muon


def param_groups(model: nn.Module, weight_decay: float, backbone_mult: float = 1.0,
                 bias_mult: float = 1.0) -> list[dict]:
    """Trainable parameters grouped by decay (convs and linears decay; biases and norms do not) and by `scale`, the
    multiple of the base rate they learn at: the classifier's 1, the backbone's `backbone_mult`, biases and norms
    `bias_mult` times their part's. The classifier's groups come first."""
    head = head_parameter_ids(model) if backbone_mult != 1.0 else None
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for param in model.parameters():
        if param.requires_grad:
            backbone = head is not None and id(param) not in head
            groups.setdefault((backbone, param.ndim <= 1), []).append(param)
    if not groups:
        raise SettingError("freeze", "leaves every parameter frozen: nothing to train")
    return [
        {"params": params, "weight_decay": 0.0 if no_decay else weight_decay,
         "scale": (backbone_mult if backbone else 1) * (bias_mult if no_decay else 1)}
        for (backbone, no_decay), params in sorted(groups.items())
    ]


def build_optimizer(model: nn.Module, optim: OptimSettings, backbone_mult: float = 1.0) -> torch.optim.Optimizer:
    """SGD (momentum, optionally Nesterov), Adam or AdamW (momentum is beta1), or Muon, over the trainable
    parameters, each group at the base rate times its scale."""
    groups = param_groups(model, optim.weight_decay, backbone_mult, optim.bias_lr_mult)
    if optim.optimizer == "muon":
        return Muon(muon_groups(groups, optim), lr=optim.lr, momentum=optim.momentum)
    for group in groups:
        group["lr"] = optim.lr * group["scale"]
    if optim.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum, nesterov=optim.nesterov)
    adam = torch.optim.AdamW if optim.optimizer == "adamw" else torch.optim.Adam
    return adam(groups, lr=optim.lr, betas=(optim.momentum, 0.999))


def muon_groups(groups: list[dict], optim: OptimSettings) -> list[dict]:
    """Each group split in two: its conv filters, orthogonalised by Muon at `muon_lr` (times the group's scale) with
    `muon_momentum`, no weight decay and (`muon_normalize`) a fixed norm; the rest, SGD with Nesterov momentum at
    `lr` times the scale."""
    split = []
    for group in groups:
        filters = [p for p in group["params"] if p.ndim == 4]
        rest = [p for p in group["params"] if p.ndim != 4]
        if rest:
            split.append({**group, "params": rest, "lr": optim.lr * group["scale"]})
        if filters:
            split.append({**group, "params": filters, "orthogonal": True, "weight_decay": 0.0,
                          "lr": optim.muon_lr * group["scale"], "momentum": optim.muon_momentum,
                          "normalize": optim.muon_normalize})
    return split
