"""Batched augmentation: shapes and formats kept, determinism, and each op's geometry checked against torch."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.transforms.v2 import functional as TF

from cnnlab.data.augment import (
    AugmentConfig,
    build_augment,
    color_jitter,
    crop_at,
    cutout,
    flip,
    jitter_by,
    random_crop,
    random_erasing,
    resize,
    rotate,
    rotate_by,
)
from cnnlab.errors import CnnlabError

OPS = {
    "crop-reflect": lambda x, g: random_crop(x, g, padding=4, pad_mode="reflect"),
    "crop-zeros": lambda x, g: random_crop(x, g, padding=4, pad_mode="zeros"),
    "flip": lambda x, g: flip(x, g, p=0.5),
    "rotate": lambda x, g: rotate(x, g, degrees=30),
    "jitter": lambda x, g: color_jitter(x, g, brightness=0.5, contrast=0.5, saturation=0.5),
    "cutout": lambda x, g: cutout(x, g, size=8),
    "erasing": lambda x, g: random_erasing(x, g, p=0.5),
    "pipeline": build_augment(
        AugmentConfig(
            crop_padding=4, flip=0.5, rotation=10, brightness=0.2, contrast=0.2, saturation=0.2, cutout=6, erasing=0.5
        )
    ),
}


def batch(n: int = 16, c: int = 3, h: int = 16, w: int = 16, seed: int = 0, low: float = 0.0) -> torch.Tensor:
    """A random [low, 1) batch, like uint8 images scaled to [0, 1]."""
    x = torch.randint(0, 256, (n, c, h, w), generator=torch.Generator().manual_seed(seed)).float() / 255
    return low + (1 - low) * x


def gen(seed: int = 0) -> torch.Generator:
    """A seeded CPU generator."""
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_op_keeps_shape_dtype_device_format_and_range(name, channels, dtype, fmt):
    x = batch(c=channels, h=12, w=20).to(dtype).contiguous(memory_format=fmt)
    before = x.clone()
    out = OPS[name](x, gen())
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert out.is_contiguous(memory_format=fmt)
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(x, before), "the input batch must not be modified"


@pytest.mark.parametrize("name", OPS)
def test_same_seed_same_batch_other_seed_other_batch(name):
    x = batch(n=32)
    assert torch.equal(OPS[name](x, gen(1)), OPS[name](x, gen(1)))
    assert not torch.equal(OPS[name](x, gen(1)), OPS[name](x, gen(2)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", OPS)
def test_ops_run_on_cuda_with_a_cuda_generator(name):
    x = batch(n=32).cuda().contiguous(memory_format=torch.channels_last)
    first = OPS[name](x, torch.Generator(device="cuda").manual_seed(1))
    assert first.device == x.device and first.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(first, OPS[name](x, torch.Generator(device="cuda").manual_seed(1)))
    assert first.min() >= 0 and first.max() <= 1


def test_flip_with_p1_mirrors_every_image_and_p0_none():
    x = batch()
    assert torch.equal(flip(x, gen(), p=1.0), torch.flip(x, dims=[3]))
    assert torch.equal(flip(x, gen(), p=0.0), x)


def test_flip_mirrors_some_images_whole_and_leaves_the_rest():
    x = batch(n=64)
    out = flip(x, gen(), p=0.5)
    mirrored = (out == x.flip(3)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert bool((mirrored | kept).all()) and 0 < int(mirrored.sum()) < 64


@pytest.mark.parametrize("pad_mode", ["reflect", "zeros"])
def test_crop_with_padding_0_is_identity(pad_mode):
    x = batch()
    assert torch.equal(random_crop(x, gen(), padding=0, pad_mode=pad_mode), x)


@pytest.mark.parametrize("pad_mode,torch_mode", [("reflect", "reflect"), ("zeros", "constant")])
def test_crop_at_is_the_window_of_the_padded_image(pad_mode, torch_mode):
    x = batch(n=8, h=10, w=14)
    top = torch.tensor([0, 1, 2, 3, 4, 5, 6, 3])
    left = torch.tensor([6, 5, 4, 3, 2, 1, 0, 0])
    out = crop_at(x, top, left, padding=3, pad_mode=pad_mode)
    padded = F.pad(x, (3, 3, 3, 3), mode=torch_mode)
    for i in range(8):
        assert torch.equal(out[i], padded[i, :, top[i] : top[i] + 10, left[i] : left[i] + 14])


@pytest.mark.parametrize("pad_mode,torch_mode", [("reflect", "reflect"), ("zeros", "constant")])
def test_random_crop_picks_a_window_of_the_padded_image_at_every_offset(pad_mode, torch_mode):
    p, n = 2, 200
    x = batch(n=n, h=8, w=8)
    out = random_crop(x, gen(), padding=p, pad_mode=pad_mode)
    padded = F.pad(x, (p, p, p, p), mode=torch_mode)
    offsets = [(dy, dx) for dy in range(2 * p + 1) for dx in range(2 * p + 1)]
    windows = torch.stack([padded[:, :, dy : dy + 8, dx : dx + 8] for dy, dx in offsets], 1)
    matches = (windows == out[:, None]).flatten(2).all(2)  # (n, offsets)
    assert bool(matches.any(1).all()), "every output must be one window of its padded image"
    assert bool(matches.any(0).all()), "every offset must occur in a large batch"


@settings(max_examples=20, deadline=None)
@given(h=st.integers(4, 12), w=st.integers(4, 12), padding=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_crop_at_matches_manual_reflect_slices_for_any_shape(h, w, padding, seed):
    x = batch(n=3, c=2, h=h, w=w, seed=seed)
    offsets = torch.randint(0, 2 * padding + 1, (2, 3), generator=gen(seed))
    out = crop_at(x, offsets[0], offsets[1], padding, "reflect")
    padded = F.pad(x, (padding,) * 4, mode="reflect")
    for i in range(3):
        dy, dx = int(offsets[0, i]), int(offsets[1, i])
        assert torch.equal(out[i], padded[i, :, dy : dy + h, dx : dx + w])


def zero_box(image: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) bounds of the zero pixels of a (C, H, W) image with positive pixels elsewhere,
    after checking that they form one full rectangle across all channels; None if nothing is zero."""
    zero = image == 0
    assert torch.equal(zero, zero[:1].expand_as(zero)), "the zeroed area must cover every channel"
    rows = zero[0].any(1).nonzero()[:, 0]
    cols = zero[0].any(0).nonzero()[:, 0]
    if len(rows) == 0:
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    assert int(zero[0].sum()) == (bottom - top) * (right - left), "the zeroed area must be a rectangle"
    return top, bottom, left, right


