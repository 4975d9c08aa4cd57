"""Every setting of a training run, declared once, in five sections: data, model, optimisation, augmentation, run.

The command line's options, their help panels and their validation come from these declarations (cli/settings.py);
recipes are values of the same type (recipes.py). A field's `None` means "chosen from the data" where its help says
so. Checks that involve two settings live in `Settings.__post_init__`; those that need the data (which source, which
split) in data/pipeline.py, both with one-line errors naming the setting.
"""

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, ClassVar

from cnnlab.errors import SettingError
from cnnlab.settings.field import check_field, check_section, declared, setting
from cnnlab.settings.recipes import RECIPES

READERS = min(4, os.cpu_count() or 1)  # processes that read streamed images: 4, never more than the cores


def check_freeze(value: str) -> None:
    """`none`, `backbone` or a number of leading stages."""
    if value not in ("none", "backbone") and not value.isdigit():
        raise SettingError("freeze", f"{value!r} is not one of: none, backbone, or a number of stages (e.g. 2)")


def parse_fold(text: str) -> tuple[int, int]:
    """The `fold` setting: `2/5` → (2, 5): the second of five folds, 1 ≤ k ≤ K, 2 ≤ K ≤ 100."""
    k, _, total = text.partition("/")
    if not (k.strip().isdigit() and total.strip().isdigit()):
        raise SettingError("fold", f"{text!r} is not k/K (e.g. 2/5: the second of five folds)")
    k, total = int(k), int(total)
    if not 2 <= total <= 100 or not 1 <= k <= total:
        raise SettingError("fold", f"{text!r} needs 2 ≤ K ≤ 100 folds and 1 ≤ k ≤ K")
    return k, total


def check_separator(value: str) -> None:
    """Some characters that can stand inside a CSV cell between labels: not empty, no line break or quote."""
    if not value or any(c in value for c in "\r\n\""):
        raise SettingError("label_separator", f"{value!r} must be one or more characters, none of them a line break "
                           "or a double quote (e.g. |, ; or a space)")


def check_name(value: str) -> None:
    """A run directory's name: one folder, inside `out`."""
    if "/" in value or "\\" in value or value in (".", ".."):
        raise SettingError("name", f"{value!r} must be one folder's name (no / or \\, not . or ..): the run goes in `out`")


def check_recipe(value: str) -> None:
    """A recipe's name."""
    if value not in RECIPES:
        raise SettingError("recipe", f"{value!r} is not one of: {', '.join(RECIPES)}")


class Section:
    """A frozen group of declared settings, checked when it is made."""

    title: ClassVar[str]

    def __post_init__(self) -> None:
        """Check every field against its declaration."""
        check_section(self)


@dataclass(frozen=True)
class DataSettings(Section):
    """Where the images come from and how they are read."""

    title: ClassVar[str] = "Data"
    data: str = setting("sample", "sample, cifar10, cifar100, mnist, fashion-mnist, or an image folder.")
    data_dir: str | None = setting(None, "Where a named dataset's files are (or are downloaded to).")
    download: bool = setting(False, "Download a named dataset through torchvision if it is missing.")
    val_split: float | None = setting(
        None, "Fraction of each class held out when a folder has no val/ or test/ tree (default 0.1).", above=0, below=1)
    image_size: int | None = setting(
        None, "Resize images to this side (default: their own size, or the median short side of mixed sizes).",
        min=8, max=4096)
    labels: str | None = setting(
        None, "A CSV file of image paths and labels (as Kaggle's datasets come); the paths are relative to `data`, "
        "the folder of the images.")
    path_column: str | None = setting(None, "The labels file's column of paths (default: one called path, file, "
                                      "filename, image, id, ...).")
    label_column: str | None = setting(None, "The labels file's column of labels (default: one called label, class, "
                                       "category or target).")
    split_column: str | None = setting(None, "The labels file's column that says train, val or test (val and test "
                                       "both: kept apart; default: none, `val_split` holds images out).")
    label_separator: str | None = setting(
        None, "What separates several labels in one cell of the label column, e.g. | or ' ' (default: one label a "
        "cell).", check=check_separator, spaces=True)
    multi_label: bool | None = setting(
        None, "Each image has any number of the labels (a sigmoid per label) rather than one class (default: when a "
        "cell of the label column holds several).")
    holdout: float | None = setting(
        None, "Fraction of each class of the training images held out as a validation split beside the data's test "
        "split (which `calibrate` never touches).", above=0, below=1)
    fold: str | None = setting(
        None, "Validate on fold k of a stratified K-fold of the training images, as k/K (e.g. 2/5); the test split "
        "stays out (cross-validation trains every fold).", check=parse_fold)
    stream: bool | None = setting(
        None, "Read a folder's images from disk every epoch (default: only when too large for memory).")
    workers: int = setting(READERS, "Processes that read a folder's images when streaming from disk (default: 4, "
                           "at most the CPU's cores).", min=0, max=256)


