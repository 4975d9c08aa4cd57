"""`cnnlab report`: a self-contained page that opens in a real headless Chromium with every picture drawn."""

import json
import re
from pathlib import Path

from conftest import Cli


def test_report_opens_in_chromium_without_errors(trained_run: tuple[Path, Path], browser: object, cli: Cli,
                                                 tmp_path: Path) -> None:
    run_dir, _ = trained_run
    code, out, _ = cli("report", str(run_dir), "--out", str(tmp_path / "report.html"), "--samples", "6")
    assert code in (0, None)
    page_file = Path(out.strip())
    assert page_file == tmp_path / "report.html"
    html = page_file.read_text()
    assert not re.search(r'(src|href)="(?!data:)', html), "every picture and link must be inlined"

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.goto(page_file.as_uri())
    images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    page.close()

    assert problems == []
    assert [alt for alt, _, _ in images] == [
        "loss, accuracy and learning rate by epoch", "rows: true class, columns: predicted class",
        "reliability: accuracy against confidence, per bin",
        "abstaining: accuracy of the images answered at each minimum confidence", "the evaluation images the model got most wrong", "grey is a zero weight",
        "where the evidence for the predicted class lies",
    ]
    assert all(complete and width > 100 for _, complete, width in images)
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_states_the_evaluated_metrics(trained_run: tuple[Path, Path], cli: Cli, tmp_path: Path) -> None:
    run_dir, _ = trained_run
    code, out, _ = cli("report", str(run_dir), "--out", str(tmp_path / "r.html"))
    assert code in (0, None)
    html = Path(out.strip()).read_text()
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    assert f"top-1<b>{metrics['top1']:.2%}</b>" in html
    for name in ("red", "green", "blue"):
        assert f"<td>{name}</td>" in html
    epochs = len((run_dir / "metrics.jsonl").read_text().splitlines())
    assert f"epochs<b>{epochs}</b>" in html


def test_report_refuses_a_folder_that_is_not_a_run(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("report", str(tmp_path))
    assert code == 2
    assert "no checkpoints" in err
