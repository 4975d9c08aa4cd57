"""The training loop: one run from settings to a run directory with metrics, logs and checkpoints."""

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from cnnlab.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.console import console, progress_bar
from cnnlab.data.augment import AugmentConfig, build_augment, resize
from cnnlab.data.datasets import Dataset, load_dataset
from cnnlab.data.loader import DeviceLoader
from cnnlab.data.policies import Mixer, Policy, dominant_labels
from cnnlab.data.stream import StreamSet
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.models.pretrained import apply_pretrained, weights_preprocessing
from cnnlab.run import RunDir, default_run_name
from cnnlab.train import distributed
from cnnlab.train.config import TrainConfig
from cnnlab.train.evaluation import predict_logits
from cnnlab.train.freeze import freeze, phase_freeze, train_mode
from cnnlab.train.imbalance import balance
from cnnlab.train.logbook import Logbook
from cnnlab.train.optim import build_optimizer, build_scheduler
from cnnlab.train.precision import bf16_speedup, flush_denormals, pick_dtype
from cnnlab.train.recipes import recipe_settings
from cnnlab.train.stopwatch import Stopwatch

INIT_SAMPLE = 5000  # training images that data-dependent initialisations (patch whitening) see


@dataclass
class TrainResult:
    """What a finished run reports."""

    run_dir: Path
    epochs: int
    best_accuracy: float
    final_accuracy: float
    seconds: float


def augment_for(config: TrainConfig, data: Dataset) -> AugmentConfig:
    """The dataset's default augmentation with the run's explicit flags applied."""
    try:
        base = AugmentConfig.for_dataset(data.name)
    except CnnlabError:
        base = AugmentConfig.for_dataset("folder")
    if isinstance(data.train, StreamSet):  # the workers' random resized crop already shifts and scales each image
        base = dataclasses.replace(base, crop_padding=0)
    return AugmentConfig(
        crop_padding=base.crop_padding if config.crop_padding is None else config.crop_padding,
        pad_mode=config.pad_mode,
        flip=0.0 if config.alternate_flip else base.flip if config.flip is None else (0.5 if config.flip else 0.0),
        rotation=config.rotation,
        brightness=config.jitter,
        contrast=config.jitter,
        saturation=config.jitter,
        cutout=config.cutout,
        erasing=config.erasing,
    )


def policies_for(config: TrainConfig, data: Dataset, device: torch.device) -> dict[str, Policy | Mixer | None]:
    """The run's augmentation policy and MixUp/CutMix mixer (None when off), each announced on the console."""
    policy = None if config.policy == "none" else Policy(config.policy, device, data.input_shape[0])
    mixer = Mixer(len(data.classes), config.mixup, config.cutmix) if config.mixup or config.cutmix else None
    for part in (policy, mixer):
        if part is not None:
            console.print(part.describe())
    return {"policy": policy, "mixer": mixer}


def model_record(config: TrainConfig, data: Dataset) -> dict:
    """What rebuilds the model and its preprocessing: architecture, classes, input shape, mean/std."""
    return {
        "model": config.model,
        "num_classes": len(data.classes),
        "in_chans": data.input_shape[0],
        "input_shape": list(data.input_shape),
        "classes": data.classes,
        "mean": list(data.mean),
        "std": list(data.std),
    }


def init_sample(data: Dataset, seed: int, loader_args: dict) -> torch.Tensor:
    """A seeded random sample of up to INIT_SAMPLE normalised, unaugmented training images (for data-dependent init)."""
    images, _ = next(iter(DeviceLoader(data.train, INIT_SAMPLE, shuffle=True, seed=seed, **loader_args)))
    return images


