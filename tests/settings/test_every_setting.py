"""Every setting, for every kind of data source, either changes what a run is made of (or what it does), or is
refused with an error that names it. No setting is accepted and then ignored.

For each source the walk changes one setting at a time (from `a` to `b`, with `context` settings that it needs)
and compares two fingerprints: first what `assemble` builds (data, model, loaders, optimizer, schedule, ...), and
when that is the same, the outcome of a short training run (metric rows, final weights, run directory).
"""

import csv
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import cifar as tv_cifar

from cnnlab.data import sources
from cnnlab.data.loader import MemoryBatches
from cnnlab.data.pipeline import load_data
from cnnlab.errors import SettingError
from cnnlab.settings import Settings
from cnnlab.train import distributed
from cnnlab.train import trainer as trainer_module
from cnnlab.train.assemble import assemble
from cnnlab.train.defaults import concrete
from cnnlab.train.fit import fit

from conftest import write_colour_images

RUN = "<pretrained run>"  # replaced by the path of a run trained in the fixture
CASES = {  # setting: (a, b, context); a None `a` means the base value
    "data": (None, "<other folder>", {}),
    "data_dir": (None, "<other cifar>", {}),
    "download": (None, True, {}),
    "val_split": (None, 0.3, {}),
    "labels": (None, "<labels>", {}),
    "path_column": (None, "other", {"labels": "<labels>"}),
    "label_column": (None, "label2", {"labels": "<labels>"}),
    "split_column": (None, "part", {"labels": "<labels>"}),
    "label_separator": (None, "|", {"labels": "<labels>", "label_column": "tags"}),
    "multi_label": (None, True, {"labels": "<labels>"}),
    "holdout": (None, 0.3, {}),
    "fold": (None, "1/2", {}),
    "image_size": (None, 12, {}),
    "stream": (None, "<flip>", {}),
    "workers": (None, 1, {}),
    "model": (None, "simplecnn:kernel_size=5", {}),
    "pretrained": (None, RUN, {}),
    "freeze": (None, "backbone", {}),
    "fine_tune": (None, 1, {}),
    "batchnorm": (None, "fixed", {}),
    "cache_features": (None, False, {"freeze": "backbone", "flip": False, "crop_padding": 0}),
    "lr_mult_backbone": (None, 0.5, {}),
    "keep_head": (None, True, {"pretrained": RUN}),
    "preprocess": (None, "weights", {"pretrained": RUN}),
    "epochs": (None, 3, {}),
    "max_steps": (None, 2, {}),
    "batch_size": (None, 6, {}),
    "optimizer": (None, "sgd", {}),
    "lr": (None, 0.01, {}),
    "momentum": (None, 0.5, {}),
    "nesterov": (None, True, {"optimizer": "sgd"}),
    "weight_decay": (None, 0.01, {}),
    "muon_lr": (None, 0.1, {"optimizer": "muon"}),
    "muon_momentum": (None, 0.9, {"optimizer": "muon"}),
    "muon_normalize": (None, True, {"optimizer": "muon"}),
    "bias_lr_mult": (None, 2.0, {}),
    "schedule": (None, "step", {}),
    "warmup_epochs": (None, 1.0, {}),
    "step_size": (None, 1, {"schedule": "step"}),
    "gamma": (None, 0.5, {"schedule": "step", "step_size": 1}),
    "label_smoothing": (None, 0.1, {}),
    "grad_clip": (None, 0.01, {}),
    "ema": (None, 0.9, {}),
    "class_weights": (None, "auto", {}),
    "sampler": (None, "balanced", {}),
    "crop_padding": (None, 2, {}),
    "pad_mode": (None, "reflect", {}),
    "flip": (None, False, {}),
    "alternate_flip": (None, True, {}),
    "rotation": (None, 10.0, {}),
    "jitter": (None, 0.3, {}),
    "cutout": (None, 4, {}),
    "erasing": (None, 0.5, {}),
    "policy": (None, "trivialaugment", {}),
    "mixup": (None, 0.2, {}),
    "cutmix": (None, 1.0, {}),
    "progressive_size": (8, 12, {"progressive_epochs": 1}),
    "progressive_epochs": (1, 2, {"progressive_size": 8, "epochs": 3}),
    "device": (None, "cuda", {}),
    "precision": (None, "fp16", {}),  # auto may choose bf16 or fp32 on a CPU, never fp16
    "channels_last": (None, False, {}),
    "compile": (None, True, {}),
    "seed": (None, 1, {}),
    "tta": (None, "flip", {}),
    "patience": (None, 1, {"lr": 1e-9, "epochs": 3}),
    "out": (None, "<other out>", {}),
    "name": (None, "other", {}),
    "recipe": (None, "exercise1", {}),
    "devices": (None, 2, {}),
    "sync_bn": (None, True, {}),
    "dist_timeout": (None, 60.0, {}),
    "checkpoint_every": (None, 1, {}),
}
ONE_PROCESS = {"sync_bn", "dist_timeout"}
NAMED_ONLY = {"data_dir", "download"}
LABELS = {"labels", "path_column", "label_column", "split_column", "label_separator", "multi_label"}  # refused by
# name, or by the labels they need
REFUSED = {  # each source's settings that cannot apply to it (besides `device` cuda on a machine without CUDA)
    "sample": ONE_PROCESS | NAMED_ONLY | LABELS | {"val_split", "workers"},
    "folder": ONE_PROCESS | NAMED_ONLY | {"val_split", "workers"},
    "split": ONE_PROCESS | NAMED_ONLY | {"workers"},
    "stream": ONE_PROCESS | NAMED_ONLY | {"alternate_flip", "pad_mode", "cache_features"},  # the workers crop
    "cifar10": ONE_PROCESS | LABELS | {"val_split", "stream", "workers"},
}
GOES_WITH = {"data": "data_dir", "stream": "workers"}
TIMING = ("epoch_time", "eval_time", "images_per_s")


