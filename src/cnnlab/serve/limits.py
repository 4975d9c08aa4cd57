"""What an upload may be: its size in bytes, its pixel count (decompression bombs), how many files at once."""

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class Limits:
    """The largest image file, the most pixels an image may have, the most files and bytes in one request."""

    max_bytes: int = 10 * 2**20
    max_pixels: int = 40_000_000
    max_files: int = 64
    max_request_bytes: int = 64 * 2**20


class UploadRefused(CnnlabError):
    """An upload the server will not use, with the HTTP status that says why (400, 413)."""

    def __init__(self, status: int, message: str) -> None:
        """Remember the status beside the one-line message."""
        super().__init__(message)
        self.status = status


def check_upload(name: str, data: bytes, limits: Limits) -> None:
    """Refuse an empty upload, one over max_bytes, and an image whose header announces more than max_pixels."""
    if not data:
        raise UploadRefused(400, f"{name}: empty file")
    if len(data) > limits.max_bytes:
        raise UploadRefused(413, f"{name}: over the upload limit of {limits.max_bytes:,} bytes")
    pixels = header_pixels(data)
    if pixels is not None and pixels > limits.max_pixels:
        raise UploadRefused(413, f"{name}: {pixels:,} pixels, over the limit of {limits.max_pixels:,}")


def header_pixels(data: bytes) -> int | None:
    """Width x height from an image's header, without decoding its pixels; None when Pillow cannot read the header."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.width * image.height
    except Image.DecompressionBombError:
        return Image.MAX_IMAGE_PIXELS * 2 + 1  # Pillow refused to open it: over twice its own limit
    except Exception:  # not an image Pillow knows, or a broken header: the decoder will say which
        return None
