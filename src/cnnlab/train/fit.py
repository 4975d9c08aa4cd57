"""Train a model: settings in, a run directory out. New runs and resumed ones, on one process or several."""

from pathlib import Path

from cnnlab import events
from cnnlab.data.pipeline import load_data
from cnnlab.errors import CnnlabError, SettingError
from cnnlab.models.pretrained import run_model_name
from cnnlab.run.checkpoint import read_settings
from cnnlab.run.directory import RunDir, default_run_name
from cnnlab.settings import Settings, resolve
from cnnlab.train import distributed
from cnnlab.train.assemble import assemble
from cnnlab.train.precision import flush_denormals
from cnnlab.train.trainer import Trainer, TrainResult


def fit(settings: Settings | None = None, resume: str | Path | None = None, **given: object) -> TrainResult:
    """Train: `fit(model="simplecnn", data="sample", epochs=5)`, `fit(settings)`, `fit(recipe="fast85", ...)` or
    `fit(resume="runs/x")`. With `devices`, starts that many processes on this machine and returns rank 0's result."""
    if resume is not None:
        if settings is not None or given:
            raise SettingError("resume", "continues a run with its own settings: give no other settings")
        settings = read_settings(RunDir.open(resume).read_config(), str(resume))
    elif settings is None:
        settings = resolve(**given)
    elif given:
        settings = settings.replace(**given)
        settings.check_relevance()
    if settings.run.devices:
        return distributed.launch(settings.run.devices, fit_here, settings, resume)[0]
    return fit_here(settings, resume)


def fit_here(settings: Settings, resume: str | Path | None = None) -> TrainResult:
    """Train in this process (one rank of a distributed job, or the only process)."""
    flush_denormals()
    settings = with_run_architecture(settings)
    with distributed.session(settings.run.device, settings.run.dist_timeout) as world:
        check_world(settings, world)
        data = load_data(settings)
        if resume is None:
            name = settings.run.name or default_run_name(settings.model.model, settings.data.data)
            run = RunDir(distributed.share_from_main(world, lambda: RunDir.create(settings.run.out, name).path))
        else:
            run = RunDir.open(resume)
        parts = assemble(settings, data, world)
        trainer = Trainer(parts, run)
        if world.distributed:
            events.note(distributed.describe(world, parts.device, settings.optim.batch_size, settings.optim.lr))
        if resume is not None:
            last = run.checkpoints / "last.safetensors"
            if not last.exists():
                raise CnnlabError(f"{run.path} has no checkpoint to resume from yet (checkpoints/last.safetensors)")
            trainer.restore(last)
            if world.is_main:
                run.truncate_metrics(trainer.epoch)
            events.note(f"resuming {run.path} after epoch {trainer.epoch}")
        elif world.is_main:
            run.write_config({"settings": settings.to_dict(), "model": parts.record.to_dict(),
                              "skipped": data.skipped})
        return trainer.fit()


def with_run_architecture(settings: Settings) -> Settings:
    """Settings whose model is the architecture of the cnnlab run they start from, unless a model was chosen."""
    pretrained = settings.model.pretrained
    if pretrained is None or "model" in settings.explicit():
        return settings
    architecture = run_model_name(pretrained)
    return settings.replace(model=architecture) if architecture else settings


def check_world(settings: Settings, world: distributed.World) -> None:
    """Refuse settings that only a job of several processes uses, when this is one process."""
    distributed.check_batch(world, settings.optim.batch_size)
    if not world.distributed:
        for name in ("sync_bn", "dist_timeout"):
            if name in settings.explicit():
                raise SettingError(name, "applies to training on several processes (`devices`, or torchrun)")
