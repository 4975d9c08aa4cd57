"""Every object the Python API returns draws itself in a notebook: PNG bytes that decode, HTML that holds the numbers."""

import io
from pathlib import Path

import pytest
import torch
from PIL import Image

import cnnlab
from cnnlab import events
from cnnlab.notebook import views

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(trained_run: tuple[Path, Path]) -> cnnlab.Run:
    """The colours run (red, green, blue), loaded through the API."""
    return cnnlab.load(trained_run[0])


def decoded_size(png: bytes) -> tuple[int, int]:
    """A PNG's width and height, checked to decode."""
    assert png.startswith(PNG)
    return Image.open(io.BytesIO(png)).size


def test_a_summary_shows_its_layers_and_totals_as_the_terminal_does():
    html = views.summary_html(cnnlab.summary("simplecnn"))
    assert "620,810 (620,810 trainable)" in html
    assert "<td>features.0.0.conv</td><td>Conv2d</td><td class=n>32x32x32</td><td class=n>896</td>" in html
    assert "<details open>" in html  # 16 layers: shown unfolded
    assert "<details>" in views.summary_html(cnnlab.summary("resnet50"))  # 175: folded
    assert repr(cnnlab.summary("lenet5", input="1x32x32")).startswith("Summary(lenet5 on 1x32x32: 61,706 parameters")


def test_a_runs_summary_shows_its_stages(run):
    html = views.summary_html(run.summary())
    assert "<th>stage</th>" in html and "trains" in html


def test_metrics_are_a_table_of_epochs(run):
    metrics = run.metrics
    assert [row["epoch"] for row in metrics] == [1, 2, 3]
    html = metrics._repr_html_()
    assert html.count("<tr>") == 4  # header + 3 epochs
    assert f"{metrics[-1]['val_acc']:.2%}" in html
    assert metrics.best["val_acc"] == max(metrics.column("val_acc"))


def test_an_evaluation_shows_its_headline_confusion_matrix_and_classes(run):
    evaluation = run.evaluate()
    html = evaluation._repr_html_()
    assert f"{evaluation['top1']:.2%}" in html
    assert html.count('<img src="data:image/png;base64,') == 1  # the confusion matrix
    for name in ("red", "green", "blue"):
        assert f"<td>{name}</td>" in html
    assert Path(evaluation["files"]["metrics_json"]).is_file()  # the same files as `cnnlab evaluate`


def test_predictions_show_thumbnails_and_top_classes(run):
    images, truth = run.samples(3)
    predictions = run.predict(images, top=2)
    html = predictions._repr_html_()
    assert html.count("<img") == 3 and html.count("<tr>") == 4
    assert [p["top"][0]["class"] for p in predictions] == truth  # the colours are easy
    assert f"{predictions[0]['top'][0]['probability']:.1%}" in html


def test_pictures_are_pngs(run):
    images, _ = run.samples(2)
    for picture in (run.filters(), run.plot_curves(), cnnlab.augment_preview(data="sample", count=2)):
        width, height = decoded_size(picture._repr_png_())
        assert width > 100 and height > 100
    cam = run.gradcam(images)
    assert decoded_size(cam._repr_png_())[0] > 100 and cam.maps.shape == (2, 32, 32)
    assert "2 images at" in repr(cam)


def test_feature_maps_show_one_picture_per_layer(run):
    images, _ = run.samples(1)
    pictures = run.feature_maps(images[0], layers=["features.0", "features.1"])
    assert list(pictures.maps) == ["features.0", "features.1"]
    assert pictures._repr_html_().count('<img src="data:image/png;base64,') == 2


def test_a_learning_rate_finding_shows_its_suggestion_and_curve(tmp_path, colour_folder):
    found = cnnlab.lr_find(data=str(colour_folder), out=str(tmp_path), steps=8, batch_size=16, quiet=True)
    html = views.lr_find_html(found)
    assert f"{found.suggestion:.2e}" in html and '<img src="data:image/png;base64,' in html
    assert repr(found).startswith("LRFind(suggestion")


def test_an_export_and_a_report_show_what_they_wrote(run, tmp_path):
    exported = run.export("torchscript", out=tmp_path / "m.pt")
    assert "<td>file</td>" in exported._repr_html_() and exported["verification"]["passed"]
    report = run.report(out=tmp_path / "report.html")
    assert report._repr_png_() is None  # a page, not a picture: the front end shows the link
    assert 'href="' in report._repr_html_() and (tmp_path / "report.html").is_file()


def test_a_run_shows_its_model_and_last_epoch(run):
    html = run._repr_html_()
    assert "3 classes" in html and "3 epochs" in html


def test_a_predict_of_a_pil_image_or_a_file_goes_through_the_models_preprocessing(run, tmp_path):
    red = Image.new("RGB", (50, 70), (220, 40, 40))
    red.save(tmp_path / "red.png")
    assert run.predict(red)[0]["top"][0]["class"] == "red"
    assert run.predict(tmp_path / "red.png")[0]["file"] == "red.png"
    with pytest.raises(cnnlab.CnnlabError, match="uint8 tensors of shape 3x32x32"):
        run.predict(torch.zeros(3, 8, 8, dtype=torch.uint8))


def test_the_api_is_quiet_when_asked(trained_run, heard):
    with events.quiet():
        cnnlab.load(trained_run[0]).evaluate()
    assert heard.events == []
