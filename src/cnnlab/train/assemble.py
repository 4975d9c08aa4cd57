"""A run's parts, built from its settings and data in one place: device and precision, the model (pretrained,
frozen, initialised from data, wrapped for DDP, compiled), the loaders, the loss, the EMA, and for each phase of
training its optimizer and schedule. The loop (trainer.py) only uses them."""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from cnnlab import events
from cnnlab.data import pipeline
from cnnlab.data.dataset import Dataset
from cnnlab.errors import SettingError
from cnnlab.evaluation.multilabel import multi_label_loss
from cnnlab.models import create_model
from cnnlab.models.freeze import freeze, phase_freeze
from cnnlab.models.pretrained import apply_pretrained
from cnnlab.run.record import ModelRecord
from cnnlab.settings import Settings
from cnnlab.train import distributed
from cnnlab.train.frozen_features import FeatureLoader, Head, cached_features, unusable_because
from cnnlab.train.imbalance import balance
from cnnlab.train.optim import build_optimizer
from cnnlab.train.precision import StepTimes, pick_dtype, step_times
from cnnlab.train.schedule import build_scheduler


@dataclass
class Route:
    """The way an epoch's batches take: the model that takes the steps, what it trains and validates on, and whether
    those are the backbone's cached features (then the head alone runs) or images."""

    step_model: nn.Module
    train_loader: distributed.ShardedLoader
    val_loader: distributed.ShardedLoader
    on_features: bool = False

    def evaluated(self, model: nn.Module) -> nn.Module:
        """What validation runs of the evaluated weights on this route's batches."""
        return Head(model) if self.on_features else model


