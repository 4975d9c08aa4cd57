"""Decode any image file into the uint8 (C, H, W) tensor a CNN takes, and say why a file cannot be used.

JPEGs, most of any dataset, go through torchvision.io (libjpeg-turbo) in batches for speed; every
other format, and any JPEG torchvision cannot read, goes through Pillow. (PNGs go through Pillow
too: torchvision 0.29's decode_png crashes the whole process on corrupt pixel data.) A JPEG's
structure is checked first, so a truncated one is refused by both paths and never comes back half
grey; Pillow is made to refuse truncated files whatever ImageFile.LOAD_TRUNCATED_IMAGES says. An
image over Pillow's MAX_IMAGE_PIXELS is refused before its pixels are allocated. A warning raised
while decoding a file refuses that file too: a Python warning that Pillow or torchvision raises
about the data, or a libjpeg warning such as "Corrupt JPEG data: premature end of data segment"
(a cut file with an end marker appended, whose missing part would come back grey), which libjpeg
can only print, so it is read back from stderr.

Both are watched process-wide (Python's warning filters and file descriptor 2 are), so only what
the decoder itself said counts against the image: a warning raised meanwhile by another thread,
or one about something else (a ResourceWarning of another object collected here, a deprecation
notice), goes on to its own filters; a line another thread writes to stderr meanwhile is written
back to stderr, and only libjpeg's own messages are kept. Decoders run one at a time, under a lock.
"""

import codecs
import io
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import PIL
import torch
import torchvision
import torchvision.io as tvio
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as F

from cnnlab.errors import CnnlabError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".webp"}
    | {".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico"}
)

Size = int | tuple[int, int] | None

_T = TypeVar("_T")
_CHUNK = 256
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_GREY_MODES = _SIXTEEN_BIT_MODES | {"1", "L", "LA", "La", "F"}
_MAGIC = (
    ("JPEG", _JPEG_SIGNATURE),
    ("PNG", b"\x89PNG"),
    ("GIF", b"GIF8"),
    ("BMP", b"BM"),
    ("TIFF", b"II*\x00"),
    ("TIFF", b"MM\x00*"),
    ("WEBP", b"RIFF"),
)
_LIMIT_NAME = "PIL.Image.MAX_IMAGE_PIXELS"
_DECODER_LOCK = threading.RLock()
# Python warnings count against an image only when a decoder's own package raised them (torch's for the C++ of
# torchvision's ops, which warn from torch._ops), in the decoding thread, and they can be about data: a deprecation
# notice is about code, a ResourceWarning about another object (garbage collected while the decoder ran)
_DECODER_PACKAGES = {package.__name__: os.path.dirname(package.__file__) for package in (PIL, torchvision, torch)}
_DECODER_MODULES = rf"(?:{'|'.join(_DECODER_PACKAGES)})(?:\..*)?\Z"
_NOT_ABOUT_DATA = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ResourceWarning)
_REEMITTED: dict[str, dict] = {}  # the warning registries (one per file) of warnings passed on after a decode
# What libjpeg(-turbo) prints on stderr: its warnings (JWRN_* of jerror.h); any other line there is someone else's
_LIBJPEG_WARNINGS = (
    "Unknown Adobe color transform code %d",
    "Corrupt JPEG data: bad arithmetic code",
    "Inconsistent progression sequence for component %d coefficient %d",
    "Corrupt JPEG data: %u extraneous bytes before marker 0x%02x",
    "Corrupt JPEG data: premature end of data segment",
    "Corrupt JPEG data: bad Huffman code",
    "Warning: unknown JFIF revision number %d.%02d",
    "Premature end of JPEG file",
    "Corrupt JPEG data: found marker 0x%02x instead of RST%d",
    "Invalid SOS parameters for sequential JPEG",
    "Application transferred too many scanlines",
    "Corrupt JPEG data: bad ICC marker",
    "Invalid restart interval %d; must be an integer multiple of the number of MCUs in an MCU row (%d)",
)
_PRINTF = {"%02x": "[0-9a-fA-F]+", "%02d": r"\d+", "%d": r"-?\d+", "%u": r"\d+"}
_LIBJPEG_LINE = re.compile(
    "|".join(re.sub("|".join(_PRINTF), lambda m: _PRINTF[m.group()], re.escape(text)) for text in _LIBJPEG_WARNINGS)
    + "|Corrupt JPEG data: .*"
)


