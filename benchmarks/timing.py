"""Timing train steps side by side on a shared machine.

The benchmarks (`benchmarks.train_speed`, `benchmarks.conv_passes`) and
the comparison of XLA options (`benchmarks.xla_options`) time their
contenders the same way: interleaved rounds, equal work per round, a fresh
order each round, on the same fixed batch.
"""

from collections.abc import Callable, Sequence
import dataclasses
import time

import numpy as np


def _no_wait() -> None:
  """For steps that finish before they return."""


@dataclasses.dataclass
class Contender:
  """A train step to time.

  `step()` launches one step and may return before it finishes (JAX
  dispatches asynchronously, PyTorch on CUDA too); `wait()` blocks until
  every launched step is done. A round times steps launched back to back
  and one wait, as a training loop runs them: waiting after every step
  would leave an accelerator idle while Python launches the next.
  """

  name: str
  images_per_step: int
  first_step_s: float
  step: Callable[[], object]
  wait: Callable[[], object] = _no_wait


def sparse_images(batch_size: int, image_shape) -> np.ndarray:
  """A fixed batch of sparse binary images, like dSprites (~4% lit)."""
  rng = np.random.default_rng(0)
  shape = (batch_size,) + tuple(image_shape)
  return (rng.random(shape) < 0.05).astype(np.uint8)


def interleaved_rates(contenders: Sequence[Contender], steps: int,
                      repeats: int, seed: int = 0) -> dict[str, list[float]]:
  """images/s of each contender per round, rounds interleaved.

  Every contender trains about as many images per round (`steps` of the
  smallest step; a population of P runs steps / P, rounded up), in a fresh
  random order each round: on a shared machine a contender whose rounds are
  shorter, or always come first, would otherwise dodge or catch more of the
  load bursts.
  """
  for c in contenders:  # Warm caches and thread pools.
    for _ in range(2):
      c.step()
    c.wait()
  images = steps * min(c.images_per_step for c in contenders)
  rates = {c.name: [] for c in contenders}
  rng = np.random.default_rng(seed)
  for _ in range(repeats):
    for i in rng.permutation(len(contenders)):
      c = contenders[i]
      n = -(-images // c.images_per_step)
      start = time.perf_counter()
      for _ in range(n):
        c.step()
      c.wait()
      rates[c.name].append(n * c.images_per_step /
                           (time.perf_counter() - start))
  return rates