@dataclass(frozen=True)
class ModelSettings(Section):
    """Which network, and what it starts from."""

    title: ClassVar[str] = "Model"
    model: str = setting("auto", "Model name with variants, e.g. simplecnn:pooling=strided; auto: chosen from the data "
                         "(photos: EfficientNet-Lite0 fine-tuned from ImageNet when its weights are installed; "
                         "otherwise SimpleCNN).")
    pretrained: str | None = setting(
        None, "Start from weights: imagenet (torchvision), a weights name, timm (timm/<name>), a .pth/.safetensors "
        "file or a cnnlab run directory.")
    freeze: str = setting("none", "Freeze none, backbone (all but the head) or the first N stages.",
                          check=check_freeze)
    fine_tune: int = setting(
        0, "Train only the head for this many epochs, then unfreeze (to `freeze`) at lower backbone rates.", min=0)
    cache_features: bool = setting(
        True, "In epochs with the backbone frozen and no augmentation, train the head on the backbone's features, "
        "computed once and cached on disk (keyed by the images and the weights).")
    lr_mult_backbone: float | None = setting(
        None, "Backbone learning rate = `lr` x this (default 0.1 with `fine_tune`, else 1).", min=0, max=100)
    batchnorm: str = setting(
        "auto", "BatchNorm statistics of the layers outside the head while they train: fixed (the pretrained ones kept, "
        "the layers in inference mode, as Keras advises for fine-tuning) or batch (each batch's, PyTorch's default); "
        "auto: fixed with pretrained weights, else batch.", choices=("auto", "fixed", "batch"))
    keep_head: bool = setting(False, "Keep the pretrained head (same classes) instead of a new one.")
    preprocess: str = setting("data", "Input size and mean/std from the data or from the pretrained weights.",
                              choices=("data", "weights"))


