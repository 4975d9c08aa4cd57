"""`cnnlab train`'s options come from the settings' declarations: one per setting, in its section's panel."""

import json
import re
import subprocess
import sys

from torchvision.models import ResNet18_Weights

from cnnlab.settings import SECTIONS
from cnnlab.settings.field import declared

from conftest import two_colour_folder, write_mixed_sizes


def test_help_shows_every_setting_in_its_section(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli("train", "--help")
    assert code == 0
    panels = {m.start(): m.group(1) for m in re.finditer(r"╭─ (\w+) ─", out)}
    for kind in SECTIONS.values():
        assert kind.title in panels.values()
        start = next(pos for pos, title in panels.items() if title == kind.title)
        end = min([pos for pos in panels if pos > start], default=len(out))
        for field, _, _ in declared(kind):
            assert f"--{field.name.replace('_', '-')} " in out[start:end], (kind.title, field.name)


def test_a_bad_value_is_one_line_naming_the_flag_and_what_is_allowed(cli):
    code, _, err = cli("train", "--lr", "nan")
    assert code == 2 and err.strip() == "error: --lr must be a finite number, got nan"
    code, _, err = cli("train", "--momentum", "-1")
    assert code == 2 and err.strip() == "error: --momentum must be at least 0, got -1.0"
    code, _, err = cli("train", "--muon-lr", "0.1")
    assert code == 2 and err.strip() == "error: --muon-lr applies to --optimizer muon only (it is adam)"


def test_cli_refuses_an_unknown_policy_in_one_line(cli):
    code, _, err = cli("train", "--policy", "randaug", "--epochs", "1")
    assert code == 2 and "--policy 'randaug' is not one of" in err and "trivialaugment" in err


def test_cli_trains_on_a_folder_of_mixed_sizes(tmp_path):
    from typer.testing import CliRunner

    from cnnlab.cli.app import app

    write_mixed_sizes(tmp_path / "mixed")
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "mixed"), "--epochs", "1",
                                      "--batch-size", "8", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "input 3x36x36" in result.output and "done:" in result.output


