"""A conv layer's learned filters as pictures: RGB tiles for a first layer, one grey tile per input channel otherwise."""

from pathlib import Path

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.layers import first_conv
from cnnlab.viz.hooks import find_layer
from cnnlab.viz.plots import save_figure, show_image, tile_grid


def filter_tiles(weight: torch.Tensor) -> torch.Tensor:
    """(out, in, k, k) weights → tiles in [0, 1]: (out, 3, k, k) in colour when in == 3, else (out * in, 1, k, k),
    each tile scaled symmetrically around zero so that grey (0.5) means a zero weight."""
    w = weight.detach().float().cpu()
    tiles = w if w.shape[1] == 3 else w.reshape(-1, 1, *w.shape[2:])
    scale = tiles.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return 0.5 + 0.5 * tiles / scale


def save_filters(model: nn.Module, path: Path, layer: str | None = None, title: str = "", limit: int = 256) -> Path:
    """A grid of a conv layer's filters (default: the first conv layer), at most `limit` tiles."""
    name = layer or first_conv(model)
    _, module = find_layer(model, name)
    if not isinstance(module, nn.Conv2d):
        raise CnnlabError(f"layer {name!r} is a {type(module).__name__}, not a Conv2d")
    weight = module.weight
    tiles = filter_tiles(weight)[:limit]
    columns = weight.shape[1] if weight.shape[1] != 3 and weight.shape[1] <= 16 else min(16, len(tiles))
    fig, axes = tile_grid(len(tiles), columns, (0.6, 0.6), (0.4, 0.8))
    for ax, tile in zip(axes.flat, tiles):
        show_image(ax, tile, vmin=0, vmax=1)
    layout = "RGB per filter" if weight.shape[1] == 3 else "one row per filter, one tile per input channel"
    fig.suptitle(f"{title}{name}: {weight.shape[0]} filters {weight.shape[2]}x{weight.shape[3]} ({layout}; grey = 0)")
    fig.tight_layout()
    return save_figure(fig, path)