@dataclass(frozen=True)
class OptimSettings(Section):
    """How the weights are updated, for how long, and what the loss weighs."""

    title: ClassVar[str] = "Optimisation"
    epochs: int = setting(15, "Number of epochs.", min=1, max=100_000)
    max_steps: int | None = setting(
        None, "Stop after this many optimizer steps (the schedule spans them), even before the last epoch.", min=1)
    batch_size: int = setting(128, "Images per batch (the global batch when distributed).", min=1, max=1 << 20)
    optimizer: str = setting("adam", "Optimizer.", choices=("sgd", "adam", "adamw", "muon"))
    lr: float = setting(1e-3, "Peak learning rate.", above=0, max=100)
    momentum: float = setting(0.9, "Momentum (SGD, Muon's other parameters; Adam's beta1).", min=0, below=1)
    nesterov: bool = setting(False, "Nesterov momentum (SGD).")
    weight_decay: float = setting(1e-4, "Weight decay (not on norms and biases).", min=0, max=1)
    muon_lr: float = setting(0.24, "Muon: learning rate of the conv filters (the rest use `lr`).", above=0, max=100)
    muon_momentum: float = setting(0.6, "Muon: momentum of the conv filters.", min=0, below=1)
    muon_normalize: bool = setting(False, "Muon: keep each filter bank's norm fixed (the root of its output channels).")
    bias_lr_mult: float = setting(1.0, "Biases and norm shifts learn at `lr` x this.", above=0, max=1e4)
    schedule: str = setting("cosine", "Learning-rate schedule.", choices=("cosine", "onecycle", "step", "constant"))
    warmup_epochs: float = setting(0.0, "Linear warmup, in epochs.", min=0)
    step_size: int = setting(30, "Schedule step: epochs between decays.", min=1)
    gamma: float = setting(0.1, "Schedule step: the factor of each decay.", above=0, max=1)
    label_smoothing: float = setting(0.0, "Label smoothing of the loss.", min=0, below=1)
    grad_clip: float | None = setting(None, "Clip the gradient norm to this value.", above=0)
    ema: float | None = setting(None, "Keep an EMA of the weights with this decay, e.g. 0.999.", above=0, below=1)
    class_weights: str = setting("none", "Loss weights per class: auto = inverse frequency.", choices=("none", "auto"))
    sampler: str = setting("shuffle", "Training order: balanced draws every class equally often.",
                           choices=("shuffle", "balanced"))


@dataclass(frozen=True)
class AugmentSettings(Section):
    """What each training batch goes through on the device before the model sees it."""

    title: ClassVar[str] = "Augmentation"
    crop_padding: int | None = setting(None, "Random crop with this padding (default per dataset).", min=0, max=512)
    pad_mode: str = setting("zeros", "What the random crop's padding holds.", choices=("zeros", "reflect"))
    flip: bool | None = setting(None, "Random horizontal flips (default per dataset).")
    alternate_flip: bool = setting(
        False, "Mirror a seeded half of the images in epoch 1, then alternate each image's mirroring per epoch.")
    rotation: float = setting(0.0, "Random rotation up to this many degrees.", min=0, max=180)
    jitter: float = setting(0.0, "Colour jitter strength (brightness, contrast, saturation).", min=0, max=10)
    cutout: int = setting(0, "Cutout square side in pixels.", min=0, max=4096)
    erasing: float = setting(0.0, "Random erasing probability.", min=0, max=1)
    policy: str = setting("none", "Augmentation policy (torchvision v2).",
                          choices=("none", "randaugment", "trivialaugment", "autoaugment", "augmix"))
    mixup: float = setting(0.0, "MixUp with this Beta alpha, e.g. 0.2 (0: off).", min=0, max=100)
    cutmix: float = setting(0.0, "CutMix with this Beta alpha, e.g. 1.0 (0: off).", min=0, max=100)
    progressive_size: int = setting(
        0, "Progressive resizing: the first `progressive_epochs` train on images resized to this side (0: off).",
        min=0, max=4096)
    progressive_epochs: int = setting(0, "Epochs at `progressive_size` before the full size.", min=0)


@dataclass(frozen=True)
class RunSettings(Section):
    """Where and how the run executes, what it evaluates, and where it writes."""

    title: ClassVar[str] = "Run"
    device: str = setting("auto", "Training device.", choices=("auto", "cpu", "cuda", "mps"))
    precision: str = setting("auto", "Numeric precision (fastest: bf16 where it measures faster).",
                             choices=("auto", "fp32", "bf16", "fp16", "fastest"))
    channels_last: bool = setting(True, "Use the channels_last memory format.")
    compile: bool = setting(False, "torch.compile the model.")
    seed: int = setting(0, "Random seed.", min=0, max=2**32 - 1)
    tta: str = setting("none", "Test-time augmentation at the last epoch (shift adds 1-pixel shifts).",
                       choices=("none", "flip", "shift"))
    patience: int | None = setting(None, "Stop after this many epochs without a better validation accuracy.", min=1)
    out: str = setting("runs", "Folder that holds run directories.")
    name: str | None = setting(None, "Run directory name (default: model-data-time).", check=check_name)
    recipe: str | None = setting(None, "Preset settings that explicit ones override.", check=check_recipe)
    devices: int | None = setting(None, "Train with DDP on this many processes of this machine (one per GPU).",
                                  min=1, max=1024)
    sync_bn: bool = setting(False, "Synchronise BatchNorm statistics across processes (CUDA).")
    dist_timeout: float = setting(300.0, "Seconds a process waits for the others before the job ends.", above=0)
    checkpoint_every: int | None = setting(
        None, "Also write the last checkpoint every this many steps, inside epochs (a resume, or a restarted "
        "torchrun job, goes on from the next step; default: at the end of each epoch).", min=1, max=10**9)


