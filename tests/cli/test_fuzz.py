"""Random values for the options of every verb end in success or a one-line error (exit code 2), never a traceback.

`train`'s options come from the settings' declarations, so the values are drawn from those: the allowed ones, and
values around and outside them (negative, zero, huge, NaN, text for a number, unknown names). A few values are
left out because they are slow rather than wrong: `--compile` (a compilation per example), more than one process
(`--devices 2` starts two), downloads (the network), and image sides above 64. They have tests of their own.
"""

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnlab.settings import SECTIONS
from cnnlab.settings.field import declared, value_type

from conftest import write_colour_images

EXAMPLES = 120
NASTY_NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e300", "-1e-300", "abc", ""]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
SLOW = {"compile", "devices", "download"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 16x16 images in three classes, and a run trained on it."""
    root = tmp_path_factory.mktemp("fuzz")
    write_colour_images(root / "data" / "train", per_class=4, seed=1, size=16)
    write_colour_images(root / "data" / "test", per_class=2, seed=2, size=16)
    return root


@pytest.fixture(autouse=True)
def elsewhere(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs whose `out` the fuzz chose land in a folder of their own, not in the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def numbers(kind: type, rule) -> st.SearchStrategy[str]:
    """Numbers as text: inside the declared range, at its edges, outside it, and not numbers at all."""
    edges = [bound for bound in (rule.min, rule.max, rule.above, rule.below) if bound is not None]
    near = [value + delta for value in edges for delta in (-1, 0, 1)] + [0, 1, 2]
    if kind is int:
        values = st.sampled_from([str(int(v)) for v in near if math.isfinite(v) and abs(v) < 1e9] + ["-5", "3"])
    else:
        values = st.sampled_from([repr(float(v)) for v in near] + ["0.5", "1e-3", "0.9"])
    return st.one_of(values, st.sampled_from(NASTY_NUMBERS))


def option_values(name: str, annotation, rule, folder: Path) -> st.SearchStrategy[list[str]]:
    """The command-line words that give a setting a value."""
    flag = "--" + name.replace("_", "-")
    kind, _ = value_type(annotation)
    if name in SLOW:
        return st.sampled_from([[f"--no-{flag[2:]}"]] if kind is bool else [[flag, "0"], [flag, "-1"]])
    if kind is bool:
        return st.sampled_from([[flag], [f"--no-{flag[2:]}"]])
    if name == "image_size":
        return st.sampled_from([[flag, v] for v in ("0", "7", "8", "12", "-3", "abc", "64")])
    if name == "max_steps":
        return st.sampled_from([[flag, v] for v in ("0", "-1", "1", "2", "x")])
    if kind in (int, float):
        return numbers(kind, rule).map(lambda v: [flag, v])
    if rule.choices is not None:
        return st.one_of(st.sampled_from(rule.choices), TEXT).map(lambda v: [flag, v])
    known = {
        "data": [str(folder), "sample", str(folder / "nowhere"), "cifar10", str(folder / "data" / "train" / "red")],
        "model": ["simplecnn", "lenet5", "simplecnn:pooling=strided", "resnet9", "simplecnn:se=maybe", "timm/x",
                  "convnet:widths=8-16", "fast:widths=8-16-16", "vgg11:x=1"],
        "pretrained": [str(folder / "nothing.pth"), "imagenet", str(folder)],
        "out": [str(folder / "runs")],
    }.get(name, [])
    return st.one_of(st.sampled_from(known), TEXT).map(lambda v: [flag, v]) if known else TEXT.map(lambda v: [flag, v])


def train_arguments(folder: Path) -> st.SearchStrategy[list[str]]:
    """`cnnlab train` with a few random settings on top of a quick run on the tiny folder."""
    fields = [(f.name, annotation, rule) for kind in SECTIONS.values() for f, annotation, rule in declared(kind)]
    chosen = st.lists(st.sampled_from(fields), min_size=1, max_size=4, unique_by=lambda item: item[0])
    base = ["train", "--data", str(folder / "data"), "--out", str(folder / "runs"), "--epochs", "2",
            "--max-steps", "2", "--batch-size", "4"]
    return chosen.flatmap(lambda picked: st.tuples(*(option_values(*item, folder) for item in picked))).map(
        lambda words: base + [word for pair in words for word in pair])


def assert_one_line_or_success(code: int, err: str) -> None:
    """Success, or a user error: exit 2 with one `error:` line last, or Click's own usage message; no traceback."""
    assert "Traceback" not in err, err
    assert code in (0, None, 2), (code, err)
    if code == 2 and "Usage:" not in err:
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_train_with_random_settings_succeeds_or_says_why_in_one_line(tiny, cli, data):
    arguments = data.draw(train_arguments(tiny))
    code, _, err = cli(*arguments)
    assert_one_line_or_success(code, err)


def edge_values(name: str, annotation, rule, folder: Path) -> list[list[str]]:
    """A setting's values at and past the edges of what it allows, and a value of the wrong kind."""
    flag, (kind, _) = "--" + name.replace("_", "-"), value_type(annotation)
    if kind is bool:
        return [[f"--no-{flag[2:]}"]] if name in SLOW else [[flag], [f"--no-{flag[2:]}"]]
    if name in SLOW or name in ("image_size", "max_steps"):
        return [[flag, "0"], [flag, "-1"], [flag, "x"]]
    if kind in (int, float):
        edges = [b for b in (rule.min, rule.max, rule.above, rule.below) if b is not None]
        near = sorted({v + d for v in edges for d in (-1, 0, 1)} | {0})
        shown = [str(int(v)) if kind is int else repr(float(v)) for v in near if abs(v) < 1e12]
        return [[flag, v] for v in shown + ["nan", "1e300", "abc"]]
    if rule.choices is not None:
        return [[flag, str(choice)] for choice in rule.choices] + [[flag, "bogus"]]
    return [[flag, "bogus"], [flag, " "]]


@pytest.mark.parametrize("field", [f for kind in SECTIONS.values() for f in declared(kind)], ids=lambda f: f[0].name)
def test_train_with_each_setting_at_its_edges_succeeds_or_says_why_in_one_line(tiny, cli, field):
    f, annotation, rule = field
    base = ["train", "--data", str(tiny / "data"), "--out", str(tiny / "runs"), "--epochs", "2", "--max-steps", "2",
            "--batch-size", "4"]
    for words in edge_values(f.name, annotation, rule, tiny):
        code, _, err = cli(*base, *words)
        assert_one_line_or_success(code, err)


VERBS = {
    "predict": lambda run, image: ["predict", run, image],
    "evaluate": lambda run, image: ["evaluate", run],
    "export": lambda run, image: ["export", run],
    "summary": lambda run, image: ["summary", run],
    "viz gradcam": lambda run, image: ["viz", "gradcam", run, image],
    "viz featuremaps": lambda run, image: ["viz", "featuremaps", run, image],
    "shape": lambda run, image: ["shape", "--input", "3x32x32", "--kernel", "3"],
    "ops pool": lambda run, image: ["ops", "pool", "--input", "[[1,2],[3,4]]", "--kernel", "2"],
    "ops act": lambda run, image: ["ops", "act", "--input", "[[1,-2]]", "--fn", "leaky_relu"],
    "models": lambda run, image: ["models"],
}
OPTIONS = {
    "predict": ["--top"], "evaluate": ["--tta", "--data"], "export": ["--format", "--opset"],
    "summary": ["--input"], "viz gradcam": ["--layer", "--class", "--method"], "viz featuremaps": ["--layer"],
    "shape": ["--input", "--kernel", "--stride", "--padding", "--dilation", "--out"],
    "ops pool": ["--input", "--kernel", "--stride", "--padding", "--mode"], "ops act": ["--slope", "--fn", "--input"],
    "models": ["--family"],
}
WORDS = st.one_of(st.sampled_from(NASTY_NUMBERS + ["2", "3x8x8", "[[1]]", "[[1,2],[3]]", "same", "features.0",
                                                   "gradcam++", "torchscript", "17", "18", "red", "max", "avg"]), TEXT)


@pytest.fixture(scope="module")
def tiny_run(tiny: Path) -> tuple[str, str]:
    """A run trained on the tiny folder, and one of its images."""
    from cnnlab.train.fit import fit

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_CACHE", str(tiny / "cache"))
        run = fit(data=str(tiny / "data"), out=str(tiny / "runs"), name="fuzzed", epochs=1, batch_size=4).run_dir
    return str(run), str(tiny / "data" / "test" / "red" / "000.png")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_other_verbs_with_random_options_succeed_or_say_why_in_one_line(tiny_run, cli, data, tmp_path_factory):
    verb = data.draw(st.sampled_from(sorted(VERBS)))
    options = data.draw(st.lists(st.sampled_from(OPTIONS[verb]), min_size=1, max_size=3, unique=True))
    arguments = VERBS[verb](*tiny_run) + [word for option in options for word in (option, data.draw(WORDS))]
    if verb in ("evaluate", "export", "viz gradcam", "viz featuremaps"):
        arguments += ["--out", str(tmp_path_factory.mktemp("out") / ("model.onnx" if verb == "export" else "o"))]
    code, _, err = cli(*arguments)
    assert_one_line_or_success(code, re.sub(r"\x1b\[[0-9;]*m", "", err))
