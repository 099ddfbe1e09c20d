"""The README's promises: its commands, its snippet runs as written, its layout
names every module and its "Extending" section what exists."""

import importlib
import pathlib
import re

import jax
import numpy as np
import pytest

from betavae_jax import pretrained

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _section(title: str) -> str:
  """The README's text under `## title`, up to the next section."""
  text = README.read_text()
  start = text.index(f"\n## {title}\n")
  end = text.find("\n## ", start + 1)
  return text[start:end if end >= 0 else None]


def test_readme_gives_the_install_run_and_test_commands():
  text = README.read_text()
  assert ("pip install -e '.[test]' && python -m betavae_jax.main "
          "--config=configs/dsprites.py") in text
  assert "\npython -m pytest tests\n" in text


@pytest.mark.slow
def test_snippet_trains_a_step_in_a_users_own_jitted_step():
  blocks = re.findall(r"```python\n(.*?)```",
                      _section("Use it from your own JAX code"), re.S)
  assert len(blocks) == 1
  namespace = {}
  code = compile(blocks[0], "README", "exec")
  exec(code, namespace)  # pylint: disable=exec-used
  loss, aux = namespace["loss"], namespace["aux"]
  assert np.isfinite(loss)
  # The step returns the beta-weighted objective's own terms.
  np.testing.assert_allclose(loss, aux["recon"] + 4.0 * aux["kl"], rtol=1e-5)
  assert aux["kl_per_dim"].shape == (10,)
  # And it trained: Adam moved every parameter from its initial value.
  first = namespace["model"].init(
      {"params": jax.random.key(0), "latent": jax.random.key(0)},
      namespace["images"], train=True)["params"]
  moved = jax.tree.map(lambda a, b: bool(np.any(a != b)), first,
                       namespace["params"])
  assert all(jax.tree.leaves(moved))


def test_results_lead_with_the_shipped_models_as_recorded():
  section = _section("Results")
  blocks = re.findall(r"```python\n(.*?)```", section, re.S)
  namespace = {}
  code = compile(blocks[0], "README", "exec")
  exec(code, namespace)  # pylint: disable=exec-used
  assert namespace["params"] and namespace["config"].objective.name
  ranked = pretrained.by_disentanglement()
  # The snippet loads the most disentangled model, and the table lists
  # every shipped model, most disentangled first.
  assert f'pretrained.load("{ranked[0]}")' in blocks[0]
  rows = [line for line in section.splitlines() if line.startswith("| `")]
  assert [row.split("`")[1] for row in rows] == list(ranked)
  for name, row in zip(ranked, rows):
    facts = pretrained.info(name)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == f"{facts['step']:,}"
    assert cells[3] == f"{facts['heldout']['recon']:.1f}"
    assert cells[4] == f"{facts['heldout']['kl']:.1f}"
    assert cells[5] == f"{facts['heldout']['active_latents']:.0f}"
    # The three scores the ranking reads, so a reader can check it here.
    assert cells[6:9] == [f"{facts['scores'][s]:.3f}"
                          for s in pretrained.RANKING_SCORES]
  # The README's one picture is of the leading model at its step.
  text = README.read_text()
  assert text.count("![") == 1
  # The study's figure at the shipped step, or a copy kept in docs/images
  # while the study's figures are those of a newer run.
  gif = (re.search(r"\]\((experiments/reproduction/plots/(\w+)/(\d+)/"
                   r"traversal_0\.gif)\)", text)
         or re.search(r"\]\((docs/images/(\w+?)_(\d+)_traversal\.gif)\)",
                      text))
  assert gif and (README.parent / gif.group(1)).is_file()
  assert gif.group(2) == ranked[0]
  assert int(gif.group(3)) == pretrained.info(ranked[0])["step"]


def test_layout_names_every_module():
  layout = _section("Layout")
  package = README.parent / "betavae_jax"
  for path in sorted(package.glob("*.py")) + sorted(
      p for p in package.iterdir() if p.is_dir() and p.name[0] != "_"):
    if path.name != "__init__.py":
      name = path.name + ("/" if path.is_dir() else "")
      assert f"`{name}`" in layout or f"`betavae_jax/{name}`" in layout, name


def test_extending_names_what_exists():
  section = _section("Extending")
  named = set(re.findall(r"`(\w+)\.(\w+)`", section))
  assert len(named) >= 8
  modules = {"objectives": "betavae_jax.objectives",
             "hooks": "betavae_jax.hooks",
             "scores": "betavae_jax.evaluation.scores",
             "metric_names": "betavae_jax.metric_names",
             "input_pipeline": "betavae_jax.input_pipeline",
             "train": "betavae_jax.train"}
  for module, attr in named:
    if module in modules:
      assert hasattr(importlib.import_module(modules[module]), attr), (
          module, attr)
  files = re.findall(r"`((?:\w+/)*\w+\.py)`", section)
  for name in files:
    assert any((README.parent / "betavae_jax").rglob(name.split("/")[-1])), (
        name)
