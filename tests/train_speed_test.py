"""benchmarks.train_speed: a tiny run, its timing rounds, its flags."""

import json

import numpy as np
import pytest

from benchmarks import timing
from benchmarks import train_speed
from betavae_jax import base_config


@pytest.mark.slow
def test_tiny_run_reports_every_column(tmp_path):
  options = train_speed.Options(
      jax=(("fast", 1, "float32"), ("fast", 2, "float32"),
           ("flax", 1, "bfloat16")),
      steps=1, repeats=1, batch_size=4, torch=False, data="synthetic",
      eval_suite=False, matmul_size=64,
      model_overrides=dict(conv_channels=(4, 4), dense_sizes=(8,),
                           latent_dim=2))
  results = train_speed.run(options, image_shape=(8, 8, 1))
  assert set(results["train"]) == {"jax fast P=1", "jax fast P=2",
                                   "jax flax P=1 bfloat16"}
  for r in results["train"].values():
    assert r["images_per_s"] > 0 and r["first_step_s"] > 0
    assert 0 < r["matmul_peak_fraction"] < np.inf
  memory = {k: r["step_memory_mib"] for k, r in results["train"].items()}
  # Two members hold twice the state and activations of one.
  assert 1.5 < memory["jax fast P=2"] / memory["jax fast P=1"] < 2.5
  assert results["vs_single"]["jax fast P=1"] == 1.0
  assert results["train_peak_rss_mib"] > 0
  assert results["matmul_gflops"] > 0
  assert results["eval_suite_s"] == (
      f"{train_speed.NOT_AVAILABLE} (--noeval_suite)")
  # The synthetic data is always there, so the pipeline must be timed.
  assert results["input_pipeline_images_per_s"] > 0
  assert results["data_load_s"] > 0
  assert results["data_in_memory"]  # The config's default.
  table = train_speed.format_table(results)
  assert "jax fast P=2" in table and "torch" in table
  assert "step MiB" in table
  path = tmp_path / "bench.json"
  path.write_text(json.dumps(results))  # JSON-ready.


def test_rounds_train_as_many_images_in_a_fresh_order():
  calls = []

  def contender(name, images_per_step):
    return timing.Contender(name, images_per_step, 0.0,
                            lambda: calls.append(name),
                            lambda: calls.append(f"wait {name}"))

  contenders = [contender("single", 64), contender("population", 8 * 64)]
  rates = timing.interleaved_rates(contenders, steps=20, repeats=8)
  assert all(len(r) == 8 and min(r) > 0 for r in rates.values())
  timed = calls[6:]  # After two warm-up steps and a wait each.
  rounds = [timed[k * 25:(k + 1) * 25] for k in range(8)]
  # 20 single steps and ceil(20 / 8) = 3 population steps a round, each
  # contender's steps launched back to back, then one wait.
  for r in rounds:
    assert sorted(r) == (["population"] * 3 + ["single"] * 20
                         + ["wait population", "wait single"])
    for name, n in (("single", 20), ("population", 3)):
      first = r.index(name)
      assert r[first:first + n + 1] == [name] * n + [f"wait {name}"]
  assert {r[0] for r in rounds} == {"single", "population"}


def test_contender_specs_are_checked():
  assert train_speed.parse_contenders(["fast:8", "flax:1:bfloat16"]) == [
      ("fast", 8, "float32"), ("flax", 1, "bfloat16")]
  for bad in ("fast", "slow:1", "flax:0", "fast:1:float16", "fast:1:f:g"):
    with pytest.raises(train_speed.app.UsageError,
                       match=r"conv_impl:size\[:dtype\]"):
      train_speed.parse_contenders([bad])


def test_missing_data_is_reported_not_timed():
  options = train_speed.Options(data="no_such_dataset", batch_size=4)
  config = base_config.base_config()
  rate, load_s, dataset = train_speed.input_pipeline_rate(options, config)
  assert rate.startswith(f"{train_speed.NOT_AVAILABLE} (")
  assert "no_such_dataset" in rate
  assert load_s is None and dataset is None
