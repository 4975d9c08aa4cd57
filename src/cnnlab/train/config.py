"""Every setting of a training run in one dataclass, with the allowed values of each choice."""

from dataclasses import asdict, dataclass, fields

from cnnlab.errors import CnnlabError

CHOICES = {
    "optimizer": ("sgd", "adam", "adamw"),
    "schedule": ("cosine", "onecycle", "step", "constant"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "device": ("auto", "cpu", "cuda", "mps"),
    "policy": ("none", "randaugment", "trivialaugment", "autoaugment", "augmix"),
    "class_weights": ("none", "auto"),
    "sampler": ("shuffle", "balanced"),
}


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
    flip: bool | None = None
    rotation: float = 0.0
    jitter: float = 0.0
    cutout: int = 0
    erasing: float = 0.0
    policy: str = "none"
    mixup: float = 0.0
    cutmix: float = 0.0
    class_weights: str = "none"
    sampler: str = "shuffle"
    tta: bool = False
    patience: int | None = None
    out: str = "runs"
    name: str | None = None
    recipe: str | None = None
    sync_bn: bool = False
    dist_timeout: float = 300.0

    def __post_init__(self) -> None:
        """Refuse values outside the allowed choices and impossible numbers."""
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise CnnlabError(f"--{key.replace('_', '-')} {getattr(self, key)!r} is not one of: {', '.join(allowed)}")
        if self.workers < 0:
            raise CnnlabError("--workers must be 0 (read files in the main process) or more")
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise CnnlabError(f"--{key.replace('_', '-')} must be at least 1")
        if self.lr <= 0:
            raise CnnlabError("--lr must be positive")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise CnnlabError("--ema is a decay between 0 and 1, e.g. 0.999")
        if self.dist_timeout <= 0:
            raise CnnlabError("--dist-timeout must be a positive number of seconds")
        if min(self.mixup, self.cutmix) < 0:
            raise CnnlabError("--mixup and --cutmix are Beta alphas: 0 (off) or positive, e.g. 0.2 and 1.0")

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
