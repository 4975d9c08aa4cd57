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
