"""Learned and random augmentation policies (RandAugment, TrivialAugmentWide, AutoAugment, AugMix) and batch mixing
(MixUp, CutMix), all torchvision transforms v2, applied to whole batches on the training device.

torchvision's transforms draw from torch's global random state; every call here forks that state and seeds it
from the loader's own generator, so a run's seed fixes every draw and a resumed run repeats them.
A v2 policy given a batch draws its operations once for the whole batch (each image of the batch gets the same
operations; AugMix still mixes each image with its own weights). When a policy cannot run on a batch on the device,
it falls back to one call per image, with its own draw per image.
"""

from collections.abc import Callable

import torch
from torchvision.transforms import v2

from cnnlab.errors import CnnlabError, SettingError

POLICIES: dict[str, Callable[[], v2.Transform]] = {
    "randaugment": v2.RandAugment,
    "trivialaugment": v2.TrivialAugmentWide,
    "autoaugment": lambda: v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10),
    "augmix": v2.AugMix,
}
SEED_RANGE = 2**62


def run_seeded(generator: torch.Generator, device: torch.device, work: Callable[[], object]) -> object:
    """Run `work()` with torch's global random state (CPU, and the CUDA device if any) seeded from `generator`,
    then put the global state back as it was."""
    seed = int(torch.randint(SEED_RANGE, (1,), generator=generator, device=generator.device).item())
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return work()


class Policy:
    """A v2 augmentation policy over uint8 batches (N, C, H, W) on one device: `policy(images, generator)`."""

    def __init__(self, name: str, device: torch.device | str, channels: int = 3) -> None:
        """Build the policy and find out, on a probe batch, whether it runs batched on `device`."""
        if name not in POLICIES:
            raise CnnlabError(f"unknown augmentation policy {name!r}: use one of {', '.join(POLICIES)}")
        self.name, self.device = name, torch.device(device)
        self.transform = POLICIES[name]()
        self.batched = self._runs_batched(channels)

    def _runs_batched(self, channels: int) -> bool:
        """Whether the policy accepts a uint8 batch on the device (every op it may draw is tried)."""
        probe = torch.zeros(2, channels, 8, 8, dtype=torch.uint8, device=self.device)
        generator = torch.Generator(device=self.device).manual_seed(0)  # the global random state stays untouched
        try:
            for _ in range(32):  # enough calls to meet every operation of the policy's list with high probability
                run_seeded(generator, self.device, lambda: self.transform(probe))
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            return False
        return True

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The augmented uint8 batch: one call for the batch, or one per image when the batch path is unavailable."""
        if self.batched:
            return run_seeded(generator, self.device, lambda: self.transform(images))
        return run_seeded(generator, self.device, lambda: torch.stack([self.transform(image) for image in images]))

    def describe(self) -> str:
        """One line for the training log: how the policy runs."""
        if self.batched:
            return f"policy {self.name}: batched on {self.device.type} (one draw of operations per batch)"
        return f"policy {self.name}: per image on {self.device.type} (the batched call is not supported here)"


class Mixer:
    """Batch-level MixUp and/or CutMix (one of the two per batch when both are on): images and soft targets."""

    def __init__(self, num_classes: int, mixup: float = 0.0, cutmix: float = 0.0) -> None:
        """`mixup` and `cutmix` are the Beta(alpha, alpha) parameters; 0 leaves that one off."""
        if mixup < 0 or cutmix < 0:
            raise SettingError("mixup", f"({mixup}) and `cutmix` ({cutmix}) are Beta alphas: 0 (off) or positive")
        if not mixup and not cutmix:
            raise SettingError("mixup", "or `cutmix` must be above 0 for a Mixer")
        chosen = [v2.MixUp(alpha=mixup, num_classes=num_classes)] if mixup else []
        chosen += [v2.CutMix(alpha=cutmix, num_classes=num_classes)] if cutmix else []
        self.transform = chosen[0] if len(chosen) == 1 else v2.RandomChoice(chosen)
        self.names = [name for name, alpha in (("mixup", mixup), ("cutmix", cutmix)) if alpha]

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed float images and their targets: per image, a probability over the classes."""
        return run_seeded(generator, images.device, lambda: self.transform(images, labels))

    def describe(self) -> str:
        """One line for the training log."""
        return (
            f"mixing: {' or '.join(self.names)} on whole batches on the device; soft-label loss; "
            "train accuracy is measured against each image's dominant label"
        )


def dominant_labels(targets: torch.Tensor) -> torch.Tensor:
    """Hard labels as they are; for soft targets (N, C), the class with the largest share of each image."""
    return targets.argmax(1) if targets.dim() == 2 else targets
