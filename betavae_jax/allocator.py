"""Keeps freed memory in the process heap (glibc), so train steps reuse it.

With glibc's default settings, buffers above a (dynamic, at most 32 MiB)
threshold come straight from `mmap` and go back to the operating system
when freed, and memory freed at the top of the heap is trimmed. XLA frees
and reallocates its large temporaries every step, so every step then
faults all of those pages in again: on a small CPU that costs the default
model much of its throughput (docs/performance.md), and a population's
buffers (hundreds of MiB) fault in every step. Worker threads have it
worse: their arenas hold at most 64 MiB, so anything larger is mapped
afresh each time.

`keep_heap()` sets, through `mallopt`:

* `M_ARENA_MAX=1`: every thread allocates from the main heap, which grows
  without the 64 MiB limit (XLA and data threads malloc rarely, so the
  shared lock costs nothing measurable);
* `M_MMAP_MAX=0`: large blocks come from the heap too (glibc still falls
  back to `mmap` if the heap cannot grow);
* `M_TRIM_THRESHOLD` and `M_TOP_PAD` large: freed memory stays mapped for
  the next step, and the heap grows in 256 MiB steps.

The cost is that the process keeps its peak footprint until it exits, the
usual trade of a training job (tcmalloc and jemalloc make the same). It
must run before JAX starts its threads: `process.setup()`, which every
entry point calls first thing in `main()` (train, evaluate, visualize, the
benchmarks, the beta sweep), calls it.
Evaluation needs it as much as training: the full metric suite encodes
hundreds of thousands of images through the same buffers. It does
nothing (and returns False) where the C library is not glibc, when
`BETAVAE_JAX_KEEP_HEAP=0`, or when the user already tunes malloc through
`MALLOC_*` variables or preloads another allocator (`LD_PRELOAD`).
"""

import ctypes
import ctypes.util
import os
import platform

from absl import logging

# mallopt parameters from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4
M_ARENA_MAX = -8

SETTINGS = {M_ARENA_MAX: 1, M_MMAP_MAX: 0,
            M_TRIM_THRESHOLD: 2**31 - 1,  # mallopt takes an int.
            M_TOP_PAD: 256 << 20}
_NAMES = {M_ARENA_MAX: "M_ARENA_MAX", M_MMAP_MAX: "M_MMAP_MAX",
          M_TRIM_THRESHOLD: "M_TRIM_THRESHOLD", M_TOP_PAD: "M_TOP_PAD"}
_applied = []  # Set once keep_heap() succeeded.


def _skip_reason() -> str | None:
  """Why the settings should be left alone here, or None."""
  if os.environ.get("BETAVAE_JAX_KEEP_HEAP", "1") == "0":
    return "BETAVAE_JAX_KEEP_HEAP=0"
  if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
    return "not glibc"
  if any(k.startswith("MALLOC_") for k in os.environ):
    return "MALLOC_* set by the user"
  if os.environ.get("LD_PRELOAD"):
    return "LD_PRELOAD set by the user"
  return None


def keep_heap() -> bool:
  """Applies `SETTINGS` with mallopt; True if all were accepted."""
  reason = _skip_reason()
  if reason:
    logging.info("Allocator settings left alone: %s.", reason)
    return False
  libc = ctypes.CDLL(ctypes.util.find_library("c"))
  libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
  refused = [_NAMES[p] for p, v in SETTINGS.items() if libc.mallopt(p, v) != 1]
  if refused:
    logging.warning("glibc refused mallopt %s.", ", ".join(refused))
    return False
  _applied.append(True)
  logging.info("glibc heap kept between steps (%s).", ", ".join(
      f"{_NAMES[p]}={v}" for p, v in SETTINGS.items()))
  return True


def describe() -> str:
  """A one-line description of the allocator settings, for benchmarks."""
  if _applied:
    return "glibc, heap kept (" + ", ".join(
        f"{_NAMES[p]}={v}" for p, v in SETTINGS.items()) + ")"
  return f"not changed by keep_heap ({_skip_reason() or 'not called'})"
