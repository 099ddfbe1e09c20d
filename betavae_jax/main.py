r"""Command line entry: parse flags and call `train.train_and_evaluate`.

  python -m betavae_jax.main --config=configs/dsprites.py \
      --config.objective.beta=8 [--workdir=runs/beta8]

Without --workdir, the run goes to runs/<config.name>. A config error (a
misspelt field or a wrong type included) prints one line naming the field
and exits with status 2, as does a workdir held by another trainer.
SIGTERM or SIGINT at any time exits 0 (after saving, once training).
"""

import os
import re
import signal
import sys

if __name__ == "__main__":
  # Importing takes seconds; a job stopped meanwhile exits 0 as it would
  # from the loop. Nothing is written yet, so exit at once: an exception
  # could land in a garbage-collector callback and be ignored. The trainer
  # installs its own handler when it starts.
  signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from betavae_jax import checkpointing
from betavae_jax import config_validation
from betavae_jax import input_pipeline
from betavae_jax import process
from betavae_jax import reporting
from betavae_jax import train
from betavae_jax import workdir_lock

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Training config file (configs/*.py[:preset]).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory; default runs/<config.name>.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  process.setup(config.compilation_cache_dir, distributed=True)
  workdir = _WORKDIR.value or os.path.join("runs", config.name)
  logging.info("Workdir: %s", os.path.abspath(workdir))
  logging.info("JAX %s on %s", jax.__version__, jax.devices())
  try:
    train.train_or_resume(config, workdir)
  except (config_validation.ConfigError, input_pipeline.DataError,
          checkpointing.ShapeMismatchError,
          checkpointing.DataVersionError) as e:
    _exit(f"Config error: {e}", 2)
  except workdir_lock.WorkdirError as e:
    _exit(f"Error: {e}", 2)
  except (reporting.NonFiniteError, checkpointing.CheckpointError,
          OSError) as e:
    _exit(f"Error: {e}", 1)


def _exit(message: str, status: int) -> None:
  """One line on stderr, then the exit status; no traceback."""
  print(" ".join(message.split("\n")), file=sys.stderr)
  sys.exit(status)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, with a bad --config override as a one-line Config error.

  config_flags reports a misspelt field as an AttributeError and a wrong
  type as a flags error; both are config errors (exit 2), not tracebacks.
  """
  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, TypeError, ValueError) as e:
    text = str(e.args[0]) if e.args else str(e)
    if isinstance(e, AttributeError):  # "'betta'\nDid you mean ...?"
      field = re.search(r"'(\w+)\\?'", text)
      text = (f"unknown field {field.group(1)!r} in a --config override"
              if field else text)
      hint = re.search(r"Did you mean [^?]*\?", str(e))
      text += f" ({hint.group(0)})" if hint else ""
    _exit(f"Config error: {text}", 2)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main, flags_parser=parse_flags)
