"""The course's section 8 measured: ImageNet weights against training from scratch, on 100 training images per class,
with the same wall-time budget for every way of training.

Four ways, each seed drawing its own training images (100 per class, fewer where a class has too few) and 20 more
per class as the per-epoch validation split:
- frozen_head: EfficientNet-Lite0 with its ImageNet weights, backbone frozen, a new head (Adam 1e-3, cosine: the
  course's recipe), no augmentation, so the epochs run on cached backbone features.
- fine_tuned: frozen_head's run, then its last stages unfrozen (the first 6 of EfficientNet's 7 stay frozen, as
  `cnnlab train` does for a folder of photos) with its head kept, at Adam 1e-4, flip and crop, for as many epochs
  as the budget has left after frozen_head's run.
- scratch: the same network without the weights, as many epochs as the budget allows.
- simplecnn: SimpleCNN from scratch at the size cnnlab gives it for the data (the images' own size up to 64 px), as
  many epochs as the budget allows.
EfficientNet runs at its weights' input size (224). Every way's epochs are sized from a short timing run of it (one
per dataset) to fill the budget; the JSON has each run's measured wall time. Accuracy is on the whole test split with
the last epoch's weights (no selection on the test images), in the run's precision.

    tar -xzf ../shared/datasets/cifar10-jpeg.tar.gz -C /tmp/cifarL
    python bench/imagenet_transfer.py --dataset cifar10=/tmp/cifarL --dataset elpv=/tmp/elpv/tree
"""

import argparse
import hashlib
import json
import math
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from cnnlab.data.decode import decode_files
from cnnlab.data.loader import normalize
from cnnlab.evaluation.metrics import class_report
from cnnlab.inference.loaded import LoadedModel, load_model, pretrained_model
from cnnlab.run.directory import RunDir
from cnnlab.train.fit import fit
from cnnlab.train.frozen_features import Head, hash_backbone
from cnnlab.train.validation import predict_logits

NET = "efficientnet_lite0"
VAL_PER_CLASS = 20
FROZEN_EPOCHS = 10
TUNE_LR = 1e-4  # a tenth of the head's: the pretrained stages move little
PROBE_STEPS = 6


def link(files: list[Path], folder: Path) -> None:
    """Symlink files into a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        (folder / file.name).symlink_to(file.resolve())


def draw(data: Path, per_class: int, seed: int, into: Path) -> Path:
    """into/train (a seeded sample of `per_class` training images per class, fewer where the class lacks them) and
    into/val (VAL_PER_CLASS others), links to data/train."""
    rng = random.Random(seed)
    for folder in sorted((data / "train").iterdir()):
        files = sorted(folder.iterdir())
        rng.shuffle(files)
        link(files[:VAL_PER_CLASS], into / "val" / folder.name)
        link(files[VAL_PER_CLASS : VAL_PER_CLASS + per_class], into / "train" / folder.name)
    return into


def native_side(data: Path) -> int:
    """The short side of the dataset's first training image."""
    from PIL import Image

    first = next(next((data / "train").iterdir()).iterdir())
    with Image.open(first) as image:
        return min(image.size)


def ways(side: int) -> dict[str, dict]:
    """Each way's settings, less `epochs` (and `pretrained` for fine_tuned: frozen_head's run of the seed); the
    length of frozen_head, which the budget does not set."""
    size = pretrained_model(NET).record.image_size
    imagenet = dict(model=NET, pretrained="imagenet", image_size=size)
    return {
        "frozen_head": dict(imagenet, freeze="backbone", flip=False, crop_padding=0, epochs=FROZEN_EPOCHS),
        "fine_tuned": dict(model=NET, image_size=size, keep_head=True, freeze="6", lr=TUNE_LR),
        "scratch": dict(model=NET, image_size=size),
        "simplecnn": dict(model="simplecnn", image_size=min(side, 64)),
    }


