"""One trainer per workdir: an exclusive `fcntl.flock` on `<workdir>/.lock`.

Two trainers on one workdir overwrite each other's checkpoints, metrics and
config.json (preemptible queues do launch a job twice). The trainer takes
this lock before it writes anything and holds it for its whole life; the
kernel drops it when the process ends, however it ends, so a killed run
never leaves a lock behind. A second trainer fails at once with the
holder's pid and host. Readers (evaluate, visualize) never take it.

The lock is only as good as the filesystem's `flock`: local filesystems and
NFSv4 (where Linux maps it onto byte-range locks the server arbitrates)
hold it across processes and hosts; some network and FUSE filesystems keep
it per host or refuse it. Where it is refused the run warns and continues
unprotected (docs/robustness.md).
"""

from collections.abc import Iterator
import contextlib
import errno
import fcntl
import json
import os
import socket
import time

from absl import logging

LOCK_FILE = ".lock"
# Errors of a filesystem that has no flock, as opposed to a held lock.
_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class WorkdirError(RuntimeError):
  """The workdir cannot be used: held by another trainer, or unwritable."""


class WorkdirBusyError(WorkdirError):
  """Another live process holds the workdir."""


def _holder(path: str) -> str:
  """'pid 123 on host h since ...' from the lock file, as far as readable."""
  try:
    with open(path) as f:
      info = json.load(f)
    return f"pid {info['pid']} on host {info['host']} (since {info['since']})"
  except (OSError, ValueError, KeyError):
    return "another process (its lock file is unreadable)"


def _try_lock(path: str) -> int | None:
  """An fd holding the flock on `path`; None where flock is unsupported.

  The inode check closes the race with a holder that removes the file as
  it releases: a lock won on a removed file protects nothing, so retry.
  """
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      os.close(fd)
      if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
        raise WorkdirBusyError(
            f"workdir {os.path.dirname(path)!r} is in use by "
            f"{_holder(path)}; wait for it to finish, stop it, or use "
            "another --workdir.") from e
      if e.errno in _UNSUPPORTED:
        return None
      raise
    try:
      same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
      same = False
    if same:
      return fd
    os.close(fd)


def _write_holder(fd: int) -> None:
  """Records who holds the lock, for the message a second trainer gets."""
  info = {"pid": os.getpid(), "host": socket.gethostname(),
          "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
  os.ftruncate(fd, 0)
  os.pwrite(fd, json.dumps(info).encode() + b"\n", 0)


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[None]:
  """Holds `workdir` exclusively; creates it if missing.

  On exit the lock file is removed, and so is the workdir itself when this
  call created it and nothing else was written there: a run that could not
  start leaves no trace.

  Raises:
    WorkdirBusyError: another process holds the lock.
    WorkdirError: the workdir cannot be created or written.
  """
  created = not os.path.isdir(workdir)
  path = os.path.join(workdir, LOCK_FILE)
  try:
    os.makedirs(workdir, exist_ok=True)
    fd = _try_lock(path)
  except OSError as e:
    raise WorkdirError(f"workdir {workdir!r} is not writable: {e}") from e
  if fd is None:
    logging.warning("The filesystem of %s does not support flock: nothing "
                    "stops a second trainer on this workdir.", workdir)
    # The file was created to try the lock; it holds nothing.
    with contextlib.suppress(OSError):
      os.remove(path)
  else:
    _write_holder(fd)
  try:
    yield
  finally:
    if fd is not None:
      with contextlib.suppress(OSError):
        os.remove(path)  # While still held, so no one locks a dead file.
      os.close(fd)
    if created:
      with contextlib.suppress(OSError):
        os.rmdir(workdir)  # Only succeeds while empty.
