"""Temperature scaling (Guo et al. 2017): one number T that divides every logit, fitted to minimise the negative
log-likelihood on validation images. It changes no prediction, only how confident each is."""

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from cnnlab.data.loader import batch_source
from cnnlab.errors import CnnlabError
from cnnlab.evaluation.calibration import calibration_metrics
from cnnlab.evaluation.evaluate import logits_and_worst
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.run.directory import RunDir
from cnnlab.settings.sections import READERS

BOUNDS = (0.05, 20.0)  # temperatures outside these mean the logits carry no usable confidence


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 that minimises cross_entropy(logits / T, labels): L-BFGS on log T, from T = 1."""
    logits, log_t = logits.double(), torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp().clamp(*BOUNDS))


def store_temperature(loaded: LoadedModel, temperature: float) -> list[Path]:
    """Write the temperature into the model record of the run's checkpoints and config.json; returns the files."""
    run = RunDir.open(loaded.home)
    written = []
    for file in sorted(run.checkpoints.glob("*.safetensors")):
        sections, optimizer, meta = load_checkpoint(file)
        meta["model"] = {**meta["model"], "temperature": temperature}
        written.append(save_checkpoint(file, sections, optimizer, meta))
    config = run.read_config()
    config["model"] = {**config["model"], "temperature": temperature}
    run.write_config(config)
    return [*written, run.path / "config.json"]


def calibrate_run(run: str | Path, workers: int = READERS) -> dict:
    """Fit a run's temperature on its validation images (held out of training; never its test split), store it in
    its model record, and report ECE, NLL and Brier before and after, on validation and (when there is one) test."""
    loaded = load_model(run)
    if not loaded.path.suffix or loaded.settings is None:
        raise CnnlabError(f"{run}: calibrate needs a cnnlab run directory (its validation images and its record)")
    if loaded.record.multi_label:
        raise CnnlabError(f"{run}: calibrate fits a softmax temperature, and this run is multi-label: a sigmoid per "
                          "label, answered at per-label thresholds that training tuned on its validation images")
    dataset = loaded.dataset()
    if dataset.own_split:
        raise CnnlabError(f"{run}: calibrate fits on validation images held out of the training images, and this run "
                          f"has none: its evaluation split is {dataset.name}'s own test split. Train with `holdout` "
                          "(e.g. 0.1) or `fold` to keep some")
    validation = dataset.val
    logits, labels, _ = logits_and_worst(loaded, batch_source(validation, 256, workers=workers), 0, calibrated=False)
    temperature = fit_temperature(logits, labels)
    splits = {"val": (logits, labels)}
    if dataset.test is not None:
        test_logits, test_labels, _ = logits_and_worst(loaded, batch_source(dataset.test, 256, workers=workers), 0,
                                                       calibrated=False)
        splits["test"] = (test_logits, test_labels)
    before_after = {
        name: {"images": len(y), "before": calibration_metrics(x, y), "after": calibration_metrics(x / temperature, y)}
        for name, (x, y) in splits.items()
    }
    files = store_temperature(loaded, temperature)
    result = {"run": str(loaded.home), "data": dataset.name, "previous_temperature": loaded.record.temperature,
              "temperature": temperature, "fitted_on": "val", "splits": before_after, "files": [str(f) for f in files]}
    (loaded.home / "calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