def write_cifar(folder: Path, seed: int) -> None:
    """A made-up CIFAR-10 copy in torchvision's pickle layout: 3 classes, 20 training and 9 test images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    names = [name for name, _ in tv_cifar.CIFAR10.train_list] + ["test_batch"]
    for name in names:
        count = 3 if name == "test_batch" else 4
        labels = [i % 3 for i in range(count)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8), "labels": labels}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["blue", "green", "red"]}, f)


def write_labels(folder: Path) -> None:
    """labels.csv for a folder's images: a path column and a second one in reverse order, labels named apart from
    the sub-folders and a second labelling, a split column, and a column of several labels (|-separated)."""
    files = sorted(path.relative_to(folder) for path in folder.rglob("*.png"))
    with open(folder / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "other", "label", "label2", "part", "tags"])
        for i, (path, other) in enumerate(zip(files, reversed(files))):
            writer.writerow([path, other, f"c_{path.parent.name}", f"k{i % 3}", "val" if i % 4 == 0 else "train",
                             f"c_{path.parent.name}|k{i % 2}"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The data sources (tiny, so that a training run takes a second) and a run to start from."""
    root = tmp_path_factory.mktemp("walk")
    for split, count, seed in (("train", 6, 1), ("test", 3, 2)):
        write_colour_images(root / "folder" / split, per_class=count, seed=seed, size=16)
    write_colour_images(root / "single", per_class=8, seed=3, size=16)
    write_colour_images(root / "other", per_class=8, seed=4, size=16)
    write_cifar(root / "cifar" / "cifar-10-batches-py", 5)
    for folder in ("folder", "single"):
        write_labels(root / folder)
    write_cifar(root / "cifar2" / "cifar-10-batches-py", 6)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_CACHE", str(root / "cache"))
        run = fit(data=str(root / "single"), image_size=24, epochs=1, batch_size=8, out=str(root / "runs"),
                  name="source").run_dir
    return {"root": root, "run": str(run)}


def base_settings(source: str, world: dict) -> dict:
    """The settings a source's walk starts from."""
    root = world["root"]
    common = {"epochs": 2, "batch_size": 4, "out": str(root / "out"), "name": "walk"}
    return {
        "sample": {**common, "data": "sample"},
        "folder": {**common, "data": str(root / "folder")},
        "split": {**common, "data": str(root / "single")},
        "stream": {**common, "data": str(root / "single"), "stream": True, "workers": 0},
        "cifar10": {**common, "data": "cifar10", "data_dir": str(root / "cifar")},
    }[source]


