"""Export a trained run to ONNX or TorchScript with its preprocessing beside it, check it, and load it back.

An exported model is one file (`model.onnx`, or `model.torchscript.pt`) plus `<file>.json`: the format,
the classes, the input shape, mean/std and the run's metrics, which is all that is needed to preprocess an
image for it. Loading one gives the same LoadedModel a run gives, so predict and serve use either.
"""

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab import __version__
from cnnlab.errors import CnnlabError
from cnnlab.inference import LoadedModel, expand_images, load_model

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
TOLERANCE = 1e-4
DEFAULT_OPSET = 18
_JIT_NOTICE = ".*torch.jit.*is deprecated.*"  # TorchScript still works and is what this format is


@dataclass
class Verification:
    """How the exported model agreed with PyTorch on real images."""

    images: int
    top1_agree: int
    max_abs_diff: float

    @property
    def passed(self) -> bool:
        """Whether every top-1 agrees and every logit is within TOLERANCE."""
        return self.top1_agree == self.images and self.max_abs_diff <= TOLERANCE


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


def default_path(run: str | Path, fmt: str) -> Path:
    """`RUN/export/model.onnx` (or `.torchscript.pt`) for a run directory; beside a checkpoint file otherwise."""
    run = Path(run)
    folder = run / "export" if run.is_dir() else run.parent.parent / "export"
    return folder / f"model{FORMATS[fmt]}"


def metadata_path(path: str | Path) -> Path:
    """The JSON file beside an exported model: `<file>.json`."""
    return Path(f"{path}.json")


def export_model(
    run: str | Path, fmt: str = "onnx", out: str | Path | None = None, dynamic_batch: bool = False,
    opset: int | None = None, images: list[str | Path] | None = None, check_count: int = 64,
) -> dict:
    """Write a run's model as ONNX or TorchScript with its metadata beside it, and verify it on real images."""
    if fmt not in FORMATS:
        raise CnnlabError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if opset is not None and fmt != "onnx":
        raise CnnlabError("--opset applies to ONNX only")
    loaded = load_model(run)
    path = Path(out) if out else default_path(run, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros((2 if dynamic_batch else 1, *loaded.input_shape))
    if fmt == "onnx":
        opset = opset or DEFAULT_OPSET
        write_onnx(loaded.model, example, path, dynamic_batch, opset)
    else:
        write_torchscript(loaded.model, example, path)
    meta = export_metadata(loaded, fmt, dynamic_batch, opset)
    metadata_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    check = verify(loaded, load_exported(path), verification_images(loaded, images, check_count))
    meta["verification"] = {**vars(check), "tolerance": TOLERANCE, "passed": check.passed}
    metadata_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    if not check.passed:
        raise CnnlabError(f"{path} disagrees with PyTorch: top-1 {check.top1_agree}/{check.images}, "
                          f"max |logit diff| {check.max_abs_diff:.2e} (tolerance {TOLERANCE:.0e})")
    return {"file": str(path), "metadata": str(metadata_path(path)), **meta}


def export_metadata(loaded: LoadedModel, fmt: str, dynamic_batch: bool, opset: int | None) -> dict:
    """Everything needed to preprocess images for the exported model, and where it came from."""
    record = loaded.meta["model"]
    return {
        "format": fmt,
        "model": record["model"],
        "classes": loaded.classes,
        "input_shape": list(loaded.input_shape),
        "mean": list(loaded.mean),
        "std": list(loaded.std),
        "dynamic_batch": dynamic_batch,
        "opset": opset,
        "epoch": loaded.meta.get("epoch"),
        "metrics": loaded.meta.get("metrics", {}),
        "source": str(loaded.path),
        "cnnlab_version": __version__,
    }


def write_onnx(model: nn.Module, example: torch.Tensor, path: Path, dynamic_batch: bool, opset: int) -> None:
    """torch.onnx's exporter into one self-contained file, the batch dimension symbolic when asked."""
    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    try:
        torch.onnx.export(model, (example,), str(path), dynamo=True, dynamic_shapes=shapes, opset_version=opset,
                          external_data=False, verbose=False)
    except Exception as err:  # the exporter raises many kinds of error; each means this model/opset cannot export
        raise CnnlabError(f"ONNX export failed (opset {opset}): {str(err).splitlines()[0]}") from err


def write_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """A traced TorchScript module (batch size free: the traced graph does not fix it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_NOTICE)
        traced = torch.jit.trace(model, example)
    traced.save(str(path))


def verification_images(loaded: LoadedModel, images: list[str | Path] | None, count: int) -> torch.Tensor:
    """uint8 images to check with: the files named, else the first `count` of the run's evaluation split."""
    if images:
        pixels, _, _ = loaded.decode(expand_images(images)[:count])
        return pixels
    from cnnlab.data.loader import batch_source
    from cnnlab.evaluate import evaluation_data  # the data loads only when no images are named

    if "data" not in loaded.meta.get("train", {}):
        raise CnnlabError("this checkpoint does not name its dataset: pass --images to verify the export")
    dataset = evaluation_data(loaded)
    return next(iter(batch_source(dataset.val, count)))[0]


def verify(reference: LoadedModel, exported: LoadedModel, images: torch.Tensor) -> Verification:
    """Compare the exported model's logits and top-1 with PyTorch's on the same uint8 images."""
    if not len(images):
        raise CnnlabError("no readable images to verify the export with")
    expected, got = reference.logits(images), exported.logits(images)
    agree = int((expected.argmax(1) == got.argmax(1)).sum())
    return Verification(len(images), agree, float((expected - got).abs().max()))


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
    if meta["format"] == "onnx":
        model = OnnxModule(path)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_JIT_NOTICE)
            model = torch.jit.load(str(path), map_location="cpu").eval()
    return LoadedModel(model, meta["classes"], tuple(meta["input_shape"]), tuple(meta["mean"]), tuple(meta["std"]),
                       meta, path)


def load_any(path: str | Path) -> LoadedModel:
    """A run directory or checkpoint (PyTorch), or an exported model file."""
    return load_exported(path) if is_exported(path) else load_model(path)
