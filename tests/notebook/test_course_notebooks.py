"""The course notebooks (docs/notebooks/) run from a fresh kernel without an error, and the cells tagged `compare`
(the worked example, parameter counts, shapes) print what the committed notebooks show.

By default the notebooks that train nothing run (well under a minute); `CNNLAB_NOTEBOOKS=all` runs every one (a few
minutes on two CPU cores), as before committing re-executed notebooks.
"""

import os
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

FOLDER = Path(__file__).parents[2] / "docs" / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
QUICK = {"01-why-cnns-and-convolution", "02-activations-and-pooling", "03-architectures"}
CHOSEN = [nb for nb in NOTEBOOKS if os.environ.get("CNNLAB_NOTEBOOKS") == "all" or nb.stem in QUICK]


def code_cells(notebook: "nbformat.NotebookNode") -> list:
    """The notebook's code cells."""
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def printed(cell: "nbformat.NotebookNode") -> str:
    """What a cell printed and returned, as text (streams joined, as they split by timing)."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "execute_result":
            parts.append(output.data.get("text/plain", "") + "\n")
    return "".join(parts)


def test_the_notebooks_cover_the_course():
    assert [nb.stem for nb in NOTEBOOKS] == [
        "01-why-cnns-and-convolution", "02-activations-and-pooling", "03-architectures", "04-training",
        "05-transfer-and-augmentation", "06-exercises"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_is_committed_executed_without_errors(path):
    cells = code_cells(nbformat.read(path, as_version=4))
    assert all(cell.execution_count for cell in cells), "re-execute the notebook before committing it"
    assert [i for i, cell in enumerate(cells) for o in cell.outputs if o.output_type == "error"] == []
    assert all(cell.outputs for cell in cells if "compare" in cell.metadata.get("tags", []))


@pytest.mark.parametrize("path", CHOSEN, ids=lambda p: p.stem)
def test_a_notebook_runs_from_a_fresh_kernel_and_prints_what_is_committed(path, tmp_path):
    committed = nbformat.read(path, as_version=4)
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    fresh = nbformat.read(copy, as_version=4)
    for cell in code_cells(fresh):
        cell.outputs = []
    nbclient.NotebookClient(fresh, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a cell's error
    pairs = [(before, after) for before, after in zip(code_cells(committed), code_cells(fresh))
             if "compare" in before.metadata.get("tags", [])]
    assert pairs
    for before, after in pairs:
        assert printed(after) == printed(before), before.source
