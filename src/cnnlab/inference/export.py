"""Export a trained run to ONNX or TorchScript with its model record beside it, and check it against PyTorch.

An exported model is one file (`model.onnx`, or `model.torchscript.pt`) plus `<file>.json`: the format, the model
record (architecture, classes, input shape, mean/std, weights, temperature) and the run's metrics, which is all that is
needed to preprocess an image for it (exported.py reads it back). A calibrated model's graph divides its logits by the
temperature itself, so its softmax is calibrated wherever it runs. A multi-label model's graph gives one logit per
label; its record says `multi_label` and holds the `thresholds` that the sigmoid of each logit is compared with.
"""

import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab import __version__, events
from cnnlab.errors import CnnlabError, SettingError, first_line
from cnnlab.inference.exported import FORMATS, JIT_NOTICE, load_exported, metadata_path
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.inference.predict import expand_images
from cnnlab.inference.quantize import (
    accuracy_side_by_side,
    calibration_images,
    quantization_settings,
    quantize_onnx,
    speed_side_by_side,
)
from cnnlab.inference.quantize_defaults import CALIBRATION_IMAGES, MAX_DROP
from cnnlab.models.packaged_weights import sha256

TOLERANCE = 1e-4
DEFAULT_OPSET = 18


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


class Tempered(nn.Module):
    """A model whose logits are divided by its calibrated temperature, so that the exported graph's softmax gives
    the calibrated probabilities to whoever runs it, with or without cnnlab."""

    def __init__(self, model: nn.Module, temperature: float) -> None:
        super().__init__()
        self.model, self.temperature = model, temperature

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The model's logits / temperature."""
        return self.model(images) / self.temperature


QUANTIZE = ("int8",)


def default_path(loaded: LoadedModel, fmt: str, quantize: str | None = None) -> Path:
    """`RUN/export/model.onnx` (`model.int8.onnx`, `.torchscript.pt`): in the run directory, or a folder named after
    a zoo model."""
    return loaded.home / "export" / f"model{'.' + quantize if quantize else ''}{FORMATS[fmt]}"


def export_model(
    run: str | Path, fmt: str = "onnx", out: str | Path | None = None, dynamic_batch: bool = False,
    opset: int | None = None, images: list[str | Path] | None = None, check_count: int = 64,
    quantize: str | None = None, calibration_images: int = CALIBRATION_IMAGES, max_drop: float = MAX_DROP,
) -> dict:
    """Write a run's model as ONNX or TorchScript with its metadata beside it, and verify it on real images; with
    `quantize` "int8", an int8 ONNX model (see quantize.py) checked against fp32 on the run's evaluation split,
    failing when its top-1 drops more than `max_drop` points."""
    if fmt not in FORMATS:
        raise SettingError("format", f"{fmt!r} is not one of: {', '.join(FORMATS)}")
    if opset is not None and fmt != "onnx":
        raise SettingError("opset", "applies to ONNX only")
    if quantize is not None and quantize not in QUANTIZE:
        raise SettingError("quantize", f"{quantize!r} is not one of: {', '.join(QUANTIZE)}")
    if quantize is not None and fmt != "onnx":
        raise SettingError("quantize", "applies to ONNX only")
    if quantize is not None:
        quantization_settings(calibration_images, max_drop)
    if opset is not None:
        check_opset(opset)
    loaded = load_model(run)
    path = Path(out) if out else default_path(loaded, fmt, quantize)
    path.parent.mkdir(parents=True, exist_ok=True)
    if quantize:
        return export_int8(loaded, path, opset or DEFAULT_OPSET, images, check_count, calibration_images, max_drop)
    example = torch.zeros((2 if dynamic_batch else 1, *loaded.input_shape))
    model = Tempered(loaded.model, loaded.record.temperature) if loaded.record.temperature != 1 else loaded.model
    if fmt == "onnx":
        opset = write_onnx(model, example, path, dynamic_batch, opset or DEFAULT_OPSET)
    else:
        write_torchscript(model, example, path)
    meta = export_metadata(loaded, fmt, dynamic_batch, opset)
    metadata_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    check = verify(loaded, load_exported(path), verification_images(loaded, images, check_count))
    meta["verification"] = {**vars(check), "tolerance": TOLERANCE, "passed": check.passed}
    metadata_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    if not check.passed:
        raise CnnlabError(f"{path} disagrees with PyTorch: top-1 {check.top1_agree}/{check.images}, "
                          f"max |logit diff| {check.max_abs_diff:.2e} (tolerance {TOLERANCE:.0e})")
    return {"file": str(path), "metadata": str(metadata_path(path)), **meta}