@dataclass
class Parts:
    """Everything a training run is made of. `model` holds the weights; `step_model` takes the steps (the same
    model, under DDP and/or torch.compile when asked)."""

    settings: Settings
    world: distributed.World
    device: torch.device
    dtype: torch.dtype
    record: ModelRecord
    model: nn.Module
    step_model: nn.Module
    train_loader: distributed.ShardedLoader
    val_loader: distributed.ShardedLoader
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ema: AveragedModel | None
    scaler: torch.amp.GradScaler
    features: Route | None = None  # the head-only epochs' route, on cached backbone features

    def route(self, epoch: int) -> Route:
        """The route of an epoch (0-based): on cached features while the backbone is frozen for them, else images."""
        model = self.settings.model
        if self.features is not None and phase_freeze(model.freeze, model.fine_tune, epoch) == "backbone":
            return self.features
        return self.image_route()

    def image_route(self) -> Route:
        """The route of images through the whole model."""
        return Route(self.step_model, self.train_loader, self.val_loader)

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in a full epoch."""
        return len(self.train_loader)

    @property
    def epochs(self) -> int:
        """Epochs the run trains: `epochs`, or fewer when `max_steps` ends it earlier."""
        optim = self.settings.optim
        if optim.max_steps is None:
            return optim.epochs
        return min(optim.epochs, math.ceil(optim.max_steps / self.steps_per_epoch))

    @property
    def total_steps(self) -> int:
        """Optimizer steps the run takes."""
        full = self.settings.optim.epochs * self.steps_per_epoch
        return min(full, self.settings.optim.max_steps or full)

    def rng_state(self, mid_epoch: bool = False) -> dict[str, torch.Tensor]:
        """Every random-number generator a run draws from (torch's, the loaders', the GPU's), for a checkpoint; with
        `mid_epoch`, the loaders' state says how far into the epoch in progress they are."""
        state = {"torch": torch.get_rng_state(),
                 **{f"loader_{k}": v for k, v in self.train_loader.rng_state(mid_epoch).items()}}
        if self.features is not None:
            state |= {f"features_{k}": v for k, v in self.features.train_loader.rng_state(mid_epoch).items()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def set_rng_state(self, state: dict[str, torch.Tensor]) -> None:
        """Put back what rng_state returned."""
        torch.set_rng_state(state["torch"])
        self.train_loader.set_rng_state({k.removeprefix("loader_"): v for k, v in state.items() if k.startswith("loader_")})
        if self.features is not None and "features_order" in state:
            self.features.train_loader.set_rng_state(
                {k.removeprefix("features_"): v for k, v in state.items() if k.startswith("features_")})
        if "cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def phase_start(self, epoch: int) -> bool:
        """Whether a new phase of training (fresh optimizer and schedule) starts at `epoch` (0-based)."""
        return epoch == 0 or epoch == self.settings.model.fine_tune

    def optimisation(self, epoch: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """For the phase that `epoch` is in: freeze what it freezes (the backbone for `fine_tune` head-only epochs,
        then `freeze`), then a fresh optimizer and a schedule spanning the phase's steps."""
        model, optim = self.settings.model, self.settings.optim
        freeze(self.model, phase_freeze(model.freeze, model.fine_tune, epoch))
        head_only = epoch < model.fine_tune
        start, stop = (0, model.fine_tune) if head_only else (model.fine_tune, optim.epochs)
        steps = min(stop * self.steps_per_epoch, self.total_steps) - start * self.steps_per_epoch
        optimizer = build_optimizer(self.model, optim, backbone_lr_mult(self.settings))
        return optimizer, build_scheduler(optimizer, optim, self.steps_per_epoch, max(1, steps))


PROBE_PIXELS = 64 * 64 * 64  # pixels per image times images in the batches that time the model's step: a second of
# probing for a large network at 224 px, as for a small one at 32 px
TIMES: dict[tuple, StepTimes] = {}  # measured once per process for each model, batch and device (a sweep's runs)


def backbone_lr_mult(settings: Settings) -> float:
    """The backbone's learning-rate multiplier: `lr_mult_backbone`, else 0.1 when fine-tuning, else 1."""
    model = settings.model
    if model.lr_mult_backbone is not None:
        return model.lr_mult_backbone
    return 0.1 if model.fine_tune else 1.0


def probe_batch(batch_size: int, input_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """The shape of the batches that time a model's training step: PROBE_PIXELS' worth, 8 to 64 images, at most
    the run's batch."""
    images = min(batch_size, max(8, min(64, PROBE_PIXELS // (input_shape[1] * input_shape[2]))))
    return (images, *input_shape)


def precision(settings: Settings, model: nn.Module, data: Dataset, device: torch.device) -> torch.dtype:
    """The dtype steps run in; where it was measured (on the CPU), the measurement is announced."""
    measured: list[float] = []
    batch = probe_batch(settings.optim.batch_size, data.input_shape)
    key = (settings.model.model, batch, len(data.classes), device.type, settings.run.channels_last)

    def speedup() -> float:
        if key not in TIMES:
            TIMES[key] = step_times(model, batch, len(data.classes), device, settings.run.channels_last)
        measured.append(TIMES[key].speedup)
        return measured[-1]

    dtype = pick_dtype(settings.run.precision, device, speedup)
    if measured:
        events.note(f"precision {settings.run.precision}: {str(dtype).removeprefix('torch.')} (a training step of "
                    f"{settings.model.model} runs {measured[0]:.1f}x as fast in bf16 as in fp32 on this CPU; "
                    f"`precision` chooses)")
    return dtype


def feature_route(settings: Settings, data: Dataset, model: nn.Module, device: torch.device, dtype: torch.dtype,
                  world: distributed.World, sample_weights: torch.Tensor | None) -> Route | None:
    """The route of the head-only epochs on cached backbone features, where the run has such epochs and they can
    take it (the log says which way they go and why); `cache_features` off where it would change nothing is refused."""
    model_settings, explicit = settings.model, "cache_features" in settings.explicit()
    if model_settings.freeze != "backbone" and not model_settings.fine_tune:
        if explicit:
            raise SettingError("cache_features", "applies to epochs with the backbone frozen (`freeze` backbone, or "
                               "the head-only epochs of `fine_tune`)")
        return None
    reason = unusable_because(settings, data, pipeline.train_augment(settings, data), world.distributed)
    if reason is None and model_settings.cache_features:
        found = cached_features(model, data, device, dtype, settings.run.channels_last)
        reason = found if isinstance(found, str) else None
    if reason is not None and explicit:
        raise SettingError("cache_features", f"changes nothing here: images go through the backbone anyway, as {reason}")
    if reason is not None:
        events.note(f"frozen backbone: images go through it every epoch, as {reason}; with the images fixed, the head "
                    "would train on its features computed once (many times faster)")
        return None
    if not model_settings.cache_features:
        events.note("frozen backbone: images go through it every epoch (`cache_features` off)")
        return None
    events.note(found.describe())
    batch, seed = settings.optim.batch_size, settings.run.seed
    train = FeatureLoader(found.train, batch, True, device, seed, sample_weights)
    val = FeatureLoader(found.val, max(pipeline.EVAL_BATCH, batch), False, device, seed)
    return Route(Head(model), distributed.ShardedLoader(train, world, drop_small=True),
                 distributed.ShardedLoader(val, world), on_features=True)


def build_model(settings: Settings, data: Dataset, device: torch.device, world: distributed.World) -> nn.Module:
    """The model on `device`: built for the data's classes and channels, from the pretrained weights if any, frozen as
    the first phase says, and initialised from the training images where the model does that."""
    model_settings, run = settings.model, settings.run
    torch.manual_seed(run.seed)
    model = create_model(model_settings.model, num_classes=len(data.classes), in_chans=data.input_shape[0])
    if model_settings.pretrained:
        apply_pretrained(model, model_settings.model, model_settings.pretrained, reset_head=not model_settings.keep_head)
    if world.distributed and model_settings.fine_tune:
        raise SettingError("fine_tune", "changes which parameters train mid-run, which DDP does not allow: train the "
                           "head first, then a second run with `pretrained` RUN")
    freeze(model, phase_freeze(model_settings.freeze, model_settings.fine_tune, 0))  # before DDP records what trains
    model = distributed.sync_batchnorm(model, world, run.sync_bn)
    model.to(device, memory_format=torch.channels_last if run.channels_last else torch.contiguous_format)
    if hasattr(model, "init_from_data") and not model_settings.pretrained:  # before DDP copies rank 0's weights
        model.init_from_data(pipeline.init_sample(settings, data, device))
    return model


def assemble(settings: Settings, data: Dataset, world: distributed.World = distributed.World()) -> Parts:
    """Build every part of a run (this rank's, when distributed)."""
    run, optim = settings.run, settings.optim
    device = distributed.rank_device(world, run.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # batches keep their shape: cuDNN times its algorithms once per shape
    if world.distributed and data.multi_label:
        raise SettingError("devices", "trains single-label data: a multi-label validation ranks all its images at "
                           "once (average precision, thresholds), on one process")
    model = build_model(settings, data, device, world)
    dtype = precision(settings, model, data, device)
    step_model = distributed.wrap_model(model, world, device, run.sync_bn)
    step_model = torch.compile(step_model) if run.compile else step_model
    class_weights, sample_weights = balance(data.train.labels, data.classes, optim.class_weights, optim.sampler)
    train, val = pipeline.loaders(settings, data, device, sample_weights, world.rank, world.size)
    weights = None if class_weights is None else class_weights.to(device)
    loss = functools.partial(multi_label_loss, pos_weight=weights, label_smoothing=optim.label_smoothing) \
        if data.multi_label else functools.partial(F.cross_entropy, weight=weights, label_smoothing=optim.label_smoothing)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(optim.ema), use_buffers=True) if optim.ema else None
    record = ModelRecord(settings.model.model, tuple(data.classes), data.input_shape, tuple(data.mean),
                         tuple(data.std), settings.model.pretrained, multi_label=data.multi_label)
    features = feature_route(settings, data, model, device, dtype, world, sample_weights)
    return Parts(settings, world, device, dtype, record, model, step_model,
                 distributed.ShardedLoader(train, world, drop_small=True), distributed.ShardedLoader(val, world),
                 loss, ema, torch.amp.GradScaler(device.type, enabled=dtype == torch.float16), features)