class Recorder:
    """What a run asked of torchvision and of the process launcher."""

    def __init__(self, patch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple] = []
        real_call = sources.torchvision_call

        def torchvision_call(cls, name, root, train, download):
            self.calls.append(("torchvision", name, download))
            return real_call(cls, name, root, train, False)  # nothing to download: the files are there

        def launch(devices, fn, *args):
            self.calls.append(("launch", devices))
            return [None]

        real_save = trainer_module.save_checkpoint

        def save_checkpoint(path, sections, optimizer, meta):
            self.calls.append(("checkpoint", path.name, meta["epoch"], meta.get("position")))
            return real_save(path, sections, optimizer, meta)

        patch.setattr(sources, "torchvision_call", torchvision_call)
        patch.setattr(distributed, "launch", launch)
        patch.setattr(trainer_module, "save_checkpoint", save_checkpoint)


def loader_description(loader) -> tuple:
    """What a DeviceLoader does, in comparable values."""
    batches = loader.batches
    steps = tuple((name, tuple(sorted(step.keywords.items()))) for name, step in loader.augment.steps) \
        if loader.augment else ()
    shape = (type(batches).__name__, batches.batch_size, len(batches))
    memory = (batches.shuffle, batches.drop_last, batches.sample_weights is not None, batches.flip_bits is not None) \
        if isinstance(batches, MemoryBatches) else (batches.loader.num_workers,)
    mixing = (loader.policy.name if loader.policy else None, tuple(loader.mixer.names) if loader.mixer else ())
    return shape, memory, steps, mixing, loader.channels_last, loader.mean, loader.std


def optimisation_description(parts, epoch: int) -> tuple:
    """The optimizer and schedule of the phase starting at `epoch`."""
    optimizer, scheduler = parts.optimisation(epoch)
    groups = tuple(tuple(sorted((k, str(v)) for k, v in group.items() if k != "params"))
                   for group in optimizer.param_groups)
    factors = tuple(round(scheduler.lr_lambdas[0](step), 6) for step in range(parts.total_steps + 1))
    return type(optimizer).__name__, groups, factors


def assembly(settings: Settings, recorder: Recorder) -> object:
    """What the settings build: a comparable description of the data and the parts, or the setting refused."""
    recorder.calls.clear()
    try:
        settings = concrete(settings)
        data = load_data(settings)
        parts = assemble(settings, data)
    except SettingError as err:
        return ("refused", err.setting)
    model = parts.model
    images = data.train.images if hasattr(data.train, "images") else data.train.labels
    first_images, first_labels = next(iter(parts.train_loader))
    described = {
        "data": (data.name, tuple(data.classes), len(data.train), len(data.val), data.input_shape, data.mean,
                 data.std, data.streamed, float(images.double().sum()), tuple(recorder.calls)),
        "record": parts.record,
        "model": tuple((name, tuple(p.shape), p.requires_grad, round(float(p.detach().double().sum()), 6),
                        p.is_contiguous(memory_format=torch.channels_last) and p.ndim == 4)
                       for name, p in model.named_parameters()),
        "runtime": (parts.dtype, str(parts.device), type(parts.step_model).__name__, parts.scaler.is_enabled(),
                    parts.ema is not None, parts.epochs, parts.total_steps),
        "loaders": (loader_description(parts.train_loader.loader), loader_description(parts.val_loader.loader)),
        "loss": tuple(sorted((k, str(v)) for k, v in parts.loss.keywords.items())),
        "batch": (round(float(first_images.double().sum()), 3), str(first_labels.tolist())),
        "phases": tuple(optimisation_description(parts, epoch) for epoch in sorted({0, settings.model.fine_tune})),
        "features": None if parts.features is None else (len(parts.features.train_loader),
                                                         tuple(parts.features.train_loader.loader.batches.images.shape)),
    }
    return described


