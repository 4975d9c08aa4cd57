"""save_curves: runs overlaid in one picture, and a run without metrics refused."""

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.viz.curves import save_curves


def test_curves_overlay_runs_and_refuse_a_run_without_metrics(trained_run, tmp_path):
    run, _ = trained_run
    assert save_curves([run, run], tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(CnnlabError, match="no metrics"):
        save_curves([tmp_path / "empty"], tmp_path / "d.png")
