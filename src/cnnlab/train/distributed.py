"""Training on several processes with PyTorch DistributedDataParallel: the torchrun environment, the process
group, each rank's share of every batch, metrics summed over ranks, and the launcher behind `devices`.

One process per device; torchrun (or `launch`) sets RANK, LOCAL_RANK and WORLD_SIZE. Every rank draws the same
shuffled order and the same augmentation as a single process would, prepares the global batch and keeps its
contiguous slice, so the union of the ranks' batches is exactly the single-process batch: the global batch size
and the learning rate mean what they mean on one device.
"""

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cnnlab import events
from cnnlab.errors import CnnlabError, SettingError, first_line
from cnnlab.train.precision import pick_device

LOST_SIGNS = ("Connection closed by peer", "Connection reset by peer", "Timed out", "timed out", "Broken pipe")
LOST_GRACE_S = 2.0
GROUP_KEY = "cnnlab/group"  # in the launcher's store: the name of the part that this try's process group uses
GROUP_POLL_S = 0.05


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and talks to the user."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.size > 1

    @classmethod
    def from_env(cls) -> "World":
        """The ranks torchrun (or `launch`) put in the environment; one process when there are none."""
        env = os.environ
        size = int(env.get("WORLD_SIZE", 1))
        return cls(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), size, int(env.get("LOCAL_WORLD_SIZE", size)))


def elastic_job() -> str | None:
    """The id that torchrun gives every try of one job (the rendezvous id it was given; a fresh one per standalone or
    `devices` launch), by which a restarted try finds the run directory of the first; None outside torchrun, and on
    the first try under torchrun's default id "none", which every job without a rendezvous id of its own shares."""
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if run_id is None or (run_id == "none" and int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0)) == 0):
        return None
    return run_id


def restart_count() -> int:
    """How many times torchrun restarted this job's processes so far (0: the first try)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))


def rank_device(world: World, name: str) -> torch.device:
    """The device of this rank: cuda:LOCAL_RANK on GPUs, the CPU otherwise."""
    device = pick_device(name)
    if not world.distributed:
        return device
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise CnnlabError(f"local rank {world.local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                              "start at most one process per GPU")
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    if device.type != "cpu":
        raise CnnlabError(f"distributed training runs on CUDA (NCCL) or the CPU (gloo), not {device.type}")
    return device


@contextmanager
def session(device_name: str, timeout: float) -> Iterator[World]:
    """Join the process group of a torchrun job (nothing to do for one process); ranks other than 0 stay quiet,
    and a collective that waits more than `timeout` seconds for a failed or hung rank ends this one."""
    world = World.from_env()
    if not world.distributed:
        yield world
        return
    device = rank_device(world, device_name)
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_size))
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, store=group_store(world, timeout), rank=world.rank, world_size=world.size,
                            timeout=timedelta(seconds=timeout), device_id=device if device.type == "cuda" else None)
    try:
        with events.reporting(events.reporter() if world.is_main else events.Reporter()):
            yield world
    except (dist.DistError, RuntimeError) as err:
        if not lost_contact(err):
            raise
        time.sleep(LOST_GRACE_S)  # the launcher notices the rank that failed first and names it, not this one
        raise CnnlabError(f"rank {world.rank}: lost the other ranks ({first_line(err)}); one of them failed or hung "
                          f"for more than `dist_timeout` {timeout:g}s") from None
    except CnnlabError as err:
        raise CnnlabError(f"rank {world.rank}: {err}") from None
    dist.destroy_process_group()  # only after success: tearing down a broken group can block


def group_store(world: World, timeout: float) -> dist.Store:
    """The store this try of the job's processes meets in: a part of the launcher's store that no other try uses.

    torchrun's agent hosts one store for the whole job and keeps it when it restarts the workers, so a restarted
    group finds the keys of the group before it: a rank that read a dead rank's address from them (when the new
    one had not written its own yet) would try to connect to it until the timeout. Rank 0 names a fresh part; the
    others ask to join the part named and wait for rank 0's answer, which only comes to a name that is current,
    asking again whenever the name changes (the one they read first was the dead group's).
    """
    store, _, _ = next(dist.rendezvous("env://", world.rank, world.size, timeout=timedelta(seconds=timeout)))
    if world.is_main:
        name = uuid.uuid4().hex
        store.set(GROUP_KEY, name)
        for rank in range(1, world.size):
            store.set(f"{GROUP_KEY}/welcome/{store.get(f'{GROUP_KEY}/join/{name}/{rank}').decode()}", name)
    else:
        ticket, asked, deadline = uuid.uuid4().hex, None, time.monotonic() + timeout
        welcome = f"{GROUP_KEY}/welcome/{ticket}"  # a name of this process alone: never left by an earlier try
        while not store.check([welcome]):
            if time.monotonic() > deadline:
                raise CnnlabError(f"rank {world.rank}: rank 0 did not let it join within `dist_timeout` {timeout:g}s")
            name = store.get(GROUP_KEY).decode()  # waits for the first try's rank 0 to name one
            if name != asked:
                store.set(f"{GROUP_KEY}/join/{name}/{world.rank}", ticket)
                asked = name
            time.sleep(GROUP_POLL_S)
        name = store.get(welcome).decode()
    return dist.PrefixStore(f"{GROUP_KEY}/of/{name}/", store)


def lost_contact(err: BaseException) -> bool:
    """Whether a collective failed because another rank died or stopped answering."""
    return isinstance(err, dist.DistError) or any(sign in str(err) for sign in LOST_SIGNS)



def describe(world: World, device: torch.device, batch_size: int, lr: float) -> str:
    """One line on how the work is shared: the global batch and the learning rate are the ones asked for."""
    per_rank = batch_size / world.size
    share = f"{per_rank:g}" if per_rank.is_integer() else f"~{per_rank:.1f}"
    return (f"distributed: {world.size} processes ({'nccl' if device.type == 'cuda' else 'gloo'} on {device.type}); "
            f"global batch {batch_size} = {world.size} x {share} per process; lr {lr:g} as given "
            "(neither is scaled by the number of processes)")


def check_batch(world: World, batch_size: int) -> None:
    """Every rank needs at least one image of each global batch."""
    if batch_size < world.size:
        raise SettingError("batch_size", f"{batch_size} is the global batch: it must be at least the number of "
                          f"processes ({world.size})")


def wrap_model(model: nn.Module, world: World, device: torch.device, sync_bn: bool) -> nn.Module:
    """The model that takes training steps: under DistributedDataParallel when there are several ranks."""
    if sync_bn and device.type != "cuda":
        raise SettingError("sync_bn", "needs CUDA devices: PyTorch's SyncBatchNorm does not run on the CPU")
    if not world.distributed:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def sync_batchnorm(model: nn.Module, world: World, sync_bn: bool) -> nn.Module:
    """BatchNorm layers that normalise with the statistics of the whole global batch, when asked (and distributed)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(model) if sync_bn and world.distributed else model


class ShardedLoader:
    """This rank's contiguous slice of every global batch of a loader; one process gets the whole batch. A loader
    that reads only this rank's share itself (`sharded`: streamed files) is passed through.

    `weight` scales the rank's mean loss so that averaging the ranks' gradients gives the gradient of the
    global batch's mean loss even when the slices differ in size by one.
    """

    def __init__(self, loader: Any, world: World, drop_small: bool = False) -> None:
        """Wrap a loader of (images, labels); with `drop_small`, a final global batch smaller than the number of
        ranks is skipped (training needs at least one image on every rank)."""
        self.loader, self.world, self.drop_small = loader, world, drop_small
        self.weight = 1.0

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.loader)

    def rng_state(self, mid_epoch: bool = False) -> dict[str, torch.Tensor]:
        """The wrapped loader's generator state (and, `mid_epoch`, its position in the epoch)."""
        return self.loader.rng_state(mid_epoch)

    def set_rng_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what rng_state returned."""
        self.loader.set_rng_state(state)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of this rank's slices."""
        presharded = getattr(self.loader, "sharded", False)
        for images, labels in self.loader:
            total = len(labels)
            if not self.world.distributed:
                yield images, labels
                continue
            if presharded:
                self.weight = total * self.world.size / self.loader.global_size
                yield images, labels
                continue
            if self.drop_small and total < self.world.size:
                continue
            images = images.tensor_split(self.world.size)[self.world.rank]
            labels = labels.tensor_split(self.world.size)[self.world.rank]
            self.weight = len(labels) * self.world.size / total
            yield images, labels


