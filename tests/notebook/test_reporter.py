"""The progress bar and epoch table in a real Jupyter kernel (ipykernel, driven by jupyter_client as a front end
drives it): displays with ids, updated in place as training advances, new ones for a new cell, none when quiet."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

from cnnlab import events
from cnnlab.kernel import in_kernel
from cnnlab.notebook.reporter import bar_html, epochs_html


class Kernel:
    """A fresh kernel: runs cells and returns the messages each produced on iopub."""

    def __init__(self, cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                              os.environ.get("PYTHONPATH", "")])}
        self.manager, self.client = jupyter_client.manager.start_new_kernel(kernel_name="python3", cwd=str(cwd),
                                                                            env=env)

    def run(self, code: str) -> list[dict]:
        """Execute one cell; fail on an error in it."""
        messages: list[dict] = []
        reply = self.client.execute_interactive(code, output_hook=messages.append, timeout=300)
        errors = [m["content"] for m in messages if m["msg_type"] == "error"]
        assert reply["content"]["status"] == "ok", errors
        return messages

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """One kernel for the module, in a folder of its own (its runs go there), with its own decode cache."""
    folder = tmp_path_factory.mktemp("kernel")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_CACHE", str(folder / "cache"))
        started = Kernel(folder)
    yield started
    started.close()


def displays(messages: list[dict]) -> list[tuple[str, str, dict]]:
    """(message type, display id, data) of every display and display update."""
    return [(m["msg_type"], m["content"]["transient"]["display_id"], m["content"]["data"]) for m in messages
            if m["msg_type"] in ("display_data", "update_display_data") and m["content"].get("transient")]


TRAIN = "import cnnlab\nrun = cnnlab.train(data={data!r}, batch_size=16, name={name!r}{extra})"
SHORT = ", epochs=1, max_steps=2"


def test_training_in_a_kernel_draws_a_live_bar_and_an_epoch_table(kernel, colour_folder):
    messages = kernel.run(TRAIN.format(data=str(colour_folder), name="live", extra=", epochs=2") +
                          "\nprint(type(cnnlab.events.reporter()).__name__, cnnlab.kernel.in_kernel())")
    shown = displays(messages)
    ids = list(dict.fromkeys(display_id for _, display_id, _ in shown))
    assert len(ids) == 3  # the log, the bar (decoding, then each epoch), the epoch table

    def display(marker: str) -> tuple[str, list[dict]]:
        (found,) = {i for _, i, data in shown if marker in data["text/html"]}
        return found, [data for _, i, data in shown if i == found]

    (_, log), (bar_id, bar), (_, table) = display("cnnlab-log"), display("<progress"), display("cnnlab-epochs")
    assert "\ndata: colours: 120 train / 30 val images, 3 classes" in log[-1]["text/plain"]
    assert "<progress" in bar[0]["text/html"] and len(bar) > 2  # drawn, then updated in place
    assert [m for m, i, _ in shown if i == bar_id][1:] == ["update_display_data"] * (len(bar) - 1)
    assert 'value="8" max="8"' in bar[-1]["text/html"] and "epoch 2/2" in bar[-1]["text/html"]
    assert table[-1]["text/html"].count("<tr>") == 3 and "epoch   2/2" in table[-1]["text/plain"]
    printed = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    assert printed.split() == ["NotebookReporter", "True"]


def test_a_new_cell_draws_new_displays_and_quiet_draws_none(kernel, colour_folder):
    first = {i for _, i, _ in displays(kernel.run(TRAIN.format(data=str(colour_folder), name="a", extra=SHORT)))}
    second = {i for _, i, _ in displays(kernel.run(TRAIN.format(data=str(colour_folder), name="b", extra=SHORT)))}
    assert first and second and not first & second
    quiet = kernel.run(TRAIN.format(data=str(colour_folder), name="c", extra=SHORT + ", quiet=True")
                       + "\nlen(run.metrics)")
    assert displays(quiet) == []
    result = [m["content"]["data"]["text/plain"] for m in quiet if m["msg_type"] == "execute_result"]
    assert result == ["1"]


def test_a_result_renders_as_html_in_the_kernel(kernel):
    messages = kernel.run("import cnnlab\ncnnlab.summary('simplecnn')")
    data = next(m["content"]["data"] for m in messages if m["msg_type"] == "execute_result")
    assert "620,810 (620,810 trainable)" in data["text/html"]
    assert data["text/plain"].startswith("Summary(simplecnn on 3x32x32")


def test_outside_a_kernel_the_default_reporter_logs():
    assert not in_kernel() and type(events.default_reporter()).__name__ == "LogReporter"


def test_the_bar_and_table_escape_what_they_show():
    assert "&lt;b&gt;" in bar_html("<b>", 1, 2, 1.0)
    row = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "lr": 0.1}
    assert "<td></td>" in epochs_html([row])  # a column the row lacks stays empty
