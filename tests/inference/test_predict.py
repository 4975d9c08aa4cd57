"""`predict_files` on a run trained here: images of any format and size, and files that are not images skipped."""

import numpy as np
from PIL import Image

from cnnlab.inference.loaded import load_model
from cnnlab.inference.predict import predict_files


def test_predict_any_format_and_size(trained_run, tmp_path):
    run, _ = trained_run
    loaded = load_model(run)
    red = np.zeros((90, 140, 3), np.uint8)
    red[..., 0] = 220
    Image.fromarray(red).save(tmp_path / "big_red.jpg")
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 220, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "blue_rgba.png")
    Image.fromarray(np.full((32, 32), 128, np.uint8), "L").save(tmp_path / "grey.png")
    (tmp_path / "notes.jpg").write_text("no image")
    results, skipped = predict_files(loaded, [tmp_path], top=2)
    by_name = {r["file"].split("/")[-1]: r["top"] for r in results}
    assert by_name["big_red.jpg"][0]["class"] == "red"
    assert by_name["blue_rgba.png"][0]["class"] == "blue"
    assert len(by_name["grey.png"]) == 2
    assert abs(sum(g["probability"] for g in by_name["big_red.jpg"]) - 1) < 0.5
    assert [p.split("/")[-1] for p, _ in skipped] == ["notes.jpg"]


def test_a_multi_label_run_answers_the_labels_at_or_above_their_thresholds(labelled_run):
    import pytest

    from cnnlab.errors import SettingError

    run, shapes, truth = labelled_run
    loaded = load_model(run)
    test_images = [shapes / f"{i:04d}.png" for i in range(0, 400, 5)][:20]  # the CSV's `val` rows: the test split
    results, skipped = predict_files(loaded, test_images, top=3)
    thresholds = dict(zip(loaded.classes, loaded.record.thresholds))
    right = 0
    for result, image in zip(results, test_images):
        answered = {label["class"] for label in result["labels"]}
        assert all(label["probability"] >= thresholds[label["class"]] for label in result["labels"])
        assert all(g["probability"] < thresholds[g["class"]] for g in result["top"] if g["class"] not in answered)
        assert result["answer"] == (", ".join(label["class"] for label in result["labels"]) or "none")
        right += answered == truth[int(image.stem)]
    assert not skipped and right >= 16  # the whole set of shapes right for most images
    with pytest.raises(SettingError, match="`min_confidence` applies to single-label models"):
        predict_files(loaded, test_images[:1], min_confidence=0.5)