class UnreadableImage(CnnlabError):
    """A file that cannot be used as an image; the message is `<file>: <reason>`."""

    def __init__(self, name: str, reason: str) -> None:
        """Remember the file and the reason, and say both in one line."""
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class _Refusal(Exception):
    """Why the bytes being decoded cannot be used (the caller adds the file's name)."""


def shown(path: str | os.PathLike | bytes) -> str:
    """A file's name as text to show: bytes that are not UTF-8 (a Linux name, a copied Windows disk) escaped, as \\xff."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_image_path(path: str | os.PathLike) -> bool:
    """Whether a file name has an image extension (AppleDouble `._name` files do not count)."""
    name = Path(path).name
    return not name.startswith("._") and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def decode_image(source: str | os.PathLike | bytes, channels: int = 3, size: Size = None) -> torch.Tensor:
    """Decode one image file (a path, or its bytes) into a uint8 tensor of shape (channels, H, W).

    EXIF orientation is applied, so a photo comes out upright. Transparency (RGBA, LA, a palette's
    or a colour key's) is composited onto WHITE, not dropped. 16-bit images are scaled to 8 bits,
    never clipped (65535 -> 255, 32768 -> 128). channels=1 gives ITU-R 601 luminance (as Pillow's "L"); channels=3
    replicates a grey image. size=S resizes the shorter side to S, then centre-crops S x S;
    size=(H, W) resizes to exactly H x W (antialiased). A file that cannot be used raises
    UnreadableImage naming it and the reason.
    """
    size = _check_options(channels, size)
    in_memory = isinstance(source, (bytes, bytearray, memoryview))
    name = "<bytes>" if in_memory else shown(source)
    try:
        data = bytearray(source) if in_memory else _read(source)
        image = _decode(data, _is_checked_jpeg(data), channels)
    except _Refusal as refusal:
        raise UnreadableImage(name, str(refusal)) from None
    return _resize([image], size)[0].contiguous()


def decode_many(datas: Sequence[bytes], names: Sequence[str], channels: int = 3, size: Size = None
                ) -> list[torch.Tensor | UnreadableImage]:
    """Decode several files' bytes as decode_image does each, together: their JPEGs in one call, under one watch of
    libjpeg's messages (a server's batch pays for that once, not per image). Each image, or the UnreadableImage
    naming it (by `names`) and the reason, in order."""
    size = _check_options(channels, size)
    results = _decode_chunk([bytearray(data) for data in datas], channels, size)
    return [UnreadableImage(name, str(result)) if isinstance(result, _Refusal) else result
            for name, result in zip(names, results)]


def probe_sizes(paths: Iterable[str | os.PathLike]) -> list[tuple[int, int, bool]]:
    """(height, width, whether it is grey) of each file, read from its header; unreadable ones are left out."""
    sizes = []
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes.append((image.height, image.width, image.mode in _GREY_MODES))
        except (OSError, Image.DecompressionBombError):  # UnidentifiedImageError is an OSError
            continue
    return sizes


def decode_files(
    paths: Iterable[str | os.PathLike],
    channels: int = 3,
    size: Size = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, list[int], list[tuple[str, str]]]:
    """Decode many image files into one uint8 tensor (N, channels, H, W).

    Returns (images, the indices of `paths` kept, the (path, reason) of each file skipped). Every
    image must have the same size once `size` is applied (see decode_image); without `size`,
    images of different sizes raise CnnlabError. `progress(n)` is called with the number of files
    just finished. Files are read ahead in a thread while JPEGs are decoded in batches.
    """
    size = _check_options(channels, size)
    paths = [os.fspath(p) for p in paths]
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    images: torch.Tensor | None = None
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    first = ""
    start = 0
    for chunk, datas in zip(chunks, _read_ahead(chunks)):
        for offset, result in enumerate(_decode_chunk(datas, channels, size)):
            path = chunk[offset]
            if isinstance(result, _Refusal):
                skipped.append((shown(path), str(result)))
                continue
            if images is None:
                images, first = torch.empty((len(paths), *result.shape), dtype=torch.uint8), path
            elif result.shape != images.shape[1:]:
                raise CnnlabError(
                    f"images differ in size ({first} is {_hw(images[0])}, {path} is {_hw(result)}): "
                    "pass a size to resize them all"
                )
            images[len(kept)] = result
            kept.append(start + offset)
        start += len(chunk)
        if progress is not None:
            progress(len(chunk))
    if images is None:
        return torch.empty((0, channels, *_output_hw(size)), dtype=torch.uint8), kept, skipped
    return images[: len(kept)], kept, skipped


def _check_options(channels: int, size: Size | list[int]) -> Size:
    """Refuse a channel count other than 1 or 3 and a bad size; return size as an int, an (H, W) tuple or None."""
    if isinstance(channels, bool) or channels not in (1, 3):
        raise CnnlabError(f"channels must be 1 (grey) or 3 (RGB), not {channels!r}")
    if size is None or _is_positive_int(size):
        return size
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_positive_int(s) for s in size):
        return tuple(size)
    raise CnnlabError(f"size must be a positive int or a (height, width) pair of them, not {size!r}")


def _is_positive_int(value: object) -> bool:
    """Whether a value is an int (not a bool) above zero."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _output_hw(size: Size) -> tuple[int, int]:
    """The (H, W) every image has after `size` is applied ((0, 0) when size is None)."""
    if size is None:
        return 0, 0
    return (size, size) if isinstance(size, int) else size


def _hw(image: torch.Tensor) -> str:
    """An image tensor's size as 'WxH'."""
    return f"{image.shape[-1]}x{image.shape[-2]}"


def _read(path: str | os.PathLike) -> bytearray:
    """A file's bytes, or a refusal saying why it cannot be read."""
    try:
        with open(path, "rb") as file:
            return bytearray(file.read())
    except FileNotFoundError:
        raise _Refusal("no such file") from None
    except IsADirectoryError:
        raise _Refusal("is a directory, not a file") from None
    except PermissionError:
        raise _Refusal("permission denied") from None
    except OSError as err:
        raise _Refusal(f"cannot be read ({err.strerror or err})") from None


def _read_or_refusal(path: str) -> bytearray | _Refusal:
    """A file's bytes, or the refusal (returned, so a thread pool can carry it)."""
    try:
        return _read(path)
    except _Refusal as refusal:
        return refusal


def _read_chunk(paths: list[str]) -> list[bytearray | _Refusal]:
    """The contents (or the refusal) of each file in a chunk."""
    return [_read_or_refusal(path) for path in paths]


def _read_ahead(chunks: list[list[str]]) -> Iterator[list[bytearray | _Refusal]]:
    """Each chunk's file contents, reading the next chunk in a thread while the caller decodes this one."""
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = None
        for chunk in chunks:
            upcoming = reader.submit(_read_chunk, chunk)
            if pending is not None:
                yield pending.result()
            pending = upcoming
        if pending is not None:
            yield pending.result()


def _is_checked_jpeg(data: bytearray) -> bool:
    """Whether the bytes are a JPEG for torchvision; refuse an empty file, and a truncated or too large JPEG."""
    if not data:
        raise _Refusal("empty file")
    if not data.startswith(_JPEG_SIGNATURE):
        return False
    _check_pixels(*_jpeg_size(data))
    return True


def _jpeg_read_mode(channels: int) -> tvio.ImageReadMode:
    """The mode torchvision decodes a JPEG in: grey (luma) for one channel, else RGB (CMYK converted)."""
    return tvio.ImageReadMode.GRAY if channels == 1 else tvio.ImageReadMode.RGB


def _jpeg_size(data: bytearray) -> tuple[int, int]:
    """A JPEG's (width, height) from its frame header; refuse it when the segments or the end marker are missing."""
    pos, size, end = 2, None, len(data)
    while True:
        if pos + 4 > end:
            raise _Refusal("truncated JPEG data")
        if data[pos] != 0xFF:
            raise _Refusal("corrupt JPEG data (bad marker)")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        length = data[pos + 2] << 8 | data[pos + 3]
        if marker in _JPEG_FRAME_MARKERS and pos + 9 <= end:
            size = (data[pos + 7] << 8 | data[pos + 8], data[pos + 5] << 8 | data[pos + 6])
        pos += 2 + length
        if marker == 0xDA:
            break
    if size is None:
        raise _Refusal("corrupt JPEG data (no frame header)")
    if data.find(b"\xff\xd9", pos) < 0:
        raise _Refusal("truncated JPEG data")
    return size


def _check_pixels(width: int, height: int) -> None:
    """Refuse an image with more pixels than Pillow's MAX_IMAGE_PIXELS (a decompression bomb guard)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise _Refusal(f"too large to decode safely ({width}x{height} pixels, over {_LIMIT_NAME} = {limit:,})")


def _decode_chunk(datas: Sequence[bytearray | _Refusal], channels: int, size: Size) -> list[torch.Tensor | _Refusal]:
    """Decode a chunk of files (its JPEGs as one batch), resize them, and return each image or its refusal."""
    results: list[torch.Tensor | _Refusal] = list(datas)
    undone: dict[int, bool] = {}  # index -> whether it is a JPEG for torchvision
    for i, data in enumerate(datas):
        if not isinstance(data, _Refusal):
            try:
                undone[i] = _is_checked_jpeg(data)
            except _Refusal as refusal:
                results[i] = refusal
    jpegs = [i for i, is_jpeg in undone.items() if is_jpeg]
    for i, image in zip(jpegs, _jpeg_batch([datas[i] for i in jpegs], channels)):
        results[i] = _finish(image, channels)
        del undone[i]
    for i, is_jpeg in undone.items():
        try:
            results[i] = _decode(datas[i], is_jpeg, channels)
        except _Refusal as refusal:
            results[i] = refusal
    good = [i for i, r in enumerate(results) if isinstance(r, torch.Tensor)]
    for i, image in zip(good, _resize([results[i] for i in good], size)):
        results[i] = image
    return results


def _jpeg_batch(datas: list[bytearray], channels: int) -> list[torch.Tensor]:
    """Decode checked JPEGs in one torchvision call; [] when there are none or one of them spoils the batch."""
    if not datas:
        return []
    try:
        return _torchvision_jpeg([_as_tensor(data) for data in datas], channels)
    except (RuntimeError, _Refusal):
        return []  # the caller decodes each file on its own, to say which one is bad


def _decode(data: bytearray, is_jpeg: bool, channels: int) -> torch.Tensor:
    """Decode checked bytes: a JPEG with torchvision, anything else (or a JPEG it cannot read) with Pillow."""
    if is_jpeg:
        try:
            return _finish(_torchvision_jpeg(_as_tensor(data), channels), channels)
        except RuntimeError:
            pass  # e.g. a 12-bit or arithmetic-coded JPEG: Pillow may read it, or will say what is wrong
    return _finish(_pillow_decode(data), channels)


def _torchvision_jpeg(data: _T, channels: int) -> _T:
    """Decode one JPEG tensor (or a list) upright; refuse it if libjpeg warns (it can only print its warnings)."""
    mode = _jpeg_read_mode(channels)
    with _DECODER_LOCK, _libjpeg_messages() as printed:
        decoded = _warning_free(tvio.decode_jpeg, data, mode=mode, apply_exif_orientation=True)
    if printed:  # e.g. "Corrupt JPEG data: premature end of data segment": the rest came back grey
        raise _Refusal(f"decoder warning: {printed[0]}")
    return decoded


@contextmanager
def _libjpeg_messages() -> Iterator[list[str]]:
    """Collect libjpeg's messages printed meanwhile on file descriptor 2, where it writes its warnings.

    The descriptor is the whole process's: whatever else is written there meanwhile (another thread's log line)
    is written back to standard error when the block ends, and only lines that are libjpeg's are kept.
    """
    lines: list[str] = []
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to watch
        saved = None
    if saved is None:
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            if sys.stderr is not None:
                try:
                    sys.stderr.flush()  # what this process's Python wrote meanwhile is in the sink too
                except (OSError, ValueError):
                    pass
            os.dup2(saved, 2)  # first, so that nothing written from now on lands in the sink unread
            os.close(saved)
            sink.seek(0)
            _write_all(2, _split_libjpeg(sink.read(), lines))


def _split_libjpeg(captured: bytes, messages: list[str]) -> bytes:
    """Add the lines of `captured` that are libjpeg's messages to `messages`; return the rest, byte for byte."""
    others = []
    for line in captured.splitlines(keepends=True):
        text = line.decode(errors="replace").strip()
        if line.endswith(b"\n") and _LIBJPEG_LINE.fullmatch(text):
            messages.append(text)
        else:
            others.append(line)
    return b"".join(others)


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte to a file descriptor (a write may take only part of them); give up quietly if it fails."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError:  # standard error closed meanwhile: nowhere left to say it
        pass


