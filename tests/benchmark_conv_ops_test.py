"""experiments/benchmark_conv_ops.py: one tiny run, and a clear error."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*flags):
  return subprocess.run(
      [sys.executable, "experiments/benchmark_conv_ops.py", *flags],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_times_every_pass_of_every_layer(tmp_path):
  out = tmp_path / "layers.json"
  proc = _run("--impls=fast,flax", "--batch_size=2", "--repeats=1",
              "--calls=1", "--matmul_size=64", f"--output={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(out.read_text())
  layers = {l["name"]: l for l in result["layers"]}
  times = result["ms_per_call"]
  assert len(layers) == 8 and len(times) == 8 * 3 * 2
  assert all(t > 0 for t in times.values())
  # A row per layer and pass: GFLOP, then ms, GFLOP/s, share per impl.
  rows = [line.split() for line in proc.stdout.splitlines()
          if line.startswith(("encoder/", "decoder/"))]
  assert len(rows) == 8 * 3
  for row in rows:
    name, p = row[0], row[-8]
    gflop = 2 * layers[name]["macs_per_image"] * 2 / 1e9  # Batch 2.
    assert float(row[-7]) == round(gflop, 3)
    for impl, (ms, rate) in zip(("fast", "flax"), (row[-6:-4], row[-3:-1])):
      assert float(ms) == round(times[f"{name}|{impl}|{p}"], 2)
      assert float(rate) == round(gflop / times[f"{name}|{impl}|{p}"] * 1e3)


def test_unknown_impl_is_a_usage_error():
  proc = _run("--impls=fast,cudnn")
  assert proc.returncode != 0
  assert "Unknown --impls ['cudnn']" in proc.stderr
