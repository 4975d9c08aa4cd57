"""Benchmark: how fast the explainer page answers in headless Chromium, for SimpleCNN (a run trained for a few steps
on the packaged sample, 32x32) and ResNet-18 (random weights, 224x224).

For each model the explainer runs on 127.0.0.1 in this process; a real Chromium opens the page (until the layers,
filters and test images are drawn), picks a test image (until every layer's maps, the probabilities and the
Grad-CAM are drawn), then clicks a unit of a conv layer and of a pooling layer (until the field box and the arithmetic
are drawn). Each is timed --rounds times (a fresh page each round, a different image, so no trace is reused); the
median and the largest are reported. --screenshots DIR saves one page per model after its clicks.

    python bench/explain.py --rounds 5 --out bench/results/explain.json --screenshots docs
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from playwright.sync_api import sync_playwright

from cnnlab.serve.explainer import create_explainer_app
from cnnlab.serve.server import running


def train_run(out: Path) -> Path:
    """A simplecnn run on the packaged CIFAR-10 sample, a few steps (speed does not depend on accuracy)."""
    from cnnlab.train.fit import fit

    return fit(data="sample", out=str(out), name="bench-explain", epochs=1, max_steps=30).run_dir


def timed(action, wait) -> float:
    """Seconds from the action until `wait` returns."""
    start = time.perf_counter()
    action()
    wait()
    return time.perf_counter() - start


def click_unit(page, layer: dict, channel: int) -> float:
    """Click the middle of a tile of the layer; seconds until the page shows that unit."""
    selector = f'.layer[data-index="{layer["index"]}"] canvas.tile[data-channel="{channel}"]'
    return timed(lambda: page.click(selector, position={"x": 24, "y": 24}),
                 lambda: page.wait_for_selector(f'#unitwhere[data-layer="{layer["index"]}"][data-channel="{channel}"]'))


def measure(browser, source: str, rounds: int, shot: Path | None) -> dict:
    """The page's timings for one model."""
    app_start = time.perf_counter()
    app = create_explainer_app(source)
    build = time.perf_counter() - app_start
    times: dict[str, list[float]] = {"load": [], "image": [], "conv_click": [], "pool_click": []}
    with running(app) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/")
        page.wait_for_selector("body[data-loaded]")
        info = page.evaluate("fetch('/model').then(r => r.json())")
        page.close()
        convs = [layer for layer in info["layers"] if layer["type"] == "Conv2d" and layer["maps"]]
        pools = [layer for layer in info["layers"] if "Pool" in layer["type"] and layer["maps"]]
        problems = []
        for round_ in range(rounds):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            times["load"].append(timed(lambda page=page: page.goto(url + "/"),
                                       lambda page=page: page.wait_for_selector("body[data-loaded]")))
            thumb = page.locator("#images img").nth(round_ + 1)
            times["image"].append(timed(thumb.click, lambda page=page: page.wait_for_selector("body[data-ready]")))
            times["conv_click"].append(click_unit(page, convs[len(convs) // 2], round_))
            times["pool_click"].append(click_unit(page, pools[0], round_))
            if shot is not None and round_ == rounds - 1:
                click_unit(page, convs[1], 2)
                page.screenshot(path=str(shot))
            page.close()
    summary = {key: {"median_s": round(statistics.median(values), 3), "max_s": round(max(values), 3)}
               for key, values in times.items()}
    return {"model": info["name"], "input": info["input"], "layers": len(info["layers"]),
            "explainer_start_s": round(build, 3), **summary, "page_errors": problems}


def main() -> None:
    """Measure both models and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/explain.json"))
    parser.add_argument("--screenshots", type=Path, default=None, help="Folder for explain-<model>.png.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        run = train_run(Path(folder))
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        results = []
        for name, source in (("simplecnn", str(run)), ("resnet18", "resnet18")):
            shot = args.screenshots / f"explain-{name}.png" if args.screenshots else None
            results.append(measure(browser, source, args.rounds, shot))
        browser.close()
    report = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "platform": platform.platform(), "note": "shared with other jobs; run under nice -n 19"},
              "rounds": args.rounds, "models": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
