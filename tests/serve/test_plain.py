"""The plain requests' own path: a multipart body of image files is read as FastAPI reads it, anything else is left
to FastAPI (its answers are the same either way, as test_app.py's tests of both kinds of request say)."""

import httpx
import pytest

from cnnlab.serve.plain import image_parts

from serve_fixtures import served_run_fixture  # noqa: F401 (a fixture)

BOUNDARY = b"b0undary"


def body(*parts: tuple[bytes, bytes], preamble: bytes = b"", closing: bool = True) -> bytes:
    """A multipart body of (Content-Disposition value, data) parts."""
    text = preamble
    for disposition, data in parts:
        text += b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition + b"\r\nContent-Type: image/jpeg\r\n\r\n"
        text += data + b"\r\n"
    return text + (b"--" + BOUNDARY + b"--\r\n" if closing else b"")


def test_files_are_read_in_order_with_file_first_and_their_bytes_unchanged():
    data = bytes(range(256)) * 3 + b"\r\n--b0undar"  # CRLFs, dashes, most of the boundary: still data
    parts = image_parts(body((b'form-data; name="files"; filename="b.jpg"', b"BB"),
                             (b'form-data; name="file"; filename="a \xc3\xa9.jpg"', data),
                             (b'form-data; name="files"; filename="c.jpg"', b""), preamble=b"ignored\r\n"), BOUNDARY)
    assert parts == (["a é.jpg", "b.jpg", "c.jpg"], [data, b"BB", b""])


@pytest.mark.parametrize("multipart", [
    body((b'form-data; name="file"', b"a text field, not a file")),
    body((b'form-data; name="image"; filename="a.jpg"', b"x")),
    body((b'form-data; name="file"; filename="a.jpg"', b"x"), (b'form-data; name="file"; filename="b.jpg"', b"y")),
    body((b'attachment; name="file"; filename="a.jpg"', b"x")),
    body((b'form-data; name="file"; filename="a.jpg"', b"x"), closing=False),
    body(),
    b"--" + BOUNDARY + b"\r\nContent-Disposition form-data\r\n\r\nx\r\n--" + BOUNDARY + b"--\r\n",
    b"--" + BOUNDARY + b"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: form-data; name=\"file\"; "
    b"filename=\"a.jpg\"\r\n\r\neA==\r\n--" + BOUNDARY + b"--\r\n",
])
def test_any_other_body_is_left_to_fastapi(multipart):
    assert image_parts(multipart, BOUNDARY) is None


def test_a_request_left_to_fastapi_gets_fastapis_answer_with_its_body_replayed(served_run, trained_run):
    image = (trained_run[1] / "data" / "test" / "red" / "001.png").read_bytes()
    mixed = httpx.post(f"{served_run}/predict", files={"file": ("r.png", image)}, data={"note": "a text field too"})
    assert mixed.status_code == 200 and mixed.json()["predictions"][0]["top"][0]["class"] == "red"
    text = httpx.post(f"{served_run}/predict", data={"file": "not a file"})
    assert text.status_code == 422 and "file" in text.json()["error"]
