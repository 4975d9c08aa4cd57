"""Temperature scaling: the fit lowers the validation NLL, finds T ≈ 1 for calibrated logits, is stored in the run and
applied by everything that loads it; a run without validation images is refused."""

import json

import pytest
import torch
import torch.nn.functional as F

from cnnlab.errors import CnnlabError
from cnnlab.evaluation.temperature import calibrate_run, fit_temperature
from cnnlab.inference.export import export_model
from cnnlab.inference.exported import load_exported
from cnnlab.inference.loaded import load_model
from cnnlab.inference.predict import predict_files
from cnnlab.run.record import ModelRecord
from cnnlab.train.fit import fit


def sampled(scale: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels drawn from softmax(logits): calibrated logits, multiplied by `scale` afterwards."""
    generator = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(4000, 5, generator=generator)
    labels = torch.multinomial(logits.softmax(1), 1, generator=generator).squeeze(1)
    return scale * logits, labels


def test_the_fit_lowers_nll_and_undoes_an_overconfident_scale():
    logits, labels = sampled(3.0)
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert F.cross_entropy(logits / temperature, labels) < F.cross_entropy(logits, labels) - 0.1
    assert fit_temperature(*sampled(1.0, seed=1)) == pytest.approx(1.0, rel=0.1)


@pytest.fixture(scope="module")
def held_out_run(tmp_path_factory):
    """A run on a train/test colour folder that held a quarter of its training images out for validation."""
    from conftest import write_colour_images

    root = tmp_path_factory.mktemp("calibrated")
    write_colour_images(root / "data" / "train", per_class=24, seed=1, size=16)
    write_colour_images(root / "data" / "test", per_class=6, seed=2, size=16)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_CACHE", str(root / "cache"))
        run = fit(data=str(root / "data"), holdout=0.25, epochs=2, batch_size=16, lr=3e-3, out=str(root / "runs"),
                  name="held").run_dir
        yield run, root


def test_calibrate_fits_on_validation_stores_the_temperature_and_every_loader_applies_it(held_out_run, tmp_path):
    run, root = held_out_run
    raw = load_model(run)
    result = calibrate_run(run, workers=0)
    temperature = result["temperature"]
    assert result["fitted_on"] == "val" and result["splits"]["val"]["images"] == 18  # 6 of each class's 24
    assert result["splits"]["test"]["images"] == 18  # the test split: reported, never fitted on
    assert result["splits"]["val"]["after"]["nll"] <= result["splits"]["val"]["before"]["nll"] + 1e-9
    assert temperature != 1.0
    assert json.loads((run / "config.json").read_text())["model"]["temperature"] == temperature
    loaded = load_model(run)
    assert loaded.record.temperature == temperature
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    assert torch.allclose(loaded.logits(images), raw.logits(images) / temperature, atol=1e-5)
    image = root / "data" / "test" / "red" / "000.png"
    predicted = predict_files(loaded, [image], top=3)[0][0]["top"]
    expected = (raw.logits(loaded.decode([image])[0]) / temperature).softmax(1)[0].max().item()
    assert predicted[0]["probability"] == pytest.approx(expected, abs=1e-5)
    exported = export_model(run, "torchscript", tmp_path / "model.torchscript.pt")
    assert exported["model"]["temperature"] == temperature and exported["verification"]["passed"]
    scripted = load_exported(exported["file"])
    assert torch.allclose(scripted.logits(images), loaded.logits(images), atol=1e-4)  # the graph divides by T


def test_a_run_whose_only_evaluation_split_is_the_test_split_is_refused(trained_run):
    run, _ = trained_run
    with pytest.raises(CnnlabError, match="`holdout`"):
        calibrate_run(run, workers=0)


def test_records_written_before_calibration_read_with_temperature_one():
    old = {"architecture": "simplecnn", "classes": ["a", "b"], "input_shape": [3, 8, 8], "mean": [0.5] * 3,
           "std": [0.2] * 3}
    assert ModelRecord.from_dict(old).temperature == 1.0
    with pytest.raises(CnnlabError, match="temperature"):
        ModelRecord.from_dict({**old, "temperature": -1})
