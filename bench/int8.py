"""Benchmark: int8 against fp32 for trained runs: `cnnlab export RUN --format onnx --quantize int8` on each, into a
scratch folder (the runs are only read), its figures gathered: top-1 of both on the run's evaluation split (its test
split when it has one: CIFAR-10's full 10,000), top-1 agreement, images/s of each at batch 1 and 64 (ONNX Runtime,
its default threads, three alternating rounds, median).

    nice -n 19 python bench/int8.py /work/runs/fast94 /work/runs/r18c --out bench/results/int8.json
"""

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

from cnnlab.inference.export import export_model
from cnnlab.inference.quantize_defaults import CALIBRATION_IMAGES, MAX_DROP


def main() -> None:
    """Export each run as int8, keep what its check measured, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--calibration-images", type=int, default=CALIBRATION_IMAGES)
    parser.add_argument("--out", type=Path, default=Path("bench/results/int8.json"))
    parser.add_argument("--notes", default="", help="conditions of this measurement, kept in the JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for run in args.runs:
            result = export_model(run, "onnx", Path(folder) / f"{run.name}.int8.onnx", quantize="int8",
                                  calibration_images=args.calibration_images, max_drop=100.0)  # report, not refuse
            check = result["verification"]
            rows.append({"run": str(run), "architecture": result["model"]["architecture"],
                         "input": result["model"]["input_shape"], "quantization": result["quantization"],
                         **{key: check[key] for key in ("split", "images", "fp32_top1", "int8_top1", "drop_points",
                                                        "top1_agreement", "images_per_s")},
                         "within_default_tolerance": check["drop_points"] <= MAX_DROP})
            print(json.dumps(rows[-1], indent=2), flush=True)
    import onnxruntime

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": rows, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                             "onnxruntime": onnxruntime.__version__},
                                    "notes": args.notes}, indent=2) + "\n")


if __name__ == "__main__":
    main()
