"""`cnnlab serve` with its model's work (decoding, the engine) replaced by a constant answer of the model's shape: what
the HTTP side alone answers per second on this machine, the most the server could deliver with an engine that cost
nothing. bench/serve.py runs it with --ceiling; the arguments are `cnnlab serve`'s."""

import sys

import torch

from cnnlab.cli.app import app
from cnnlab.serve.served import ServedModel


def constant(self: ServedModel, requests: list) -> list:
    """Each request's uniform probabilities, one row per file, as the real `_run` returns them."""
    classes = len(self.loaded.record.classes)
    return [torch.full((len(r.datas), classes), 1.0 / classes) for r in requests]


if __name__ == "__main__":
    ServedModel._run = constant
    sys.argv = ["cnnlab", "serve", *sys.argv[1:]]
    app()
