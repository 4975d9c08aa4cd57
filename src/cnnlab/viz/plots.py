"""Matplotlib figures saved as PNG: a confusion matrix, grids of labelled images and heatmaps, a learning-rate curve."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def save_confusion_matrix(confusion: list[list[int]], classes: list[str], path: Path, title: str) -> Path:
    """A heatmap of counts (rows: true class, columns: predicted) with a colour bar."""
    n = len(classes)
    size = max(5.0, 0.5 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="images")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_yticklabels(classes)
    if n <= 20:
        peak = max(max(row) for row in confusion) or 1
        for t in range(n):
            for p in range(n):
                colour = "white" if confusion[t][p] > peak / 2 else "black"
                ax.text(p, t, str(confusion[t][p]), ha="center", va="center", color=colour, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_image_grid(images: torch.Tensor, captions: list[str], path: Path, title: str, columns: int = 8) -> Path:
    """uint8 images (N, C, H, W) in a grid, each with its caption."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.8, rows * 2.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions):
        picture = image.permute(1, 2, 0).numpy()
        ax.imshow(picture.squeeze(-1) if picture.shape[-1] == 1 else picture, cmap="gray", interpolation="nearest")
        ax.set_title(caption, fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_lr_curve(lrs: list[float], losses: list[float], suggestion: float, path: Path, title: str) -> Path:
    """Loss against learning rate on a log axis, with the suggested rate marked."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.axvline(suggestion, color="tab:red", linestyle="--", label=f"suggestion {suggestion:.1e}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="loss (smoothed)", title=title)
    low, high = min(losses), losses[0]
    ax.set_ylim(low - 0.1 * abs(high - low), max(high, low) + 0.5 * abs(high - low) + 1e-9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_heatmap_grid(
    images: torch.Tensor, maps: torch.Tensor, captions: list[str], path: Path, title: str, columns: int = 4
) -> Path:
    """Each uint8 image (N, C, H, W) twice: as it is, and with its [0, 1] heatmap (N, H, W) laid over it."""
    count = len(images)
    columns = min(columns, count)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(4.4 * columns, 2.4 * rows + 0.6), squeeze=False)
    heat = None
    for ax in axes.flat:
        ax.axis("off")
    for index in range(count):
        plain, overlay = axes.flat[2 * index], axes.flat[2 * index + 1]
        picture = images[index].permute(1, 2, 0).numpy()
        picture = picture.squeeze(-1) if picture.shape[-1] == 1 else picture
        plain.imshow(picture, cmap="gray", interpolation="nearest")
        plain.set_title(captions[index], fontsize=7)
        overlay.imshow(picture, cmap="gray", interpolation="nearest")
        heat = overlay.imshow(maps[index].numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
    fig.suptitle(title)
    if heat is not None:
        fig.colorbar(heat, ax=axes, fraction=0.02, pad=0.02, label="relevance")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