def _as_tensor(data: bytearray) -> torch.Tensor:
    """A file's bytes as the 1-D uint8 tensor torchvision's decoders take (no copy)."""
    return torch.frombuffer(data, dtype=torch.uint8)


def _warning_free(decoder: Callable[..., _T], *args: object, **kwargs: object) -> _T:
    """Call a decoder; refuse the file if the decoder warns about the data (see _decoder_warnings)."""
    with _decoder_warnings() as caught:
        result = decoder(*args, **kwargs)
    if caught:
        raise _Refusal(f"decoder warning: {caught[0].message}")
    return result


@contextmanager
def _decoder_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """The warnings a decoder raises about the data meanwhile, whatever the warning filters say: those raised in
    this thread by Pillow's, torchvision's or torch's code (see _NOT_ABOUT_DATA for the kinds left out).

    Python's warning filters and its showwarning are the whole process's, so this does not swap them for its own
    (as warnings.catch_warnings does): one filter is put first that makes the decoders' packages warn every time,
    and showwarning is wrapped. Every other warning goes on as if nothing watched: one that its own filters let
    through is shown at once; one that came from the decoders' packages without being the decoder's (another
    thread's, a ResourceWarning of garbage collected here) is passed back through the filters after the block.
    Decoders run one at a time, under _DECODER_LOCK.
    """
    ours: list[warnings.WarningMessage] = []
    theirs: list[warnings.WarningMessage] = []
    with _DECODER_LOCK:
        thread, previous, watching = threading.get_ident(), warnings.showwarning, True

        def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202 (its signature)
            """Keep the decoder's warnings; pass the others on."""
            if not watching or not _from_decoders(filename):
                previous(message, category, filename, lineno, file, line)  # its own filters showed it
            elif threading.get_ident() == thread and not issubclass(category, _NOT_ABOUT_DATA):
                ours.append(warnings.WarningMessage(message, category, filename, lineno, file, line))
            else:
                theirs.append(warnings.WarningMessage(message, category, filename, lineno, file, line))

        warnings.filterwarnings("always", module=_DECODER_MODULES)
        always = warnings.filters[0]
        warnings.showwarning = show
        try:
            yield ours
        finally:
            watching = False
            if warnings.showwarning is show:  # else someone replaced it meanwhile: `show` now only passes on
                warnings.showwarning = previous
            try:
                warnings.filters.remove(always)
            except ValueError:  # someone restored the filters they had before
                pass
            for record in theirs:
                _pass_on(record)


