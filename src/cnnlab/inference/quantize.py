"""int8 ONNX models: ONNX Runtime's static quantization (QDQ, weights int8 per output channel, activations uint8 with
ranges calibrated on the run's own training images), and the check every int8 export gets: accuracy of the fp32
and the int8 model side by side on the run's evaluation split, how often their top-1 agree, and the images/s of
each on this machine, at batch 1 and 64.

(uint8 activations with int8 weights is the pairing ONNX Runtime's x86 kernels take fastest, VNNI/AMX included.)"""

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cnnlab import events
from cnnlab.data.dataset import Dataset
from cnnlab.data.holdout import subset
from cnnlab.data.loader import batch_source
from cnnlab.errors import CnnlabError, SettingError
from cnnlab.inference.loaded import LoadedModel
from cnnlab.inference.quantize_defaults import CALIBRATION_SEED

CALIBRATION_BATCH = 32
SPEED_BATCHES = (1, 64)
SPEED_SECONDS = 1.0  # per model and batch size, over three alternating rounds


def quantization_settings(calibration_images: int, max_drop: float) -> None:
    """Refuse a calibration count under 1 and a tolerance that is negative or not a number."""
    if isinstance(calibration_images, bool) or not isinstance(calibration_images, int) or calibration_images < 1:
        raise SettingError("calibration_images", f"must be a whole number of at least 1, got {calibration_images!r}")
    if not isinstance(max_drop, (int, float)) or not max_drop >= 0:
        raise SettingError("max_drop", f"must be 0 or more accuracy points, got {max_drop!r}")


def calibration_images(dataset: Dataset, count: int, seed: int = CALIBRATION_SEED) -> torch.Tensor:
    """`count` of the dataset's training images (uint8), drawn by `seed` (all of them when it has fewer)."""
    generator = torch.Generator().manual_seed(seed)
    train = dataset.train
    chosen = torch.randperm(len(train), generator=generator)[:count].tolist()
    return torch.cat([images for images, _ in batch_source(subset(train, sorted(chosen)), CALIBRATION_BATCH)])


class Calibration:
    """ONNX Runtime's CalibrationDataReader: the calibration images, normalised as the model takes them, in batches."""

    def __init__(self, loaded: LoadedModel, images: torch.Tensor, input_name: str) -> None:
        self.batches = iter([loaded.preprocess(images[i : i + CALIBRATION_BATCH]).numpy()
                             for i in range(0, len(images), CALIBRATION_BATCH)])
        self.input_name = input_name

    def get_next(self) -> dict | None:
        """The next batch, None after the last."""
        batch = next(self.batches, None)
        return None if batch is None else {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}


def quantize_onnx(loaded: LoadedModel, fp32: Path, out: Path, images: torch.Tensor) -> dict:
    """Write `out`, the int8 (QDQ) model of the fp32 ONNX file `fp32` (its batch dimension free), calibrated on
    `images`; what was done, for the metadata."""
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        # shapes inferred, graph folded: what the quantizer wants (ONNX's own shape inference: the symbolic one fails
        # on the fast network's Reshape of a dynamic batch)
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        input_name = onnxruntime.InferenceSession(str(prepared), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        quantize_static(str(prepared), str(out), Calibration(loaded, images, input_name),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    return {"method": "onnxruntime static", "format": "QDQ", "weights": "int8, per channel",
            "activations": "uint8, per tensor", "calibration": "minmax", "calibration_images": len(images),
            "calibration_seed": CALIBRATION_SEED, "onnxruntime": onnxruntime.__version__}


def accuracy_side_by_side(fp32: LoadedModel, int8: LoadedModel, dataset: Dataset) -> dict:
    """Top-1 of both models on the dataset's evaluation split (its test split when it has one), and their
    agreement."""
    split, images = dataset.split()
    right = {"fp32": 0, "int8": 0}
    agree = seen = 0
    with events.progress(f"checking int8 against fp32 on the {split} split", len(images)) as advance:
        for batch, labels in batch_source(images, 256):
            top = {"fp32": fp32.logits(batch).argmax(1), "int8": int8.logits(batch).argmax(1)}
            for name, predicted in top.items():
                right[name] += int((predicted == labels).sum())
            agree += int((top["fp32"] == top["int8"]).sum())
            seen += len(labels)
            advance(len(labels))
    if not seen:
        raise CnnlabError(f"no {split} images to check the int8 model with")
    fp32_top1, int8_top1 = right["fp32"] / seen, right["int8"] / seen
    return {"split": split, "images": seen, "fp32_top1": fp32_top1, "int8_top1": int8_top1,
            "drop_points": round(100 * (fp32_top1 - int8_top1), 4), "top1_agreement": agree / seen}


def images_per_s(loaded: LoadedModel, batch: torch.Tensor, seconds: float) -> float:
    """Images/s of a model on one uint8 batch, preprocessing included, over about `seconds` after a warm-up."""
    loaded.logits(batch)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        loaded.logits(batch)
        done += len(batch)
    return done / (time.perf_counter() - start)


def speed_side_by_side(models: dict[str, LoadedModel], seconds: float = SPEED_SECONDS,
                       batches: tuple[int, ...] = SPEED_BATCHES) -> dict:
    """Median images/s of each model at each batch size over three alternating rounds (a shared machine's load
    drifts: alternating puts both under the same)."""
    shape = next(iter(models.values())).input_shape
    blank = torch.randint(0, 256, (max(batches), *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    result: dict = {}
    for size in batches:
        timings: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(3):
            for name, loaded in models.items():
                timings[name].append(images_per_s(loaded, blank[:size], seconds / 3))
        result[f"batch_{size}"] = {name: round(statistics.median(values), 1) for name, values in timings.items()}
        result[f"batch_{size}"]["int8_speedup"] = round(result[f"batch_{size}"]["int8"] / result[f"batch_{size}"]["fp32"], 2)
    return result