def sum_over_ranks(world: World, *values: torch.Tensor | float) -> list[float]:
    """The sums over all ranks of a few numbers (as floats)."""
    local = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if world.distributed:
        if dist.get_backend() == "nccl":
            local = local.cuda()
        dist.all_reduce(local)
    return local.tolist()


def broadcast_buffers(world: World, *models: nn.Module | None) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics drift apart without `sync_bn`)."""
    if not world.distributed:
        return
    for model in models:
        for buffer in model.buffers() if model is not None else ():
            dist.broadcast(buffer, 0)


def gather_states(world: World, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """Every rank's `state` (e.g. its generators) in one dict on rank 0: rank 0's entries, and under `rank<r>_` each
    other rank's entries that differ from them (none, when all ranks draw alike); None on the other ranks. Every rank
    must call it."""
    if not world.distributed:
        return state
    states: list[Any] = [None] * world.size
    dist.all_gather_object(states, state)
    if not world.is_main:
        return None
    merged = dict(states[0])
    for rank, other in enumerate(states[1:], start=1):
        merged |= {f"rank{rank}_{k}": v for k, v in other.items() if k not in state or not torch.equal(v, state[k])}
    return merged


def own_state(world: World, merged: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """This rank's entries of what gather_states made (rank 0's where this rank's were the same, or when the job had
    fewer ranks)."""
    mine = f"rank{world.rank}_"
    own = {k: v for k, v in merged.items() if not k.startswith("rank")}
    return own | {k.removeprefix(mine): v for k, v in merged.items() if k.startswith(mine)}


def share_from_main(world: World, make: Callable[[], Any]) -> Any:
    """Rank 0's `make()` (e.g. a new run directory's path), given to every rank."""
    value = [make() if world.is_main else None]
    if world.distributed:
        dist.broadcast_object_list(value, 0)
    return value[0]


def launch(devices: int, fn: Callable[..., Any], *args: Any) -> list[Any]:
    """Run `fn(*args)` in `devices` processes on this machine under PyTorch's elastic agent (what torchrun uses)
    and return each rank's result; when any process fails the others are stopped and the error names it."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if World.from_env().distributed:
        raise SettingError("devices", "starts its own processes: do not combine it with torchrun")
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=devices, run_id=uuid.uuid4().hex,
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, start_method="spawn")
    try:
        results = elastic_launch(config, fn)(*args)
    except ChildFailedError as err:
        raise CnnlabError(failure_message(err)) from None
    return [results[rank] for rank in sorted(results)]


def failure_message(err: Any) -> str:
    """One line naming the first process that failed and why."""
    rank, failure = min(err.failures.items(), key=lambda item: item[1].timestamp)
    why = failure.message if isinstance(failure.message, str) else str(failure.message.get("message", ""))
    why = why.strip().splitlines()[-1] if why.strip() else f"exit code {failure.exitcode}"
    return f"process {rank} of the job failed, so every process was stopped: {why.removeprefix('CnnlabError: ')}"
