"""The web page in a real headless Chromium: pick or drop an image, see the top classes with bars and the Grad-CAM."""

import base64

from serve_fixtures import DROP, served_run_fixture  # noqa: F401 (fixture)


def test_page_shows_predictions_and_gradcam(browser, served_run, trained_run, tmp_path):
    page = browser.new_page(viewport={"width": 900, "height": 640})
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(str(err)))
    try:
        page.goto(served_run + "/")
        page.wait_for_function("document.getElementById('model').textContent.includes('simplecnn')")
        page.set_input_files("#file", str(trained_run[1] / "data" / "test" / "red" / "005.png"))
        page.wait_for_selector("#output.shown")
        classes = page.locator(".prediction .class").all_text_contents()
        assert classes[0] == "red" and sorted(classes) == ["blue", "green", "red"]
        widths = page.locator(".prediction .bar").evaluate_all("bars => bars.map(b => b.getBoundingClientRect().width)")
        assert widths[0] > 100 and widths == sorted(widths, reverse=True)  # red is near-certain; bars in order
        assert page.locator(".prediction .probability").first.text_content().endswith("%")
        page.wait_for_function("document.getElementById('cam').complete && document.getElementById('cam').naturalWidth")
        assert page.locator("#cam").get_attribute("src").startswith("data:image/png;base64,")
        assert page.locator("#camfigure").is_visible()
        shot = page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "page.png").stat().st_size > 1000
        assert problems == []
        page.set_input_files("#file", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"plain text"}])
        page.wait_for_function("document.getElementById('error').textContent.includes('not an image')")
        assert not page.locator("#output").is_visible()
        green = (trained_run[1] / "data" / "test" / "green" / "002.png").read_bytes()
        page.evaluate(DROP, base64.b64encode(green).decode())
        page.wait_for_selector("#output.shown")
        assert page.locator(".prediction .class").first.text_content() == "green"
        assert page.locator("#name").text_content() == "dropped.png" and page.locator("#error").text_content() == ""
    finally:
        page.close()
    assert len(problems) == 1 and "400 (Bad Request)" in problems[0]  # the browser logs the refused upload
