"""A run whose weights do not fit its own record (tensors of other shapes) is one line naming the file, for every
verb that reads a run: no traceback, exit code 2."""

import pytest

from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.train.fit import fit


@pytest.fixture(scope="module")
def mismatched_run(tmp_path_factory: pytest.TempPathFactory):
    """A run that says simplecnn, holding the weights of simplecnn:kernel_size=5; and an image for it."""
    from conftest import write_colour_images

    root = tmp_path_factory.mktemp("mismatch")
    write_colour_images(root / "data", per_class=8, seed=1, size=16)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_CACHE", str(root / "cache"))
        common = {"data": str(root / "data"), "out": str(root), "epochs": 1, "batch_size": 8}
        run = fit(**common, name="run").run_dir
        other = fit(**common, name="other", model="simplecnn:kernel_size=5").run_dir
    for name in ("last.safetensors", "best.safetensors"):  # the run's own record, the other run's tensors
        own, theirs = run / "checkpoints" / name, other / "checkpoints" / name
        sections, optimizer, _ = load_checkpoint(theirs)
        save_checkpoint(own, sections, optimizer, load_checkpoint(own)[2])
    return run, next((root / "data" / "red").iterdir())


@pytest.mark.parametrize("verb", [["evaluate", "{run}"], ["predict", "{run}", "{image}"], ["export", "{run}"],
                                  ["summary", "{run}"], ["viz", "filters", "{run}"],
                                  ["viz", "gradcam", "{run}", "{image}"], ["report", "{run}"],
                                  ["serve", "{run}", "--port", "0"], ["train", "--resume", "{run}"]])
def test_every_verb_refuses_weights_that_do_not_fit_in_one_line(mismatched_run, cli, verb):
    run, image = mismatched_run
    code, _, err = cli(*(part.format(run=run, image=image) for part in verb))
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err
    assert "does not fit simplecnn" in errors[0] and "of another shape" in errors[0]
