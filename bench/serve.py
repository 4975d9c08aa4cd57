"""Benchmark: does the server keep up with its engine? Images/s through `cnnlab serve` under an external load
generator, against images/s of the same engine alone, on the same images, in the same run.

For each --case RUN IMAGES (a run, and a folder of real JPEGs it takes):
- the engine alone: the engine `cnnlab serve` would use (--engine, --threads; loaded the server's way, so an ONNX
  export made here is the one the server reuses), on the folder's images decoded once, in batches of --concurrency
  images (the most one-image requests at that concurrency can form), timed for --engine-seconds;
- the server: `cnnlab serve RUN` in a subprocess on 127.0.0.1, loaded by Debian's `wrk` (one thread, --concurrency
  connections, bench/serve_multipart.lua: one JPEG per request, multipart) for --seconds, with --requests answers as
  a safety bound (wrk's own report gives no rate for a run cut short by it: such a run is refused); then its
  /metrics say the batches it ran.
Engine, server, engine, server, engine in turn (--rounds server runs), so that a drift of the shared machine's load
falls on both; medians are reported, and the ratio of the medians. The load average is recorded before and after.
With --thread-too, the same runs against the server with --engine-thread (the model's batches computed in a thread of
its process, as before it had a process of its own). With --ceiling, the same runs against bench/serve_ceiling.py (the server with its model's work replaced by a constant
answer): what the HTTP side alone answers on this machine, which bounds the ratio whatever the engine does.

    nice -n 19 python bench/serve.py --case runs/simple32 data32/test --case runs/resnet224 data224/test \
        --out bench/results/serve.json
"""

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import httpx
import torch
from prometheus_client.parser import text_string_to_metric_families

from cnnlab.data.decode import decode_image
from cnnlab.serve.engine import load_engine
from cnnlab.serve.server import is_ready
from cnnlab.serve.threads import engine_threads

HOST = "127.0.0.1"  # loopback only
LUA = Path(__file__).with_name("serve_multipart.lua")
CEILING = Path(__file__).with_name("serve_ceiling.py")


def free_port() -> int:
    """A port nobody listens on now, on the loopback interface."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (what `uptime` says)."""
    return [float(value) for value in Path("/proc/loadavg").read_text().split()[:3]]


