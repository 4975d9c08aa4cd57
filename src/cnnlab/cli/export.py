"""`cnnlab export`: a trained run as ONNX or TorchScript, with its preprocessing metadata, checked against PyTorch."""

import json
from typing import Optional

import typer

from cnnlab.cli.console import console
from cnnlab.inference.quantize_defaults import CALIBRATION_IMAGES, MAX_DROP

EPILOG = (
    "Examples:\n\n  cnnlab export runs/my-run --format onnx --dynamic-batch\n\n"
    "  cnnlab export runs/my-run --format torchscript --out model.torchscript.pt\n\n"
    "  cnnlab export runs/my-run --format onnx --quantize int8   # RUN/export/model.int8.onnx\n\n"
    "  cnnlab predict runs/my-run/export/model.onnx cat.jpg"
)


def export(
    run: str = typer.Argument(..., help="Run directory or checkpoint file."),
    fmt: str = typer.Option("onnx", "--format", help="onnx or torchscript."),
    out: Optional[str] = typer.Option(None, help="Output file (default: RUN/export/model.onnx or .torchscript.pt)."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Let the batch size vary (ONNX)."),
    opset: Optional[int] = typer.Option(None, help="ONNX opset version (default 18)."),
    images: Optional[list[str]] = typer.Option(None, help="Images to verify with (default: the run's test split)."),
    quantize: Optional[str] = typer.Option(None, help="int8: ONNX Runtime static quantization (QDQ, per-channel "
                                           "weights), calibrated on the run's training images, checked against "
                                           "fp32 on its evaluation split."),
    calibration_images: int = typer.Option(CALIBRATION_IMAGES, help="Training images (seeded draw) to calibrate "
                                           "int8 ranges on."),
    max_drop: float = typer.Option(MAX_DROP, help="Fail when int8 loses more top-1 than this (accuracy points)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write the model and `<file>.json` (classes, input size, mean/std, metrics), then check it gives PyTorch's
    top-1 and logits within 1e-4 on real test images (int8: its accuracy, agreement and speed against fp32)."""
    from cnnlab.inference.export import export_model  # torch and onnx load only when the verb runs

    result = export_model(run, fmt, out, dynamic_batch=dynamic_batch, opset=opset, images=images, quantize=quantize,
                          calibration_images=calibration_images, max_drop=max_drop)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    console.print(f"wrote {result['file']}\nwrote {result['metadata']}")
    check = result["verification"]
    if quantize:
        console.print(f"int8 top-1 {100 * check['int8_top1']:.2f}% vs fp32 {100 * check['fp32_top1']:.2f}% on "
                      f"{check['images']:,} {check['split']} images (within {check['max_drop']:g} points) [green]ok[/]")
        return
    console.print(
        f"verified against PyTorch on {check['images']} test images: top-1 agrees on {check['top1_agree']}/"
        f"{check['images']}, max |logit diff| {check['max_abs_diff']:.2e} (tolerance {check['tolerance']:.0e}) [green]ok[/]"
    )
