"""Ordered, bounded read-ahead in threads.

numpy, zlib and ArrayRecord release the GIL, so a couple of threads keep the
next batches (or the next chunks to write) ready while the caller works on
the current one. At most `depth` results exist at once, which bounds memory.
"""

from collections.abc import Callable, Iterable, Iterator
import collections
from concurrent import futures
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], num_threads: int,
                depth: int) -> Iterator[R]:
  """Yields fn(item) for each item in order, computing ahead in threads.

  Args:
    fn: the work per item; it must be thread-safe.
    items: possibly infinite; consumed only as far as results are needed.
    num_threads: worker threads (>= 1).
    depth: results computed ahead of the consumer (>= 1).

  Yields:
    The results in the order of `items`. Closing the iterator cancels the
    work not yet started; work under way finishes in the background.
  """
  items = iter(items)
  pool = futures.ThreadPoolExecutor(max(1, num_threads))
  pending = collections.deque()
  try:
    for item in items:
      pending.append(pool.submit(fn, item))
      if len(pending) > max(1, depth):
        yield pending.popleft().result()
    while pending:
      yield pending.popleft().result()
  finally:
    # Also runs when a generator is collected at interpreter exit, after
    # module globals are gone: hence no waiting and no module lookups.
    for future in pending:
      future.cancel()
    pool.shutdown(wait=False)
