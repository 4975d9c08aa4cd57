"""Exported models read back: an ONNX file run by ONNX Runtime, or a TorchScript file, with the model record its
`<file>.json` holds beside it, as the same LoadedModel a run gives; `load_any` takes either, for predict and serve."""

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab.errors import CnnlabError, first_line
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.run.record import ModelRecord

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
JIT_NOTICE = ".*torch.jit.*is deprecated.*"  # TorchScript still works and is what this format is
TORCH_PLEA = re.compile(r"\s*\(Could this error message be improved\?.*\)\s*$")  # torch's, after its own message


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


def load_exported(path: str | Path, threads: int | None = None) -> LoadedModel:
    """An exported model (ONNX through ONNX Runtime, or TorchScript) with the preprocessing its metadata names.

    A file that is not what it says (unreadable JSON, a record missing a key, a model file that is not ONNX or
    TorchScript, or one that does not take the record's input or give its classes) is one CnnlabError naming it.
    """
    path = Path(path)
    if not is_exported(path):
        raise CnnlabError(f"{path}: not an exported model (expected the file and {metadata_path(path).name} beside it)")
    meta = read_metadata(path)
    record = model_record(meta, metadata_path(path))
    model = open_model(path, meta["format"], threads)
    check_model(model, record, path)
    return LoadedModel(model, record, meta, path, meta["format"])


def read_metadata(path: Path) -> dict:
    """The JSON object beside an exported model, its format one of FORMATS."""
    where = metadata_path(path)
    try:
        meta = json.loads(where.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CnnlabError(f"{where}: not text (the metadata an export writes is JSON)") from None
    except json.JSONDecodeError as err:
        raise CnnlabError(f"{where}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except OSError as err:
        raise CnnlabError(f"{where}: cannot be read ({err.strerror or err})") from None
    if not isinstance(meta, dict):
        raise CnnlabError(f"{where}: not the metadata an export writes (a JSON {type(meta).__name__}, not an object)")
    if meta.get("format") not in FORMATS:
        said = f"unknown format {meta['format']!r}" if "format" in meta else "no format"
        raise CnnlabError(f"{where}: {said} (expected one of: {', '.join(FORMATS)})")
    return meta


def model_record(meta: dict, where: Path) -> ModelRecord:
    """The model record in an export's metadata, refused when the server or predict could not use it."""
    record = ModelRecord.from_dict(meta["model"] if isinstance(meta.get("model"), dict) else meta, str(where))
    channels, *sides = record.input_shape if len(record.input_shape) == 3 else (0,)
    problem = None
    if channels not in (1, 3) or not sides or min(sides) < 1:
        problem = f"input_shape {list(record.input_shape)} is not (1 or 3 channels, height, width)"
    elif not record.classes:
        problem = "no classes"
    elif len(record.mean) not in (1, channels) or len(record.std) not in (1, channels):
        problem = f"mean and std need 1 or {channels} values, one per channel"
    elif not all(math.isfinite(v) for v in (*record.mean, *record.std)) or min(record.std) <= 0:
        problem = "mean and std must be finite, std above 0"
    if problem:
        raise CnnlabError(f"{where}: not a usable model record ({problem})")
    return record


def open_model(path: Path, fmt: str, threads: int | None = None) -> nn.Module:
    """The model file opened as its format says (ONNX with `threads` intra-op threads, default ONNX Runtime's), or a
    CnnlabError saying the file is not one."""
    if fmt == "onnx":
        try:
            import onnxruntime  # noqa: F401 (loads only when an ONNX model is used)
        except ImportError:
            raise CnnlabError(f"{path}: an ONNX model needs ONNX Runtime (pip install onnxruntime)") from None
        try:
            return OnnxModule(path, threads)
        except Exception as err:  # ONNX Runtime raises kinds of its own (InvalidProtobuf, Fail): each means "not one"
            raise CnnlabError(f"{path}: not an ONNX model ONNX Runtime can run ({first_line(err)})") from None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=JIT_NOTICE)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as err:  # a file that is not a TorchScript archive: RuntimeError, ValueError, ...
        said = TORCH_PLEA.sub("", first_line(err))
        raise CnnlabError(f"{path}: not a TorchScript model ({said})") from None


def check_model(model: nn.Module, record: ModelRecord, path: Path) -> None:
    """Refuse a model that does not take one image of the record's input, or gives other than one logit per class."""
    shape = "x".join(map(str, record.input_shape))
    try:
        with torch.no_grad():
            output = model(torch.zeros((1, *record.input_shape)))
    except Exception as err:  # whatever the model raises, it cannot serve this input
        raise CnnlabError(f"{path}: does not run on one {shape} image, the input its record names "
                          f"({first_line(err)})") from None
    wanted = (1, record.num_classes)
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != wanted:
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise CnnlabError(f"{path}: gives {got} for one {shape} image where its record's {record.num_classes} "
                          f"classes need {wanted}")


def load_any(path: str | Path) -> LoadedModel:
    """A run directory or checkpoint (PyTorch), or an exported model file (ONNX, TorchScript)."""
    return load_exported(path) if is_exported(path) else load_model(path)
