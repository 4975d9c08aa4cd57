"""The app against its own OpenAPI schema, by schemathesis (in-process, through ASGI): whatever it is sent, within
the schema (positive) and outside it (negative), it never answers 5xx, and every answer is the JSON the schema says.

(schemathesis's pytest loader, from_fixture, does not run under pytest 9, so each operation's cases are drawn from
its strategy here, with Hypothesis.)
"""

import io
import json

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.formats import unregister_string_format

from cnnlab.serve.app import ServeOptions, create_app

from serve_fixtures import SMALL_LIMITS

EXAMPLES = 30  # per operation and mode: the whole file stays well under a minute
OPERATIONS = [("GET", "/health"), ("GET", "/model"), ("GET", "/models"), ("GET", "/models/{name}"),
              ("GET", "/ready"), ("POST", "/models/{name}/predict"), ("POST", "/predict")]
# What counts as accepting a request the schema allows, and as refusing one it does not. The schema can say "binary"
# but not "an image" nor "a file part" (every multipart part is bytes), nor how many files a server takes: bytes it
# allows that are not an image are a 400, too many files a 413, both declared; 413 refuses a request as 422 does.
CONFIG = SchemathesisConfig.from_dict({"checks": {
    "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "413"]},
    "negative_data_rejection": {"expected-statuses": ["400", "404", "405", "406", "413", "415", "422", "5xx"]},
}})


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    """An image's bytes in a format."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def image_files() -> list[bytes]:
    """Real image files of several formats, modes and sizes, for the file parts schemathesis sends."""
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8))
    return [encoded(rgb, "PNG"), encoded(rgb, "JPEG"), encoded(rgb.convert("L"), "PNG"), encoded(rgb, "GIF"),
            encoded(rgb.convert("RGBA"), "PNG"), encoded(rgb, "BMP"), encoded(rgb, "WEBP"),
            encoded(Image.new("CMYK", (9, 5), (0, 255, 255, 0)), "JPEG"), encoded(Image.new("RGB", (1, 1)), "PNG")]


@pytest.fixture(scope="module", name="api_schema")
def api_schema_fixture(trained_run):
    """The schema the app serves at /openapi.json, bound to the app; file parts are real images half the time."""
    app = create_app(trained_run[0], ServeOptions(limits=SMALL_LIMITS))
    schemathesis.openapi.format("binary", st.one_of(st.sampled_from(image_files()), st.binary(max_size=300)))
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    unregister_string_format("binary")  # schemathesis's own again


def test_the_schema_has_every_operation(api_schema):
    assert sorted((op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()) == OPERATIONS


def answers_as_the_schema_says(case) -> int:
    """Call the app with a case and check the answer: schemathesis's checks, then the JSON of every answer; return
    its status."""
    response = case.call_and_validate()  # no 5xx; status, content type and body as the schema says; see CONFIG
    assert response.status_code < 500
    assert response.headers["content-type"][0].startswith("application/json")
    body = json.loads(response.content)
    if response.status_code >= 400:
        assert set(body) == {"error"} and isinstance(body["error"], str) and "\n" not in body["error"]
    return response.status_code


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_answer_is_the_json_the_schema_says_and_never_a_5xx(api_schema, method, path, mode):
    if mode is GenerationMode.NEGATIVE and method == "GET" and "{" not in path:
        pytest.skip("no parameters, so nothing outside the schema to send")
    if path == "/ready":
        pytest.skip("a 503 until the warm-up (in the background) is done: test_ready waits for it")
    statuses = set()

    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        statuses.add(answers_as_the_schema_says(case))

    check()
    if mode is GenerationMode.NEGATIVE:  # (which positive cases reach a prediction depends on Hypothesis's draws:
        assert statuses and all(400 <= status < 500 for status in statuses)  # test_app and test_burst post real ones)
