"""The Colab notebook runs top to bottom on a CPU, on the tiny test config.

Needs the `notebook` test dependencies (nbclient, nbformat, ipykernel); the
test is skipped without them.
"""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = (pathlib.Path(__file__).resolve().parent.parent / "experiments" /
            "colab.ipynb")


def _parameters_index(notebook) -> int:
  return next(i for i, cell in enumerate(notebook.cells)
              if "parameters" in cell.metadata.get("tags", []))


def test_notebook_is_committed_without_outputs():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(notebook)
  for cell in notebook.cells:
    if cell.cell_type == "code":
      assert not cell.outputs and cell.execution_count is None


@pytest.mark.slow
def test_notebook_runs_on_cpu(tmp_path, monkeypatch):
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  workdir = tmp_path / "run"
  # Overrides, as papermill would inject them after the parameters cell.
  notebook.cells.insert(_parameters_index(notebook) + 1,
                        nbformat.v4.new_code_cell("\n".join([
                            'CONFIG = "test.py"',
                            "NUM_TRAIN_STEPS = 8",
                            f"WORKDIR = {str(workdir)!r}",
                            "DOWNLOAD_DSPRITES = False",
                            "TRAVERSAL_IMAGES = 1"])))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                          resources={"metadata": {"path": str(tmp_path)}}
                          ).execute()
  outputs = [out for cell in notebook.cells if cell.cell_type == "code"
             for out in cell.outputs]
  shown = [kind for out in outputs for kind in out.get("data", {})]
  assert "image/png" in shown and "image/gif" in shown
  assert (workdir / "plots" / "8" / "traversal_0.gif").exists()
  # It opened with the shipped model, drawn from rendered images.
  assert (tmp_path / "run_capacity" / "traversal_0.gif").exists()
  assert any("capacity: capacity objective" in out.get("text", "")
             for out in outputs)
