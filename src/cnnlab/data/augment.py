"""Batched data augmentation: each op transforms a whole (N, C, H, W) float batch on its own device at once.

Every op is `op(x, generator, **params) -> new tensor`: x is never modified in place, and the result keeps x's
shape, dtype, device and memory format (channels_last stays channels_last). All randomness is drawn from the
given `torch.Generator` (on x's device) in a fixed order, so the same seed gives the same batch. There is no
per-image Python: per-image choices (offsets, masks, angles, factors) are tensors of length N.

Fill conventions: random crop pads with zeros (as torchvision's RandomCrop) or by reflection (`pad_mode`); rotation,
cutout and random erasing fill with 0. Colour jitter expects inputs in [0, 1] and clamps to [0, 1], so it
belongs before normalisation; `build_augment` runs every op on the [0, 1] batch the loader hands it and the
loader normalises afterwards (so the zero fills are black).
"""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnlab.errors import CnnlabError

PAD_MODES = ("zeros", "reflect")
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as PIL and torchvision use
ERASING_ATTEMPTS = 10  # torchvision's RandomErasing tries this many rectangles before giving up


def _check_batch(x: torch.Tensor) -> None:
    """Raise unless x is a floating (N, C, H, W) batch."""
    if x.dim() != 4 or not x.is_floating_point():
        raise CnnlabError(f"augmentation needs a float batch of shape (N, C, H, W), got {x.dtype} {tuple(x.shape)}")


def _check_unit(name: str, value: float) -> None:
    """Raise unless value is a probability."""
    if not 0 <= value <= 1:
        raise CnnlabError(f"{name} must be a probability in [0, 1], got {value}")


def _check_range(name: str, bounds: tuple[float, float], low: float, high: float) -> None:
    """Raise unless bounds is an ordered pair inside (low, high]."""
    if len(bounds) != 2 or not low < bounds[0] <= bounds[1] <= high:
        raise CnnlabError(f"{name} must be a pair lo <= hi in ({low}, {high}], got {tuple(bounds)}")


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels_last if x is stored that way (and not also plain contiguous), else contiguous."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def _like(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """out stored in x's memory format."""
    return out.contiguous(memory_format=_memory_format(x))


def _uniform(n: int, low: float, high: float, generator: torch.Generator, x: torch.Tensor) -> torch.Tensor:
    """n draws from U[low, high) on x's device, in float32."""
    u = torch.rand(n, generator=generator, device=x.device)
    return low + (high - low) * u


def _randint(
    high: torch.Tensor | int, shape: tuple[int, ...], generator: torch.Generator, x: torch.Tensor
) -> torch.Tensor:
    """Integers uniform in [0, high) (high may be a per-element tensor), on x's device."""
    u = torch.rand(shape, generator=generator, device=x.device)
    high = torch.as_tensor(high, device=x.device)
    return torch.minimum((u * high).long(), high - 1)  # float rounding can lift u*high to high


def _reflect(pos: torch.Tensor, size: int) -> torch.Tensor:
    """Positions in [-(size - 1), 2 * (size - 1)] mirrored into [0, size) about the first and last pixel."""
    last = size - 1
    return last - (last - pos.abs()).abs()


def crop_at(
    x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, padding: int, pad_mode: str
) -> torch.Tensor:
    """Each image's H x W window at (top[i], left[i]) of the image padded by `padding` on every side.

    One gather reads every window. Reflection needs no padded copy: the source indices are mirrored at the
    border instead. Zero padding pads the batch once (faster than masking the zeros in afterwards)."""
    _check_batch(x)
    if pad_mode not in PAD_MODES:
        raise CnnlabError(f"unknown pad mode {pad_mode!r}: use one of {', '.join(PAD_MODES)}")
    n, c, h, w = x.shape
    if padding < 0 or (pad_mode == "reflect" and padding >= min(h, w)):
        raise CnnlabError(f"crop padding {padding} must be >= 0 (and < {min(h, w)}, the image side, to reflect)")
    rows = top.to(x.device)[:, None] + torch.arange(h, device=x.device)
    cols = left.to(x.device)[:, None] + torch.arange(w, device=x.device)
    if pad_mode == "zeros":
        source = F.pad(x, (padding,) * 4)
    else:
        source, rows, cols = x, _reflect(rows - padding, h), _reflect(cols - padding, w)
    source_h, source_w = source.shape[-2:]
    index = (rows[:, :, None] * source_w + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    out = source.reshape(n, c, source_h * source_w).gather(2, index).view(n, c, h, w)
    return _like(out, x)


def random_crop(
    x: torch.Tensor, generator: torch.Generator, padding: int = 4, pad_mode: str = "zeros"
) -> torch.Tensor:
    """Pad by `padding` (reflect or zeros) and cut a random H x W window per image: a shift of up to ±padding."""
    n = x.shape[0]
    top = _randint(2 * padding + 1, (n,), generator, x)
    left = _randint(2 * padding + 1, (n,), generator, x)
    return crop_at(x, top, left, padding, pad_mode)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """The float batch resized to size x size (bilinear, antialiased when shrinking), in its memory format."""
    _check_batch(x)
    return _like(F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False), x)


def flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability p."""
    _check_batch(x)
    _check_unit("flip probability", p)
    chosen = torch.rand(x.shape[0], generator=generator, device=x.device) < p
    return _like(torch.where(chosen[:, None, None, None], x.flip(3), x), x)


def rotate_by(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate image i counter-clockwise by degrees[i] about its centre: bilinear, zeros outside the image.

    The rotation is a true one in pixel units, also for non-square images."""
    _check_batch(x)
    n, _, h, w = x.shape
    angle = torch.deg2rad(degrees.to(device=x.device, dtype=torch.float64))
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output to input positions in [-1, 1] units; scale x and y by the aspect to rotate pixels
    theta = torch.zeros(n, 2, 3, dtype=torch.float64, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    grid = F.affine_grid(theta.to(x.dtype), [n, 1, h, w], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _like(out, x)


def rotate(x: torch.Tensor, generator: torch.Generator, degrees: float = 15.0) -> torch.Tensor:
    """Rotate each image by an angle uniform in [-degrees, degrees]."""
    return rotate_by(x, _uniform(x.shape[0], -degrees, degrees, generator, x))


def _gray(x: torch.Tensor) -> torch.Tensor:
    """Per-pixel luma (N, 1, H, W) of a 1- or 3-channel batch."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * x + (1 - factor) * other per image, clamped to [0, 1]; exactly x where factor is 1."""
    return torch.lerp(other, x, factor.to(x.device, x.dtype).view(-1, 1, 1, 1)).clamp_(0, 1)


def _factors(n: int, strength: float, generator: torch.Generator, x: torch.Tensor) -> torch.Tensor:
    """Per-image factors uniform in [max(0, 1 - strength), 1 + strength]: exactly 1 when strength is 0."""
    return _uniform(n, max(0.0, 1 - strength), 1 + strength, generator, x)


def jitter_by(
    x: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor
) -> torch.Tensor:
    """Scale image i's brightness, contrast and saturation by the i-th factors, in that order, each step clamped
    to [0, 1]; factors of 1 leave it alone.

    For [0, 1] inputs, before normalisation. Brightness multiplies, contrast blends with the image's mean luma,
    saturation with each pixel's luma (skipped on 1-channel images, which have none)."""
    _check_batch(x)
    if x.shape[1] not in (1, 3):
        raise CnnlabError(f"colour jitter needs 1 or 3 channels, got {x.shape[1]}")
    out = (x * brightness.to(x.device, x.dtype).view(-1, 1, 1, 1)).clamp_(0, 1)
    out = _blend(out, _gray(out.mean((2, 3), keepdim=True)), contrast)  # the luma of the mean colour is the mean luma
    if x.shape[1] == 3:
        out = _blend(out, _gray(out), saturation)
    return _like(out, x)


def color_jitter(
    x: torch.Tensor, generator: torch.Generator, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0
) -> torch.Tensor:
    """Jitter brightness, contrast and saturation per image (see `jitter_by`) by factors uniform in
    [max(0, 1 - s), 1 + s] for each strength s; strengths of 0 leave a [0, 1] batch alone."""
    if min(brightness, contrast, saturation) < 0:
        raise CnnlabError("colour jitter strengths must be >= 0")
    n = x.shape[0]
    factors = [_factors(n, strength, generator, x) for strength in (brightness, contrast, saturation)]
    return jitter_by(x, *factors)


def _box_mask(
    top: torch.Tensor, left: torch.Tensor, height: torch.Tensor, width: torch.Tensor, h: int, w: int
) -> torch.Tensor:
    """(N, 1, H, W) mask of each image's rectangle [top, top + height) x [left, left + width), clipped."""
    rows = torch.arange(h, device=top.device)
    cols = torch.arange(w, device=top.device)
    in_rows = (rows >= top[:, None]) & (rows < (top + height)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + width)[:, None])
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]


def cutout(x: torch.Tensor, generator: torch.Generator, size: int = 8) -> torch.Tensor:
    """Zero a size x size square per image, centred on a uniformly random pixel; it may cross the border
    and is then clipped (DeVries & Taylor, 2017)."""
    _check_batch(x)
    if size < 0:
        raise CnnlabError(f"cutout size must be >= 0, got {size}")
    n, _, h, w = x.shape
    top = _randint(h, (n,), generator, x) - size // 2
    left = _randint(w, (n,), generator, x) - size // 2
    side = torch.full((n,), size, device=x.device)
    return _like(x.masked_fill(_box_mask(top, left, side, side, h, w), 0), x)