def trained(data: Path, out: Path, name: str, seed: int, settings: dict) -> dict:
    """One run: its wall time (decoding and set-up included), epochs and per-epoch times."""
    started = time.perf_counter()
    result = fit(data=str(data), out=str(out), name=name, seed=seed, batch_size=32, **settings)
    wall = time.perf_counter() - started
    rows = RunDir(result.run_dir).read_metrics()
    return {"run": str(result.run_dir), "wall_seconds": round(wall, 1), "epochs": len(rows),
            "first_train_seconds": rows[0]["epoch_time"], "first_val_seconds": rows[0]["eval_time"],
            "train_images": sum(1 for folder in (data / "train").iterdir() for _ in folder.iterdir()),
            "epoch_seconds": [round(r["epoch_time"] + r["eval_time"], 2) for r in rows],
            "val_acc": rows[-1]["val_acc"]}


def sized(probe: dict, images: int, budget: float) -> int:
    """Epochs that fit the budget (at least one), from the probe: its set-up time, then per epoch its time per step
    over a full epoch's steps plus its validation."""
    steps = min(PROBE_STEPS, math.ceil(probe["train_images"] / 32))
    train, validation = probe["first_train_seconds"], probe["first_val_seconds"]
    epoch = train / steps * math.ceil(images / 32) + validation
    return max(1, int((budget - (probe["wall_seconds"] - train - validation)) // epoch))


class Features(nn.Module):
    """A model's backbone alone."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(images)


class TestSet:
    """A dataset's whole test split, decoded once at each size a run asks for."""

    def __init__(self, data: Path) -> None:
        folders = sorted((data / "test").iterdir())
        self.files = [file for folder in folders for file in sorted(folder.iterdir())]
        self.labels = torch.tensor([i for i, folder in enumerate(folders) for _ in folder.iterdir()])
        self.decoded: dict[tuple[int, int], torch.Tensor] = {}
        self.features: dict[str, torch.Tensor] = {}

    def images(self, channels: int, size: int) -> torch.Tensor:
        if (channels, size) not in self.decoded:
            images, kept, _ = decode_files(self.files, channels=channels, size=size)
            assert len(kept) == len(self.files), "an unreadable test image"
            self.decoded[(channels, size)] = images
        return self.decoded[(channels, size)]

    def batches(self, loaded: LoadedModel) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        images = self.images(loaded.record.in_chans, loaded.record.image_size)
        for i in range(0, len(images), 64):
            batch = normalize(images[i : i + 64].float(), loaded.record.mean, loaded.record.std)
            yield batch.contiguous(memory_format=torch.channels_last), self.labels[i : i + 64]

    def backbone_features(self, loaded: LoadedModel, dtype: torch.dtype) -> torch.Tensor:
        """`forward_features` of the test images, computed once for each backbone state (a frozen backbone's is the
        same in every seed's run)."""
        digest = hashlib.blake2b(digest_size=16)
        hash_backbone(loaded.model, digest)
        key = digest.hexdigest()
        if key not in self.features:
            self.features[key], _ = predict_logits(Features(loaded.model), self.batches(loaded), dtype)
        return self.features[key]

    def score(self, run: str, dtype: torch.dtype, frozen: bool) -> dict:
        """Accuracy and balanced accuracy of a run's last checkpoint, in `dtype`; with a `frozen` backbone, its head
        on the backbone's features."""
        loaded = load_model(Path(run) / "checkpoints" / "last.safetensors")
        model = loaded.model.to(memory_format=torch.channels_last)
        started = time.perf_counter()
        if frozen:
            features = self.backbone_features(loaded, dtype)
            batches = ((features[i : i + 256], self.labels[i : i + 256]) for i in range(0, len(features), 256))
            logits, labels = predict_logits(Head(model), batches, dtype)
        else:
            logits, labels = predict_logits(model, self.batches(loaded), dtype)
        report = class_report(logits.float(), labels)
        return {"test_acc": report.accuracy, "test_balanced_acc": report.balanced_accuracy,
                "test_seconds": round(time.perf_counter() - started, 1)}


def summary(runs: dict[str, list[dict]]) -> dict:
    """Mean ± std of each way's test accuracy over the seeds."""
    out = {}
    for way, rows in runs.items():
        accs = [r["test_acc"] for r in rows]
        out[way] = {"mean_test_acc": statistics.mean(accs), "std_test_acc": statistics.stdev(accs) if len(accs) > 1
                    else 0.0, "test_accs": accs, "mean_wall_seconds": statistics.mean(r["wall_seconds"] for r in rows),
                    "epochs": [r["epochs"] for r in rows]}
    return out


def bench_dataset(name: str, data: Path, args: argparse.Namespace, work: Path,
                  progress: Callable[[dict], None]) -> dict:
    """Probe every way once, then run them all for each seed, scored on the test split; `progress` gets the
    dataset's results after every seed."""
    test = TestSet(data)
    plans = ways(native_side(data))
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    first = draw(data, args.per_class, 0, work / f"{name}-probe")
    images = sum(1 for folder in (first / "train").iterdir() for _ in folder.iterdir())
    probes = {way: trained(first, work / "probes", f"{name}-{way}", 0, plan | dict(epochs=1, max_steps=PROBE_STEPS))
              for way, plan in plans.items() if way not in ("frozen_head", "fine_tuned")}
    probes["fine_tuned"] = trained(first, work / "probes", f"{name}-fine_tuned", 0,
                                   plans["fine_tuned"] | dict(pretrained="imagenet", keep_head=False, epochs=1,
                                                              max_steps=PROBE_STEPS))
    counts = torch.bincount(test.labels)
    report = {"data": str(data), "train_images_per_seed": images, "test_images": len(test.files),
              "classes": sorted(p.name for p in (data / "test").iterdir()),
              "majority_test_acc": (counts.max() / counts.sum()).item(), "probes": probes}
    runs: dict[str, list[dict]] = {way: [] for way in plans}
    for seed in range(args.seeds):
        folder = draw(data, args.per_class, seed, work / f"{name}-seed{seed}")
        for way, plan in plans.items():
            if way == "frozen_head":
                settings = plan
            elif way == "fine_tuned":
                frozen = runs["frozen_head"][-1]
                left = args.budget - frozen["wall_seconds"]
                settings = plan | dict(pretrained=frozen["run"], epochs=sized(probes[way], images, left))
            else:
                settings = plan | dict(epochs=sized(probes[way], images, args.budget))
            row = trained(folder, work / "runs", f"{name}-{way}-seed{seed}", seed, settings)
            if way == "fine_tuned":  # its budget covers the frozen run it starts from
                row["wall_seconds"] = round(row["wall_seconds"] + frozen["wall_seconds"], 1)
            runs[way].append(row | test.score(row["run"], dtype, frozen=way == "frozen_head"))
            print(json.dumps({"dataset": name, "way": way, "seed": seed} | {k: runs[way][-1][k] for k in
                             ("test_acc", "wall_seconds", "epochs")}), flush=True)
        progress(report | {"seeds_done": seed + 1, "summary": summary(runs), "runs": runs})
    return report | {"seeds_done": args.seeds, "summary": summary(runs), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", required=True, metavar="NAME=FOLDER",
                        help="an image folder with train/ and test/ class folders (repeat for several)")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--budget", type=float, default=90.0, help="wall seconds of each budgeted run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fp32-test", dest="bf16", action="store_false",
                        help="score the test split in fp32 (default: bf16, as the runs validate on this CPU)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/imagenet_transfer.json"))
    args = parser.parse_args()
    report: dict = {
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpu_threads": os.cpu_count(),
                    "torch_threads": torch.get_num_threads()},
        "setup": {"per_class": args.per_class, "val_per_class": VAL_PER_CLASS, "budget_seconds": args.budget,
                  "seeds": args.seeds, "batch_size": 32, "network": NET, "frozen_epochs": FROZEN_EPOCHS,
                  "fine_tune_lr": TUNE_LR, "test_precision": "bf16" if args.bf16 else "fp32"},
        "datasets": {},
    }
    started = time.perf_counter()

    def write(name: str, results: dict) -> None:
        report["datasets"][name] = results
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        report["load_average_at_end"] = os.getloadavg()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    with tempfile.TemporaryDirectory() as scratch:
        os.environ.setdefault("CNNLAB_CACHE", str(Path(scratch) / "cache"))
        for spec in args.dataset:
            name, folder = spec.split("=", 1)
            results = bench_dataset(name, Path(folder), args, Path(scratch),
                                    lambda partial, name=name: write(name, partial))
            write(name, results)
    print(json.dumps({name: results["summary"] for name, results in report["datasets"].items()}, indent=2))


if __name__ == "__main__":
    main()
