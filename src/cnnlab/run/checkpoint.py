"""Checkpoints as single safetensors files: weights, optimizer, scheduler, EMA and RNG state, written atomically.

One file per checkpoint means a crash can never leave a mix of two epochs, and loading one never runs code
(no pickle anywhere). Tensors live under prefixes (`model.`, `ema.`, `optim.`, `rng.`); everything else is JSON
in the file's metadata.
"""

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load, save_file

from cnnlab.errors import CnnlabError, first_line
from cnnlab.run.record import ModelRecord

if TYPE_CHECKING:
    from cnnlab.settings import Settings

FORMAT = "cnnlab-checkpoint-1"
TEMPORARY = ".tmp"  # in the name of a checkpoint being written, until it is renamed into place


def flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into tensors and a JSON-ready remainder."""
    tensors, plain = {}, {"param_groups": state["param_groups"], "state": {}}
    for index, slots in state["state"].items():
        plain["state"][str(index)] = {}
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                plain["state"][str(index)][key] = value
    return tensors, plain


def unflatten_optimizer(tensors: dict[str, torch.Tensor], plain: dict) -> dict:
    """The optimizer state_dict back from flatten_optimizer's two parts."""
    state = {int(i): dict(slots) for i, slots in plain["state"].items()}
    for name, value in tensors.items():
        index, key = name.split(".", 2)[1:]
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": plain["param_groups"]}


def save_checkpoint(path: str | Path, sections: dict[str, dict[str, torch.Tensor]], optimizer: dict | None, meta: dict) -> Path:
    """Write tensor sections (e.g. model, ema, rng), an optimizer state_dict and metadata to one file, atomically."""
    path = Path(path)
    tensors = {f"{prefix}.{k}": v.detach().cpu().contiguous() for prefix, sec in sections.items() for k, v in sec.items()}
    meta = dict(meta, format=FORMAT)
    if optimizer is not None:
        optim_tensors, meta["optimizer"] = flatten_optimizer(optimizer)
        tensors.update({k: v.detach().cpu().contiguous() for k, v in optim_tensors.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}{TEMPORARY}{os.getpid()}")
    try:
        save_file(tensors, str(temp), metadata={"cnnlab": json.dumps(meta)})
        os.replace(temp, path)
    except Exception as err:  # a full disk, a quota, a vanished folder: safetensors and os raise their own kinds
        temp.unlink(missing_ok=True)
        kept = "the previous one is kept" if path.exists() else "there is no earlier one"
        raise CnnlabError(f"could not write the checkpoint {path} ({first_line(err)}); {kept}") from None
    return path


def remove_temporary(folder: Path) -> list[Path]:
    """Delete what an interrupted save left in a checkpoints folder (its temporary files); return what went."""
    stale = sorted(folder.glob(f".*{TEMPORARY}*")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale



def load_checkpoint(path: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict | None, dict]:
    """(tensor sections, optimizer state_dict or None, metadata) from a checkpoint file."""
    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"{path}: no such checkpoint")
    return parse_checkpoint(path.read_bytes(), str(path))


def parse_checkpoint(data: bytes, source: str) -> tuple[dict[str, dict[str, torch.Tensor]], dict | None, dict]:
    """What load_checkpoint returns, from a checkpoint file's bytes (e.g. sent by another rank); `source` names it."""
    try:
        tensors = load(data)
        header = int.from_bytes(data[:8], "little")  # safetensors: the JSON header's length, then the header
        meta = json.loads(json.loads(data[8:8 + header]).get("__metadata__", {}).get("cnnlab", "{}"))
    except Exception as err:  # safetensors raises its own error types for corrupt or foreign files
        raise CnnlabError(f"{source}: not a readable safetensors checkpoint ({err})") from None
    if meta.get("format") != FORMAT:
        raise CnnlabError(f"{source}: not a cnnlab checkpoint (format {meta.get('format')!r})")
    sections: dict[str, dict[str, torch.Tensor]] = {}
    optim = {}
    for name, value in tensors.items():
        prefix, key = name.split(".", 1)
        if prefix == "optim":
            optim[name] = value
        else:
            sections.setdefault(prefix, {})[key] = value
    optimizer = unflatten_optimizer(optim, meta.pop("optimizer")) if "optimizer" in meta else None
    return sections, optimizer, meta


def checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file itself, or a run directory's best (else last) checkpoint."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
        raise CnnlabError(f"{path} has no checkpoints (expected {path}/checkpoints/best.safetensors)")
    if not path.exists():
        raise CnnlabError(f"{path}: no such run directory or checkpoint")
    return path


def read_settings(meta: dict, source: str) -> "Settings":
    """The training settings a checkpoint's metadata or a run's config.json holds (earlier versions: `train`)."""
    from cnnlab.settings import Settings

    values = meta.get("settings", meta.get("train"))
    if not isinstance(values, dict):
        raise CnnlabError(f"{source}: holds no training settings")
    return Settings.from_dict(values)


def read_record(meta: dict, source: str) -> ModelRecord:
    """The model record a checkpoint's metadata or a run's config.json holds."""
    if not isinstance(meta.get("model"), dict):
        raise CnnlabError(f"{source}: holds no model record")
    return ModelRecord.from_dict(meta["model"], source)
