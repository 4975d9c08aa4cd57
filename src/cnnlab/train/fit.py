"""Train a model: settings in, a run directory out. New runs and resumed ones, on one process or several."""

from pathlib import Path

from cnnlab import events
from cnnlab.data.pipeline import load_data
from cnnlab.errors import SettingError
from cnnlab.run.checkpoint import parse_checkpoint, read_settings, remove_temporary
from cnnlab.run.directory import RunDir, default_run_name
from cnnlab.settings import Settings, resolve
from cnnlab.train import distributed
from cnnlab.train.assemble import assemble
from cnnlab.train.defaults import concrete
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
    """Train in this process (one rank of a distributed job, or the only process). A job that torchrun restarted
    after a failure (its maximum restarts) goes on in the run directory its first try made, from its last checkpoint."""
    flush_denormals()
    settings = concrete(settings)
    with distributed.session(settings.run.device, settings.run.dist_timeout) as world:
        check_world(settings, world)
        data = load_data(settings)
        parts = assemble(settings, data, world)
        if world.distributed:
            events.note(distributed.describe(world, parts.device, settings.optim.batch_size, settings.optim.lr))
        job = distributed.elastic_job() if resume is None else None
        if job is not None:
            resume = distributed.share_from_main(world, lambda: earlier_try(settings, job))
        config = {"settings": settings.to_dict(), "model": parts.record.to_dict(), "skipped": data.skipped,
                  **({"job": job} if job is not None else {})}
        run = opened(resume, world) if resume is not None else created(settings, world, config)
        trainer = Trainer(parts, run)
        last = run.checkpoints / "last.safetensors"
        found = distributed.share_from_main(world, lambda: last.read_bytes() if last.exists() else None)
        if resume is not None and found is not None:  # rank 0's file, sent: the ranks need no shared disk
            trainer.restore(last, parse_checkpoint(found, str(last)))
            within = f", step {trainer.position} of epoch {trainer.epoch + 1}" if trainer.position else ""
            events.note(f"resuming {run.path} after epoch {trainer.epoch}{within}")
        elif resume is not None:
            events.note(f"{run.path} stopped before its first checkpoint: training it from the start")
        if world.is_main:
            run.truncate_metrics(trainer.epoch)  # rows written after the checkpoint a resume starts from
        return trainer.fit()


def earlier_try(settings: Settings, job: str) -> Path | None:
    """The run directory that an earlier try of this torchrun job made, if any (asked on rank 0)."""
    run = RunDir.of_job(settings.run.out, job)
    if run is not None:
        events.note(f"torchrun job {job} (restart {distributed.restart_count()}): going on in {run.path}")
    return None if run is None else run.path


def created(settings: Settings, world: distributed.World, config: dict) -> RunDir:
    """A new run directory holding its config (made by rank 0, once everything the run needs was built: a run that
    cannot start leaves no directory behind)."""
    def make() -> Path:
        name = settings.run.name or default_run_name(settings.model.model, settings.data.data)
        run = RunDir.create(settings.run.out, name)
        run.write_config(config)
        return run.path

    return RunDir(distributed.share_from_main(world, make))


def opened(path: str | Path, world: distributed.World) -> RunDir:
    """An existing run directory, cleared of what an interrupted checkpoint save left there (rank 0's: the other ranks
    may run on machines without it)."""
    if not world.is_main:
        return RunDir(path)
    run = RunDir.open(path)
    for stale in remove_temporary(run.checkpoints):
        events.note(f"removed {stale.name}, left by an interrupted checkpoint save")
    return run


def check_world(settings: Settings, world: distributed.World) -> None:
    """Refuse settings that only a job of several processes uses, when this is one process."""
    distributed.check_batch(world, settings.optim.batch_size)
    if not world.distributed:
        for name in ("sync_bn", "dist_timeout"):
            if name in settings.explicit():
                raise SettingError(name, "applies to training on several processes (`devices`, or torchrun)")
