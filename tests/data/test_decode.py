"""Tests for cnnlab.data.decode: every image mode, every kind of bad file, batches and resizing."""

import atexit
import gc
import io
import os
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageFile

from cnnlab.data.decode import IMAGE_EXTENSIONS, UnreadableImage, decode_files, decode_image, is_image_path
from cnnlab.errors import CnnlabError

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    """The bytes of an image saved by Pillow in a format."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def write(folder: Path, name: str, data: bytes) -> Path:
    """Write bytes to folder/name and return the path."""
    path = folder / name
    path.write_bytes(data)
    return path


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG of an (H, W) or (H, W, 3) uint16 array, written by hand (Pillow cannot write 16-bit RGB)."""
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
    height, width, bands = pixels.shape
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, {1: 0, 3: 2}[bands], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pixel(image: torch.Tensor, y: int = 0, x: int = 0) -> tuple[int, ...]:
    """The channel values of one pixel of a (C, H, W) tensor."""
    return tuple(image[:, y, x].tolist())


def with_orientation(image: Image.Image, fmt: str, orientation: int) -> bytes:
    """An image saved with an EXIF orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, fmt, exif=exif.tobytes(), quality=95)


def marked_corner() -> Image.Image:
    """A 40x20 (W x H) black image whose top-left 6x6 corner is white."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:6, :6] = 255
    return Image.fromarray(pixels)


# --- modes -----------------------------------------------------------------------------------------------------------


def test_rgb_png_is_lossless_with_shape_and_dtype():
    pixels = np.random.default_rng(0).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    image = decode_image(encode(Image.fromarray(pixels), "PNG"))
    assert image.dtype == torch.uint8 and image.shape == (3, 7, 11)
    assert torch.equal(image, torch.from_numpy(pixels).permute(2, 0, 1))


def test_grey_png_replicates_to_rgb_and_stays_grey_with_one_channel():
    data = encode(Image.new("L", (5, 4), 77), "PNG")
    assert decode_image(data).shape == (3, 4, 5) and pixel(decode_image(data)) == (77, 77, 77)
    assert decode_image(data, channels=1).shape == (1, 4, 5) and pixel(decode_image(data, channels=1)) == (77,)


def test_one_channel_is_pillows_itu601_luminance():
    pixels = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    expected = np.array(Image.fromarray(pixels).convert("L"))
    assert torch.equal(decode_image(encode(Image.fromarray(pixels), "PNG"), channels=1)[0], torch.from_numpy(expected))


def test_rgba_alpha_is_composited_onto_white():
    image = Image.new("RGBA", (2, 1))
    image.putpixel((0, 0), (255, 0, 0, 0))
    image.putpixel((1, 0), (255, 0, 0, 255))
    decoded = decode_image(encode(image, "PNG"))
    assert pixel(decoded, 0, 0) == WHITE
    assert pixel(decoded, 0, 1) == RED


@settings(max_examples=15, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(4))))
def test_rgba_composite_matches_the_formula(pixels):
    colour, alpha = pixels[..., :3].astype(float), pixels[..., 3:].astype(float) / 255
    expected = np.rint(colour * alpha + 255 * (1 - alpha)).astype(np.uint8)
    decoded = decode_image(encode(Image.fromarray(pixels, "RGBA"), "PNG"))
    assert torch.equal(decoded, torch.from_numpy(expected).permute(2, 0, 1))


def test_grey_alpha_is_composited_onto_white():
    image = Image.new("LA", (3, 1))
    for x, value in enumerate([(100, 0), (100, 255), (100, 128)]):
        image.putpixel((x, 0), value)
    decoded = decode_image(encode(image, "PNG"), channels=1)
    assert decoded.shape == (1, 1, 3)
    assert decoded[0, 0].tolist() == [255, 100, round(100 * 128 / 255 + 255 * 127 / 255)]