def jpeg_files(folder: Path, count: int) -> list[Path]:
    """The first `count` JPEGs under `folder`, in a fixed order."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:count]
    if not files:
        raise SystemExit(f"no JPEG under {folder}")
    return files


def engine_alone(loaded, images: torch.Tensor, batch: int, seconds: float) -> float:  # noqa: ANN001 (LoadedModel)
    """Images/s of the engine on batches of `batch` of these decoded images, over about `seconds`."""
    batches = [images[i : i + batch] for i in range(0, len(images) - batch + 1, batch)] or [images]
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        chunk = batches[(done // batch) % len(batches)]
        loaded.logits(chunk)
        done += len(chunk)
    return done / (time.perf_counter() - start)


class Server:
    """`cnnlab serve RUN` in a subprocess on a free loopback port, until stopped."""

    def __init__(self, run: Path, engine: str, threads: int, log: Path, ceiling: bool = False,
                 flags: tuple[str, ...] = ()) -> None:
        """Start it, with `flags` added; with `ceiling`, bench/serve_ceiling.py's server, whose model answers at no
        cost."""
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = log.open("w")
        serve = [str(CEILING)] if ceiling else ["-m", "cnnlab", "serve"]
        command = [sys.executable, *serve, str(run), "--host", HOST, "--port", str(self.port),
                   "--engine", engine, "--threads", str(threads), *flags]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float) -> None:
        """Until /ready answers 200 (the model loaded and warmed up)."""
        deadline = time.monotonic() + timeout
        while not is_ready(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not get ready; its log: {self.log.name}")
            time.sleep(0.5)

    def metric(self, name: str) -> float:
        """The sum of a metric's samples, from /metrics."""
        text = httpx.get(f"{self.url}/metrics", timeout=60).text
        return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                   if sample.name == name)

    def batches(self) -> tuple[float, float]:
        """(batches run, images in them) so far."""
        return self.metric("cnnlab_batch_size_count"), self.metric("cnnlab_batch_size_sum")

    def wait_idle(self, timeout: float) -> None:
        """Until the requests wrk left in flight when it stopped are answered (the /metrics request itself aside),
        so that they do not run while the engine is timed alone."""
        deadline = time.monotonic() + timeout
        while self.metric("cnnlab_requests_in_flight") > 1 and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM, and wait for it to finish."""
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def load_with_wrk(server: Server, listing: Path, concurrency: int, requests: int, seconds: float) -> dict:
    """One wrk run against the server: requests, errors, images/s, latency percentiles, batches formed."""
    before = server.batches()
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(LUA),
               server.url, "--", str(listing), str(requests)]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    server.wait_idle(120)
    result = json.loads(next(line for line in reversed(output.splitlines()) if line.startswith("{")))
    if result["requests"] >= requests:  # wrk's duration is its -d however early its threads stopped: no rate then
        raise SystemExit(f"{requests} answers before {seconds:g} s: raise --requests (a bound that must not be met)")
    after = server.batches()
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    batches, images = after[0] - before[0], after[1] - before[1]
    return {
        "requests": result["requests"],
        "seconds": round(result["duration_us"] / 1e6, 2),
        "images_per_s": round(result["requests"] / (result["duration_us"] / 1e6), 1),
        "errors": errors,
        "error_kinds": {k: result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors",
                                               "timeouts") if result[k]},
        "latency_p50_ms": round(result["p50_us"] / 1000, 1),
        "latency_p90_ms": round(result["p90_us"] / 1000, 1),
        "latency_p99_ms": round(result["p99_us"] / 1000, 1),
        "batches_run": int(batches),
        "mean_batch": round(images / batches, 2) if batches else 0.0,
    }


def bench_case(run: Path, folder: Path, args: argparse.Namespace, scratch: Path) -> dict:
    """Engine alone and server, in turn, for one run on its images."""
    files = jpeg_files(folder, args.images)
    listing = scratch / f"{run.name}-images.txt"
    listing.write_text("".join(f"{path}\n" for path in files))
    loaded, engine, _ = load_engine(run, args.engine, args.threads)
    record = loaded.record
    images = torch.stack([decode_image(path.read_bytes(), channels=record.in_chans, size=record.image_size)
                          for path in files])
    for _ in range(3):  # the first calls' allocations
        loaded.logits(images[: args.concurrency])
    engine_runs = [engine_alone(loaded, images, args.concurrency, args.engine_seconds)]
    server_runs = []
    server = Server(run, args.engine, args.threads, scratch / f"{run.name}-server.log")
    try:
        server.wait_ready(300)
        load_with_wrk(server, listing, args.concurrency, args.requests, 5)  # connections and first batches
        for _ in range(args.rounds):
            server_runs.append(load_with_wrk(server, listing, args.concurrency, args.requests, args.seconds))
            engine_runs.append(engine_alone(loaded, images, args.concurrency, args.engine_seconds))
    finally:
        server.stop()
    thread_runs = server_alone(Server(run, args.engine, args.threads, scratch / f"{run.name}-thread.log",
                                      flags=("--engine-thread",)), listing, args) if args.thread_too else []
    ceiling_runs = server_alone(Server(run, args.engine, args.threads, scratch / f"{run.name}-ceiling.log",
                                       ceiling=True), listing, args) if args.ceiling else []
    server_rate = statistics.median(r["images_per_s"] for r in server_runs)
    engine_rate = statistics.median(engine_runs)
    return {
        "model": record.architecture,
        "input": list(record.input_shape),
        "run": str(run),
        "images": len(files),
        "mean_jpeg_bytes": round(sum(p.stat().st_size for p in files) / len(files)),
        "engine": engine,
        "threads": args.threads,
        "concurrency": args.concurrency,
        "engine_images_per_s": round(engine_rate, 1),
        "server_images_per_s": round(server_rate, 1),
        "ratio": round(server_rate / engine_rate, 3),
        "errors": sum(r["errors"] for r in server_runs),
        "latency_p50_ms": statistics.median(r["latency_p50_ms"] for r in server_runs),
        "latency_p99_ms": statistics.median(r["latency_p99_ms"] for r in server_runs),
        "engine_runs_images_per_s": [round(rate, 1) for rate in engine_runs],
        "server_runs": server_runs,
    } | runs_summary("http_ceiling", "http_ceiling", "ceiling_runs", ceiling_runs, engine_rate) | runs_summary(
        "engine_thread_server", "engine_thread", "engine_thread_runs", thread_runs, engine_rate)


def server_alone(server: Server, listing: Path, args: argparse.Namespace) -> list[dict]:
    """--rounds wrk runs against a server of its own (after one of 5 s that opens the connections and runs the
    first batches), which is stopped after."""
    try:
        server.wait_ready(300)
        load_with_wrk(server, listing, args.concurrency, args.requests, 5)
        return [load_with_wrk(server, listing, args.concurrency, args.requests, args.seconds)
                for _ in range(args.rounds)]
    finally:
        server.stop()


def runs_summary(rate: str, ratio: str, runs_key: str, runs: list[dict], engine_rate: float) -> dict:
    """`{rate}_images_per_s` (the median run), `{ratio}_ratio` (to the engine alone) and the runs themselves; nothing
    for runs not made."""
    if not runs:
        return {}
    median = statistics.median(r["images_per_s"] for r in runs)
    return {f"{rate}_images_per_s": median, f"{ratio}_ratio": round(median / engine_rate, 3), runs_key: runs}


def main() -> None:
    """Bench each case, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=2, action="append", metavar=("RUN", "IMAGES"), required=True, type=Path,
                        help="a run directory and a folder of JPEGs to send it (repeat for several)")
    parser.add_argument("--engine", default="auto", help="the server's --engine (auto: ONNX Runtime when installed)")
    parser.add_argument("--threads", type=int, default=engine_threads(), help="the engine's intra-op threads "
                        "(default: the server's own choice on this machine)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections wrk keeps busy")
    parser.add_argument("--requests", type=int, default=100_000, help="most answers per server run (a safety bound: "
                        "a run that meets it is refused, as wrk then reports no rate)")
    parser.add_argument("--seconds", type=float, default=30.0, help="longest server run (s)")
    parser.add_argument("--engine-seconds", type=float, default=10.0, help="each timing of the engine alone (s)")
    parser.add_argument("--rounds", type=int, default=2, help="server runs per case (an engine timing around each)")
    parser.add_argument("--images", type=int, default=200, help="JPEGs taken from each folder")
    parser.add_argument("--ceiling", action="store_true", help="also time the HTTP side alone: the server with its "
                        "model's work replaced by a constant answer (bench/serve_ceiling.py)")
    parser.add_argument("--thread-too", action="store_true", help="also time the server with --engine-thread (the "
                        "model's batches in a thread of the server's process instead of a process of its own)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/serve.json"))
    parser.add_argument("--notes", default="", help="conditions of this measurement, kept in the JSON")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    load_before = load_average()
    with tempfile.TemporaryDirectory() as scratch:
        cases = [bench_case(run, folder, args, Path(scratch)) for run, folder in args.case]
    import onnxruntime

    def installed(package: str) -> str | None:
        """The package's version, None when it is not installed (uvicorn falls back to h11 and asyncio's loop)."""
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    result = {
        "cases": cases,
        "load_average": {"before": load_before, "after": load_average()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "onnxruntime": onnxruntime.__version__, "uvicorn": installed("uvicorn"),
                    "httptools": installed("httptools"), "uvloop": installed("uvloop"),
                    "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]},
        "command": " ".join(["python", *sys.argv]),
        "notes": args.notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
