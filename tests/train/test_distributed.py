"""DDP on two gloo processes of this CPU: the same training as one process with the same global batch, files
from rank 0 only, a single-process resume of its checkpoint, and a failed or hung rank ending the whole job."""

import json
import time

import pytest
import torch
import torch.distributed as dist

from cnnlab.errors import CnnlabError
from cnnlab.settings import resolve
from cnnlab.train import distributed
from cnnlab.train.distributed import ShardedLoader, World, launch
from cnnlab.train.fit import fit

from ddp_record import record_run


def fail_on_rank_1(timeout):
    """Rank 1 fails at once; rank 0 waits for it in a collective."""
    with distributed.session("cpu", timeout) as world:
        if world.rank == 1:
            raise CnnlabError("this rank's data is broken")
        dist.all_reduce(torch.ones(1))


def hang_on_rank_1(timeout):
    """Rank 1 hangs; rank 0 waits for it in a collective."""
    with distributed.session("cpu", timeout) as world:
        if world.rank == 1:
            time.sleep(120)
        dist.all_reduce(torch.ones(1))


def test_two_gloo_processes_train_exactly_like_one_and_resume_in_one(tiny_folder, tmp_path):
    # LeNet-5 has neither BatchNorm nor dropout, so one process with the global batch is the exact reference;
    # batch 7 over 24 images leaves uneven slices (4+3, then 2+1) and exercises the loss weights
    # fp32: the comparison is exact only where both runs round alike (auto would take bf16 on a CPU with bf16 units)
    settings = dict(data=str(tiny_folder), model="lenet5", epochs=2, batch_size=7, lr=3e-3, seed=3, precision="fp32")
    single = record_run(resolve(**settings, out=str(tmp_path / "one"), name="one"))
    ranks = launch(2, record_run, resolve(**settings, out=str(tmp_path / "ddp"), name="ddp"), 1)

    assert [r["rank"] for r in ranks] == [0, 1]
    steps = len(ranks[0]["params"])
    assert steps == 4 == len(ranks[1]["params"])  # one epoch of ceil(24 / 7) global batches
    for step in range(steps):
        assert torch.equal(ranks[0]["params"][step], ranks[1]["params"][step]), f"ranks differ after step {step + 1}"
        torch.testing.assert_close(ranks[0]["params"][step], single["params"][step], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(single["params"][0], single["params"][-1])  # it did learn something
    for key in ("train_loss", "train_acc"):
        assert ranks[0]["rows"][0][key] == pytest.approx(single["rows"][0][key], rel=1e-5)
        assert ranks[1]["rows"][0][key] == ranks[0]["rows"][0][key]

    assert ranks[1]["writes"] == [] and {"run dir", "config", "logbook", "checkpoint"} <= set(ranks[0]["writes"])
    assert [p.name for p in (tmp_path / "ddp").iterdir()] == ["ddp"]
    run = tmp_path / "ddp" / "ddp"
    assert len(list((run / "tensorboard").iterdir())) == 1
    ddp_rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    one_rows = [json.loads(line) for line in (tmp_path / "one" / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in ddp_rows] == [1]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert ddp_rows[0][key] == pytest.approx(one_rows[0][key], rel=1e-5)

    resumed = fit(resume=run)  # one process continues the two-process run: epoch 2 as if it never stopped
    assert resumed.epochs == 2
    second = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][1]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert second[key] == pytest.approx(one_rows[1][key], rel=1e-4)


def test_a_failing_rank_ends_the_job_with_its_message():
    with pytest.raises(CnnlabError, match="process 1 .*rank 1: this rank's data is broken"):
        launch(2, fail_on_rank_1, 60.0)


def test_a_hung_rank_ends_the_job_after_the_timeout():
    start = time.monotonic()
    with pytest.raises(CnnlabError, match="process 0 .*rank 0: lost the other ranks.*`dist_timeout` 10s"):
        launch(2, hang_on_rank_1, 10.0)  # long enough for both ranks to start on a loaded machine
    assert time.monotonic() - start < 100  # the hung rank's 120 s sleep was cut short


def test_each_rank_takes_its_contiguous_slice_and_weight():
    batches = [(torch.arange(7), torch.arange(7)), (torch.arange(3), torch.arange(3)), (torch.arange(1), torch.arange(1))]
    slices = {}
    for rank in (0, 1):
        loader = ShardedLoader(batches, World(rank=rank, size=2), drop_small=True)
        slices[rank] = [(labels.tolist(), loader.weight) for _, labels in loader]
    assert slices[0] == [([0, 1, 2, 3], 8 / 7), ([0, 1], 4 / 3)]
    assert slices[1] == [([4, 5, 6], 6 / 7), ([2], 2 / 3)]  # the one-image batch is dropped: rank 1 would get none


def test_single_process_sees_whole_batches():
    batch = (torch.zeros(5, 3), torch.arange(5))
    loader = ShardedLoader([batch], World())
    assert [labels.tolist() for _, labels in loader] == [[0, 1, 2, 3, 4]] and loader.weight == 1.0


def test_settings_that_cannot_work_are_refused():
    with pytest.raises(CnnlabError, match="global batch"):
        distributed.check_batch(World(rank=0, size=4), 3)
    with pytest.raises(CnnlabError, match="`sync_bn` needs CUDA"):
        distributed.wrap_model(torch.nn.Linear(2, 2), World(size=2), torch.device("cpu"), sync_bn=True)
    with pytest.raises(CnnlabError, match="`devices` must be at least 1"):
        resolve(devices=0)
