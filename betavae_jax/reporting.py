"""What the train loop reports: metric keys, console lines, throughput and
the stop on a non-finite loss.

A metric key reads `<prefix>/<metric>[_<dim>][/<member>]`, e.g.
`train/kl`, `eval/kl_per_dim_3/beta=4,seed=0`: `member_scalars` is its one
builder and `parse_key` its one parser, so analysis code reads keys
without knowing the format. Metric names never end in `_<digits>`, which
marks a vector metric's component, and contain no '/'.
"""

import dataclasses
import re
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from betavae_jax import metric_writer

CONSOLE_KEYS = ("loss", "recon", "kl", "active_latents", "beta", "gamma",
                "capacity", "lr")
_KEY = re.compile(r"^(?P<prefix>[^/]+)/(?P<metric>[^/]+?)(?:_(?P<dim>\d+))?"
                  r"(?:/(?P<member>[^/]*))?$")


class NonFiniteError(FloatingPointError):
  """A loss or gradient became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class MetricKey:
  """A parsed metric key: `dim` for a vector's component, `member` '' for
  a run of one model."""

  prefix: str
  metric: str
  dim: int | None = None
  member: str = ""


def parse_key(key: str) -> MetricKey | None:
  """The parts of a metric key; None for 'step' and other non-metric keys."""
  match = _KEY.match(key)
  if match is None:
    return None
  dim = match.group("dim")
  return MetricKey(match.group("prefix"), match.group("metric"),
                   None if dim is None else int(dim),
                   match.group("member") or "")


def member_scalars(prefix: str, names: tuple[str, ...],
                   per_member: list[dict]) -> dict[str, float]:
  """Flattens per-member metrics to 'prefix/metric[_dim][/member]' keys."""
  out = {}
  for name, metrics in zip(names, per_member):
    suffix = f"/{name}" if name else ""
    for k, v in metrics.items():
      v = np.asarray(v)
      if v.ndim == 0:
        out[f"{prefix}/{k}{suffix}"] = float(v)
      else:
        for d, vd in enumerate(v):
          out[f"{prefix}/{k}_{d}{suffix}"] = float(vd)
  return out


def mean_metrics(history: list[dict], size: int) -> list[dict]:
  """Averages the steps since the last log; one dict per member."""
  stacked = jax.device_get(jax.tree.map(lambda *xs: jnp.stack(xs), *history))
  means = {k: np.mean(v, axis=0) for k, v in stacked.items()}
  return [{k: v[i] for k, v in means.items()} for i in range(size)]


def check_finite(nonfinite_step: jax.Array, names: tuple[str, ...]) -> None:
  """Raises if any member met a non-finite loss or gradient.

  The step is numbered as on the console: `nonfinite_step` (the train
  state's, one per member) holds the optimiser's count before the update,
  one less.
  """
  bad = np.asarray(jax.device_get(nonfinite_step))
  for i, step in enumerate(bad):
    if step >= 0:
      raise NonFiniteError(
          f"Non-finite loss or gradient at step {int(step) + 1} in population "
          f"member {i} ({names[i] or 'the only member'}); its parameters were "
          "left at their last finite values and no further checkpoint was "
          "written. Lower optim.learning_rate or set optim.grad_clip_norm.")


def stop_if_nonfinite(nonfinite_step: jax.Array, names: tuple[str, ...],
                      history: list[dict], step: int,
                      writer: metric_writer.MetricWriter) -> None:
  """Writes each step's record up to the first non-finite one, then raises.

  `history` holds the metrics of the steps since the last log, ending at
  `step`; without this a NaN before a log step would leave no record of
  the steps that led to it.
  """
  bad = np.asarray(jax.device_get(nonfinite_step))
  if np.all(bad < 0):
    return
  first = int(bad[bad >= 0].min()) + 1  # Console numbering.
  window_start = step - len(history) + 1
  upto = history[:max(0, first - window_start + 1)]
  for offset, metrics in enumerate(upto):
    writer.write_scalars(window_start + offset, member_scalars(
        "train", names, mean_metrics([metrics], len(names))))
  writer.flush()
  check_finite(nonfinite_step, names)


class Throughput:
  """Steps/s, images/s and ETA between log steps, excluding evaluation."""

  def __init__(self, step: int, images_per_step: int):
    self._step, self._time = step, time.time()
    self._images_per_step = images_per_step

  def pause_until_now(self) -> None:
    """Restarts the clock so evaluation time does not count as training."""
    self._time = time.time()

  def scalars(self, step: int, num_steps: int) -> dict[str, float]:
    now = time.time()
    rate = (step - self._step) / max(now - self._time, 1e-9)
    self._step, self._time = step, now
    return {"train/steps_per_sec": rate,
            "train/images_per_sec": rate * self._images_per_step,
            "train/eta_min": (num_steps - step) / rate / 60}


def log_console(step: int, names: tuple[str, ...], per_member: list[dict],
                scalars: dict[str, float]) -> None:
  """One line per member, then throughput."""
  for name, metrics in zip(names, per_member):
    shown = ", ".join(f"{k}={float(metrics[k]):.4g}" for k in CONSOLE_KEYS
                      if k in metrics)
    logging.info("[%d] %s%s", step, f"{name}: " if name else "", shown)
  logging.info("[%d] %.1f steps/s, %.0f images/s, ETA %.1f min", step,
               scalars["train/steps_per_sec"], scalars["train/images_per_sec"],
               scalars["train/eta_min"])
