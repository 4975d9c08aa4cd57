"""Jobs that torchrun launches, as on a cluster: two hosts (two network namespaces joined by a veth pair, one torchrun
node in each, c10d rendezvous and gloo over the veth addresses) train exactly like one process with the same global
batch; a worker killed with SIGKILL under `--max-restarts` makes the job restart and go on from its last checkpoint
in the same run directory, ending where an uninterrupted run ends, even when the restarted rank 0 starts last.

The two-host test needs root and iproute2 (CI runs as root); it is skipped with the reason otherwise. Alone:

    sudo python -m pytest tests/train/test_distributed_torchrun.py
"""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cnnlab.settings import resolve

from ddp_record import record_run

SCRIPT = Path(__file__).with_name("ddp_record.py")
# a job of a few steps takes about 30 s alone; on a 2-core machine that others load, one took more than 300 s
JOB_LIMIT_S = 900
# how much later than rank 1 the restarted rank 0 starts: long enough for rank 1 to look for rank 0 first (when a
# restarted group met in the keys torchrun's store kept from the dead one, rank 1 then dialled the dead rank 0)
LATE_S = 3.0
# LeNet-5 has neither BatchNorm nor dropout, so one process with the global batch is the exact reference; batch 7
# over 24 images leaves uneven slices; fp32 so that both round alike
SETTINGS = dict(model="lenet5", batch_size=7, lr=3e-3, seed=3, precision="fp32")


def ip(*args: str) -> None:
    """Run an iproute2 command, failing with its message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@pytest.fixture
def two_hosts() -> Iterator[list[tuple[str, str, str]]]:
    """Two network namespaces joined by a veth pair: (namespace, interface, address) of each; removed afterwards,
    whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("two network namespaces need root (CI runs as root)")
    if shutil.which("ip") is None:
        pytest.skip("two network namespaces need iproute2's `ip`")
    tag = uuid.uuid4().hex[:6]
    hosts = [(f"cnnlab-{tag}-{side}", f"cl{tag}{side}", f"10.231.{int(tag[:2], 16)}.{n}")
             for n, side in ((1, "a"), (2, "b"))]
    made = []
    try:
        for namespace, _, _ in hosts:
            if subprocess.run(["ip", "netns", "add", namespace], capture_output=True).returncode:
                pytest.skip("this machine does not let a network namespace be made")
            made.append(namespace)
        (ns_a, if_a, _), (ns_b, if_b, _) = hosts
        ip("link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        for namespace, interface, address in hosts:
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", interface)
            ip("-n", namespace, "link", "set", interface, "up")
            ip("-n", namespace, "link", "set", "lo", "up")
        yield hosts
    finally:
        for namespace in made:  # deleting a namespace deletes its end of the veth pair, and so the pair
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def job_files(tmp_path: Path, settings: dict) -> tuple[Path, Path]:
    """A settings file for the job's script and the folder its ranks write their records to."""
    config, records = tmp_path / "settings.json", tmp_path / "records"
    config.write_text(json.dumps(resolve(**settings).to_dict()))
    records.mkdir()
    return config, records


def environment() -> dict[str, str]:
    """The job's environment: cnnlab importable as in this process, one thread per process (a small shared CPU)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}


def finished(processes: list[subprocess.Popen]) -> None:
    """Wait for the processes (at most JOB_LIMIT_S in all); fail with the output of one that failed or hung."""
    deadline = time.monotonic() + JOB_LIMIT_S
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            outputs.append(process.communicate()[0])
            pytest.fail(f"the job did not finish in {JOB_LIMIT_S} s:\n{outputs[-1][-3000:]}")
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]


def test_two_hosts_over_a_network_train_exactly_like_one_process(two_hosts, tiny_folder, tmp_path):
    settings = dict(SETTINGS, data=str(tiny_folder), epochs=2)
    single = record_run(resolve(**settings, out=str(tmp_path / "one"), name="one"))
    config, records = job_files(tmp_path, dict(settings, out=str(tmp_path / "runs"), name="hosts", dist_timeout=60.0))
    endpoint = f"{two_hosts[0][2]}:29531"
    processes = [
        subprocess.Popen(
            ["ip", "netns", "exec", namespace, "env", f"GLOO_SOCKET_IFNAME={interface}", sys.executable, "-m",
             "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
             "--rdzv-endpoint", endpoint, "--rdzv-id", "two-hosts", "--rdzv-conf", f"is_host={int(node == 0)}",
             "--local-addr", address, "--max-restarts", "0", str(SCRIPT), str(config), str(records)],
            env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for node, (namespace, interface, address) in enumerate(two_hosts)]
    finished(processes)

    ranks = [torch.load(records / f"rank{rank}-try0.pt") for rank in (0, 1)]
    steps = len(single["params"])
    assert steps == 8 and [len(r["params"]) for r in ranks] == [8, 8]  # two epochs of ceil(24 / 7) global batches
    for step in range(steps):
        assert torch.equal(ranks[0]["params"][step], ranks[1]["params"][step]), f"hosts differ after step {step + 1}"
        torch.testing.assert_close(ranks[0]["params"][step], single["params"][step], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(single["params"][0], single["params"][-1])  # it did learn something
    assert ranks[1]["writes"] == [] and {"run dir", "config", "logbook", "checkpoint"} <= set(ranks[0]["writes"])
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["hosts"]
    rows = [json.loads(line) for line in (tmp_path / "runs" / "hosts" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for row, reference in zip(rows, single["rows"]):
        assert row["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-5)


def test_a_worker_killed_mid_epoch_restarts_the_job_from_its_last_checkpoint_in_the_same_run(tiny_folder, tmp_path):
    # 4 steps per epoch, a checkpoint every 2 steps; rank 1 is killed after step 7, whose checkpoint is not written:
    # the restarted job resumes at step 7 (epoch 2, step 3) from the checkpoint of step 6. Restarted, rank 0 starts
    # LATE_S after rank 1, which so finds the dead try's keys in torchrun's store first, every time
    settings = dict(SETTINGS, data=str(tiny_folder), epochs=3, checkpoint_every=2)
    single = record_run(resolve(**settings, out=str(tmp_path / "one"), name="one"))
    config, records = job_files(tmp_path, dict(settings, out=str(tmp_path / "runs"), dist_timeout=60.0))
    job = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--max-restarts", "2",
         "--monitor-interval", "0.5", str(SCRIPT), str(config), str(records), "1", "7", str(LATE_S)],
        env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finished([job])

    assert (records / "rank1-try1.pt").exists()  # torchrun restarted both workers
    assert not (records / "rank0-try2.pt").exists()  # once: the restarted group met at the first go
    first, second = (torch.load(records / f"rank0-try{attempt}.pt") for attempt in (0, 1))
    assert len(first["params"]) == 7 and len(second["params"]) == 12 - 6  # steps 7 to 12 again, after step 6
    for step, params in enumerate(second["params"], start=6):
        torch.testing.assert_close(params, single["params"][step], rtol=1e-5, atol=1e-6)
    (run,) = (tmp_path / "runs").iterdir()  # the restarted job found the first try's directory: no second one
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]  # none lost, none twice
    for row, reference in zip(rows, single["rows"]):
        assert row["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-5)
    assert "job" in json.loads((run / "config.json").read_text())
