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
from cnnlab.models import create_model
from cnnlab.models.freeze import freeze, phase_freeze
from cnnlab.models.pretrained import apply_pretrained
from cnnlab.run.record import ModelRecord
from cnnlab.settings import Settings
from cnnlab.train import distributed
from cnnlab.train.imbalance import balance
from cnnlab.train.optim import build_optimizer
from cnnlab.train.precision import bf16_speedup, pick_dtype
from cnnlab.train.schedule import build_scheduler


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

    def rng_state(self) -> dict[str, torch.Tensor]:
        """Every random-number generator a run draws from (torch's, the loader's, the GPU's), for a checkpoint."""
        state = {"torch": torch.get_rng_state(), **{f"loader_{k}": v for k, v in self.train_loader.rng_state().items()}}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def set_rng_state(self, state: dict[str, torch.Tensor]) -> None:
        """Put back what rng_state returned."""
        torch.set_rng_state(state["torch"])
        self.train_loader.set_rng_state({k.removeprefix("loader_"): v for k, v in state.items() if k.startswith("loader_")})
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


def backbone_lr_mult(settings: Settings) -> float:
    """The backbone's learning-rate multiplier: `lr_mult_backbone`, else 0.1 when fine-tuning, else 1."""
    model = settings.model
    if model.lr_mult_backbone is not None:
        return model.lr_mult_backbone
    return 0.1 if model.fine_tune else 1.0


def precision(settings: Settings, device: torch.device) -> torch.dtype:
    """The dtype steps run in, announced when it was measured (`precision` fastest on a CPU)."""
    dtype = pick_dtype(settings.run.precision, device)
    if settings.run.precision == "fastest" and device.type == "cpu":
        events.note(f"precision fastest: {str(dtype).removeprefix('torch.')} (a conv step runs "
                    f"{bf16_speedup(device):.1f}x as fast in bf16 as in fp32 on this CPU)")
    return dtype


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
    dtype = precision(settings, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # batches keep their shape: cuDNN times its algorithms once per shape
    model = build_model(settings, data, device, world)
    step_model = distributed.wrap_model(model, world, device, run.sync_bn)
    step_model = torch.compile(step_model) if run.compile else step_model
    class_weights, sample_weights = balance(data.train.labels, data.classes, optim.class_weights, optim.sampler)
    train, val = pipeline.loaders(settings, data, device, sample_weights)
    loss = functools.partial(F.cross_entropy, weight=None if class_weights is None else class_weights.to(device),
                             label_smoothing=optim.label_smoothing)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(optim.ema), use_buffers=True) if optim.ema else None
    record = ModelRecord(settings.model.model, tuple(data.classes), data.input_shape, tuple(data.mean),
                         tuple(data.std), settings.model.pretrained)
    return Parts(settings, world, device, dtype, record, model, step_model,
                 distributed.ShardedLoader(train, world, drop_small=True), distributed.ShardedLoader(val, world),
                 loss, ema, torch.amp.GradScaler(device.type, enabled=dtype == torch.float16))
