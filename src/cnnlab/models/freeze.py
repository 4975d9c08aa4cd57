"""Freezing for transfer learning: a model's backbone stages, which of them train, frozen BatchNorm in eval."""

from torch import nn

from cnnlab.errors import SettingError
from cnnlab.settings.sections import ModelSettings, check_freeze

POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
Stage = tuple[str, list[nn.Module]]


def has_params(module: nn.Module) -> bool:
    """Whether a module holds any parameter."""
    return next(module.parameters(), None) is not None


def is_leaf(module: nn.Module) -> bool:
    """A module without children."""
    return next(module.children(), None) is None


def group(named: list[tuple[str, nn.Module]]) -> Stage:
    """One stage from consecutive named modules, named `first+second` or `features.0-4`."""
    names = [name for name, _ in named]
    prefix, _, first = names[0].rpartition(".")
    label = f"{prefix}.{first}-{names[-1].rpartition('.')[2]}" if prefix and len(names) > 1 else "+".join(names)
    return label, [module for _, module in named]


def split_sequential(name: str, sequence: nn.Sequential) -> list[Stage]:
    """A torchvision-style `features` Sequential as stages: each block, or the layers up to each pooling layer."""
    stages, pending = [], []
    for index, module in enumerate(sequence):
        qualified = f"{name}.{index}"
        if not is_leaf(module):
            stages += [group(pending)] if any(has_params(m) for _, m in pending) else []
            pending = []
            if has_params(module):
                stages.append((qualified, [module]))
            continue
        pending.append((qualified, module))
        if isinstance(module, POOLS) and any(has_params(m) for _, m in pending):
            stages.append(group(pending))
            pending = []
    if any(has_params(m) for _, m in pending):
        stages.append(group(pending))
    return stages


def stages(model: nn.Module) -> list[Stage]:
    """The backbone's stages in forward order: the stem's layers together, each block stage, the head's hidden layers.

    ResNet: conv1+bn1, layer1..layer4; VGG: the convs up to each max-pool; SimpleCNN: its three conv blocks.
    The head (see `head_modules`) is never a stage.
    """
    heads = head_modules(model)
    result: list[Stage] = []
    stem: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if any(child is head for head in heads) or not has_params(child):
            continue
        if is_leaf(child):
            stem.append((name, child))
            continue
        if stem:
            result.append(group(stem))
            stem = []
        if any(module is head for module in child.modules() for head in heads):
            rest = [(f"{name}.{n}", m) for n, m in child.named_children()
                    if all(m is not head for head in heads) and has_params(m)]
            result += [group(rest)] if rest else []
        elif name == "features" and isinstance(child, nn.Sequential):
            result += split_sequential(name, child)
        else:
            result.append((name, [child]))
    if stem:
        result.append(group(stem))
    return result


def parse_freeze(spec: str) -> str | int:
    """`none`, `backbone` or a number of leading stages (the setting's check has refused anything else)."""
    check_freeze(spec)
    return int(spec) if spec.isdigit() else spec


def freeze(model: nn.Module, spec: str) -> None:
    """Make the model trainable except what `spec` freezes: nothing, all but the head, or the first N stages."""
    how = parse_freeze(spec)
    for param in model.parameters():
        param.requires_grad_(True)
    if how == "none":
        return
    if how == "backbone":
        head = head_parameter_ids(model)
        for param in model.parameters():
            param.requires_grad_(id(param) in head)
        return
    found = stages(model)
    if how > len(found):
        names = ", ".join(name for name, _ in found)
        raise SettingError("freeze", f"{how}: {type(model).__name__} has {len(found)} stages ({names})")
    for _, modules in found[:how]:
        for module in modules:
            module.requires_grad_(False)


def head_modules(model: nn.Module) -> list[nn.Module]:
    """What `forward_head` runs with parameters (a zoo model says; for timm models, the classifier)."""
    return model.head_modules() if hasattr(model, "head_modules") else [model.get_classifier()]


def head_parameter_ids(model: nn.Module) -> set[int]:
    """The ids of the head's parameters: trained at the full rate, and all that `freeze` backbone leaves."""
    return {id(param) for module in head_modules(model) for param in module.parameters()}


def is_frozen(module: nn.Module) -> bool:
    """A module with parameters, none of them trainable."""
    return has_params(module) and not any(param.requires_grad for param in module.parameters())


def fixed_statistics(model_settings: ModelSettings) -> bool:
    """Whether the `batchnorm` setting keeps the pretrained layers' BatchNorm statistics fixed (auto: with pretrained
    weights)."""
    if model_settings.batchnorm == "auto":
        return model_settings.pretrained is not None
    return model_settings.batchnorm == "fixed"


def train_mode(model: nn.Module, fixed: bool = False) -> None:
    """`model.train()`, except BatchNorm layers whose running statistics stay as they are (in eval): those of frozen
    stages, and with `fixed` every one outside the head.

    A pretrained network fine-tuned on a few hundred images in batches of 32 fares better with the statistics it
    learnt on ImageNet than with each batch's: measured on CIFAR-10 with 100 images per class (EfficientNet-Lite0 at
    160 px, 5 epochs, 3 seeds), 75.5% with them fixed against 69.9% (docs/benchmarks.md)."""
    model.train()
    head = {id(module) for top in head_modules(model) for module in top.modules()}
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and (
                is_frozen(module) or (fixed and id(module) not in head)):
            module.eval()


def phase_freeze(freeze_spec: str, fine_tune: int, epoch: int) -> str:
    """What is frozen in an epoch (0-based): the backbone for the `fine_tune` head-only epochs, then `freeze_spec`."""
    return "backbone" if epoch < fine_tune else freeze_spec


def stage_report(model: nn.Module) -> list[dict]:
    """Each stage and the head with its parameter count and how many of them train."""
    rows = [(name, [p for m in modules for p in m.parameters()]) for name, modules in stages(model)]
    rows.append(("head", [p for module in head_modules(model) for p in module.parameters()]))
    return [
        {"stage": name, "params": sum(p.numel() for p in params),
         "trainable": sum(p.numel() for p in params if p.requires_grad)}
        for name, params in rows
    ]