def _from_decoders(filename: str) -> bool:
    """Whether a warning's file is in one of the decoders' packages (Pillow's, torchvision's, torch's)."""
    return any(filename.startswith(folder + os.sep) for folder in _DECODER_PACKAGES.values())


def _pass_on(record: warnings.WarningMessage) -> None:
    """A warning that was not the decoder's, raised again where it came from, so its own filters say what it does."""
    module = next((f"{name}.{os.path.relpath(record.filename, folder)[:-3].replace(os.sep, '.')}"
                   for name, folder in _DECODER_PACKAGES.items() if record.filename.startswith(folder + os.sep)), None)
    if module is not None:
        module = module.removesuffix(".__init__")
    try:
        warnings.warn_explicit(record.message, record.category, record.filename, record.lineno, module=module,
                               registry=_REEMITTED.setdefault(record.filename, {}))
    except Warning as raised:  # an "error" filter: the error is the code's that warned, not the decoder's caller's
        warnings.showwarning(raised, type(raised), record.filename, record.lineno)


def header_pixels(data: bytes) -> int | None:
    """Width x height from an image's header, without decoding its pixels; None when Pillow cannot read the header.

    A header Pillow refuses to open (over twice its MAX_IMAGE_PIXELS) counts as one pixel more than twice that. A
    JPEG's is read by the decoder's own header walk (a server checks every upload: Pillow's took 140 us of a 32x32
    JPEG's 420 in a batch, more than decoding it).
    """
    if data.startswith(_JPEG_SIGNATURE):
        try:
            width, height = _jpeg_size(data)
        except _Refusal:  # the decoder will say what is wrong with it
            return None
        return width * height
    try:
        with _decoder_warnings():  # its DecompressionBombWarning: the caller compares the count with its own limit
            with Image.open(io.BytesIO(data)) as image:
                return image.width * image.height
    except Image.DecompressionBombError:
        return Image.MAX_IMAGE_PIXELS * 2 + 1
    except Exception:  # not an image Pillow knows, or a broken header: the decoder will say which
        return None


