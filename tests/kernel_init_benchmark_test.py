"""benchmarks.kernel_init: every initialiser and seed trained, summarised."""

import json

import pytest

from benchmarks import kernel_init


def test_windows_cover_the_start_and_the_end():
  assert kernel_init.windows(10_000) == ((1, 1_500), (1_501, 3_000),
                                         (8_001, 10_000))


@pytest.mark.slow
def test_tiny_benchmark_reports_each_init_and_seed(tmp_path):
  output = tmp_path / "out.json"
  results = kernel_init.run(["he_uniform", "lecun_normal"], [0, 1], 20,
                            str(tmp_path / "runs"), str(output),
                            preset="smoke")
  assert json.loads(output.read_text())["results"]["lecun_normal"]["1"]
  for init in ("he_uniform", "lecun_normal"):
    for seed in (0, 1):
      figures = results[init][seed]
      assert figures["heldout_elbo"] == pytest.approx(
          -(figures["heldout_recon"] + figures["heldout_kl"]), rel=1e-5)
      assert 0 <= figures["heldout_active_latents"] <= 10
      assert figures["train_recon_1_5"] > 0
  # Another initialiser trains another model from the same seed.
  assert (results["he_uniform"][0]["heldout_elbo"]
          != results["lecun_normal"][0]["heldout_elbo"])
  table = kernel_init.table(results, 20)
  assert "| he_uniform | 2 |" in table and "± " in table
