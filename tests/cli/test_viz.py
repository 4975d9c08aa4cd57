"""`cnnlab viz` on a trained run: filters, feature maps, Grad-CAM, curves and gradient flow as PNG files."""

import json

from typer.testing import CliRunner

from cnnlab.cli.app import app


def test_viz_verbs_on_a_trained_run(trained_run, tmp_path):
    run, root = trained_run
    image = str(next((root / "data" / "test" / "red").glob("*.png")))
    runner = CliRunner()
    commands = [
        ["viz", "filters", str(run), "--out", str(tmp_path)],
        ["viz", "filters", str(run), "--layer", "features.1.0.conv", "--out", str(tmp_path)],
        ["viz", "featuremaps", str(run), image, "--layer", "features.0", "--layer", "features.2", "--out", str(tmp_path)],
        ["viz", "gradcam", str(run), str(root / "data" / "test" / "green"), "--out", str(tmp_path)],
        ["viz", "gradcam", str(run), image, "--class", "blue", "--method", "gradcam++", "--out", str(tmp_path)],
        ["viz", "curves", str(run), "--out", str(tmp_path / "curves.png")],
    ]
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["curves.png", "featuremaps-000-features-0.png", "featuremaps-000-features-2.png",
                     "filters-features-1-0-conv.png", "filters-first-conv.png", "gradcam++.png", "gradcam.png"]
    result = runner.invoke(app, ["viz", "gradcam", str(run), image, "--class", "purple"])
    assert result.exit_code != 0 and "blue, green, red" in str(result.exception)


def test_a_run_gives_two_curves_and_the_cli_writes_a_png(cli, trained_run, tmp_path):
    run_dir, _ = trained_run
    out = tmp_path / "flow.png"
    code, stdout, _ = cli("viz", "gradflow", str(run_dir), "resnet8", "--batch", "16", "--out", str(out), "--json")
    assert code in (0, None) and out.read_bytes().startswith(b"\x89PNG")
    curves = json.loads(stdout)["curves"]
    assert [c["label"] for c in curves] == ["colours at init", "colours trained", "resnet8 at init"]
    assert curves[0]["layers"] == curves[1]["layers"] and curves[0]["norms"] != curves[1]["norms"]


def test_gradcam_of_a_multi_label_run_explains_every_label_answered_or_the_one_chosen(labelled_run, tmp_path):
    from cnnlab.viz.views import gradcam_png

    run, shapes, truth = labelled_run
    index = next(i for i in range(0, 400, 5) if len(truth[i]) == 2)  # a test image holding two of the shapes
    image = shapes / f"{index:04d}.png"
    path, rows = gradcam_png(run, [image], out=tmp_path)
    assert path.exists() and {row["class"] for row in rows} == truth[index] and len(rows) == 2
    assert all(row["probability"] > 0.5 for row in rows)  # sigmoids of the labels answered
    missing = ({"circle", "square", "triangle"} - truth[index]).pop()
    result = CliRunner().invoke(app, ["viz", "gradcam", str(run), str(image), "--label", missing, "--out",
                                      str(tmp_path)])
    assert result.exit_code == 0 and result.output.count(image.name) == 1 and missing in result.output
