"""Every setting of a training run in one dataclass, with the allowed values of each choice."""

from dataclasses import asdict, dataclass, fields

from cnnlab.errors import CnnlabError

CHOICES = {
    "optimizer": ("sgd", "adam", "adamw", "muon"),
    "schedule": ("cosine", "onecycle", "step", "constant"),
    "precision": ("auto", "fp32", "bf16", "fp16", "fastest"),
    "device": ("auto", "cpu", "cuda", "mps"),
    "policy": ("none", "randaugment", "trivialaugment", "autoaugment", "augmix"),
    "class_weights": ("none", "auto"),
    "sampler": ("shuffle", "balanced"),
    "preprocess": ("data", "weights"),
    "tta": ("none", "flip", "shift"),
    "pad_mode": ("zeros", "reflect"),
}


def check_choice(key: str, value: object) -> None:
    """An error naming the allowed values when `value` is not one of the choices of `key`."""
    if value not in CHOICES[key]:
        raise CnnlabError(f"--{key.replace('_', '-')} {value!r} is not one of: {', '.join(CHOICES[key])}")


@dataclass
class TrainConfig:
    """A training run: data, model, optimisation, augmentation, evaluation and output."""

    data: str = "sample"
    data_dir: str | None = None
    download: bool = False
    val_split: float = 0.1
    image_size: int | None = None
    stream: bool | None = None
    workers: int = 4
    model: str = "simplecnn"
    epochs: int = 15
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    muon_lr: float = 0.24  # --optimizer muon: the conv filters' learning rate (the rest use --lr)
    muon_momentum: float = 0.6  # --optimizer muon: the conv filters' momentum (the rest use --momentum)
    muon_normalize: bool = False  # --optimizer muon: rescale each filter bank to norm √out before every step
    bias_lr_mult: float = 1.0  # biases and norm shifts learn at lr x this (airbench's scaled biases)
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    step_size: int = 30
    gamma: float = 0.1
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    ema: float | None = None
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    device: str = "auto"
    seed: int = 0
    crop_padding: int | None = None
    pad_mode: str = "zeros"  # what the random crop's padding holds: zeros (torchvision's default) or a reflection
    flip: bool | None = None
    alternate_flip: bool = False  # mirror a seeded half in epoch 1, then alternate every image's mirroring
    progressive_size: int = 0  # progressive resizing: the first `progressive_epochs` train on images this size
    progressive_epochs: int = 0
    rotation: float = 0.0
    jitter: float = 0.0
    cutout: int = 0
    erasing: float = 0.0
    policy: str = "none"
    mixup: float = 0.0
    cutmix: float = 0.0
    class_weights: str = "none"
    sampler: str = "shuffle"
    tta: str = "none"  # the last epoch's evaluation: none, flip (image + mirror), shift (also 1-pixel shifts of both)
    patience: int | None = None
    out: str = "runs"
    name: str | None = None
    recipe: str | None = None
    sync_bn: bool = False
    dist_timeout: float = 300.0
    pretrained: str | None = None  # transfer learning: imagenet, a weights name, a file or a run directory
    freeze: str = "none"  # none, backbone or a number of leading stages
    fine_tune: int = 0  # epochs of head-only training (backbone frozen) before `freeze` applies
    lr_mult_backbone: float | None = None  # backbone lr = lr * this (default 0.1 with --fine-tune, else 1)
    keep_head: bool = False  # load the pretrained head too (same classes) instead of replacing it
    preprocess: str = "data"  # input size and mean/std from the data or from the pretrained weights

    def __post_init__(self) -> None:
        """Refuse values outside the allowed choices and impossible numbers."""
        if isinstance(self.tta, bool):  # settings written before tta had levels
            self.tta = "flip" if self.tta else "none"
        for key in CHOICES:
            check_choice(key, getattr(self, key))
        if self.workers < 0:
            raise CnnlabError("--workers must be 0 (read files in the main process) or more")
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise CnnlabError(f"--{key.replace('_', '-')} must be at least 1")
        if min(self.lr, self.bias_lr_mult, self.muon_lr) <= 0:
            raise CnnlabError("--lr, --bias-lr-mult and --muon-lr must be positive")
        if not 0 <= self.muon_momentum < 1:
            raise CnnlabError("--muon-momentum must be in [0, 1), e.g. 0.6")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise CnnlabError("--ema is a decay between 0 and 1, e.g. 0.999")
        if self.dist_timeout <= 0:
            raise CnnlabError("--dist-timeout must be a positive number of seconds")
        if min(self.mixup, self.cutmix) < 0:
            raise CnnlabError("--mixup and --cutmix are Beta alphas: 0 (off) or positive, e.g. 0.2 and 1.0")
        progressive = self.progressive_size or self.progressive_epochs
        if progressive and not (self.progressive_size > 0 and 0 < self.progressive_epochs < self.epochs):
            raise CnnlabError(f"--progressive-size ({self.progressive_size}) and --progressive-epochs "
                              f"({self.progressive_epochs}) go together: a side in pixels, and fewer epochs than "
                              f"--epochs ({self.epochs})")
        if not 0 <= self.fine_tune < self.epochs:
            raise CnnlabError(f"--fine-tune {self.fine_tune} must be 0 or more and fewer than --epochs {self.epochs}")
        if self.lr_mult_backbone is not None and self.lr_mult_backbone < 0:
            raise CnnlabError("--lr-mult-backbone must be 0 or more (0.1: the backbone learns 10x slower)")
        if self.preprocess == "weights" and self.pretrained is None:
            raise CnnlabError("--preprocess weights needs --pretrained")

    @property
    def backbone_lr_mult(self) -> float:
        """The backbone's learning-rate multiplier: the explicit one, else 0.1 when fine-tuning, else 1."""
        if self.lr_mult_backbone is not None:
            return self.lr_mult_backbone
        return 0.1 if self.fine_tune else 1.0

    def to_dict(self) -> dict:
        """Plain JSON-ready settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Settings from a dict; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CnnlabError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**values)
