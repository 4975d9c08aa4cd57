"""The engine that runs a served model: PyTorch (the run's own model), or ONNX Runtime on an export of it (fp32, or
int8), made in the run directory the first time, verified as every export is, and reused while the run's weights
(their sha256) are the ones it was made from.

`load_engine` gives the model as a LoadedModel whichever it is, the engine's name, and the run's checkpoint (for
Grad-CAM, which needs the PyTorch model) when the source is a run; an exported file is served by its own format."""

from pathlib import Path

import torch

from cnnlab.inference.export import export_model
from cnnlab.inference.exported import is_exported, load_exported, read_metadata
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.models.packaged_weights import sha256
from cnnlab.serve.defaults import ENGINE

SERVED_EXPORT = {"onnx": "serve.onnx", "int8": "serve.int8.onnx"}  # in RUN/export/, apart from the user's exports


def onnx_runtime_installed() -> bool:
    """Whether ONNX Runtime can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def load_engine(source: str | Path, engine: str = ENGINE, threads: int | None = None
                ) -> tuple[LoadedModel, str, Path | None]:
    """(the model, its engine, the run's checkpoint or None) for a run, checkpoint, zoo model or exported file;
    `auto` is onnx when ONNX Runtime is installed, torch otherwise."""
    if is_exported(source):
        loaded = load_exported(source, threads)
        return loaded, str(loaded.exported), None
    loaded = load_model(source)
    if engine == "auto":
        engine = "onnx" if onnx_runtime_installed() else "torch"
    if engine == "torch" or not loaded.path.is_file():  # a zoo model by name has no run to export into
        if threads is not None:
            torch.set_num_threads(threads)
        return loaded, "torch", loaded.path
    # PyTorch only normalises the batch and takes its softmax here: its own pool of threads, which busy-wait after
    # each op, would take the core left to the event loop (profiled: 70 times the normalisation's own CPU time)
    torch.set_num_threads(1)
    return load_exported(served_export(loaded, engine), threads), engine, loaded.path


def served_export(loaded: LoadedModel, engine: str) -> Path:
    """The run's export for this engine: the one made before when it was made from these weights and verified,
    else a new one (dynamic batch; int8 checked against fp32 as every int8 export is)."""
    path = loaded.home / "export" / SERVED_EXPORT[engine]
    digest = sha256(loaded.path)
    if is_exported(path):
        meta = read_metadata(path)
        if meta.get("weights_sha256") == digest and meta.get("verification", {}).get("passed"):
            return path
    export_model(loaded.path, "onnx", path, dynamic_batch=True, quantize="int8" if engine == "int8" else None)
    return path
