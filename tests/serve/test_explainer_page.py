"""The explainer page in a real headless Chromium, on a trained run: pick an image, click a unit of a conv layer and
of a pooling layer; the receptive-field box and the arithmetic appear, and the value shown is PyTorch's."""

import base64
import json
import urllib.request

import pytest
import torch

from cnnlab.inference.loaded import load_model

from serve_fixtures import DROP, explained_fixture  # noqa: F401 (fixture)


def pytorch_value(run, image_file, layer: str, channel: int, row: int, col: int) -> float:
    """The output of `layer` at (channel, row, col) for the image, read back from PyTorch with a forward hook."""
    loaded = load_model(run)
    images, _, _ = loaded.decode([image_file])
    kept = {}
    handle = loaded.model.get_submodule(layer).register_forward_hook(
        lambda _m, _i, out: kept.setdefault("out", out.detach().clone()))
    with torch.no_grad():
        loaded.model(loaded.preprocess(images))
    handle.remove()
    return float(kept["out"][0, channel, row, col])


def click_unit(page, index: int, channel: int, x: float, y: float) -> dict:
    """Click a tile of layer `index` at (x, y) CSS pixels; what the page then says about the unit."""
    page.click(f'.layer[data-index="{index}"] canvas.tile[data-channel="{channel}"]', position={"x": x, "y": y})
    page.wait_for_selector(f'#unitwhere[data-layer="{index}"][data-channel="{channel}"]')
    where = page.locator("#unitwhere")
    return {"row": int(where.get_attribute("data-row")), "col": int(where.get_attribute("data-col")),
            "value": float(page.locator("#unitvalue").get_attribute("data-value")),
            "shown": float(page.locator("#unitvalue").text_content()),
            "kinds": page.locator("#unitsteps .step").evaluate_all("steps => steps.map(s => s.dataset.kind)"),
            "caption": page.locator("#fieldcaption").text_content(), "box": page.locator("#fieldbox").bounding_box()}


def test_a_click_shows_the_field_and_the_arithmetic_of_pytorchs_value(browser, explained, trained_run, tmp_path):
    run, root = trained_run
    info = json.load(urllib.request.urlopen(explained + "/model"))
    convs = [layer for layer in info["layers"] if layer["type"] == "Conv2d"]
    pools = [layer for layer in info["layers"] if layer["type"] == "MaxPool2d"]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.on("response", lambda response: problems.append(f"{response.status}: {response.url}")
            if response.status >= 400 else None)
    try:
        page.goto(explained + "/")
        page.wait_for_selector("body[data-loaded]")
        first = page.locator("#images img").first
        image_file = root / "data" / first.get_attribute("alt")
        first.click()
        page.wait_for_selector("body[data-ready]")
        assert page.locator("#probabilities .class").count() == 3

        conv = convs[1]  # the second conv: its field (8x8) is more than its kernel
        side = page.locator(f'.layer[data-index="{conv["index"]}"] canvas.tile').first.bounding_box()["width"]
        unit = click_unit(page, conv["index"], 1, 10.5 * side / 16, 5.5 * side / 16)  # the middle of unit (5, 10)
        assert (unit["row"], unit["col"]) == (5, 10)
        expected = pytorch_value(run, image_file, conv["name"], 1, unit["row"], unit["col"])
        assert abs(unit["value"] - expected) < 1e-4 and abs(unit["shown"] - expected) < 1e-4
        assert unit["kinds"] == ["conv", "batchnorm", "activation"]
        assert "8×8 pixels" in unit["caption"]
        assert unit["box"]["width"] == pytest.approx(8 * 240 / 32, abs=1)  # 8 input pixels of 32, drawn 240 wide
        assert page.locator(".step.conv .mult").count() == 16  # 32 input channels: the 16 largest in full
        assert page.locator("#effectivefigure").is_visible()

        pool = pools[0]
        unit = click_unit(page, pool["index"], 2, 5, 40)
        expected = pytorch_value(run, image_file, pool["name"], 2, unit["row"], unit["col"])
        assert abs(unit["value"] - expected) < 1e-4 and unit["kinds"] == ["maxpool"]
        assert page.locator(".step.maxpool td.max").count() >= 1
        assert "4×4 pixels" in unit["caption"]

        page.select_option("#camclass", "2")
        page.wait_for_function("document.getElementById('camcaption').textContent.includes('“red”')")
        page.screenshot(path=str(tmp_path / "explain.png"))
        assert problems == []

        green = (root / "data" / "test" / "green" / "002.png").read_bytes()
        page.evaluate(DROP, base64.b64encode(green).decode())
        page.wait_for_function("document.body.dataset.ready.startsWith('u')")
        assert page.locator("#probabilities .class").first.text_content() == "green"
        assert problems == []
    finally:
        page.close()