def export_int8(loaded: LoadedModel, path: Path, opset: int, images: list[str | Path] | None, check_count: int,
                calibration_count: int, max_drop: float) -> dict:
    """The fp32 ONNX model (verified against PyTorch), quantised to int8 at `path` on the run's training images, then
    checked against fp32: accuracy, agreement and speed go into the metadata and the events; a drop past `max_drop`
    points fails, after the metadata says so."""
    if loaded.settings is None:
        raise CnnlabError("an int8 export is calibrated and checked on the run's own images: this model names no "
                          "dataset")
    dataset = loaded.dataset()
    with tempfile.TemporaryDirectory() as folder:
        fp32_path = Path(folder) / "model.onnx"
        fp32_result = export_model(loaded.path, "onnx", fp32_path, dynamic_batch=True, opset=opset, images=images,
                                   check_count=check_count)
        fp32 = load_exported(fp32_path)
        quantization = quantize_onnx(loaded, fp32_path, path, calibration_images(dataset, calibration_count))
        meta = {**export_metadata(loaded, "onnx", True, opset), "quantization": quantization}
        metadata_path(path).write_text(json.dumps(meta, indent=2) + "\n")
        int8 = load_exported(path)
        accuracy = accuracy_side_by_side(fp32, int8, dataset)
        speed = speed_side_by_side({"fp32": fp32, "int8": int8})
    passed = accuracy["drop_points"] <= max_drop
    meta["verification"] = {"fp32_against_pytorch": fp32_result["verification"], **accuracy, "max_drop": max_drop,
                            "passed": passed, "images_per_s": speed}
    metadata_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    events.note(f"int8 against fp32 on {accuracy['images']:,} {accuracy['split']} images: top-1 "
                f"{100 * accuracy['int8_top1']:.2f}% vs {100 * accuracy['fp32_top1']:.2f}% "
                f"({accuracy['drop_points']:+.2f} points lost, tolerance {max_drop:g}), top-1 agreement "
                f"{100 * accuracy['top1_agreement']:.2f}%")
    for batch, figures in speed.items():
        events.note(f"images/s at {batch.replace('_', ' ')}: int8 {figures['int8']:,.0f}, fp32 {figures['fp32']:,.0f} "
                    f"({figures['int8_speedup']:.2f}x)")
    if not passed:
        raise CnnlabError(f"{path}: int8 loses {accuracy['drop_points']:.2f} points of top-1 against fp32, over the "
                          f"tolerance of {max_drop:g} (`max_drop`); its figures are in {metadata_path(path)}")
    return {"file": str(path), "metadata": str(metadata_path(path)), **meta}


def export_metadata(loaded: LoadedModel, fmt: str, dynamic_batch: bool, opset: int | None) -> dict:
    """Everything needed to preprocess images for the exported model, and where it came from (with the sha256 of
    the checkpoint: a server reuses an export while its run's weights are the same)."""
    return {
        "format": fmt,
        "model": loaded.record.to_dict(),
        "dynamic_batch": dynamic_batch,
        "opset": opset,
        "epoch": loaded.meta.get("epoch"),
        "metrics": loaded.meta.get("metrics", {}),
        "source": str(loaded.path),
        "weights_sha256": sha256(loaded.path) if loaded.path.is_file() else None,
        "cnnlab_version": __version__,
    }


def check_opset(opset: int) -> None:
    """An opset that torch.onnx's exporter writes (its own, from 18) and the installed onnx package knows."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not DEFAULT_OPSET <= opset <= newest:
        raise SettingError("opset", f"must be between {DEFAULT_OPSET} (the exporter's oldest) and {newest} (the newest "
                           f"the installed onnx knows), got {opset}")


def written_opset(path: Path) -> int:
    """The ONNX opset a model file declares for the default domain."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))


def write_onnx(model: nn.Module, example: torch.Tensor, path: Path, dynamic_batch: bool, opset: int) -> int:
    """torch.onnx's exporter into one self-contained file, the batch dimension symbolic when asked; returns the opset
    written, which must be the one asked for."""
    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    try:
        torch.onnx.export(model, (example,), str(path), dynamo=True, dynamic_shapes=shapes, opset_version=opset,
                          external_data=False, verbose=False)
    except Exception as err:  # the exporter raises many kinds of error; each means this model/opset cannot export
        raise CnnlabError(f"ONNX export failed (opset {opset}): {first_line(err)}") from None
    written = written_opset(path)
    if written != opset:
        raise CnnlabError(f"the exporter wrote opset {written} where {opset} was asked for: choose `opset` {written}")
    return written


def write_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """A traced TorchScript module (batch size free: the traced graph does not fix it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=JIT_NOTICE)
        traced = torch.jit.trace(model, example)
    traced.save(str(path))


def verification_images(loaded: LoadedModel, images: list[str | Path] | None, count: int) -> torch.Tensor:
    """uint8 images to check with: the files named, else the first `count` of the run's evaluation split, else (a
    model without a dataset, such as a zoo model with ImageNet weights, or a run whose data is not where it was, a
    folder named relative to another working directory) `count` seeded random images, which the log says."""
    if images:
        pixels, _, _ = loaded.decode(expand_images(images)[:count])
        return pixels
    generator = torch.Generator().manual_seed(0)
    random = torch.randint(0, 256, (count, *loaded.input_shape), dtype=torch.uint8, generator=generator)
    if loaded.settings is None:
        return random
    from cnnlab.data.loader import batch_source  # the data loads only when no images are named

    try:
        dataset = loaded.dataset()
    except SettingError as err:
        events.note(f"the export is checked on {count} seeded random images: the run's data cannot be read from "
                    f"here ({first_line(err)}); name images to check on with `images`", warning=True)
        return random
    return next(iter(batch_source(dataset.val, count)))[0]


def verify(reference: LoadedModel, exported: LoadedModel, images: torch.Tensor) -> Verification:
    """Compare the exported model's logits and top-1 with PyTorch's on the same uint8 images."""
    if not len(images):
        raise CnnlabError("no readable images to verify the export with")
    expected, got = reference.logits(images), exported.logits(images)
    agree = int((expected.argmax(1) == got.argmax(1)).sum())
    return Verification(len(images), agree, float((expected - got).abs().max()))


