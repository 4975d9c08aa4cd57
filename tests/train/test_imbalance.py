"""Class imbalance: inverse-frequency weights, balanced sampling, the warning, and both remedies beating no remedy."""

from pathlib import Path

import pytest
import torch
from torchvision.io import write_png

from cnnlab.data.dataset import ImageSet
from cnnlab.data.loader import MemoryBatches
from cnnlab.evaluation.evaluate import evaluate_run as evaluate
from cnnlab.train import imbalance
from cnnlab.settings import resolve
from cnnlab.train.fit import fit


def test_inverse_frequency_weights_average_one_over_the_images():
    counts = torch.tensor([100, 10, 0, 40])
    weights = imbalance.inverse_frequency_weights(counts)
    assert weights[2] == 0  # an absent class
    assert weights[1] / weights[0] == pytest.approx(10.0)
    assert (weights * counts).sum() / counts.sum() == pytest.approx(1.0)


def test_balanced_sampling_draws_every_class_about_equally():
    labels = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    data = ImageSet(torch.zeros(len(labels), 1, 2, 2, dtype=torch.uint8), labels)
    weights = imbalance.balanced_sample_weights(labels, 3)
    batches = MemoryBatches(data, 100, shuffle=True, device=torch.device("cpu"), seed=0, sample_weights=weights)
    drawn = torch.cat([batch_labels for _, batch_labels in batches])
    assert len(drawn) == len(labels)
    share = torch.bincount(drawn, minlength=3).float() / len(drawn)
    assert torch.all((share - 1 / 3).abs() < 0.06), share  # unweighted it would be 0.90 / 0.09 / 0.01


def test_warning_names_the_options_only_past_three_to_one(heard):
    imbalance.warn_if_imbalanced(torch.tensor([30, 10]), ["cat", "dog"], "none", "shuffle")
    assert "imbalanced" not in heard.lines
    ratio = imbalance.warn_if_imbalanced(torch.tensor([31, 10, 20]), ["cat", "dog", "emu"], "none", "shuffle")
    out = heard.lines
    assert all(event.warning for event in heard.events)
    assert ratio == pytest.approx(3.1)
    assert "cat has 31" in out and "dog 10" in out
    assert "`class_weights` auto" in out and "`sampler` balanced" in out


def write_grey_images(folder: Path, counts: dict[str, int], levels: dict[str, float], seed: int) -> None:
    """16x16 grey images whose brightness is drawn around a level per class, so the classes overlap."""
    generator = torch.Generator().manual_seed(seed)
    for name, count in counts.items():
        (folder / name).mkdir(parents=True)
        for i in range(count):
            level = levels[name] + 20 * torch.randn((), generator=generator)
            noise = torch.randint(-8, 9, (3, 16, 16), generator=generator)
            write_png((level + noise).clamp(0, 255).to(torch.uint8), str(folder / name / f"{i:03d}.png"))


@pytest.fixture(scope="module")
def imbalanced_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train 10:1 (200 darker "major" vs 20 brighter "minor" images); test balanced (100 each)."""
    root = tmp_path_factory.mktemp("imbalanced")
    levels = {"major": 110.0, "minor": 140.0}
    write_grey_images(root / "train", {"major": 200, "minor": 20}, levels, seed=1)
    write_grey_images(root / "test", {"major": 100, "minor": 100}, levels, seed=2)
    return root


def balanced_accuracy(folder: Path, out: Path, name: str, **remedy: str) -> float:
    """Train a tiny CNN on the folder (seeded) and return its balanced accuracy on the balanced test split."""
    config = resolve(data=str(folder), out=str(out), name=name, model="convnet:widths=8-16-16,convs=1",
                            epochs=4, batch_size=32, lr=3e-3, seed=0, crop_padding=0, flip=False, **remedy)
    run = fit(config).run_dir
    result = evaluate(run, top_losses=1)
    assert set(result["per_class"]) == {"major", "minor"} and "recall" in result["per_class"]["minor"]
    return result["balanced_accuracy"]


def test_class_weights_and_balanced_sampling_beat_no_remedy(imbalanced_folder, tmp_path, heard):
    plain = balanced_accuracy(imbalanced_folder, tmp_path, "plain")
    assert "`class_weights` auto" in heard.lines  # the 10:1 warning at the start
    weighted = balanced_accuracy(imbalanced_folder, tmp_path, "weighted", class_weights="auto")
    sampled = balanced_accuracy(imbalanced_folder, tmp_path, "sampled", sampler="balanced")
    assert weighted > plain + 0.05, (plain, weighted)
    assert sampled > plain + 0.05, (plain, sampled)
