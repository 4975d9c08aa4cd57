"""Decode image files once into a uint8 tensor cache on disk, keyed by the files' content."""

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from cnnlab import events
from cnnlab.data.decode import Size, decode_files

CACHE_VERSION = 1


def cache_root() -> Path:
    """The cache folder: $CNNLAB_CACHE, else $XDG_CACHE_HOME/cnnlab, else ~/.cache/cnnlab."""
    if "CNNLAB_CACHE" in os.environ:
        return Path(os.environ["CNNLAB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnnlab"


def content_key(paths: list[Path], labels: list[int], channels: int, size: Size) -> str:
    """A hash of every file's name (its bytes: a name need not be valid UTF-8), content and label, and of the decoding
    settings."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([CACHE_VERSION, channels, size]).encode())
    for path, label in zip(paths, labels):
        digest.update(os.fsencode(path.name) + f"\0{label}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def decode_cached(
    paths: list[Path], labels: list[int], channels: int, size: Size, description: str = "decoding"
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]]]:
    """(images uint8 NCHW, labels: int64, or uint8 (N, labels) for multi-hot rows, skipped (path, reason)) for the
    files, decoding only on a cache miss."""
    file = cache_root() / f"{content_key(paths, labels, channels, size)}.safetensors"
    if file.exists():
        with safe_open(str(file), framework="pt") as f:
            skipped = [tuple(s) for s in json.loads(f.metadata()["skipped"])]
            return f.get_tensor("images"), f.get_tensor("labels"), skipped
    with events.progress(description, len(paths)) as advance:
        images, kept, skipped = decode_files(paths, channels=channels, size=size, progress=advance)
    multi_hot = bool(labels) and isinstance(labels[0], tuple)
    kept_labels = torch.tensor([labels[i] for i in kept], dtype=torch.uint8 if multi_hot else torch.int64)
    kept_labels = kept_labels.reshape(len(kept), *((len(labels[0]),) if multi_hot else ()))  # none kept: still 2-D
    save_atomic(file, {"images": images, "labels": kept_labels}, {"skipped": json.dumps(skipped)})
    return images, kept_labels, skipped


def save_atomic(file: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file through a temporary name, so that readers (other runs too) never see half of it."""
    file.parent.mkdir(parents=True, exist_ok=True)
    temp = file.with_suffix(f".tmp{os.getpid()}")
    save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, str(temp), metadata=metadata)
    os.replace(temp, file)