@pytest.mark.parametrize("size", [5, 8])
def test_cutout_zeroes_one_square_per_image_clipped_at_the_border(size):
    h = w = 12
    x = batch(n=64, h=h, w=w, low=0.1)
    out = cutout(x, gen(), size=size)
    clipped = 0
    for i in range(64):
        top, bottom, left, right = zero_box(out[i])
        assert torch.equal(out[i][out[i] != 0], x[i][out[i] != 0])
        for start, stop, side in ((top, bottom, h), (left, right, w)):
            assert math.ceil(size / 2) <= stop - start <= size  # the centre pixel lies inside the square
            if stop - start < size:
                assert start == 0 or stop == side, "only the border may clip the square"
                clipped += 1
    assert clipped > 0, "some squares must cross the border in a batch this size"


def test_resize_shrinks_to_the_side_keeping_format_and_flat_images():
    x = torch.rand(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    small = resize(x, 20)
    assert small.shape == (4, 3, 20, 20) and small.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(resize(torch.full((2, 3, 32, 32), 0.7), 24), torch.full((2, 3, 24, 24), 0.7))
    checker = ((torch.arange(32)[:, None] + torch.arange(32)) % 2).float().expand(1, 1, 32, 32)
    assert (resize(checker, 20) - 0.5).abs().max() < 0.05  # antialiased: the finest pattern blurs to grey


def test_rotation_by_0_is_identity():
    x = batch(h=9, w=13)
    assert torch.allclose(rotate_by(x, torch.zeros(len(x))), x, atol=1e-6)
    assert torch.allclose(rotate(x, gen(), degrees=0), x, atol=1e-6)


def test_rotation_by_90_on_a_square_equals_rot90():
    x = batch(h=10, w=10)
    assert torch.allclose(rotate_by(x, torch.full((len(x),), 90.0)), torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(rotate_by(x, torch.full((len(x),), -90.0)), torch.rot90(x, -1, dims=(2, 3)), atol=1e-5)


def test_rotation_turns_pixels_not_normalised_coordinates_on_a_wide_image():
    x = torch.zeros(2, 1, 8, 16)
    x[..., 4:12] = batch(n=2, c=1, h=8, w=8)  # a centred 8x8 square in a wide image
    out = rotate_by(x, torch.tensor([90.0, -90.0]))
    assert torch.allclose(out[:1, ..., 4:12], torch.rot90(x[:1, ..., 4:12], 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(out[1:, ..., 4:12], torch.rot90(x[1:, ..., 4:12], -1, dims=(2, 3)), atol=1e-5)
    assert out[..., :4].abs().max() < 1e-5 and out[..., 12:].abs().max() < 1e-5


def test_random_erasing_with_p0_is_identity():
    x = batch()
    assert torch.equal(random_erasing(x, gen(), p=0.0), x)


def test_random_erasing_with_p1_zeroes_a_square_within_the_scale_bounds():
    h, w, scale = 20, 20, (0.05, 0.3)
    x = batch(n=64, h=h, w=w, low=0.1)
    out = random_erasing(x, gen(), p=1.0, scale=scale, ratio=(1.0, 1.0))
    lowest = round(math.sqrt(scale[0] * h * w)) ** 2
    highest = round(math.sqrt(scale[1] * h * w)) ** 2
    areas = []
    for i in range(64):
        top, bottom, left, right = zero_box(out[i])
        assert bottom - top == right - left
        areas.append((bottom - top) * (right - left))
    assert lowest <= min(areas) and max(areas) <= highest and min(areas) < max(areas)


@pytest.mark.parametrize("scale,least", [((0.02, 0.33), 60), ((0.3, 0.6), 40)])
def test_random_erasing_erases_rectangles_that_fit_with_bounded_area(scale, least):
    h, w, ratio = 16, 16, (0.3, 3.3)
    x = batch(n=64, h=h, w=w, low=0.1)
    out = random_erasing(x, gen(), p=1.0, scale=scale, ratio=ratio)
    erased = 0
    for i in range(64):
        box = zero_box(out[i])
        if box is None:  # none of the 10 draws fitted the image
            continue
        top, bottom, left, right = box
        height, width = bottom - top, right - left
        assert height < h and width < w, "only a rectangle smaller than the image may be erased"
        slack = (height + width) / 2 + 0.25  # rounding each side to a whole pixel
        assert scale[0] * h * w - slack <= height * width <= scale[1] * h * w + slack
        erased += 1
    assert erased >= least


def test_jitter_with_factors_0_is_identity():
    x = batch()
    assert torch.equal(color_jitter(x, gen(), brightness=0, contrast=0, saturation=0), x)


@pytest.mark.parametrize("channels", [1, 3])
def test_jitter_by_matches_torchvision_adjustments_image_by_image(channels):
    x = batch(n=6, c=channels)
    b = torch.tensor([0.5, 1.4, 1.0, 0.8, 1.2, 0.0])
    c = torch.tensor([1.5, 0.6, 1.0, 0.0, 1.3, 0.9])
    s = torch.tensor([0.2, 1.8, 1.0, 1.1, 0.0, 1.5])
    out = jitter_by(x, b, c, s)
    for i in range(6):
        expected = TF.adjust_brightness(x[i], float(b[i]))
        expected = TF.adjust_contrast(expected, float(c[i]))
        expected = TF.adjust_saturation(expected, float(s[i])) if channels == 3 else expected
        assert torch.allclose(out[i], expected, atol=1e-3)  # torchvision's luma weights differ by 1e-4


def test_brightness_scales_each_image_by_one_factor_in_range():
    x = batch(n=8, low=0.1) * 0.5
    out = color_jitter(x, gen(), brightness=0.4)
    ratio = (out / x).flatten(1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-5)
    assert bool(((ratio >= 0.6 - 1e-6) & (ratio <= 1.4 + 1e-6)).all()) and ratio.std() > 0


def test_saturation_leaves_gray_images_and_single_channels_alone():
    gray = batch(c=1).expand(-1, 3, -1, -1)
    assert torch.allclose(color_jitter(gray, gen(), saturation=0.9), gray, atol=1e-6)
    single = batch(c=1)
    assert torch.equal(color_jitter(single, gen(), saturation=0.9), single)


def test_contrast_keeps_each_image_mean_luma_when_nothing_clips():
    x = 0.4 + 0.2 * batch(c=1)
    out = color_jitter(x, gen(), contrast=0.5)
    assert torch.allclose(out.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-5)
    assert not torch.allclose(out, x)


def test_dataset_defaults():
    cifar = AugmentConfig.for_dataset("cifar10")
    assert (cifar.crop_padding, cifar.flip) == (4, 0.5)
    assert build_augment(cifar).names == ["crop", "flip"]
    for name in ("mnist", "fashion-mnist", "Fashion_MNIST"):
        digits = AugmentConfig.for_dataset(name)
        assert (digits.crop_padding, digits.flip) == (2, 0.0)
        assert build_augment(digits).names == ["crop"]
    assert build_augment(AugmentConfig.none()).names == []
    with pytest.raises(CnnlabError, match="imagenet"):
        AugmentConfig.for_dataset("imagenet")


def test_empty_pipeline_returns_the_batch_and_full_one_runs_in_standard_order():
    x = batch()
    assert build_augment(AugmentConfig.none())(x, gen()) is x
    full = AugmentConfig(crop_padding=2, flip=0.5, rotation=5, contrast=0.1, cutout=4, erasing=0.1)
    assert build_augment(full).names == ["crop", "flip", "rotate", "jitter", "cutout", "erasing"]


def test_pipeline_equals_its_ops_applied_in_order_with_one_generator():
    x = batch()
    g = gen(3)
    expected = flip(random_crop(x, g, padding=4), g, p=0.5)
    assert torch.equal(build_augment(AugmentConfig.for_dataset("cifar10"))(x, gen(3)), expected)


@pytest.mark.parametrize(
    "settings_",
    [dict(flip=1.5), dict(crop_padding=-1), dict(pad_mode="wrap"), dict(rotation=-5), dict(brightness=-0.1),
     dict(erasing_scale=(0.5, 0.1)), dict(erasing_ratio=(0.0, 1.0)), dict(cutout=-2)],
)
def test_bad_settings_are_user_errors(settings_):
    with pytest.raises(CnnlabError):
        AugmentConfig(**settings_)


def test_bad_batches_are_user_errors():
    with pytest.raises(CnnlabError, match="N, C, H, W"):
        flip(torch.rand(3, 8, 8), gen())
    with pytest.raises(CnnlabError, match="N, C, H, W"):
        flip(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), gen())
    with pytest.raises(CnnlabError, match="padding"):
        random_crop(batch(h=4, w=4), gen(), padding=4, pad_mode="reflect")
    with pytest.raises(CnnlabError, match="channels"):
        color_jitter(batch(c=4), gen(), saturation=0.5)
