"""What chosen layers output for one image: each layer's channels as a grid of heatmaps."""

from pathlib import Path

import torch
from torch import nn

from cnnlab.viz.hooks import capture
from cnnlab.viz.plots import plt


@torch.no_grad()
def feature_maps(model: nn.Module, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """The (C, H, W) output of each named layer for one normalised image (C, H, W)."""
    model.eval()
    with capture(model, layers) as outputs:
        model(image[None])
    return {name: outputs[name][0].float().cpu() for name in layers}


def save_feature_maps(maps: torch.Tensor, path: Path, title: str, limit: int = 64) -> Path:
    """One layer's channels (at most `limit`) as a grid, with a shared colour bar."""
    maps = maps[:limit]
    columns = min(8, len(maps))
    rows = -(-len(maps) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.3 + 1, rows * 1.3 + 0.8), squeeze=False)
    low, high = maps.min().item(), maps.max().item()
    image = None
    for ax in axes.flat:
        ax.axis("off")
    for index, (ax, channel) in enumerate(zip(axes.flat, maps)):
        image = ax.imshow(channel.numpy(), cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(str(index), fontsize=7)
    fig.suptitle(title)
    if image is not None:
        fig.colorbar(image, ax=axes, fraction=0.02, pad=0.02, label="activation")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
