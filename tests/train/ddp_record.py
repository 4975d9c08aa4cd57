"""What a training run did, step by step, for the tests that compare runs of several processes with one: the
parameters after every step, the epoch rows and which file-writing calls this process made. Imported by the
tests, and run by torchrun as each rank's script:

    torchrun ... tests/train/ddp_record.py SETTINGS.json OUT_DIR [KILL_RANK KILL_STEP [LATE_S]]

writes OUT_DIR/rank<r>-try<t>.pt; with KILL_RANK and KILL_STEP, that rank SIGKILLs itself after that many steps of
the job's first try (torchrun's restart count 0), as a crashed worker would; with LATE_S, rank 0 of every restarted
try starts that many seconds after the others, so that they look for it before it has said where it is.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.run.directory import RunDir
from cnnlab.settings import Settings
from cnnlab.train import trainer as trainer_module
from cnnlab.train.distributed import World
from cnnlab.train.fit import fit


class Stop(Exception):
    """Ends a run early at an epoch boundary, as an interruption would."""


def record_run(config, stop_after=None, kill_at=None, save_to=None):
    """Train (in this process, or as one rank of a job) and return the parameters after every step, the metric
    rows and which file-writing calls this process made; with `stop_after`, stop once that many epochs are done;
    with `kill_at` (rank, step), that rank SIGKILLs itself after that step of the first try. With `save_to`, the
    record is also written there after every step (a killed process returns nothing)."""
    params, writes, rows = [], [], []
    record = {"rank": World.from_env().rank, "params": params, "rows": rows, "writes": writes}
    patch = pytest.MonkeyPatch()
    real_step, real_epoch = trainer_module.Trainer.train_step, trainer_module.Trainer.train_epoch
    first_try = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"

    def step(self, *args):
        out = real_step(self, *args)
        params.append(torch.cat([p.detach().flatten() for p in self.parts.model.parameters()]).clone())
        if save_to is not None:
            torch.save(record, save_to)
        if kill_at is not None and first_try and (record["rank"], self.step + 1) == tuple(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    def epoch(self):
        if self.epoch == stop_after:
            raise Stop
        row = real_epoch(self)
        rows.append(row)
        return row

    def writer(name, real):
        def write(*args, **kwargs):
            writes.append(name)
            return real(*args, **kwargs)
        return write

    patch.setattr(trainer_module.Trainer, "train_step", step)
    patch.setattr(trainer_module.Trainer, "train_epoch", epoch)
    patch.setattr(trainer_module, "save_checkpoint", writer("checkpoint", trainer_module.save_checkpoint))
    patch.setattr(trainer_module, "Logbook", writer("logbook", trainer_module.Logbook))
    patch.setattr(RunDir, "create", staticmethod(writer("run dir", RunDir.create)))
    patch.setattr(RunDir, "write_config", writer("config", RunDir.write_config))
    try:
        fit(config)
    except Stop:
        pass
    finally:
        patch.undo()
    if save_to is not None:
        torch.save(record, save_to)
    return record


def main() -> None:
    """One rank of a torchrun job: train with the settings of a JSON file, write the record."""
    settings, out = Settings.from_dict(json.loads(Path(sys.argv[1]).read_text())), Path(sys.argv[2])
    kill_at = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else None
    torch.set_num_threads(1)  # the machines that run the tests are small and shared
    rank, attempt = World.from_env().rank, os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    if len(sys.argv) > 5 and rank == 0 and attempt != "0":
        time.sleep(float(sys.argv[5]))
    record_run(settings, kill_at=kill_at, save_to=out / f"rank{rank}-try{attempt}.pt")


if __name__ == "__main__":
    main()
