"""Servers for the serve tests: a real uvicorn on a free 127.0.0.1 port, serving the trained run or its ONNX export."""

from collections.abc import Iterator

import pytest

from cnnlab.inference.export import export_model
from cnnlab.serve.app import ServeOptions, create_app
from cnnlab.serve.limits import Limits
from cnnlab.serve.server import running

SMALL_LIMITS = Limits(max_bytes=200_000, max_pixels=1_000_000, max_files=8, max_request_bytes=1_000_000)


# drops an image file (base64 PNG) on the page's #drop area, as a person dragging it from a file manager would
DROP = """(data) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
  document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""


@pytest.fixture(scope="module", name="served_run")
def served_run_fixture(trained_run) -> Iterator[str]:
    """The base URL of a server for the trained run through PyTorch (small upload limits, so the tests can reach
    them); test_served.py serves it through the default engine."""
    run, _ = trained_run
    with running(create_app(run, ServeOptions(limits=SMALL_LIMITS, engine="torch"))) as url:
        yield url


@pytest.fixture(scope="module", name="served_onnx")
def served_onnx_fixture(trained_run, tmp_path_factory) -> Iterator[str]:
    """The base URL of a server for the trained run exported to ONNX with a dynamic batch."""
    run, _ = trained_run
    path = export_model(run, "onnx", tmp_path_factory.mktemp("onnx") / "model.onnx", dynamic_batch=True)["file"]
    with running(create_app(path)) as url:
        yield url


@pytest.fixture(scope="module", name="explained")
def explained_fixture(trained_run) -> Iterator[str]:
    """The base URL of the explainer for the trained run (small upload limits)."""
    from cnnlab.serve.explainer import create_explainer_app

    with running(create_explainer_app(trained_run[0], limits=SMALL_LIMITS)) as url:
        yield url
