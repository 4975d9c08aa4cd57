"""`cnnlab augment preview`: one labelled PNG grid, the same for the same seed, from a dataset or image files."""

from pathlib import Path

from PIL import Image


def test_cli_writes_the_same_png_for_the_same_seed(cli, colour_folder, tmp_path):
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (1, 1, 2)):
        code, out, _ = cli("augment", "preview", "--data", str(colour_folder), "--count", "3", "--seed", str(seed),
                           "--out", str(path))
        assert code in (0, None) and out.strip() == str(path)
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()
    width, height = Image.open(paths[0]).size
    assert width > 3 * height  # 13 columns of 3 rows


def test_cli_takes_image_files_and_names_a_missing_one(cli, colour_folder, tmp_path):
    image = next((colour_folder / "train" / "red").iterdir())
    code, out, _ = cli("augment", "preview", str(image), "--policy", "augmix", "--out", str(tmp_path / "one.png"))
    assert code in (0, None) and Path(out.strip()).is_file()
    code, _, err = cli("augment", "preview", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "x.png"))
    assert code == 2 and "nope.jpg" in err
