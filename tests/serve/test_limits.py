"""Limits and the body limit: every limit refused by name when it allows nothing, and an over-large request body
answered in the server's JSON whichever way it arrives."""

import asyncio
import json

import pytest

from cnnlab.errors import SettingError
from cnnlab.serve.limits import BodyLimit, Limits


@pytest.mark.parametrize(("fields", "setting", "problem"), [
    ({"max_bytes": 0}, "max_bytes", "must be at least 1, got 0"),
    ({"max_bytes": -1_048_576}, "max_bytes", "must be at least 1, got -1048576"),
    ({"max_pixels": 0}, "max_pixels", "must be at least 1, got 0"),
    ({"max_files": 0}, "max_files", "must be at least 1, got 0"),
    ({"max_request_bytes": 0}, "max_request_bytes", "must be at least 1, got 0"),
    ({"max_pixels": 2.5}, "max_pixels", "must be a whole number, got 2.5"),
    ({"max_files": True}, "max_files", "must be a whole number, got True"),
])
def test_a_limit_that_allows_nothing_is_refused_by_name(fields, setting, problem):
    with pytest.raises(SettingError) as caught:
        Limits(**fields)
    assert caught.value.setting == setting and str(caught.value) == f"`{setting}` {problem}"


@pytest.mark.parametrize(("megabytes", "problem"), [
    (-1, "must be above 0, got -1"),
    (0, "must be above 0, got 0"),
    (1e-9, "must be at least one byte (1/1,048,576 MB), got 1e-09"),
    (float("inf"), "must be a finite number, got inf"),
    (float("nan"), "must be a finite number, got nan"),
    ("10", "must be a finite number, got '10'"),
])
def test_an_upload_limit_in_megabytes_is_refused_by_the_command_lines_name(megabytes, problem):
    with pytest.raises(SettingError) as caught:
        Limits.in_megabytes(megabytes)
    assert str(caught.value) == f"`max_upload_mb` {problem}"


def test_megabytes_become_bytes_and_the_request_limit_makes_room_for_one_upload():
    assert Limits.in_megabytes(1.5, max_pixels=7) == Limits(max_bytes=1_572_864, max_pixels=7)
    assert Limits().request_bytes == 64 * 2**20
    assert Limits.in_megabytes(100).request_bytes == 101 * 2**20  # an upload of 100 MB is not refused as a body
    assert Limits(max_request_bytes=1000).request_bytes == 1000


def answer(limit: int, chunks: list[bytes], headers: list[tuple[bytes, bytes]], app=None) -> tuple[int, dict, bool]:
    """(status, JSON body, whether the app ran) of BodyLimit over an app that reads the whole body and answers 200."""
    ran = []

    async def reader(scope, receive, send):
        ran.append(True)
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def main():
        sent = []
        queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

        async def receive():
            return queue.pop(0)

        async def send(message):
            sent.append(message)

        await BodyLimit(app or reader, limit)({"type": "http", "headers": headers}, receive, send)
        return sent

    sent = asyncio.run(main())
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), bool(ran)


def test_a_body_announced_over_the_limit_is_refused_in_json_unread():
    status, body, ran = answer(100, [b""], [(b"content-length", b"101")])
    assert status == 413 and body == {"error": "request body too large: over the limit of 100 bytes"} and not ran


def test_a_body_that_passes_the_limit_while_read_is_refused_in_json():
    status, body, ran = answer(100, [b"x" * 60, b"x" * 60], [])
    assert status == 413 and body["error"].startswith("request body too large") and ran
    assert answer(100, [b"x" * 50, b"x" * 50], [(b"content-length", b"100")])[:2] == (200, {})
    assert answer(100, [b"x" * 10], [(b"content-length", b"ten")])[:2] == (200, {})
