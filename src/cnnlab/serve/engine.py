"""The engine that runs a served model: PyTorch (the run's own model), or ONNX Runtime on an export of it.

`load_engine` gives the model as a LoadedModel whichever it is, the engine's name, and the run's checkpoint (for
Grad-CAM) when the source is a run; an exported file is served by its own format."""

from pathlib import Path

from cnnlab.inference.exported import is_exported, load_exported
from cnnlab.inference.loaded import LoadedModel, load_model

ENGINES = ("auto", "torch", "onnx", "int8")


def load_engine(source: str | Path, engine: str = "torch", threads: int | None = None
                ) -> tuple[LoadedModel, str, Path | None]:
    """(the model, its engine, the run's checkpoint or None) for a run, checkpoint, zoo model or exported file."""
    if is_exported(source):
        loaded = load_exported(source)
        return loaded, str(loaded.exported), None
    loaded = load_model(source)
    return loaded, "torch", loaded.path
