"""What an upload may be: its size in bytes, its pixel count (decompression bombs), how many files at once, and the
size of a whole request body (BodyLimit, which answers an over-large body in the server's JSON)."""

import json
import math
from dataclasses import dataclass

from fastapi import HTTPException

from cnnlab.data.decode import header_pixels
from cnnlab.errors import CnnlabError, SettingError
from cnnlab.serve.defaults import MAX_FILES, MAX_PIXELS, MAX_UPLOAD_MB, MEBIBYTE

DEFAULT_REQUEST_BYTES = 64 * MEBIBYTE


def whole_number(name: str, value: object, least: float) -> None:
    """Refuse a value that is not an int (a bool is not one) or is under `least`, naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(name, f"must be a whole number, got {value!r}")
    if value < least:
        raise SettingError(name, f"must be at least {least}, got {value}")


def number(name: str, value: object, least: float) -> None:
    """Refuse a value that is not a finite int or float (a bool is not one) or is under `least`, naming the setting."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingError(name, f"must be a finite number, got {value!r}")
    if value < least:
        raise SettingError(name, f"must be at least {least:g}, got {value:g}")


@dataclass(frozen=True)
class Limits:
    """The largest image file, the most pixels an image may have, the most files and bytes in one request.

    `max_request_bytes` None means 64 MiB, or more when one upload may be larger (its largest file and 1 MiB more).
    """

    max_bytes: int = int(MAX_UPLOAD_MB * MEBIBYTE)
    max_pixels: int = MAX_PIXELS
    max_files: int = MAX_FILES
    max_request_bytes: int | None = None

    def __post_init__(self) -> None:
        """Refuse a limit that is not a whole number of at least 1 (each of them allows nothing below that)."""
        for name in ("max_bytes", "max_pixels", "max_files"):
            whole_number(name, getattr(self, name), 1)
        if self.max_request_bytes is not None:
            whole_number("max_request_bytes", self.max_request_bytes, 1)

    @classmethod
    def in_megabytes(cls, max_upload_mb: float = MAX_UPLOAD_MB, **others: int | None) -> "Limits":
        """Limits with the largest image file given in MB (MiB, as the command line takes it)."""
        number("max_upload_mb", max_upload_mb, -math.inf)
        if max_upload_mb <= 0:
            raise SettingError("max_upload_mb", f"must be above 0, got {max_upload_mb:g}")
        max_bytes = int(max_upload_mb * MEBIBYTE)
        if max_bytes < 1:
            raise SettingError("max_upload_mb", f"must be at least one byte (1/{MEBIBYTE:,} MB), got {max_upload_mb:g}")
        return cls(max_bytes=max_bytes, **others)

    @property
    def request_bytes(self) -> int:
        """The most bytes a request's body may have (see max_request_bytes)."""
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        return max(DEFAULT_REQUEST_BYTES, self.max_bytes + MEBIBYTE)


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


class BodyTooLarge(HTTPException):
    """A request body over the limit, met while it was being read (FastAPI passes its own HTTPException on)."""

    def __init__(self, limit: int) -> None:
        """The 413 and its one-line message."""
        super().__init__(413, body_message(limit))


def body_message(limit: int) -> str:
    """What a 413 for a whole request body says."""
    return f"request body too large: over the limit of {limit:,} bytes"


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets a JSON 413, before it is read when its Content-Length
    announces it, else as soon as the bytes read pass the limit.

    (Starlette's own limit answers in plain text, and replaces any answer to a request whose Content-Length is over
    the limit with its plain-text 413, the app's JSON included.)
    """

    def __init__(self, app, limit: int) -> None:  # noqa: ANN001 (an ASGI app)
        """Wrap `app`."""
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 (ASGI)
        """Answer an announced over-large body at once; count the bytes of the others as the app reads them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (announced_length(scope) or 0) > self.limit:
            await send_json(send, 413, {"error": body_message(self.limit)})
            return
        received, started = 0, False

        async def counted() -> dict:
            """The next message, refused once the body's bytes pass the limit."""
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def watched(message: dict) -> None:
            """Send on, noting whether the answer has begun."""
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:  # read outside the routes' exception handling (which answer it themselves)
            if started:
                raise
            await send_json(send, 413, {"error": body_message(self.limit)})


def announced_length(scope: dict) -> int | None:
    """The request's Content-Length, when it has one that is a number."""
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def send_json(send, status: int, body: dict) -> None:  # noqa: ANN001 (ASGI)
    """A whole JSON answer, sent through an ASGI `send`."""
    content = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})