def _pillow_decode(data: bytearray) -> torch.Tensor:
    """Decode with Pillow (first frame, upright) into a (C, H, W) uint8 tensor, or int32 for 16-bit images."""
    try:
        pixels = _warning_free(_pillow_pixels, data)
    except _Refusal:
        raise
    except Image.DecompressionBombError:
        raise _Refusal(f"too large to decode safely (over {_LIMIT_NAME} = {Image.MAX_IMAGE_PIXELS:,})") from None
    except UnidentifiedImageError:
        raise _Refusal(_not_an_image(data)) from None
    except Exception as err:  # Pillow raises many kinds of error on a broken file; each means "corrupt"
        raise _Refusal(_pillow_reason(err, _format_name(data))) from None
    tensor = torch.from_numpy(pixels)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)


def _pillow_pixels(data: bytearray) -> np.ndarray:
    """Open and fully load an image with Pillow (truncation refused), turn it upright, and convert it."""
    image = Image.open(io.BytesIO(data))
    _check_pixels(*image.size)
    lenient, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        image.load()
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    image = ImageOps.exif_transpose(image)
    if image.mode in _SIXTEEN_BIT_MODES:
        return np.array(image, dtype=np.int32).clip(0, 65535)
    return np.array(image.convert(_pillow_target(image)))


