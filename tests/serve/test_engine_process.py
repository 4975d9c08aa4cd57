"""A model's batches in a process of its own: the same answers as computed in the server's process, refusals carried
back as refusals, a process that dies costs its batch a 503 and the next batch gets a new one, a model that cannot
load is one error naming it."""

import os
import signal

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.serve.compute import Uploads, compute
from cnnlab.serve.engine import load_engine
from cnnlab.serve.engine_process import EngineProcess
from cnnlab.serve.limits import Limits, UploadRefused


@pytest.fixture(scope="module", name="engine")
def engine_fixture(trained_run):
    process = EngineProcess(trained_run[0], "onnx", 1)
    process.start(4)
    yield process
    process.stop()


def uploads(trained_run, limits=Limits()):
    """Two requests of real images (one and two files), and one of a file that is no image."""
    folder = trained_run[1] / "data" / "test"
    red, green, blue = (sorted((folder / name).iterdir())[0] for name in ("red", "green", "blue"))
    return [Uploads([red.name], [red.read_bytes()], limits),
            Uploads([green.name, blue.name], [green.read_bytes(), blue.read_bytes()], limits),
            Uploads(["notes.txt"], [b"not an image at all"], limits)]


def test_the_process_answers_as_the_servers_own_process_would(engine, trained_run):
    requests = uploads(trained_run)
    here = compute(load_engine(trained_run[0], "onnx", 1)[0], requests)
    there = engine(requests)
    for mine, theirs in zip(here[:2], there[:2]):
        assert theirs.shape == mine.shape and torch.allclose(theirs, mine, atol=1e-6)
    assert [row.argmax().item() for row in there[0]] + [row.argmax().item() for row in there[1]] == [2, 1, 0]
    assert isinstance(there[2], UploadRefused) and there[2].status == 400 and "notes.txt" in str(there[2])


def test_a_limit_refuses_in_the_process_as_a_413(engine, trained_run):
    refused = engine(uploads(trained_run, Limits(max_pixels=10))[:1])[0]
    assert isinstance(refused, UploadRefused) and refused.status == 413 and "pixels" in str(refused)


def test_a_process_that_dies_costs_its_batch_a_503_and_the_next_batch_a_new_process(trained_run):
    process = EngineProcess(trained_run[0], "onnx", 1)
    process.start(2)
    try:
        first = process.process.pid
        os.kill(first, signal.SIGKILL)
        process.process.wait()
        lost = process(uploads(trained_run)[:2])
        assert [(r.status, str(r)) for r in lost] == [(503, "the model's process stopped: try again")] * 2
        again = process(uploads(trained_run)[:1])
        assert process.process.pid != first and again[0].argmax().item() == 2
    finally:
        process.stop()
    assert process.process is None


def test_a_model_that_cannot_load_is_one_error_naming_it(tmp_path):
    with pytest.raises(CnnlabError, match=r"could not load .*nothing-here.*no such run"):
        EngineProcess(tmp_path / "nothing-here", "onnx", 1).start(1)
