"""What chosen layers output for one image: each layer's channels as a grid of heatmaps."""

from pathlib import Path

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.viz.hooks import capture, conv_layers
from cnnlab.viz.plots import save_with_colour_bar, tile_grid


@torch.no_grad()
def feature_maps(model: nn.Module, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """The (C, H, W) output of each named layer for one normalised image (C, H, W)."""
    model.eval()
    with capture(model, layers) as outputs:
        model(image[None])
    flat = [name for name in layers if not isinstance(outputs.get(name), torch.Tensor) or outputs[name].dim() != 4]
    if flat:
        raise CnnlabError(f"layer {flat[0]!r} gives no feature maps (channels x height x width); layers that do: "
                          f"{', '.join(conv_layers(model))}")
    return {name: outputs[name][0].float().cpu() for name in layers}


def save_feature_maps(maps: torch.Tensor, path: Path, title: str, limit: int = 64) -> Path:
    """One layer's channels (at most `limit`) as a grid, with a shared colour bar."""
    maps = maps[:limit]
    columns = min(8, len(maps))
    fig, axes = tile_grid(len(maps), columns, (1.3, 1.3), (1.0, 0.8))
    low, high = maps.min().item(), maps.max().item()
    image = None
    for index, (ax, channel) in enumerate(zip(axes.flat, maps)):
        image = ax.imshow(channel.numpy(), cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(str(index), fontsize=7)
    fig.suptitle(title)
    return save_with_colour_bar(fig, axes, image, "activation", path)