def outcome(settings: Settings, recorder: Recorder) -> object:
    """What a short training run with the settings does: its metric rows, weights, run directory, launches."""
    recorder.calls.clear()
    shutil.rmtree(Path(settings.run.out) / settings.run.name, ignore_errors=True)  # the same settings, the same path
    try:
        result = fit(settings)
    except SettingError as err:
        return ("refused", err.setting)
    if result is None:  # the launcher was asked for processes
        return tuple(recorder.calls)
    from cnnlab.run.checkpoint import load_checkpoint
    from cnnlab.run.directory import RunDir

    rows = [{k: v for k, v in row.items() if k not in TIMING} for row in RunDir(result.run_dir).read_metrics()]
    weights = load_checkpoint(result.run_dir / "checkpoints" / "last.safetensors")[0]["model"]
    checksum = round(sum(float(v.double().sum()) for v in weights.values()), 6)
    return str(rows), result.epochs, result.run_dir.name, result.run_dir.parent.name, checksum, tuple(recorder.calls)


def checked_assembly(given: dict, recorder: Recorder) -> object:
    """The assembly of the given settings, or the setting that the settings' own checks refuse."""
    try:
        settings = Settings.of(**given)
        settings.check_relevance()
    except SettingError as err:
        return ("refused", err.setting)
    return assembly(settings, recorder)


def remembered(known: dict, kind: str, given: dict, make: object) -> object:
    """make(given), computed once per kind and settings."""
    key = kind + repr(sorted(given.items()))
    if key not in known:
        known[key] = make(given)
    return known[key]


def substitute(value: object, world: dict, base: dict, name: str) -> object:
    """The placeholders of CASES made real for this source."""
    root = world["root"]
    folder = Path(base["data"]) if Path(base["data"]).is_dir() else root / "single"
    return {RUN: world["run"], "<other folder>": str(root / "other"), "<other cifar>": str(root / "cifar2"),
            "<other out>": str(root / "elsewhere"), "<labels>": str(folder / "labels.csv")}.get(value, not base.get(name) if value == "<flip>" else value)


@pytest.mark.parametrize("source", sorted(REFUSED))
def test_every_setting_takes_effect_or_is_refused_by_name(source, world, tmp_path, monkeypatch):
    assert set(CASES) == set(Settings.names()), "a new setting needs a case in this walk"
    monkeypatch.setattr(sources, "SAMPLE_DIR", world["root"] / "folder")  # the sample's kind, at a tiny size
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)  # the made-up files have no md5
    monkeypatch.chdir(tmp_path)
    base = base_settings(source, world)
    refused, ignored = set(), []
    known: dict[str, object] = {}  # fingerprints by settings, as several cases start from the same ones
    for name, (a, b, context) in CASES.items():
        recorder = Recorder(monkeypatch)
        context = {key: substitute(value, world, base, key) for key, value in context.items()}
        first = {**base, **context, **({name: substitute(a, world, base, name)} if a is not None else {})}
        second = {**first, name: substitute(b, world, base, name)}
        if name in GOES_WITH:  # e.g. from a named dataset to a folder: the named dataset's own setting goes with it
            second.pop(GOES_WITH[name], None)
        fingerprints = [remembered(known, "assembly", given, lambda g: checked_assembly(g, recorder))
                        for given in (first, second)]
        assert fingerprints[0] != ("refused", name), f"{name}: its starting value {first.get(name)!r} is refused"
        if "refused" in fingerprints[0] and fingerprints[0][1] in context:  # what it needs does not apply here
            refused.add(name)
            continue
        if fingerprints[1] == ("refused", name):
            refused.add(name)
            continue
        assert "refused" not in fingerprints[1], f"{name}: another setting refused: {fingerprints[1]}"
        if fingerprints[0] == fingerprints[1]:
            runs = [remembered(known, "outcome", given, lambda g: outcome(Settings.of(**g), recorder))
                    for given in (first, second)]
            if runs[1] == ("refused", name):
                refused.add(name)
            elif runs[0] == runs[1]:
                ignored.append(name)
    assert not ignored, f"{source}: accepted but without any effect: {ignored}"
    assert refused - {"device"} == REFUSED[source], f"{source}: refused {sorted(refused)}"
    assert "device" in refused or torch.cuda.is_available()
