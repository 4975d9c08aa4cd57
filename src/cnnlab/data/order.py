"""Where a loader is in its seeded sequence of epochs: the generator its orders are drawn from, the epoch count, and
the batches handed out of the epoch in progress, so that a checkpoint taken mid-epoch resumes at the next batch.

A mid-epoch state holds the generator as it was when the epoch began (its order is drawn again on resume, the same)
and how many batches to skip; the skipped batches are never read nor decoded.
"""

import torch


class EpochOrder:
    """A seeded generator of epoch orders, with the epoch count and the position inside the epoch in progress."""

    def __init__(self, seed: int, device: torch.device | str = "cpu") -> None:
        """Start before the first epoch."""
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.epoch, self.position, self.skip = 0, 0, 0
        self.start: tuple[torch.Tensor, int] | None = None  # (generator state, epoch) when the epoch in progress began

    def begin(self) -> int:
        """Start an epoch (before its order is drawn); returns how many of its batches a resume skips."""
        self.start = (self.generator.get_state(), self.epoch)
        skip, self.skip, self.position = self.skip, 0, self.skip
        self.epoch += 1
        return skip

    def advance(self) -> None:
        """One more batch of the epoch was handed out."""
        self.position += 1

    def end(self) -> None:
        """The epoch ran to its last batch."""
        self.start, self.position = None, 0

    def state(self, mid_epoch: bool = False) -> dict[str, torch.Tensor]:
        """The generator, epoch and position to resume from: between epochs, or (`mid_epoch`) after the batches of
        the epoch in progress handed out so far."""
        if mid_epoch and self.start is not None:
            generator, epoch, position = *self.start, self.position
        else:
            generator, epoch, position = self.generator.get_state(), self.epoch, 0
        return {"order": generator, "epoch": torch.tensor(epoch), "position": torch.tensor(position)}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        """Put back what `state` returned (checkpoints from before positions were kept resume between epochs)."""
        self.generator.set_state(state["order"])
        if "epoch" in state:
            self.epoch = int(state["epoch"])
        self.skip = int(state.get("position", 0))
        self.start, self.position = None, 0