def _pillow_target(image: Image.Image) -> str:
    """The Pillow mode to convert to: L or RGB, with an alpha band when the image has transparency."""
    bands = image.getbands()
    alpha = "A" in bands or "a" in bands or "transparency" in image.info
    if bands[0] in ("1", "L", "I", "F"):
        return "LA" if alpha else "L"
    return "RGBA" if alpha else "RGB"


def _format_name(data: bytearray) -> str:
    """The format a file's first bytes announce (JPEG, PNG, GIF, BMP, TIFF, WEBP), else 'image'."""
    head = bytes(data[:12])
    for name, magic in _MAGIC:
        if head.startswith(magic) and (name != "WEBP" or head[8:12] == b"WEBP"):
            return name
    return "image"


def _pillow_reason(err: Exception, format_name: str) -> str:
    """A short reason from an error Pillow raised while decoding a file of the given format."""
    text = str(err) or type(err).__name__
    if "truncated" in text.lower():
        return f"truncated {format_name} data"
    return f"corrupt {format_name} data ({text})"


def _not_an_image(data: bytearray) -> str:
    """Say what a file no decoder recognises looks like: a broken image, HTML, SVG, text, or an unknown format."""
    if _format_name(data) != "image":
        return f"corrupt {_format_name(data)} data (unreadable header)"
    head = bytes(data[:4096]).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:1024]:
        return "not an image (HTML)"
    if b"<svg" in head:
        return "not an image (SVG vector graphics are not supported)"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)
        is_text = b"\x00" not in head
    except UnicodeDecodeError:
        is_text = False
    return "not an image (text)" if is_text else "not an image (unrecognised or unsupported format)"


def _finish(image: torch.Tensor, channels: int) -> torch.Tensor:
    """Turn a decoded (C, H, W) image (C of 1-4, 8 or 16 bits) into uint8 with `channels` channels."""
    if image.dtype != torch.uint8:
        image = ((image.to(torch.int32) + 128) // 257).to(torch.uint8)
    if image.shape[0] in (2, 4):
        colour, alpha = image[:-1].to(torch.int32), image[-1:].to(torch.int32)
        image = ((colour * alpha + 255 * (255 - alpha) + 127) // 255).to(torch.uint8)
    if channels == 1 and image.shape[0] == 3:
        r, g, b = image.to(torch.int32)
        image = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8).unsqueeze(0)
    if channels == 3 and image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    return image


def _resize(images: list[torch.Tensor], size: Size) -> list[torch.Tensor]:
    """Apply `size` (see decode_image) to each image, resizing the images of one shape as one batch."""
    if size is None:
        return images
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(tuple(image.shape), []).append(i)
    out = list(images)
    for members in groups.values():
        batch = torch.stack([images[i] for i in members])
        if isinstance(size, int):
            batch = F.center_crop(F.resize(batch, [size], antialias=True), [size, size])
        else:
            batch = F.resize(batch, list(size), antialias=True)
        for i, image in zip(members, batch):
            out[i] = image
    return out