SECTIONS: dict[str, type[Section]] = {
    "data": DataSettings, "model": ModelSettings, "optim": OptimSettings, "augment": AugmentSettings,
    "run": RunSettings,
}
LEGACY_VALUES = {"tta": {True: "flip", False: "none"}}  # values that runs written by earlier versions hold
LEGACY_DEFAULTS = {"val_split": 0.1}  # defaults earlier versions wrote out, which now read as "not set"


@dataclass(frozen=True)
class Settings:
    """A training run's settings: `Settings.of(lr=0.1, model="resnet18")`, `settings.replace(epochs=3)`."""

    data: DataSettings = dataclasses.field(default_factory=DataSettings)
    model: ModelSettings = dataclasses.field(default_factory=ModelSettings)
    optim: OptimSettings = dataclasses.field(default_factory=OptimSettings)
    augment: AugmentSettings = dataclasses.field(default_factory=AugmentSettings)
    run: RunSettings = dataclasses.field(default_factory=RunSettings)

    def __post_init__(self) -> None:
        """Refuse combinations that cannot work together."""
        optim, augment, model = self.optim, self.augment, self.model
        if bool(augment.progressive_size) != bool(augment.progressive_epochs) or (
                augment.progressive_epochs >= optim.epochs):
            if augment.progressive_size or augment.progressive_epochs:
                raise SettingError("progressive_size", f"({augment.progressive_size}) and `progressive_epochs` "
                                   f"({augment.progressive_epochs}) go together: a side in pixels, and fewer epochs "
                                   f"than `epochs` ({optim.epochs})")
        if model.fine_tune >= optim.epochs:
            raise SettingError("fine_tune", f"{model.fine_tune} must be fewer than `epochs` ({optim.epochs})")
        if optim.warmup_epochs > optim.epochs:
            raise SettingError("warmup_epochs", f"{optim.warmup_epochs:g} must be at most `epochs` ({optim.epochs})")
        if model.preprocess == "weights" and model.pretrained is None:
            raise SettingError("preprocess", "weights needs `pretrained`")
        if self.data.holdout is not None and self.data.fold is not None:
            raise SettingError("holdout", "and `fold` both hold validation images out of the training images: choose "
                               "one")
        if model.keep_head and model.pretrained is None:
            raise SettingError("keep_head", "needs `pretrained` (a head to keep)")

    @classmethod
    def names(cls) -> dict[str, str]:
        """Each setting's name and the section that holds it."""
        return {f.name: section for section, kind in SECTIONS.items() for f, _, _ in declared(kind)}

    @classmethod
    def of(cls, **values: Any) -> "Settings":
        """Settings from flat names (`lr=0.1`); unknown names are an error naming them."""
        return cls().replace(**values)

    def replace(self, **values: Any) -> "Settings":
        """A copy with some settings changed, by flat name; each checked by its declaration. A new `recipe` is a new
        base: its settings, with the ones chosen here (and given now) on top."""
        if "recipe" in values and values["recipe"] != self.run.recipe:
            base = recipe(values["recipe"]) if values["recipe"] else Settings()
            chosen = {k: v for k, v in self.flat().items() if k in self.explicit()}
            return base.replace(**{**chosen, **{k: v for k, v in values.items() if k != "recipe"}})
        return self.changed(**values)

    def changed(self, **values: Any) -> "Settings":
        """A copy with some settings changed, by flat name, each checked by its declaration (a `recipe` given here
        only names the base, as a recipe's own settings do)."""
        names = self.names()
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise SettingError(unknown[0], f"is not a setting (unknown: {', '.join(unknown)}); "
                               f"settings: {', '.join(sorted(names))}")
        changed = {}
        for section in SECTIONS:
            mine = {k: v for k, v in values.items() if names[k] == section}
            changed[section] = dataclasses.replace(getattr(self, section), **mine) if mine else getattr(self, section)
        return Settings(**changed)

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name."""
        return {k: v for section in SECTIONS for k, v in dataclasses.asdict(getattr(self, section)).items()}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-ready settings, by section."""
        return {section: dataclasses.asdict(getattr(self, section)) for section in SECTIONS}

    @classmethod
    def from_dict(cls, values: dict) -> "Settings":
        """Settings from `to_dict`'s sections, or from the flat dict earlier versions wrote into runs."""
        if set(values) <= set(SECTIONS):
            values = {k: v for section in values.values() for k, v in section.items()}
        else:
            values = {k: v for k, v in values.items() if LEGACY_DEFAULTS.get(k, object()) != v}
            values = {k: LEGACY_VALUES.get(k, {}).get(v, v) if isinstance(v, bool) else v for k, v in values.items()}
        return cls().changed(**values)

    def base(self) -> "Settings":
        """What these settings were made from: their recipe's settings, or the defaults."""
        return recipe(self.run.recipe) if self.run.recipe else Settings()

    def explicit(self) -> set[str]:
        """The settings that differ from the base (a recipe's or the defaults): the ones somebody chose."""
        base = self.base().flat()
        return {k for k, v in self.flat().items() if v != base[k] and k != "recipe"}

    def check_relevance(self) -> None:
        """Refuse a chosen setting that the rest of the settings would ignore."""
        explicit, optim, augment = self.explicit(), self.optim, self.augment
        needs = {
            **dict.fromkeys(("muon_lr", "muon_momentum", "muon_normalize"), ("optimizer", "muon", optim.optimizer)),
            "nesterov": ("optimizer", "sgd", optim.optimizer),
            **dict.fromkeys(("step_size", "gamma"), ("schedule", "step", optim.schedule)),
        }
        for name, (other, wanted, actual) in needs.items():
            if name in explicit and actual != wanted:
                raise SettingError(name, f"applies to `{other}` {wanted} only (it is {actual})")
        for name in ("path_column", "label_column", "split_column", "label_separator", "multi_label"):
            if name in explicit and self.data.labels is None:
                raise SettingError(name, "applies to a `labels` file, and none is given")
        if augment.alternate_flip and augment.flip:
            raise SettingError("flip", "and `alternate_flip` both mirror images: choose one")


def recipe(name: str) -> Settings:
    """The settings of a recipe, or an error listing the recipes."""
    check_recipe(name)
    return Settings().changed(**RECIPES[name].values, recipe=name)


def resolve(**given: object) -> Settings:
    """The settings of the given `recipe` (or the defaults) with the other given ones on top; a given None means
    "not given". A chosen setting that the others would ignore is refused."""
    settings = Settings.of(**{k: v for k, v in given.items() if v is not None})
    settings.check_relevance()
    return settings


def annotation_of(name: str) -> tuple[Any, Any]:
    """(annotation, rule) of a setting by its flat name."""
    for kind in SECTIONS.values():
        for f, annotation, rule in declared(kind):
            if f.name == name:
                return annotation, rule
    raise KeyError(name)


def check_value(name: str, value: Any) -> Any:
    """One setting's value checked alone, by its declaration."""
    annotation, rule = annotation_of(name)
    return check_field(name, annotation, rule, value)
