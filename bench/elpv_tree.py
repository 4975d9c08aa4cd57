"""ELPV (PyPI `elpv-dataset` 1.0.0.post1; images CC BY-NC-SA 4.0, never committed) as an image-folder tree for the
benchmarks: four classes by defect probability, a stratified 75/25 train/test split with seed 0.

    pip download --no-deps elpv-dataset==1.0.0.post1 -d /tmp/elpv && unzip -q /tmp/elpv/elpv_dataset-*.whl -d /tmp/elpv/wheel
    python bench/elpv_tree.py /tmp/elpv/wheel/elpv_dataset/data /tmp/elpv/tree
"""

import random
import shutil
import sys
from collections import defaultdict
from pathlib import Path

NAMES = {"0.0": "functional", "0.3333333333333333": "mildly_defective", "0.6666666666666666": "likely_defective",
         "1.0": "defective"}


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    by_class = defaultdict(list)
    for line in (source / "labels.csv").read_text().splitlines():
        path, probability, _kind = line.split()
        by_class[NAMES[probability]].append(source / path)
    rng = random.Random(0)
    for name, files in sorted(by_class.items()):
        rng.shuffle(files)
        cut = round(len(files) * 0.75)
        for split, part in (("train", files[:cut]), ("test", files[cut:])):
            (out / split / name).mkdir(parents=True, exist_ok=True)
            for file in part:
                shutil.copy(file, out / split / name / file.name)
        print(name, len(files), "train", cut, "test", len(files) - cut)


if __name__ == "__main__":
    main()
