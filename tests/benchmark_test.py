"""A tiny run of the benchmark, and its allocator helpers."""

import json

import numpy as np
import pytest

from betavae_jax import allocator
from betavae_jax import benchmark
from betavae_jax import timing


def test_tiny_run_reports_every_column(tmp_path):
  options = benchmark.Options(
      jax=(("fast", 1, "float32"), ("fast", 2, "float32"),
           ("flax", 1, "bfloat16")),
      steps=1, repeats=1, batch_size=4, torch=False, data="synthetic", eval_suite=False, matmul_size=64,
      model_overrides=dict(conv_channels=(4, 4), dense_sizes=(8,),
                           latent_dim=2))
  results = benchmark.run(options, image_shape=(8, 8, 1))
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
  assert results["eval_suite_s"].startswith(benchmark.NOT_AVAILABLE)
  rate = results["input_pipeline_images_per_s"]
  assert isinstance(rate, float) or rate.startswith(benchmark.NOT_AVAILABLE)
  if isinstance(rate, float):
    assert results["data_load_s"] > 0
  assert results["data_in_memory"]  # The config's default.
  table = benchmark.format_table(results)
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
  assert benchmark.parse_contenders(["fast:8", "flax:1:bfloat16"]) == [
      ("fast", 8, "float32"), ("flax", 1, "bfloat16")]
  for bad in ("fast", "slow:1", "flax:0", "fast:1:float16", "fast:1:f:g"):
    with pytest.raises(benchmark.app.UsageError, match=r"conv_impl:size\[:dtype\]"):
      benchmark.parse_contenders([bad])


def test_allocator_respects_user_settings(monkeypatch):
  monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
  assert not allocator.keep_heap()
  monkeypatch.delenv("MALLOC_ARENA_MAX")
  monkeypatch.setenv("BETAVAE_JAX_KEEP_HEAP", "0")
  assert not allocator.keep_heap()
  assert "BETAVAE_JAX_KEEP_HEAP=0" in allocator.describe()


def test_allocator_keeps_heap_on_glibc(monkeypatch):
  for k in list(allocator.os.environ):
    if k.startswith("MALLOC_") or k in ("LD_PRELOAD", "BETAVAE_JAX_KEEP_HEAP"):
      monkeypatch.delenv(k)
  if allocator.platform.libc_ver()[0] != "glibc":
    pytest.skip("glibc only")
  assert allocator.keep_heap()
  assert "heap kept" in allocator.describe()
