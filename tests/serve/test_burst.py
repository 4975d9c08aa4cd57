"""A burst of concurrent clients loses nothing: 16 clients x BURST valid images (some with ?gradcam=true) all get
a 200 with their own answer, while the process around the server is noisy: ResourceWarnings of unclosed upload files
collected in any thread (the decoder's included), warnings and stderr lines from other threads.

BURST is kept small for the suite; `CNNLAB_BURST=1000 python -m pytest tests/serve/test_burst.py` runs the full
16 x 1,000 by hand.
"""

import gc
import io
import os
import tempfile
import threading
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from cnnlab.serve.app import ServeOptions, create_app
from cnnlab.serve.server import running

from serve_fixtures import SMALL_LIMITS

CLIENTS = 16
BURST = int(os.environ.get("CNNLAB_BURST", "25"))  # images per client
GRADCAM_EVERY = 10  # one request in ten asks for the Grad-CAM overlay
COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}


def jpegs(count: int) -> list[tuple[str, bytes]]:
    """(name, JPEG bytes) of `count` distinct valid images: the class colours plus noise, in several sizes."""
    rng = np.random.default_rng(0)
    images = []
    for i in range(count):
        colour = list(COLOURS)[i % 3]
        height, width = 24 + 8 * (i % 4), 32 + 8 * (i % 3)
        pixels = np.clip(np.array(COLOURS[colour]) + rng.integers(-30, 31, (height, width, 3)), 0, 255)
        buffer = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=70 + i % 25)
        images.append((f"{colour}-{i}.jpg", buffer.getvalue()))
    return images


class Noise:
    """Threads doing what a busy process does while the server works: unclosed SpooledTemporaryFiles left in
    reference cycles (so the garbage collector, made to run often, closes them in whichever thread it runs in, and
    they say ResourceWarning there), ResourceWarnings and UserWarnings raised outright, and log lines on fd 2."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.lines = 0
        self.threads = [threading.Thread(target=self.leak, daemon=True), threading.Thread(target=self.say, daemon=True)]

    def leak(self) -> None:
        """Unclosed upload files, dropped in cycles, for the collector to find."""
        while not self.stop.is_set():
            holder = {"file": tempfile.SpooledTemporaryFile(64)}
            holder["file"].write(b"x" * 100)  # rolled over to a real file, as a large upload is
            holder["self"] = holder
            del holder
            self.stop.wait(0.0005)

    def say(self) -> None:
        """Warnings and a log line on fd 2, from this thread."""
        while not self.stop.is_set():
            warnings.warn("Unclosed file <tempfile.SpooledTemporaryFile object> (raised outright)", ResourceWarning)
            warnings.warn("another thread's warning", UserWarning)
            os.write(2, b"noise: a log line from another thread\n")
            self.lines += 1
            self.stop.wait(0.002)

    def __enter__(self) -> "Noise":
        self.threshold = gc.get_threshold()
        gc.set_threshold(50, 5, 5)  # collect often, in every thread that allocates: the decoding threads too
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        gc.set_threshold(*self.threshold)
        gc.collect()


@pytest.fixture(scope="module", name="burst_server")
def burst_server_fixture(trained_run):
    """A server for the trained run."""
    with running(create_app(trained_run[0], ServeOptions(limits=SMALL_LIMITS))) as url:
        yield url


def test_a_concurrent_burst_loses_nothing_while_the_process_is_noisy(burst_server, capfd):
    images = jpegs(3 * CLIENTS)
    with httpx.Client(timeout=60) as client:  # each image's answer alone, before the burst
        expected = {name: client.post(f"{burst_server}/predict", files={"file": (name, data, "image/jpeg")}).json()
                    ["predictions"][0]["top"][0]["class"] for name, data in images}

    def client_run(index: int) -> list[tuple[int, str, str, bool]]:
        """One client's BURST requests on one keep-alive connection pool: (status, file, top class or error, cam)."""
        answers = []
        with httpx.Client(timeout=120) as client:
            for n in range(BURST):
                name, data = images[(index * 7 + n) % len(images)]
                cam = (index + n) % GRADCAM_EVERY == 0
                response = client.post(f"{burst_server}/predict", files={"file": (name, data, "image/jpeg")},
                                       params={"gradcam": "true"} if cam else None)
                body = response.json()
                if response.status_code != 200:
                    answers.append((response.status_code, name, body.get("error", str(body)), cam))
                    continue
                prediction = body["predictions"][0]
                assert prediction["file"] == name and (not cam or prediction["gradcam"].startswith("data:image/png"))
                answers.append((200, name, prediction["top"][0]["class"], cam))
        return answers

    with warnings.catch_warnings(record=True) as said, Noise() as noise:
        warnings.simplefilter("always")  # every ResourceWarning shown, as under python -X dev
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = [a for answers in pool.map(client_run, range(CLIENTS)) for a in answers]
    statuses = Counter(status for status, *_ in answers)
    refused = [a for a in answers if a[0] != 200][:5]
    assert statuses == {200: CLIENTS * BURST}, f"{statuses}; first refusals: {refused}"
    assert all(top == expected[name] for _, name, top, _ in answers)  # each got its own image's answer
    assert sum(cam for *_, cam in answers) == sum((i + n) % GRADCAM_EVERY == 0 for i in range(CLIENTS)
                                                 for n in range(BURST))
    resource_warnings = sum(issubclass(w.category, ResourceWarning) for w in said)
    assert resource_warnings > 0 and noise.lines > 0  # the noise was there, and was not swallowed
    assert sum("SpooledTemporaryFile" in str(w.message) for w in said) > 0
    assert capfd.readouterr().err.count("noise: a log line from another thread\n") == noise.lines
    health = httpx.get(f"{burst_server}/health").json()
    assert health["status"] == "ok"
    with capfd.disabled():  # the figures, for a run by hand
        print(f"\nburst: {CLIENTS} clients x {BURST} images: answers {dict(statuses)}, "
              f"{sum(cam for *_, cam in answers)} with Grad-CAM; {resource_warnings} ResourceWarnings and "
              f"{noise.lines} stderr lines meanwhile; {health['batches']} batches, the largest of "
              f"{health['largest_batch']}")
