"""Matplotlib figures as PNG: confusion matrix, grids of images and heatmaps, learning-rate curve, trade-off."""

from pathlib import Path

import matplotlib

from cnnlab.kernel import in_kernel

if not in_kernel():  # a kernel keeps its inline backend, so the student's own plots still show in their cells
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def tile_grid(
    count: int, columns: int, tile: tuple[float, float], margin: tuple[float, float] = (0.0, 0.0)
) -> tuple[plt.Figure, np.ndarray]:
    """A figure of `count` tiles in rows of `columns` (each `tile` inches, plus `margin`), every axis hidden."""
    rows = max(1, -(-count // columns))
    figsize = (columns * tile[0] + margin[0], rows * tile[1] + margin[1])
    fig, axes = plt.subplots(rows, columns, figsize=figsize, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def show_image(ax: plt.Axes, image: torch.Tensor, **options: object) -> None:
    """Draw one (C, H, W) image: colour as it is, a single channel in grey."""
    picture = image.permute(1, 2, 0).numpy()
    ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture, cmap="gray", interpolation="nearest", **options)


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write the figure as a PNG and close it."""
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_with_colour_bar(fig: plt.Figure, axes: object, image: object, label: str, path: Path) -> Path:
    """Add one colour bar for all the axes (when something was drawn), then write and close the figure."""
    if image is not None:
        fig.colorbar(image, ax=axes, fraction=0.02, pad=0.02, label=label)
    return save_figure(fig, path)


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
    return save_figure(fig, path)


def save_image_grid(images: torch.Tensor, captions: list[str], path: Path, title: str, columns: int = 8) -> Path:
    """uint8 images (N, C, H, W) in a grid, each with its caption."""
    fig, axes = tile_grid(len(images), columns, (1.8, 2.4))
    for ax, image, caption in zip(axes.flat, images, captions):
        show_image(ax, image)
        ax.set_title(caption, fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


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
    return save_figure(fig, path)


def save_heatmap_grid(
    images: torch.Tensor, maps: torch.Tensor, captions: list[str], path: Path, title: str, columns: int = 4
) -> Path:
    """Each uint8 image (N, C, H, W) twice: as it is, and with its [0, 1] heatmap (N, H, W) laid over it."""
    count = len(images)
    columns = min(columns, count)
    fig, axes = tile_grid(2 * count, 2 * columns, (2.2, 2.4), (0.0, 0.6))
    heat = None
    for index in range(count):
        plain, overlay = axes.flat[2 * index], axes.flat[2 * index + 1]
        show_image(plain, images[index])
        plain.set_title(captions[index], fontsize=7)
        show_image(overlay, images[index])
        heat = overlay.imshow(maps[index].numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
    fig.suptitle(title)
    return save_with_colour_bar(fig, axes, heat, "relevance", path)


def save_tradeoff(params: list[int], accuracy: list[float], spread: list[float], labels: list[str], path: Path,
                  title: str) -> Path:
    """Accuracy (mean ± std) against parameter count on a log axis, one labelled point per model."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for index, (x, y, e, label) in enumerate(zip(params, accuracy, spread, labels)):
        ax.errorbar(x, 100 * y, yerr=100 * e, fmt="o", capsize=4, color=f"C{index % 10}", label=label)
        ax.annotate(label, (x, 100 * y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set(xscale="log", xlabel="parameters", ylabel="accuracy (%)", title=f"accuracy against size: {title}")
    ax.margins(x=0.3, y=0.15)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def save_reliability_diagram(edges: list[float], counts: list[int], confidence: list[float | None],
                             accuracy: list[float | None], path: Path, title: str) -> Path:
    """Accuracy against confidence per bin (bars, None for an empty bin; the diagonal is perfect calibration, the gap to it shaded) over
    a histogram of how many predictions fell in each bin."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    lefts, width = np.array(edges[:-1]), edges[1] - edges[0]
    hits = np.array([a or 0.0 for a in accuracy])
    means = np.array([np.nan if c is None else c for c in confidence])
    top.bar(lefts, hits, width=width, align="edge", edgecolor="black", label="accuracy")
    filled = ~np.isnan(means)
    top.bar(lefts[filled], (means - hits)[filled], bottom=hits[filled], width=width, align="edge", color="tab:red",
            alpha=0.3, edgecolor="tab:red", label="gap to confidence")
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=title)
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(lefts, counts, width=width, align="edge", color="grey", edgecolor="black")
    bottom.set(xlabel="confidence (top-1 probability)", ylabel="images")
    fig.tight_layout()
    return save_figure(fig, path)


def save_coverage_curve(coverage: list[float], accuracy: list[float | None], thresholds: list[float], path: Path,
                        title: str) -> Path:
    """Accuracy of the answered images against coverage (the fraction answered), one point per minimum confidence."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    points = [(c, 100 * a, t) for c, a, t in zip(coverage, accuracy, thresholds) if a is not None]
    ax.plot([c for c, _, _ in points], [a for _, a, _ in points], "o-")
    for c, a, t in points[::4]:
        ax.annotate(f"≥{t:.2f}", (c, a), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel="coverage (fraction of images answered)", ylabel="accuracy of those answered (%)", title=title)
    ax.set_xlim(0, 1.02)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
