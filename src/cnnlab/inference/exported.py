"""Exported models read back: an ONNX file run by ONNX Runtime, or a TorchScript file, with the model record its
`<file>.json` holds beside it, as the same LoadedModel a run gives; `load_any` takes either, for predict and serve."""

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.run.record import ModelRecord

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
JIT_NOTICE = ".*torch.jit.*is deprecated.*"  # TorchScript still works and is what this format is


class OnnxModule(nn.Module):
    """An ONNX Runtime session behind a module's call: normalised float batch in, logits out."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        """Open the model on the CPU (with `threads` intra-op threads, default ONNX Runtime's choice); a fixed-batch
        model is run one image at a time."""
        super().__init__()
        import onnxruntime as ort  # loads only when an ONNX model is used

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.fixed_batch = isinstance(self.session.get_inputs()[0].shape[0], int)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of a normalised float batch (N, C, H, W)."""
        array = np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
        parts = [array[i : i + 1] for i in range(len(array))] if self.fixed_batch else [array]
        outputs = [self.session.run(None, {self.input_name: part})[0] for part in parts if len(part)]
        return torch.from_numpy(np.concatenate(outputs)) if outputs else torch.empty(0)


def metadata_path(path: str | Path) -> Path:
    """The JSON file beside an exported model: `<file>.json`."""
    return Path(f"{path}.json")


def is_exported(path: str | Path) -> bool:
    """Whether a path is an exported model file (it has its metadata JSON beside it)."""
    path = Path(path)
    return path.is_file() and metadata_path(path).is_file()


def load_exported(path: str | Path) -> LoadedModel:
    """An exported model (ONNX through ONNX Runtime, or TorchScript) with the preprocessing its metadata names."""
    path = Path(path)
    if not is_exported(path):
        raise CnnlabError(f"{path}: not an exported model (expected the file and {metadata_path(path).name} beside it)")
    meta = json.loads(metadata_path(path).read_text())
    if meta.get("format") not in FORMATS:
        raise CnnlabError(f"{metadata_path(path)}: unknown format {meta.get('format')!r}")
    record = ModelRecord.from_dict(meta["model"] if isinstance(meta.get("model"), dict) else meta, str(path))
    if meta["format"] == "onnx":
        model = OnnxModule(path)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=JIT_NOTICE)
            model = torch.jit.load(str(path), map_location="cpu").eval()
    return LoadedModel(model, record, meta, path, meta["format"])


def load_any(path: str | Path) -> LoadedModel:
    """A run directory or checkpoint (PyTorch), or an exported model file (ONNX, TorchScript)."""
    return load_exported(path) if is_exported(path) else load_model(path)