def palette_image() -> Image.Image:
    """A 2x1 palette image: index 0 is red, index 1 is green."""
    image = Image.new("P", (2, 1))
    image.putpalette([*RED, *GREEN] + [0] * 762)
    image.putpixel((1, 0), 1)
    return image


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_image_gives_its_colours(fmt):
    decoded = decode_image(encode(palette_image(), fmt))
    assert pixel(decoded, 0, 0) == RED and pixel(decoded, 0, 1) == GREEN


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_white(fmt):
    decoded = decode_image(encode(palette_image(), fmt, transparency=0))
    assert pixel(decoded, 0, 0) == WHITE and pixel(decoded, 0, 1) == GREEN


def test_rgb_colour_key_transparency_becomes_white():
    image = Image.new("RGB", (2, 1), BLUE)
    image.putpixel((1, 0), RED)
    decoded = decode_image(encode(image, "PNG", transparency=BLUE))
    assert pixel(decoded, 0, 0) == WHITE and pixel(decoded, 0, 1) == RED


def test_cmyk_jpeg_comes_back_in_the_right_colours():
    decoded = decode_image(encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95))
    assert decoded.shape == (3, 16, 16)
    assert np.allclose(pixel(decoded, 8, 8), RED, atol=8)


def test_cmyk_jpeg_in_one_channel_is_red_luminance():
    decoded = decode_image(encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95), channels=1)
    assert abs(decoded[0, 8, 8].item() - 76) <= 3  # 0.299 * 255


def test_grey_jpeg_replicates_to_rgb():
    decoded = decode_image(encode(Image.new("L", (8, 8), 90), "JPEG"))
    assert decoded.shape == (3, 8, 8) and len(set(pixel(decoded, 4, 4))) == 1 and abs(decoded[0, 4, 4] - 90) <= 2


def test_16_bit_grey_png_is_scaled_not_clipped():
    pixels = np.array([[65535, 32768, 0, 257 * 100]], np.uint16)
    decoded = decode_image(png16(pixels), channels=1)
    assert decoded.dtype == torch.uint8 and decoded[0, 0].tolist() == [255, 128, 0, 100]


def test_16_bit_rgb_png_is_scaled_not_clipped():
    pixels = np.array([[[65535, 32768, 0], [257 * 7, 65535, 32768]]], np.uint16)
    decoded = decode_image(png16(pixels))
    assert pixel(decoded, 0, 0) == (255, 128, 0) and pixel(decoded, 0, 1) == (7, 255, 128)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_6_turns_the_image_upright(fmt):
    decoded = decode_image(with_orientation(marked_corner(), fmt, 6))
    assert decoded.shape == (3, 40, 20)  # width and height swap
    assert decoded[:, :4, -4:].float().mean() > 200  # the top-left corner moved to the top right
    assert decoded[:, :4, :4].float().mean() < 50


def test_exif_orientation_8_turns_the_image_upright():
    decoded = decode_image(with_orientation(marked_corner(), "JPEG", 8))
    assert decoded.shape == (3, 40, 20)
    assert decoded[:, -4:, :4].float().mean() > 200  # the top-left corner moved to the bottom left
    assert decoded[:, :4, :4].float().mean() < 50


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "WEBP", "PPM"])
def test_formats_torchvision_does_not_read_decode_through_pillow(fmt):
    pixels = np.random.default_rng(2).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    options = {"lossless": True} if fmt == "WEBP" else {}
    decoded = decode_image(encode(Image.fromarray(pixels), fmt, **options))
    assert torch.equal(decoded, torch.from_numpy(pixels).permute(2, 0, 1))


def test_a_path_and_its_bytes_decode_alike(tmp_path):
    data = encode(Image.new("RGB", (4, 3), GREEN), "PNG")
    path = write(tmp_path, "green.png", data)
    assert torch.equal(decode_image(path), decode_image(data))
    assert torch.equal(decode_image(str(path)), decode_image(data))


# --- bad files -------------------------------------------------------------------------------------------------------