def random_erasing(
    x: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
) -> torch.Tensor:
    """With probability p per image, zero one rectangle, as torchvision's RandomErasing(value=0) does.

    The rectangle's area is a uniform fraction in `scale` of the image and its aspect (height / width)
    log-uniform in `ratio`; of 10 such draws per image the first that fits inside is used (if none
    does, the image is left alone). It is placed uniformly inside the image."""
    _check_batch(x)
    _check_unit("erasing probability", p)
    _check_range("erasing scale", scale, 0.0, 1.0)
    _check_range("erasing ratio", ratio, 0.0, math.inf)
    n, _, h, w = x.shape
    shape = (n, ERASING_ATTEMPTS)
    area = h * w * (scale[0] + (scale[1] - scale[0]) * torch.rand(shape, generator=generator, device=x.device))
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(shape, generator=generator, device=x.device))
    heights = torch.sqrt(area * aspect).round().long()
    widths = torch.sqrt(area / aspect).round().long()
    fits = (heights < h) & (widths < w)
    first = fits.int().argmax(1, keepdim=True)
    height, width = heights.gather(1, first)[:, 0], widths.gather(1, first)[:, 0]
    chosen = (torch.rand(n, generator=generator, device=x.device) < p) & fits.any(1)
    top = _randint(h - height + 1, (n,), generator, x)
    left = _randint(w - width + 1, (n,), generator, x)
    mask = _box_mask(top, left, height, width, h, w) & chosen[:, None, None, None]
    return _like(x.masked_fill(mask, 0), x)


DIGIT_SETS = ("mnist", "fashionmnist")
NATURAL_SETS = ("cifar10", "cifar100", "sample", "folder")


@dataclass(frozen=True)
class AugmentConfig:
    """Which batch augmentations to apply and how strongly; every field's default leaves its op off."""

    crop_padding: int = 0
    pad_mode: str = "zeros"
    flip: float = 0.0
    rotation: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    cutout: int = 0
    erasing: float = 0.0
    erasing_scale: tuple[float, float] = (0.02, 0.33)
    erasing_ratio: tuple[float, float] = (0.3, 3.3)

    def __post_init__(self) -> None:
        """Reject impossible settings with one-line errors."""
        if self.crop_padding < 0 or self.cutout < 0:
            raise CnnlabError(f"crop_padding ({self.crop_padding}) and cutout ({self.cutout}) must be >= 0")
        if self.pad_mode not in PAD_MODES:
            raise CnnlabError(f"unknown pad mode {self.pad_mode!r}: use one of {', '.join(PAD_MODES)}")
        _check_unit("flip", self.flip)
        _check_unit("erasing", self.erasing)
        if not 0 <= self.rotation <= 180:
            raise CnnlabError(f"rotation must be in [0, 180] degrees, got {self.rotation}")
        if min(self.brightness, self.contrast, self.saturation) < 0:
            raise CnnlabError("brightness, contrast and saturation must be >= 0")
        _check_range("erasing_scale", self.erasing_scale, 0.0, 1.0)
        _check_range("erasing_ratio", self.erasing_ratio, 0.0, math.inf)

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation at all."""
        return cls()

    @classmethod
    def for_dataset(cls, name: str) -> "AugmentConfig":
        """The usual recipe for a dataset: natural images (cifar10, cifar100, sample, folder) get a ±4 pixel
        random crop and horizontal flips; digits and clothes (mnist, fashion-mnist) a ±2 crop and no flips."""
        key = name.lower().replace("-", "").replace("_", "")
        if key in NATURAL_SETS:
            return cls(crop_padding=4, flip=0.5)
        if key in DIGIT_SETS:
            return cls(crop_padding=2)
        raise CnnlabError(f"no augmentation defaults for {name!r}: use one of {', '.join(NATURAL_SETS + DIGIT_SETS)}")


@dataclass(frozen=True)
class Augment:
    """A chain of batch ops, applied in order with one generator: `augment(x, generator) -> x`."""

    steps: tuple[tuple[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]], ...]

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Run every step on the batch."""
        for _, step in self.steps:
            x = step(x, generator)
        return x

    @property
    def names(self) -> list[str]:
        """The steps' names, in order."""
        return [name for name, _ in self.steps]


def build_augment(config: AugmentConfig) -> Augment:
    """The enabled ops of `config` in the standard order: crop, flip, rotation, colour jitter, cutout, erasing."""
    candidates = [
        ("crop", config.crop_padding > 0, random_crop, dict(padding=config.crop_padding, pad_mode=config.pad_mode)),
        ("flip", config.flip > 0, flip, dict(p=config.flip)),
        ("rotate", config.rotation > 0, rotate, dict(degrees=config.rotation)),
        (
            "jitter",
            max(config.brightness, config.contrast, config.saturation) > 0,
            color_jitter,
            dict(brightness=config.brightness, contrast=config.contrast, saturation=config.saturation),
        ),
        ("cutout", config.cutout > 0, cutout, dict(size=config.cutout)),
        (
            "erasing",
            config.erasing > 0,
            random_erasing,
            dict(p=config.erasing, scale=config.erasing_scale, ratio=config.erasing_ratio),
        ),
    ]
    return Augment(tuple((name, functools.partial(op, **params)) for name, on, op, params in candidates if on))