class Trainer:
    """Holds the model, optimizer, schedule, loaders and run directory of one training run."""

    def __init__(self, config: TrainConfig, run: RunDir, data: Dataset,
                 world: distributed.World = distributed.World()) -> None:
        """Build everything a run needs from its settings and data (this rank's part when distributed)."""
        self.config, self.run, self.data, self.world = config, run, data, world
        self.device = distributed.rank_device(world, config.device)
        self.dtype = pick_dtype(config.precision, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # batches keep their shape: cuDNN times its algorithms once per shape
        if config.precision == "fastest" and self.device.type == "cpu":
            console.print(f"precision fastest: {str(self.dtype).removeprefix('torch.')} (a conv step runs "
                          f"{bf16_speedup(self.device):.1f}x as fast in bf16 as in fp32 on this CPU)")
        self.record = model_record(config, data)
        torch.manual_seed(config.seed)
        self.model = create_model(config.model, num_classes=len(data.classes), in_chans=data.input_shape[0])
        if config.pretrained:
            apply_pretrained(self.model, config.model, config.pretrained, reset_head=not config.keep_head)
        if world.distributed and config.fine_tune:
            raise CnnlabError("--fine-tune changes which parameters train mid-run, which DDP does not allow: "
                              "train the head first, then a second run with --pretrained RUN")
        freeze(self.model, phase_freeze(config.freeze, config.fine_tune, 0))  # before DDP records what trains
        self.model = distributed.sync_batchnorm(self.model, world, config.sync_bn)
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model.to(self.device, memory_format=memory_format)
        loader_args = dict(mean=data.mean, std=data.std, device=self.device, channels_last=config.channels_last,
                           workers=config.workers)
        if hasattr(self.model, "init_from_data") and not config.pretrained:  # before DDP copies rank 0's weights
            self.model.init_from_data(init_sample(data, config.seed, loader_args))
        self.step_model = distributed.wrap_model(self.model, world, self.device, config.sync_bn)
        self.step_model = torch.compile(self.step_model) if config.compile else self.step_model
        class_weights, sample_weights = balance(data.train.labels, data.classes, config.class_weights, config.sampler)
        self.class_weights = None if class_weights is None else class_weights.to(self.device)
        self.train_loader = distributed.ShardedLoader(DeviceLoader(
            data.train, config.batch_size, shuffle=True, augment=build_augment(augment_for(config, data)),
            seed=config.seed, random_crop=True, sample_weights=sample_weights, alternate_flip=config.alternate_flip,
            **policies_for(config, data, self.device), **loader_args,
        ), world, drop_small=True)
        self.val_loader = distributed.ShardedLoader(DeviceLoader(data.val, max(256, config.batch_size), **loader_args), world)
        self.enter_phase(0)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        self.ema = (
            AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True)
            if config.ema else None
        )
        self.epoch, self.best_accuracy, self.bad_epochs = 0, -1.0, 0

    def enter_phase(self, epoch: int) -> None:
        """Freeze what the phase of `epoch` freezes (see --fine-tune), with a fresh optimizer and schedule over it."""
        config = self.config
        freeze(self.model, phase_freeze(config.freeze, config.fine_tune, epoch))
        epochs = config.fine_tune if epoch < config.fine_tune else config.epochs - config.fine_tune
        self.optimizer = build_optimizer(self.model, config)
        phase = dataclasses.replace(config, epochs=epochs, fine_tune=0)
        self.scheduler = build_scheduler(self.optimizer, phase, len(self.train_loader))

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are evaluated and kept as best: the EMA when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step; returns the (detached) loss and number of correct predictions."""
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            logits = self.step_model(images)
            loss = F.cross_entropy(logits.float(), labels, weight=self.class_weights,
                                   label_smoothing=self.config.label_smoothing)  # labels may be soft (mixing)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss * self.train_loader.weight).backward()  # this rank's share of the global batch
        if self.config.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return loss.detach(), (logits.argmax(1) == dominant_labels(labels)).sum()

    def check_finite(self, loss: torch.Tensor, step: int) -> None:
        """Stop the run on a NaN or infinite loss, naming the step and the last good checkpoint."""
        value = loss.item()
        if not math.isfinite(value):
            raise CnnlabError(
                f"the loss became {value} at epoch {self.epoch + 1}, step {step + 1}: training stopped; "
                f"the last good checkpoint is in {self.run.checkpoints} (try a lower --lr or --grad-clip)"
            )

    def train_epoch(self) -> dict:
        """One pass over the training set; stops the run on a NaN or infinite loss."""
        train_mode(self.model)
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen, clock = 0, Stopwatch(self.device).start()
        lr = self.optimizer.param_groups[0]["lr"]
        size = self.config.progressive_size if self.epoch < self.config.progressive_epochs else None
        pending = None  # the previous step's loss, checked once the next step is queued: the GPU never waits idle
        with progress_bar(f"epoch {self.epoch + 1}/{self.config.epochs}", len(self.train_loader)) as advance:
            for step, (images, labels) in enumerate(self.train_loader):
                if size:
                    images = resize(images, size)
                loss, hits = self.train_step(images, labels)
                if pending is not None:
                    self.check_finite(*pending)
                pending = loss, step
                total_loss += loss * len(labels)
                correct += hits
                seen += len(labels)
                advance(1)
        if pending is not None:
            self.check_finite(*pending)
        seconds = clock.stop()
        total_loss, correct, seen = distributed.sum_over_ranks(self.world, total_loss, correct, seen)
        extra = {"train_acc_of": "dominant label"} if self.config.mixup or self.config.cutmix else {}
        if size:
            extra["image_size"] = size  # progressive resizing
        return {
            "train_loss": total_loss / seen,
            "train_acc": correct / seen,
            **extra,
            "lr": lr,
            "images_per_s": seen / seconds,
            "epoch_time": seconds,
        }

    def validate(self, final: bool = False) -> dict:
        """Loss and accuracy of the evaluated weights on the validation split (with the test-time augmentation
        at the `final` epoch only: it costs a forward pass per view)."""
        clock = Stopwatch(self.device).start()
        distributed.broadcast_buffers(self.world, self.model, self.ema)
        tta = self.config.tta if final else "none"
        logits, labels = predict_logits(self.eval_model, self.val_loader, self.dtype, tta=tta)
        loss = F.cross_entropy(logits, labels, reduction="sum")
        loss, correct, seen = distributed.sum_over_ranks(self.world, loss, (logits.argmax(1) == labels).sum(), len(labels))
        views = {"tta": tta} if tta != "none" else {}
        return {"val_loss": loss / seen, "val_acc": correct / seen, **views, "eval_time": clock.stop()}

    def checkpoint_sections(self) -> dict[str, dict[str, torch.Tensor]]:
        """Model, EMA and random-number-generator state as tensor sections."""
        rng = {"torch": torch.get_rng_state(), **{f"loader_{k}": v for k, v in self.train_loader.rng_state().items()}}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        sections = {"model": self.model.state_dict(), "rng": rng}
        if self.ema is not None:
            sections["ema"] = self.ema.state_dict()
        return sections

    def save(self, row: dict, improved: bool) -> None:
        """Write last (everything to resume) and, when the accuracy improved, best (the evaluated weights)."""
        meta = {
            "epoch": self.epoch,
            "best_accuracy": self.best_accuracy,
            "bad_epochs": self.bad_epochs,
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "metrics": row,
            "model": self.record,
            "train": self.config.to_dict(),
        }
        save_checkpoint(self.run.checkpoints / "last.safetensors", self.checkpoint_sections(), self.optimizer.state_dict(), meta)
        if improved:
            best = {"model": self.eval_model.state_dict()}
            save_checkpoint(self.run.checkpoints / "best.safetensors", best, None, {k: meta[k] for k in ("epoch", "metrics", "model", "train")})

    def restore(self, path: Path) -> None:
        """Continue from a `last` checkpoint: weights, optimizer, schedule, EMA, RNG and counters."""
        sections, optimizer, meta = load_checkpoint(path)
        if 0 < self.config.fine_tune < meta["epoch"]:  # the switch to the full phase happened before this checkpoint
            self.enter_phase(meta["epoch"])
        self.model.load_state_dict(sections["model"])
        self.optimizer.load_state_dict(optimizer)
        self.scheduler.load_state_dict(meta["scheduler"])
        self.scaler.load_state_dict(meta["scaler"])
        if self.ema is not None:
            self.ema.load_state_dict(sections["ema"])
        torch.set_rng_state(sections["rng"]["torch"])
        self.train_loader.set_rng_state({k[7:]: v for k, v in sections["rng"].items() if k.startswith("loader_")})
        if "cuda" in sections["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(sections["rng"]["cuda"], self.device)
        self.epoch, self.best_accuracy, self.bad_epochs = meta["epoch"], meta["best_accuracy"], meta["bad_epochs"]

    def fit(self) -> TrainResult:
        """Train until the last epoch or early stopping, logging and checkpointing every epoch."""
        start = time.perf_counter()
        row = {}
        main = self.world.is_main
        with Logbook(self.run, self.config.epochs, first_epoch=self.epoch + 1) if main else contextlib.nullcontext() as log:
            while self.epoch < self.config.epochs:
                if 0 < self.config.fine_tune == self.epoch:
                    self.enter_phase(self.epoch)
                row = self.train_epoch()
                self.epoch += 1
                row = {"epoch": self.epoch, **row, **self.validate(final=self.epoch == self.config.epochs)}
                improved = row["val_acc"] > self.best_accuracy
                if improved:
                    self.best_accuracy, self.bad_epochs = row["val_acc"], 0
                else:
                    self.bad_epochs += 1
                if main:
                    log.write(row)  # before the checkpoint: a resume drops rows newer than its checkpoint, never misses one
                    self.save(row, improved)
                if self.config.patience is not None and self.bad_epochs >= self.config.patience:
                    console.print(f"early stopping: no better validation accuracy for {self.bad_epochs} epochs")
                    break
        final = row.get("val_acc", self.best_accuracy)
        return TrainResult(self.run.path, self.epoch, self.best_accuracy, final, time.perf_counter() - start)


def resolve_config(recipe: str | None = None, **overrides: object) -> TrainConfig:
    """Settings from a recipe (if any) with explicit overrides on top."""
    settings = recipe_settings(recipe) if recipe else {}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict({**settings, "recipe": recipe})


def fit(config: TrainConfig | None = None, resume: str | Path | None = None, **overrides: object) -> TrainResult:
    """Train a model: `fit(model="simplecnn", data="sample", epochs=5)`, `fit(config)` or `fit(resume="runs/x")`."""
    flush_denormals()
    if resume is not None:
        run = RunDir.open(resume)
        config = TrainConfig.from_dict(run.read_config()["train"])
        last = run.checkpoints / "last.safetensors"
        if not last.exists():
            raise CnnlabError(f"{run.path} has no checkpoint to resume from yet (checkpoints/last.safetensors)")
    else:
        config = config or resolve_config(**overrides)
    with distributed.session(config.device, config.dist_timeout) as world:
        distributed.check_batch(world, config.batch_size)
        data = load_data(config)
        if resume is None:
            name = config.name or default_run_name(config.model, config.data)
            run = RunDir(distributed.share_from_main(world, lambda: RunDir.create(config.out, name).path))
        trainer = Trainer(config, run, data, world)
        if world.distributed:
            console.print(distributed.describe(world, trainer.device, config.batch_size, config.lr))
        if resume is not None:
            trainer.restore(last)
            if world.is_main:
                run.truncate_metrics(trainer.epoch)
            console.print(f"resuming {run.path} after epoch {trainer.epoch}")
        elif world.is_main:
            run.write_config({"train": config.to_dict(), "model": trainer.record, "skipped": data.skipped})
        return trainer.fit()


def load_data(config: TrainConfig) -> Dataset:
    """The run's dataset as its settings describe it, reported on the console."""
    weights = weights_preprocessing(config.model, config.pretrained) if config.preprocess == "weights" else None
    data = load_dataset(config.data, data_dir=config.data_dir, download=config.download, val_split=config.val_split,
                        seed=config.seed, size=weights.size if weights else config.image_size, stream=config.stream)
    if weights:
        adapted = weights.for_channels(data.input_shape[0])
        data.mean, data.std = adapted.mean, adapted.std
    report_data(data)
    return data


def report_data(data: Dataset) -> None:
    """Say what was loaded, and name every file that was skipped."""
    console.print(
        f"data: {data.name}: {len(data.train)} train / {len(data.val)} val images, {len(data.classes)} classes, "
        f"input {'x'.join(map(str, data.input_shape))}"
    )
    if data.skipped:
        console.print(f"[yellow]skipped {len(data.skipped)} unusable files:[/]")
        for path, reason in data.skipped:
            console.print(f"  {path}: {reason}")
