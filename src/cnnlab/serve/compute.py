"""A batch of prediction requests computed, as the model's thread or process computes it: every request's files
checked against the limits and decoded together (see decode_many), then the engine on all their images at once.
Each request gets its images' probabilities, or the refusal of its first file that the limits (a 413) or the
decoder (a 400) refuse; the other requests go on."""

import torch

from cnnlab.data.decode import UnreadableImage, decode_many
from cnnlab.inference.loaded import LoadedModel
from cnnlab.serve.limits import Limits, UploadRefused, check_upload

WARMUP_BATCHES = 3


class Uploads:
    """One request's image files, as the batcher carries them to the model: their names and bytes, and the limits
    they are checked against there."""

    def __init__(self, names: list[str], datas: list[bytes], limits: Limits) -> None:
        """The files, in the order they were sent."""
        self.names, self.datas, self.limits = names, datas, limits

    def refusals(self) -> list[UploadRefused | None]:
        """Why the server will not decode each file (empty, too large, too many pixels), or None for one it will."""
        refusals: list[UploadRefused | None] = []
        for name, data in zip(self.names, self.datas):
            try:
                check_upload(name, data, self.limits)
                refusals.append(None)
            except UploadRefused as refused:
                refusals.append(refused)
        return refusals

    def __len__(self) -> int:
        """How many images the request holds (what the batcher counts against max_batch)."""
        return len(self.datas)


def compute(loaded: LoadedModel, requests: list[Uploads]) -> list[torch.Tensor | UploadRefused]:
    """Each request's probabilities (one row per file), or its refusal."""
    record = loaded.record
    checks = [request.refusals() for request in requests]
    wanted = [(name, data) for request, check in zip(requests, checks)
              for name, data, refused in zip(request.names, request.datas, check) if refused is None]
    decoded = iter(decode_many([data for _, data in wanted], [name for name, _ in wanted],
                               channels=record.in_chans, size=record.image_size))
    spans: list[slice | UploadRefused] = []
    good: list[torch.Tensor] = []
    for check in checks:
        mine = [refused if refused is not None else next(decoded) for refused in check]
        problem = next((outcome for outcome in mine if not isinstance(outcome, torch.Tensor)), None)
        if isinstance(problem, UnreadableImage):
            problem = UploadRefused(400, f"{problem.name}: {problem.reason}")
        if problem is not None:
            spans.append(problem)
            continue
        spans.append(slice(len(good), len(good) + len(mine)))
        good.extend(mine)
    if good:
        probabilities = loaded.probabilities(loaded.logits(torch.stack(good)))
    return [span if isinstance(span, UploadRefused) else probabilities[span] for span in spans]


def warm_up(loaded: LoadedModel, max_batch: int) -> None:
    """Run a few batches (one image, then a full batch) so that the first requests do not pay for the engine's
    first-call allocations."""
    for size in (1, max_batch)[: 1 if max_batch == 1 else 2]:
        blank = torch.zeros((size, *loaded.input_shape), dtype=torch.uint8)
        for _ in range(WARMUP_BATCHES):
            loaded.logits(blank)
