"""The training loop: steps, evaluation and checkpoints over the parts that train/assemble.py built."""

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab import events
from cnnlab.data.augment import resize
from cnnlab.data.policies import dominant_labels
from cnnlab.errors import CnnlabError
from cnnlab.evaluation.multilabel import label_report, mean_average_precision, multi_label_loss, tune_thresholds
from cnnlab.models.freeze import fixed_statistics, train_mode
from cnnlab.models.state import load_state
from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.run.directory import RunDir
from cnnlab.train import distributed
from cnnlab.train.assemble import Parts, Route
from cnnlab.train.logbook import Logbook
from cnnlab.train.stopwatch import Stopwatch
from cnnlab.train.validation import predict_logits


def right_answers(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """How many images a batch got right: its top class is the (dominant) label; for multi-label, the share of the
    labels each image got right at probability 0.5, summed over the images."""
    if multi_label:
        return ((logits > 0) == (labels > 0.5)).double().mean(1).sum()
    return (logits.argmax(1) == dominant_labels(labels)).sum()


EXPLODED = 100.0  # a loss this many times the run's first (or than 1) stops it: it is diverging, not learning


@dataclass
class TrainResult:
    """What a finished run reports."""

    run_dir: Path
    epochs: int
    best_accuracy: float
    final_accuracy: float
    seconds: float
    metric: str = "accuracy"  # what best_accuracy and final_accuracy measure: mAP for a multi-label run


class Trainer:
    """Trains the parts of one run, writing its metrics and checkpoints into its run directory."""

    def __init__(self, parts: Parts, run: RunDir) -> None:
        """Start at epoch 0 with the first phase's optimizer and schedule."""
        self.parts, self.run, self.settings = parts, run, parts.settings
        self.epoch, self.step, self.best_accuracy, self.bad_epochs, self.first_loss = 0, 0, -1.0, 0, 0.0
        self.position, self.partial, self.last_row = 0, {}, {}  # a resumed epoch: steps done, their sums; last row
        self.optimizer, self.scheduler = parts.optimisation(0)
        self.thresholds: tuple[float, ...] | None = None  # a multi-label run's, tuned at the last validation

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are evaluated and kept as best: the EMA when there is one."""
        return self.parts.ema.module if self.parts.ema is not None else self.parts.model

    def train_step(self, route: Route, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step; returns the (detached) loss and the number of correct predictions."""
        parts = self.parts
        with torch.autocast(parts.device.type, dtype=parts.dtype, enabled=parts.dtype != torch.float32):
            logits = route.step_model(images)
            loss = parts.loss(logits.float(), labels)  # labels may be soft (mixing)
        self.optimizer.zero_grad(set_to_none=True)
        parts.scaler.scale(loss * route.train_loader.weight).backward()  # this rank's share of the global batch
        if self.settings.optim.grad_clip:
            parts.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(parts.model.parameters(), self.settings.optim.grad_clip)
        parts.scaler.step(self.optimizer)
        parts.scaler.update()
        self.scheduler.step()
        if parts.ema is not None:
            parts.ema.update_parameters(parts.model)
        return loss.detach(), right_answers(logits.detach(), labels, parts.record.multi_label)

    def check_finite(self, loss: torch.Tensor, step: int) -> None:
        """Stop the run on a NaN or infinite loss, or one that exploded (over EXPLODED times the run's first loss, and
        over EXPLODED), naming the step and the last good checkpoint."""
        value = loss.item()
        self.first_loss = self.first_loss or value
        if not math.isfinite(value) or value > EXPLODED * max(self.first_loss, 1.0):
            last = self.run.checkpoints / "last.safetensors"
            kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written yet"
            what = value if not math.isfinite(value) else f"{value:.3g} ({value / self.first_loss:.0f}x the first)"
            raise CnnlabError(f"the loss became {what} at epoch {self.epoch + 1}, step {step + 1}: training stopped; "
                              f"{kept} (try a lower `lr` or a `grad_clip`)")

    def train_epoch(self) -> dict:
        """One pass over the training set (or up to `max_steps`; after a mid-epoch resume, the rest of one), with a
        checkpoint every `checkpoint_every` steps; stops the run on a NaN or infinite loss."""
        parts, augment, every = self.parts, self.settings.augment, self.settings.run.checkpoint_every
        route = parts.route(self.epoch)
        skip, done = self.position, self.partial  # what a checkpoint inside this epoch had done already
        self.position, self.partial = 0, {}
        steps = len(route.train_loader)
        train_mode(parts.model, fixed_statistics(self.settings.model))
        total_loss = torch.zeros((), device=parts.device)
        correct = torch.zeros((), device=parts.device, dtype=torch.float64)
        seen, clock = 0, Stopwatch(parts.device).start()
        lr = self.optimizer.param_groups[0]["lr"]
        size = augment.progressive_size if self.epoch < augment.progressive_epochs else None
        pending = None  # the previous step's loss, checked once the next step is queued: the GPU never waits idle
        with events.progress(f"epoch {self.epoch + 1}/{parts.epochs}", steps) as advance:
            advance(skip)
            for step, (images, labels) in enumerate(route.train_loader, start=skip):
                if self.step == parts.total_steps:
                    break
                loss, hits = self.train_step(route, resize(images, size) if size else images, labels)
                if pending is not None:
                    self.check_finite(*pending)
                pending = loss, step
                total_loss += loss * len(labels)
                correct += hits
                seen += len(labels)
                self.step += 1
                advance(1)
                if every and self.step % every == 0 and step + 1 < steps and self.step < parts.total_steps:
                    self.check_finite(*pending)  # a checkpoint holds good weights only
                    pending = None
                    sums = distributed.sum_over_ranks(parts.world, total_loss, correct, seen)
                    self.save_within(step + 1, done, [*sums, clock.stop()])
        if pending is not None:
            self.check_finite(*pending)
        seconds = clock.stop() + done.get("seconds", 0.0)
        total_loss, correct, seen = (total + done.get(key, 0) for total, key in zip(
            distributed.sum_over_ranks(parts.world, total_loss, correct, seen), ("loss", "correct", "seen")))
        mixing = augment.mixup or augment.cutmix
        return {"train_loss": total_loss / seen, "train_acc": correct / seen,
                **({"train_acc_of": "dominant label"} if mixing else {}), **({"image_size": size} if size else {}),
                "lr": lr, "images_per_s": seen / seconds, "epoch_time": seconds}

    def validate(self, final: bool = False) -> dict:
        """Loss and accuracy of the evaluated weights on the validation split (with the test-time augmentation at the
        `final` epoch only: it costs a forward pass per view, of images)."""
        parts, clock = self.parts, Stopwatch(self.parts.device).start()
        distributed.broadcast_buffers(parts.world, parts.model, parts.ema)
        tta = self.settings.run.tta if final else "none"
        route = parts.route(self.epoch - 1) if tta == "none" else parts.image_route()
        logits, labels = predict_logits(route.evaluated(self.eval_model), route.val_loader, parts.dtype, tta=tta)
        if parts.record.multi_label:
            loss = multi_label_loss(logits.float(), labels) * len(labels)
            ranked = self.label_metrics(logits.float().sigmoid(), labels)
        else:
            loss, ranked = torch.nn.functional.cross_entropy(logits, labels, reduction="sum"), {}
        hits = right_answers(logits, labels, parts.record.multi_label)
        loss, correct, seen = distributed.sum_over_ranks(parts.world, loss, hits, len(labels))
        return {"val_loss": loss / seen, "val_acc": correct / seen, **ranked, **({"tta": tta} if tta != "none" else {}),
                "eval_time": clock.stop()}

    def label_metrics(self, probabilities: torch.Tensor, targets: torch.Tensor) -> dict:
        """A multi-label validation's mAP, and the per-label thresholds that maximise F1 on these images with the
        micro F1 they give (the thresholds go into the record of this epoch's checkpoints)."""
        thresholds = tune_thresholds(probabilities, targets)
        self.thresholds = tuple(round(t, 6) for t in thresholds.tolist())
        return {"val_map": mean_average_precision(probabilities, targets),
                "val_f1": label_report(probabilities, targets, thresholds).micro_f1}

    def score(self, row: dict) -> float:
        """What selects the best epoch and counts for patience: validation accuracy, or mAP when multi-label."""
        if not self.parts.record.multi_label:
            return row["val_acc"]
        return row["val_map"] if math.isfinite(row["val_map"]) else 0.0  # NaN: no validation image has any label

    def save_within(self, position: int, done: dict, sums: list[float]) -> None:
        """A `last` checkpoint `position` steps into the epoch in progress, with the sums of the epoch's metrics so far
        over all ranks (`sums` since this try began, `done` before it) and the loaders' place in the epoch."""
        partial = {key: done.get(key, 0) + value for key, value in zip(("loss", "correct", "seen", "seconds"), sums)}
        self.save(self.last_row, improved=False, within={"position": position, "partial": partial})

    def save(self, row: dict, improved: bool, within: dict | None = None) -> None:
        """Write last (everything to resume, after `row`'s epoch or, `within` one, at a position in the next) and,
        when the accuracy improved, best (the evaluated weights). Every rank calls it (their generators are
        gathered); rank 0 writes."""
        parts = self.parts
        rng = distributed.gather_states(parts.world, parts.rng_state(mid_epoch=within is not None))
        if not parts.world.is_main:
            return
        sections = {"model": parts.model.state_dict(), "rng": rng,
                    **({"ema": parts.ema.state_dict()} if parts.ema else {})}
        record = dataclasses.replace(parts.record, thresholds=self.thresholds)
        described = {"epoch": self.epoch, "metrics": row, "model": record.to_dict(),
                     "settings": self.settings.to_dict()}
        meta = {**described, "step": self.step, "first_loss": self.first_loss, "best_accuracy": self.best_accuracy,
                "bad_epochs": self.bad_epochs, **(within or {}),
                "scheduler": self.scheduler.state_dict(), "scaler": parts.scaler.state_dict()}
        save_checkpoint(self.run.checkpoints / "last.safetensors", sections, self.optimizer.state_dict(), meta)
        if improved:
            save_checkpoint(self.run.checkpoints / "best.safetensors", {"model": self.eval_model.state_dict()}, None,
                            described)

    def restore(self, path: Path, checkpoint: tuple[dict, dict | None, dict] | None = None) -> None:
        """Continue from a `last` checkpoint (read from `path`, or given as load_checkpoint returned it): weights,
        optimizer, schedule, EMA, RNG, counters and the place in the epoch it was written in."""
        parts = self.parts
        sections, optimizer, meta = checkpoint or load_checkpoint(path)
        try:
            if 0 < self.settings.model.fine_tune < meta["epoch"]:  # the switch to the full phase came before it
                self.optimizer, self.scheduler = parts.optimisation(meta["epoch"])
            load_state(parts.model, sections["model"], str(path))
            self.optimizer.load_state_dict(optimizer)
            self.scheduler.load_state_dict(meta["scheduler"])
            parts.scaler.load_state_dict(meta["scaler"])
            if parts.ema is not None:
                load_state(parts.ema, sections["ema"], str(path))
            parts.set_rng_state(distributed.own_state(parts.world, sections["rng"]))
        except (KeyError, TypeError, ValueError, RuntimeError) as err:  # a file edited or from another run
            raise CnnlabError(f"{path}: not a checkpoint this run can resume from ({type(err).__name__}: {err})"
                              ) from None
        self.epoch, self.best_accuracy, self.bad_epochs = meta["epoch"], meta["best_accuracy"], meta["bad_epochs"]
        self.step = meta.get("step", self.epoch * parts.steps_per_epoch)
        self.first_loss = meta.get("first_loss", 0.0)
        self.position, self.partial = meta.get("position", 0), meta.get("partial", {})
        self.last_row = meta.get("metrics", {})

    def fit(self) -> TrainResult:
        """Train until the last epoch, `max_steps` or early stopping, logging and checkpointing every epoch."""
        start, row, parts, patience = time.perf_counter(), {}, self.parts, self.settings.run.patience
        first = self.epoch
        logbook = Logbook(self.run, first_epoch=self.epoch + 1) if parts.world.is_main else contextlib.nullcontext()
        with logbook as log:
            while self.epoch < parts.epochs:
                if self.epoch and parts.phase_start(self.epoch):
                    self.optimizer, self.scheduler = parts.optimisation(self.epoch)
                row = self.train_epoch()
                self.epoch += 1
                row = {"epoch": self.epoch, **row, **self.validate(final=self.epoch == parts.epochs)}
                improved = self.score(row) > self.best_accuracy
                self.best_accuracy = max(self.best_accuracy, self.score(row))
                self.bad_epochs = 0 if improved else self.bad_epochs + 1
                if parts.world.is_main:
                    log.write(row)  # before the checkpoint: a resume drops rows newer than its checkpoint, never misses one
                    pace = (time.perf_counter() - start) / (self.epoch - first)
                    events.emit(events.EpochEnd(row, parts.epochs, pace * (parts.epochs - self.epoch)))
                self.save(row, improved)
                self.last_row = row
                if patience is not None and self.bad_epochs >= patience:
                    events.note(f"early stopping: no better validation {self.metric} for {self.bad_epochs} epochs")
                    break
        final = self.score(row) if row else self.best_accuracy
        return TrainResult(self.run.path, self.epoch, self.best_accuracy, final, time.perf_counter() - start,
                           self.metric)

    @property
    def metric(self) -> str:
        """The name of what `score` measures."""
        return "mAP" if self.parts.record.multi_label else "accuracy"