def photo_jpeg() -> bytes:
    """A 64x48 noisy JPEG."""
    pixels = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "JPEG", quality=90)


def refusal(tmp_path: Path, name: str, data: bytes) -> str:
    """The message decode_image raises for a file with these bytes (and check it names the file)."""
    path = write(tmp_path, name, data)
    with pytest.raises(UnreadableImage) as caught:
        decode_image(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert caught.value.name == str(path) and isinstance(caught.value, CnnlabError)
    return caught.value.reason


def test_truncated_jpeg_is_refused(tmp_path):
    data = photo_jpeg()
    assert refusal(tmp_path, "cat.jpg", data[: len(data) // 2]) == "truncated JPEG data"
    assert refusal(tmp_path, "cat.jpg", data[:-2]) == "truncated JPEG data"
    assert refusal(tmp_path, "cat.jpg", data[:100]) == "truncated JPEG data"


def test_jpeg_cut_short_with_an_end_marker_appended_is_refused_not_half_grey(tmp_path, capfd):
    data = photo_jpeg()
    reason = refusal(tmp_path, "cat.jpg", data[: len(data) // 2] + b"\xff\xd9")
    assert reason.startswith("decoder warning: ") and "JPEG" in reason
    images, kept, skipped = decode_files([tmp_path / "cat.jpg", write(tmp_path, "ok.jpg", data)])
    assert kept == [1] and skipped == [(str(tmp_path / "cat.jpg"), reason)]
    assert "JPEG" not in capfd.readouterr().err  # said once, in the reason, not also on the console
    print("still here", file=sys.stderr, flush=True)
    assert "still here" in capfd.readouterr().err  # standard error is back where it was


def test_truncated_files_are_refused_even_when_pillow_is_told_to_pad_them(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = photo_jpeg()
    assert refusal(tmp_path, "cat.jpg", data[: len(data) // 2]) == "truncated JPEG data"
    pixels = np.random.default_rng(4).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    bmp = encode(Image.fromarray(pixels), "BMP")
    assert "truncated" in refusal(tmp_path, "cat.bmp", bmp[: len(bmp) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the user's setting is left as it was


def test_truncated_png_is_refused(tmp_path):
    data = encode(Image.fromarray(np.random.default_rng(5).integers(0, 256, (30, 30, 3), dtype=np.uint8)), "PNG")
    assert refusal(tmp_path, "dog.png", data[: len(data) // 2]) == "truncated PNG data"
    assert refusal(tmp_path, "dog.png", data[:20]) == "truncated PNG data"


def test_corrupt_png_header_is_refused(tmp_path):
    data = bytearray(encode(Image.new("RGB", (8, 8)), "PNG"))
    data[20] ^= 0xFF  # the height no longer matches the header's checksum
    assert refusal(tmp_path, "dog.png", bytes(data)).startswith("corrupt PNG data")


def test_corrupt_png_pixels_are_refused(tmp_path):
    data = bytearray(encode(Image.fromarray(np.random.default_rng(6).integers(0, 256, (30, 30, 3), np.uint8)), "PNG"))
    start = data.find(b"IDAT") + 10
    data[start : start + 40] = b"\x55" * 40
    assert refusal(tmp_path, "dog.png", bytes(data)).startswith("corrupt PNG data")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.png", b"", "empty file"),
        ("notes.jpg", b"shopping list:\n- eggs\n- flour\n", "not an image (text)"),
        ("page.jpg", b"<!DOCTYPE html>\n<html><body>Not found</body></html>", "not an image (HTML)"),
        ("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "not an image (SVG vector graphics"),
        ("blob.jpg", bytes(range(256)) * 4, "not an image (unrecognised or unsupported format)"),
    ],
)
def test_files_that_are_not_images_are_refused_with_a_reason(tmp_path, name, data, reason):
    assert refusal(tmp_path, name, data).startswith(reason)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(UnreadableImage, match="nothing.jpg: no such file"):
        decode_image(tmp_path / "nothing.jpg")
    with pytest.raises(UnreadableImage, match="is a directory"):
        decode_image(tmp_path)


def test_bytes_that_are_not_an_image_are_named_as_bytes():
    with pytest.raises(UnreadableImage, match="^<bytes>: empty file$"):
        decode_image(b"")


def test_huge_dimensions_are_refused_before_decoding(tmp_path):
    png = bytearray(encode(Image.new("RGB", (8, 8)), "PNG"))
    png[16:24] = struct.pack(">II", 100_000, 100_000)  # the header now claims 10 gigapixels
    png[29:33] = struct.pack(">I", zlib.crc32(png[12:29]))
    assert refusal(tmp_path, "bomb.png", bytes(png)).startswith("too large to decode safely")
    jpeg = bytearray(encode(Image.new("RGB", (8, 8)), "JPEG"))
    frame = jpeg.find(b"\xff\xc0")
    jpeg[frame + 5 : frame + 9] = struct.pack(">HH", 60_000, 50_000)  # height, width
    assert refusal(tmp_path, "bomb.jpg", bytes(jpeg)).startswith("too large to decode safely (50000x60000 pixels")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_images_over_pillows_pixel_limit_are_refused(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)
    assert decode_image(encode(Image.new("RGB", (15, 20)), fmt)).shape == (3, 20, 15)  # 300 pixels: allowed
    assert refusal(tmp_path, f"big.{fmt.lower()}", encode(Image.new("RGB", (20, 20)), fmt)).startswith("too large")


def test_a_decoder_warning_refuses_the_file(tmp_path):
    tiff = b"II*\x00" + struct.pack("<IHHHII", 8, 1, 0x010E, 2, 100, 1000) + struct.pack("<I", 0)
    data = encode(Image.new("RGB", (8, 8)), "WEBP", exif=b"Exif\x00\x00" + tiff)  # a tag pointing past the end
    assert refusal(tmp_path, "odd.webp", data).startswith("decoder warning: ")


@pytest.mark.parametrize(("channels", "size"), [(2, None), (4, None), (True, None), (3, 0), (3, (4, 5, 6)), (3, "8")])
def test_bad_options_are_user_errors(channels, size):
    with pytest.raises(CnnlabError, match="channels|size"):
        decode_image(encode(Image.new("RGB", (4, 4)), "PNG"), channels=channels, size=size)


# --- sizes -----------------------------------------------------------------------------------------------------------


def thirds() -> bytes:
    """A 60x20 PNG: red, green and blue thirds from left to right."""
    pixels = np.zeros((20, 60, 3), np.uint8)
    pixels[:, :20, 0] = pixels[:, 20:40, 1] = pixels[:, 40:, 2] = 255
    return encode(Image.fromarray(pixels), "PNG")


def test_int_size_resizes_the_shorter_side_then_crops_the_centre():
    decoded = decode_image(thirds(), size=10)
    assert decoded.shape == (3, 10, 10)
    assert pixel(decoded, 5, 5) == GREEN and decoded[1].min() > 200 and decoded[[0, 2]].max() < 60


def test_pair_size_resizes_exactly():
    decoded = decode_image(thirds(), size=(8, 12))
    assert decoded.shape == (3, 8, 12)
    assert pixel(decoded, 4, 0) == RED and pixel(decoded, 4, 6) == GREEN and pixel(decoded, 4, 11) == BLUE


def test_resizing_is_antialiased():
    checks = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)
    decoded = decode_image(encode(Image.fromarray(checks), "PNG"), channels=1, size=8)
    assert decoded.min() >= 120 and decoded.max() <= 135  # the 1-pixel checks average to grey


# --- many files ------------------------------------------------------------------------------------------------------


def test_decode_files_keeps_the_good_and_names_the_bad(tmp_path):
    good = [write(tmp_path, f"{i}.jpg", encode(Image.new("RGB", (6, 5), (i * 40, 0, 0)), "JPEG")) for i in range(3)]
    good.append(write(tmp_path, "3.png", encode(Image.new("LA", (6, 5), (30, 255)), "PNG")))
    bad = [
        write(tmp_path, "empty.jpg", b""),
        write(tmp_path, "cut.jpg", photo_jpeg()[:500]),
        write(tmp_path, "notes.jpg", b"hello"),
    ]
    paths = [good[0], bad[0], good[1], bad[1], good[2], good[3], bad[2], tmp_path / "gone.jpg"]
    seen = []
    images, kept, skipped = decode_files(paths, progress=seen.append)
    assert kept == [0, 2, 4, 5] and images.shape == (4, 3, 5, 6) and images.dtype == torch.uint8
    for row, index in enumerate(kept):
        assert torch.equal(images[row], decode_image(paths[index]))
    assert [path for path, _ in skipped] == [str(p) for p in (*bad[:2], bad[2], tmp_path / "gone.jpg")]
    assert [reason for _, reason in skipped] == [
        "empty file",
        "truncated JPEG data",
        "not an image (text)",
        "no such file",
    ]
    assert sum(seen) == len(paths)


def test_decode_files_handles_many_files_in_batches_with_bad_ones_among_them(tmp_path):
    paths = [write(tmp_path, f"{i:03}.jpg", encode(Image.new("L", (4, 4), i), "JPEG")) for i in range(300)]
    paths[7] = write(tmp_path, "bad.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 30)
    spoiler = bytearray(paths[150].read_bytes())
    spoiler[spoiler.find(b"\xff\xc0") + 4] = 7  # a 7-bit sample precision: the JPEG decoder fails on it
    paths[150] = write(tmp_path, "spoiler.jpg", bytes(spoiler))
    paths[290] = write(tmp_path, "cmyk.jpg", encode(Image.new("CMYK", (4, 4), (0, 255, 255, 0)), "JPEG"))
    images, kept, skipped = decode_files(paths, channels=1)
    assert len(kept) == 298 and 7 not in kept and 150 not in kept and images.shape == (298, 1, 4, 4)
    assert [path for path, _ in skipped] == [str(paths[7]), str(paths[150])]
    assert all(reason.startswith("corrupt JPEG data") for _, reason in skipped)
    assert abs(int(images[kept.index(200), 0, 2, 2]) - 200) <= 2
    assert abs(int(images[kept.index(290), 0, 2, 2]) - 76) <= 3


def test_decode_files_refuses_mixed_sizes_without_a_size(tmp_path):
    paths = [write(tmp_path, "a.png", encode(Image.new("RGB", (4, 4)), "PNG"))]
    paths.append(write(tmp_path, "b.png", encode(Image.new("RGB", (8, 6)), "PNG")))
    with pytest.raises(CnnlabError, match="pass a size"):
        decode_files(paths)
    images, kept, skipped = decode_files(paths, size=5)
    assert images.shape == (2, 3, 5, 5) and kept == [0, 1] and skipped == []
    images, _, _ = decode_files(paths, channels=1, size=(3, 7))
    assert images.shape == (2, 1, 3, 7)


def test_decode_files_of_nothing_usable_is_empty(tmp_path):
    images, kept, skipped = decode_files([write(tmp_path, "x.jpg", b"")], size=8)
    assert images.shape == (0, 3, 8, 8) and kept == [] and skipped == [(str(tmp_path / "x.jpg"), "empty file")]
    assert decode_files([])[0].shape == (0, 3, 0, 0)


# --- extensions ------------------------------------------------------------------------------------------------------


def test_image_paths_are_known_by_extension():
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)
    assert is_image_path("a/cat.JPG") and is_image_path(Path("dog.png")) and is_image_path("x.tiff")
    assert not is_image_path("notes.txt") and not is_image_path("README") and not is_image_path("a/._cat.jpg")


# --- what others do meanwhile ----------------------------------------------------------------------------------------
# Python's warnings and file descriptor 2 are the whole process's: what another thread (or the garbage collector, for
# another object) says while an image decodes is not the image's, and must reach its own destination all the same.

FOREIGN_LINE = b'INFO:     127.0.0.1:50312 - "POST /predict HTTP/1.1" 200 OK\n'


def meanwhile(monkeypatch, target: str, *actions) -> list[str]:
    """Wrap decode's `target` (a name in cnnlab.data.decode, or torchvision.io's decode_jpeg) so that, every time a
    decoder runs, each action runs first while the decoder's watch is on; returns the threads' failures, if any."""
    from cnnlab.data import decode

    owner = decode.tvio if target == "decode_jpeg" else decode
    real, failures = getattr(owner, target), []

    def noisy(*args, **kwargs):
        for action in actions:
            action(failures)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, target, noisy)
    return failures


def in_another_thread(job):
    """An action that runs `job` in a new thread and waits for it."""
    def action(failures):
        def run():
            try:
                job()
            except BaseException as err:  # noqa: BLE001 (reported to the test)
                failures.append(repr(err))
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    return action


def warn_from_elsewhere():
    """A warning of another thread's code, and one another thread raises inside Pillow's package."""
    warnings.warn("another thread's warning", UserWarning)
    warnings.warn_explicit("another thread inside Pillow", UserWarning, Image.__file__, 1, module="PIL.Image")


def collect_garbage_here(failures):
    """What the garbage collector does when it runs in the decoding thread: another request's unclosed upload says so
    (the real one, and one as if the collector had run inside Pillow's code)."""
    class Holder:
        pass

    holder = Holder()
    holder.self, holder.file = holder, tempfile.SpooledTemporaryFile(16)
    holder.file.write(b"x" * 64)
    del holder
    gc.collect()
    warnings.warn_explicit(ResourceWarning("Unclosed file <tempfile.SpooledTemporaryFile object>"), ResourceWarning,
                           Image.__file__, 1, module="PIL.Image")


@pytest.mark.parametrize(("fmt", "target"), [("JPEG", "decode_jpeg"), ("PNG", "_pillow_pixels")])
def test_warnings_raised_meanwhile_elsewhere_are_passed_on_not_blamed_on_the_image(monkeypatch, fmt, target):
    data = encode(Image.fromarray(np.random.default_rng(7).integers(0, 256, (12, 10, 3), np.uint8)), fmt)
    expected = decode_image(data)
    failures = meanwhile(monkeypatch, target, in_another_thread(warn_from_elsewhere), collect_garbage_here)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert torch.equal(decode_image(data), expected)
        images, kept, skipped = decode_files([write_temp(data, fmt)] * 3)
    assert not failures and skipped == [] and kept == [0, 1, 2] and torch.equal(images[0], expected)
    said = [str(w.message) for w in caught]
    assert said.count("another thread's warning") >= 2 and said.count("another thread inside Pillow") >= 2
    assert sum("Unclosed file <tempfile.SpooledTemporaryFile" in s for s in said) >= 4  # the real and the simulated


def write_temp(data: bytes, fmt: str) -> str:
    """Bytes written to a new temporary file with the format's extension (removed at exit)."""
    file = tempfile.NamedTemporaryFile(suffix=f".{fmt.lower()}", delete=False)
    with file:
        file.write(data)
    atexit.register(os.unlink, file.name)
    return file.name


def test_a_decoder_warning_still_refuses_its_image_while_others_warn(monkeypatch, tmp_path):
    test_a_decoder_warning_refuses_the_file(tmp_path)  # the decoder's own warning, as before
    meanwhile(monkeypatch, "_pillow_pixels", in_another_thread(warn_from_elsewhere), collect_garbage_here)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        test_a_decoder_warning_refuses_the_file(tmp_path)  # and with others warning around it
        assert decode_image(encode(Image.new("RGB", (8, 8)), "WEBP")).shape == (3, 8, 8)


def test_the_decoders_own_warnings_count_whatever_the_filters_say(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a script that silenced every warning still gets the file refused, twice
        test_a_decoder_warning_refuses_the_file(tmp_path)
        test_a_decoder_warning_refuses_the_file(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        test_a_decoder_warning_refuses_the_file(tmp_path)


def test_warning_filters_and_showwarning_are_left_as_they_were():
    before, show = list(warnings.filters), warnings.showwarning
    decode_image(encode(Image.new("RGB", (8, 8)), "JPEG"))
    decode_image(encode(Image.new("RGB", (8, 8)), "PNG"))
    assert warnings.filters == before and warnings.showwarning is show


def test_a_line_another_thread_writes_to_stderr_during_a_jpeg_decode_reaches_stderr(monkeypatch, capfd, tmp_path):
    failures = meanwhile(monkeypatch, "decode_jpeg", in_another_thread(lambda: os.write(2, FOREIGN_LINE)))
    data = photo_jpeg()
    assert decode_image(data).shape == (3, 48, 64)
    images, kept, skipped = decode_files([write(tmp_path, "a.jpg", data), write(tmp_path, "b.jpg", data)])
    assert kept == [0, 1] and skipped == [] and not failures
    assert capfd.readouterr().err.encode().count(FOREIGN_LINE) == 2  # once per decoder call: one alone, one batch
    cut = write(tmp_path, "cut.jpg", data[: len(data) // 2] + b"\xff\xd9")
    with pytest.raises(UnreadableImage, match="cut.jpg: decoder warning: Corrupt JPEG data"):
        decode_image(cut)  # libjpeg's own line still refuses its image ...
    err = capfd.readouterr().err
    assert FOREIGN_LINE.decode() in err and "Corrupt JPEG" not in err  # ... and is not echoed; the other line is


def test_many_threads_warning_and_writing_to_stderr_while_images_decode(capfd, tmp_path):
    jpeg, png = photo_jpeg(), encode(Image.new("RGB", (9, 7), GREEN), "PNG")
    paths = [write(tmp_path, f"{i}.{'jpg' if i % 2 else 'png'}", jpeg if i % 2 else png) for i in range(40)]
    stop, counts = threading.Event(), [0] * 4

    def chatter(index: int) -> None:
        while not stop.is_set():
            warnings.warn(f"chatter {index}", UserWarning)
            os.write(2, b"chatter line %d\n" % index)
            counts[index] += 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=chatter, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(5):
                for path in paths:
                    decode_image(path)
                _, kept, skipped = decode_files(paths, size=8)
                assert skipped == [] and len(kept) == len(paths)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    said = [str(w.message) for w in caught]
    err = capfd.readouterr().err
    for index, count in enumerate(counts):
        assert said.count(f"chatter {index}") == count and err.count(f"chatter line {index}\n") == count


@pytest.mark.parametrize("size, options", [((37, 21), {}), ((64, 48), {"progressive": True}),
                                           ((5, 300), {"subsampling": 0}), ((1, 1), {"quality": 20})])
def test_header_pixels_of_a_jpeg_is_its_width_times_height_as_pillow_reads_it(size, options):
    from cnnlab.data.decode import header_pixels

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(buffer, "JPEG", **options)
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        assert header_pixels(buffer.getvalue()) == image.width * image.height == size[0] * size[1]


def test_header_pixels_of_a_truncated_jpeg_or_a_png_or_junk():
    from cnnlab.data.decode import header_pixels

    jpeg, png = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (30, 20)).save(jpeg, "JPEG")
    Image.new("RGB", (30, 20)).save(png, "PNG")
    assert header_pixels(jpeg.getvalue()[:40]) is None  # cut off before its frame header
    assert header_pixels(png.getvalue()) == 600
    assert header_pixels(b"neither") is None
