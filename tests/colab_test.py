"""The Colab notebook runs top to bottom on a CPU, on the tiny test config.

Needs the `notebook` test dependencies (nbclient, nbformat, ipykernel); the
test is skipped without them.
"""

import pathlib

import pytest

from betavae_jax import pretrained

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


def _parameters(notebook) -> dict:
  """The notebook's parameters, as its first code cell sets them."""
  namespace = {}
  source = notebook.cells[_parameters_index(notebook)].source
  exec(source, namespace)  # pylint: disable=exec-used
  return namespace


def test_notebook_opens_with_the_most_disentangled_model():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  assert (_parameters(notebook)["PRETRAINED"]
          == pretrained.by_disentanglement()[0])


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
  first = _parameters(notebook)["PRETRAINED"]
  assert (tmp_path / f"run_{first}" / "traversal_0.gif").exists()
  assert any(f"{first}: {pretrained.info(first)['objective']} objective"
             in out.get("text", "") for out in outputs)
