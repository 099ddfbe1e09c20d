"""What the studies share about their results: reading, caching, wording.

Each study scores a run at a step into `metrics_<step>.json`, reads the
training log's metric keys back for its curves, and writes a Markdown
report whose every verdict is a stated test on the measured numbers. The
parts both studies need live here, once: the score cache, the JSON and
metric-key readers (through `reporting.parse_key`, the parser of the keys
the trainer writes), the latents' switch-on steps, the wording of a verdict,
Markdown tables and figure files.
"""

from collections.abc import Callable, Iterable, Mapping
import json
import os
from typing import Any

import matplotlib

matplotlib.use("Agg")
# pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib.pyplot as plt
import numpy as np

from betavae_jax import config_json
from betavae_jax import reporting

SETTINGS = "settings"  # Where a scores file records what made each part.
DPI = 100
SWITCH_ON_NATS = 0.5  # A latent is "on" once its train KL exceeds this.


# Reading.


def read_json(path: str) -> dict | None:
  """The JSON object at `path`; None where there is no file."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def scores_path(folder: str, step: int) -> str:
  return os.path.join(folder, f"metrics_{step}.json")


def scored_steps(folder: str) -> list[int]:
  """The steps with a metrics_<step>.json in `folder`, in order."""
  names = os.listdir(folder) if os.path.isdir(folder) else []
  return sorted(int(n[len("metrics_"):-len(".json")]) for n in names
                if n.startswith("metrics_") and n.endswith(".json")
                and n[len("metrics_"):-len(".json")].isdigit())


# The score cache.


def _as_json(value: Any) -> Any:
  """`value` as it reads back from JSON (tuples become lists)."""
  return json.loads(json.dumps(value))


def _stale_parts(done: Mapping, settings: Mapping[str, Any]) -> set[str]:
  """The parts of a scores file not made with today's `settings`."""
  made = done.get(SETTINGS, {})
  return {part for part, wanted in settings.items()
          if made.get(part) != _as_json(wanted)}


def cached_scores(path: str, settings: Mapping[str, Any],
                  compute: Callable[[dict, set[str]], dict]) -> dict:
  """The scores at `path`, recomputing only the parts whose settings changed.

  A study's scoring takes minutes to hours, so each part of a scores file
  (the metric suite, the ELBO by split, ...) records the settings it was
  made with, and only a part whose settings differ from `settings` is
  recomputed: `compute(done, stale)` returns the new values of the stale
  parts (top-level keys). The file is written whole or not at all.

  Returns:
    The scores, each part made with `settings`.
  """
  done = read_json(path) or {}
  stale = _stale_parts(done, settings)
  if not stale:
    return done
  done.update(compute(done, stale))
  done[SETTINGS] = dict(done.get(SETTINGS, {}), **{
      part: _as_json(settings[part]) for part in stale})
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  config_json.write(path, done)
  return done


# Metric keys.


def by_member(record: Mapping[str, Any], prefix: str
              ) -> dict[str, dict[str, Any]]:
  """A log record's values under `prefix`, per member.

  {member: {metric: value}}, '' naming the member of a one-model run; a
  vector's components ('kl_per_dim_3') are gathered into a list in order.
  """
  scalars, vectors = {}, {}
  for key, value in record.items():
    parsed = reporting.parse_key(key)
    if parsed is None or parsed.prefix != prefix:
      continue
    if parsed.dim is None:
      scalars.setdefault(parsed.member, {})[parsed.metric] = value
    else:
      vectors.setdefault(parsed.member, {}).setdefault(
          parsed.metric, {})[parsed.dim] = value
  for member, metrics in vectors.items():
    for metric, parts in metrics.items():
      scalars.setdefault(member, {})[metric] = [parts[d]
                                                for d in sorted(parts)]
  return scalars


def series(records: Iterable[Mapping[str, Any]], prefix: str, metric: str,
           member: str = "") -> tuple[np.ndarray, np.ndarray]:
  """(steps, values) of one logged scalar (or vector) of one member."""
  points = [(r["step"], values[metric]) for r in records
            for values in [by_member(r, prefix).get(member, {})]
            if metric in values]
  if not points:
    return np.array([]), np.array([])
  steps, values = zip(*points)
  return np.array(steps), np.array(values, float)


def switch_on_steps(records: Iterable[Mapping[str, Any]], member: str = "",
                    threshold: float = SWITCH_ON_NATS) -> dict[int, int]:
  """{latent: first logged step its train KL exceeds `threshold` nats},
  in the order the latents switched on."""
  onsets = {}
  steps, kl = series(records, "train", "kl_per_dim", member)
  for step, per_dim in sorted(zip(steps.tolist(), kl.tolist())):
    for d, value in enumerate(per_dim):
      if value > threshold:
        onsets.setdefault(d, step)
  return dict(sorted(onsets.items(), key=lambda kv: kv[1]))


def one_at_a_time(onsets: Mapping[int, int]) -> bool | None:
  """The capacity claim's test: at least 3 in 4 latents that switched on
  did so at a logged step of their own; None with fewer than two on."""
  steps = list(onsets.values())
  if len(steps) < 2:
    return None
  return len(set(steps)) >= 0.75 * len(steps)


# Wording.


def verdict(ok: bool | None) -> str:
  """A claim's verdict: None where the data cannot decide it."""
  return {True: "**supported**", False: "**not supported**",
          None: "not decided (too little data)"}[ok]


def markdown_table(head: list[str], rows: Iterable[list[str]]) -> str:
  """A Markdown table of already formatted cells."""
  lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
  lines += ["| " + " | ".join(row) + " |" for row in rows]
  return "\n".join(lines)


def save_figure(fig, out: str, name: str) -> str:
  """Saves `fig` as <out>/plots/<name>.png; returns the report's link."""
  path = os.path.join(out, "plots", f"{name}.png")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=DPI, bbox_inches="tight")
  plt.close(fig)
  return f"plots/{name}.png"