def test_cli_trains_on_a_folder_of_odd_and_broken_files_and_names_each_skipped_one(colour_folder, tmp_path):
    import io

    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from cnnlab.cli.app import app

    def save(image: Image.Image, path, fmt: str, **options) -> None:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        path.write_bytes(buffer.getvalue())

    red = colour_folder / "train" / "red"
    save(Image.new("CMYK", (32, 32), (0, 220, 220, 30)), red / "cmyk.jpg", "JPEG")
    save(Image.new("LA", (32, 32), (90, 200)), red / "grey-alpha.png", "PNG")
    save(Image.fromarray(np.full((32, 32), 40000, np.uint16)), red / "sixteen-bit.png", "PNG")
    palette = Image.new("P", (48, 20))
    palette.putpalette([220, 40, 40] * 256)
    save(palette, red / "palette-wide.gif", "GIF")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: stored 20x32, shown 32x20
    save(Image.new("RGB", (20, 32), (220, 40, 40)), red / "rotated.jpg", "JPEG", exif=exif)
    broken = {"empty.png": b"", "notes.txt": b"not an image", "fake.jpg": b"plain text in a .jpg",
              "truncated.png": (red / "000.png").read_bytes()[:60]}
    for name, data in broken.items():
        (red / name).write_bytes(data)
    result = CliRunner().invoke(app, ["train", "--data", str(colour_folder), "--epochs", "1", "--batch-size", "32",
                                      "--image-size", "32", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "done:" in result.output and "125 train" in result.output  # 120 colour images + 5 odd ones
    assert f"skipped {len(broken)} unusable files" in result.output
    for name in broken:
        assert name in result.output


def test_cli_train_bad_choice_lists_allowed_values(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cnnlab", "train", "--optimizer", "rmsprop", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "sgd, adam, adamw" in out.stderr and "Traceback" not in out.stderr


def test_cli_trains_resnet18_from_imagenet_weights_with_a_frozen_backbone(served, colour_folder, tmp_path, cli):
    code, out, err = cli("train", "--data", str(colour_folder), "--model", "resnet18", "--pretrained", "imagenet",
                         "--freeze", "backbone", "--epochs", "1", "--batch-size", "32", "--out", str(tmp_path),
                         "--name", "tv")
    assert code == 0, err
    code, out, _ = cli("summary", str(tmp_path / "tv"), "--json")
    stages = {row["stage"]: row for row in json.loads(out)["stages"]}
    assert stages["layer4"]["trainable"] == 0 and stages["head"]["trainable"] == stages["head"]["params"] == 512 * 3 + 3


def test_cli_offline_and_unknown_weights_are_one_line_errors(colour_folder, tmp_path, cli, served, monkeypatch):
    code, _, err = cli("train", "--data", str(colour_folder), "--model", "resnet18", "--pretrained", "imagenet21k",
                       "--out", str(tmp_path))
    assert code == 2 and "error: unknown weights 'imagenet21k' for resnet18" in err
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url", "http://127.0.0.1:9/resnet18-f37072fd.pth")
    code, _, err = cli("train", "--data", str(colour_folder), "--model", "resnet18", "--pretrained", "imagenet",
                       "--out", str(tmp_path))
    assert code == 2 and "error: cannot download" in err and "offline" in err and "Traceback" not in err


def test_cli_takes_the_architecture_from_the_pretrained_run(colour_folder, tmp_path, cli):
    code, _, err = cli("train", "--data", str(colour_folder), "--model", "lenet5", "--epochs", "1", "--out",
                       str(tmp_path), "--name", "lenet")
    assert code == 0, err
    target = two_colour_folder(tmp_path / "target")
    code, _, err = cli("train", "--data", str(target), "--pretrained", str(tmp_path / "lenet"), "--fine-tune", "1",
                       "--epochs", "2", "--out", str(tmp_path), "--name", "again")
    assert code == 0, err
    config = json.loads((tmp_path / "again" / "config.json").read_text())
    assert config["model"]["architecture"] == "lenet5" and len(config["model"]["classes"]) == 2


def test_torchrun_runs_the_cli_module_with_one_voice(tiny_folder, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "cnnlab", "train",
               "--data", str(tiny_folder), "--model", "lenet5", "--epochs", "1", "--batch-size", "8",
               "--out", str(tmp_path / "runs"), "--name", "tr"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(tmp_path / "runs" / "tr")]  # only rank 0 prints
    assert "global batch 8 = 2 x 4 per process; lr 0.001 as given" in done.stderr
    assert done.stderr.count("done:") == 1 and done.stderr.count("epoch   1/1") == 1
    assert len((tmp_path / "runs" / "tr" / "metrics.jsonl").read_text().splitlines()) == 1


def test_cli_refuses_devices_under_torchrun(cli, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, _, err = cli("train", "--devices", "2", "--epochs", "1")
    assert code == 2 and "do not combine it with torchrun" in err


def test_a_run_on_a_labels_file_is_read_back_by_evaluate_predict_and_export(tmp_path, cli):
    import csv
    import json
    import shutil

    from conftest import write_colour_images

    write_colour_images(tmp_path / "by_class", per_class=8, seed=1, size=16)
    (tmp_path / "photos").mkdir()
    with open(tmp_path / "train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "category", "fold"])
        for folder in sorted((tmp_path / "by_class").iterdir()):
            for i, file in enumerate(sorted(folder.iterdir())):
                shutil.copy(file, tmp_path / "photos" / f"{folder.name}{i}.png")
                writer.writerow([f"{folder.name}{i}.png", folder.name, "val" if i < 2 else "train"])
    code, out, err = cli("train", "--data", str(tmp_path / "photos"), "--labels", str(tmp_path / "train.csv"),
                         "--split-column", "fold", "--epochs", "2", "--batch-size", "8", "--out", str(tmp_path / "runs"),
                         "--name", "labelled")
    assert code in (0, None), err
    assert "18 train / 6 val images, 3 classes" in err
    run = tmp_path / "runs" / "labelled"
    code, out, err = cli("evaluate", str(run), "--json")
    assert code in (0, None), err
    assert json.loads(out)["images"] == 6
    code, out, err = cli("predict", str(run), str(tmp_path / "photos" / "red3.png"), "--json")
    assert code in (0, None), err
    assert json.loads(out)["predictions"][0]["top"][0]["class"] in ("blue", "green", "red")
    code, _, err = cli("export", str(run))
    assert code in (0, None), err
    assert "top-1 agrees on 6/6" in err


def test_folds_refuses_what_applies_to_one_run(cli, tmp_path):
    code, _, err = cli("train", "--folds", "3", "--fold", "1/3", "--out", str(tmp_path))
    assert code == 2 and "--fold" in err and "chosen by the cross-validation" in err
    code, _, err = cli("train", "--folds", "1", "--out", str(tmp_path))
    assert code == 2 and "--folds" in err and "from 2 to 100" in err
    assert not any(tmp_path.iterdir())  # nothing was started
