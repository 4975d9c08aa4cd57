"""Benchmark: the prediction service under load on loopback (with and without batching), and ONNX Runtime vs
PyTorch eager inference on the CPU.

Serving: `cnnlab serve RUN` runs in a subprocess on 127.0.0.1; a client sends --requests real test images (one per
request) at each --concurrency level, and records requests/s, p50/p99 latency and errors, once with batching and once without
(the server uses PyTorch's default threads). Inference: resnet18 (224x224, 1000 classes) and simplecnn (32x32,
10 classes), untrained, exported to ONNX, timed for --seconds each in ONNX Runtime and in PyTorch eager at the same
batch size and --threads (alternating, three rounds, median reported), outputs compared.

    python bench/serve.py --requests 2000 --concurrency 1 16 --out bench/results/serve.json
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

from cnnlab.inference.export import write_onnx
from cnnlab.inference.exported import OnnxModule
from cnnlab.models import create_model

HOST = "127.0.0.1"  # loopback only


def free_port() -> int:
    """A port nobody listens on now, on the loopback interface."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def train_run(out: Path) -> Path:
    """A simplecnn run on the packaged CIFAR-10 sample (one epoch: serving speed does not depend on accuracy)."""
    from cnnlab.train.fit import fit

    return fit(data="sample", out=str(out), name="bench-serve", epochs=1).run_dir


def test_images(count: int) -> list[bytes]:
    """The bytes of `count` JPEGs from the packaged sample's test split."""
    root = Path(__file__).resolve().parents[1] / "src" / "cnnlab" / "data" / "sample" / "test"
    return [path.read_bytes() for path in sorted(root.rglob("*.jpg"))[:count]]


async def load(url: str, images: list[bytes], requests: int, concurrency: int, timeout: float) -> dict:
    """Send `requests` predictions, `concurrency` at a time; latencies, errors and the wall time."""
    latencies: list[float] = []
    errors: list[str] = []
    queue = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        """Send requests until there are none left."""
        for i in queue:
            start = time.perf_counter()
            try:
                response = await client.post("/predict", files={"file": (f"{i}.jpg", images[i % len(images)])})
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:100]}")
            except httpx.HTTPError as err:
                errors.append(repr(err))
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        batches_before = (await client.get("/health")).json()["batches"]
        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker(client) for _ in range(concurrency))), timeout)
        wall = time.perf_counter() - start
        health = (await client.get("/health")).json()
    batches = health["batches"] - batches_before
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "concurrency": concurrency,
        "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "latency_p50_ms": round(1000 * statistics.median(ordered), 1),
        "latency_p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        "errors": len(errors),
        "first_errors": errors[:3],
        "batches_run": batches,
        "mean_batch": round(len(latencies) / max(batches, 1), 2),
        "largest_batch_since_start": health["largest_batch"],
    }


def serve_under_load(run: Path, batching: bool, args: argparse.Namespace) -> list[dict]:
    """Start `cnnlab serve` in a subprocess, load it at each concurrency level in turn, stop it."""
    port = free_port()
    command = [sys.executable, "-m", "cnnlab", "serve", str(run), "--host", HOST, "--port", str(port),
               "--batching" if batching else "--no-batching"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/health").raise_for_status()
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.5)
        images = test_images(200)
        asyncio.run(load(url, images, 32, 16, args.timeout))  # warm-up
        return [{"batching": batching, **asyncio.run(load(url, images, args.requests, level, args.timeout))}
                for level in args.concurrency]
    finally:
        server.terminate()
        server.wait(30)


def images_per_s(model: torch.nn.Module, batch: torch.Tensor, seconds: float) -> float:
    """Images per second through `model` at this batch size, timed for about `seconds` after a warm-up."""
    with torch.no_grad():
        model(batch)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(batch)
            done += len(batch)
    return done / (time.perf_counter() - start)


def interleaved(models: dict[str, torch.nn.Module], batch: torch.Tensor, seconds: float, rounds: int = 3) -> dict:
    """Median images/s of each model over `rounds` alternating timings (the shared CPU's load drifts meanwhile)."""
    timings: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            timings[name].append(images_per_s(model, batch, seconds / rounds))
    return {f"{name}_images_per_s": round(statistics.median(values), 1) for name, values in timings.items()}


def runtime_vs_eager(name: str, input_shape: tuple[int, int, int], classes: int, batch: int, seconds: float,
                     folder: Path, threads: int) -> dict:
    """ONNX Runtime vs PyTorch eager images/s for one untrained model on the CPU, and how far their outputs differ."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=classes, in_chans=input_shape[0]).eval()
    images = torch.randn(batch, *input_shape)
    path = folder / f"{name}.onnx"
    write_onnx(model, images[:2], path, dynamic_batch=True, opset=18)
    runtime = OnnxModule(path, threads=threads)
    with torch.no_grad():
        difference = float((model(images) - runtime(images)).abs().max())
    return {
        "model": name,
        "input": list(input_shape),
        "batch": batch,
        "threads": threads,
        **interleaved({"pytorch_eager": model, "onnxruntime": runtime}, images, seconds),
        "max_abs_logit_diff": difference,
    }


def main() -> None:
    """Train a small run, load the server with and without batching, time the runtimes, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per serving mode")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="client concurrency levels")
    parser.add_argument("--timeout", type=float, default=600.0, help="limit on one serving mode's load (s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per model and runtime")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for both runtimes")
    parser.add_argument("--run", type=Path, help="run to serve (default: train simplecnn on the sample, 1 epoch)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/serve.json"))
    parser.add_argument("--notes", default="", help="conditions of this measurement, kept in the JSON")
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")  # the library reports progress through the cnnlab logger
    logging.getLogger("cnnlab").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as folder:
        run = args.run or train_run(Path(folder))
        serving = [row for batching in (True, False) for row in serve_under_load(run, batching, args)]
        torch.set_num_threads(args.threads)
        inference = [runtime_vs_eager("simplecnn", (3, 32, 32), 10, 64, args.seconds, Path(folder), args.threads),
                     runtime_vs_eager("resnet18", (3, 224, 224), 1000, 8, args.seconds, Path(folder), args.threads)]
    import onnxruntime

    result = {
        "serving": serving,
        "inference_cpu": inference,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "notes": args.notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
