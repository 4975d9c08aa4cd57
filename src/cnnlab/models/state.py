"""Weights into a model, checked first: whatever a file holds, a mismatch is one line naming the file and the keys."""

import torch
from torch import nn

from cnnlab.errors import CnnlabError

SHOWN_KEYS = 4  # key names quoted in a mismatch error


def check_keys(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights whose keys or shapes do not fit the model, naming the missing/unexpected/mismatched keys."""
    own = model.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    shapes = [f"{key} {tuple(state[key].shape)} vs {tuple(own[key].shape)}"
              for key in own if key in state and state[key].shape != own[key].shape]
    problems = [f"{len(keys)} {what} ({', '.join(keys[:SHOWN_KEYS])}{', ...' if len(keys) > SHOWN_KEYS else ''})"
                for what, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes))
                if keys]
    if problems:
        name = getattr(model, "default_cfg", {}).get("spec") or type(model).__name__
        raise CnnlabError(f"{source} does not fit {name} (weights for another architecture?): "
                          f"keys {'; '.join(problems)}")


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a state dict that must fit the model exactly (keys, shapes); anything else is refused before loading."""
    check_keys(model, state, source)
    model.load_state_dict(state)
