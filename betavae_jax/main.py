r"""Command line entry: parse flags and call `train.train_and_evaluate`.

  python -m betavae_jax.main --config=configs/dsprites.py \
      --config.objective.beta=8 [--workdir=runs/beta8]

Without --workdir, the run goes to runs/<config.name>. A config error prints
one line naming the field and exits with status 2.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from betavae_jax import allocator
from betavae_jax import checkpointing
from betavae_jax import compiler_options
from betavae_jax import config_validation
from betavae_jax import input_pipeline
from betavae_jax import metric_writer
from betavae_jax import sharding
from betavae_jax import train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Training config file (configs/*.py[:preset]).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory; default runs/<config.name>.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  allocator.keep_heap()  # Before JAX starts its threads; see allocator.py.
  sharding.maybe_initialize_distributed()
  metric_writer.quiet_library_logs()
  config = _CONFIG.value
  compiler_options.use_persistent_cache(config.compilation_cache_dir)
  workdir = _WORKDIR.value or os.path.join("runs", config.name)
  logging.info("Workdir: %s", os.path.abspath(workdir))
  logging.info("JAX %s on %s", jax.__version__, jax.devices())
  try:
    train.train_and_evaluate(config, workdir)
  except (config_validation.ConfigError, input_pipeline.DataError,
          checkpointing.ShapeMismatchError) as e:
    print(f"Config error: {e}", file=sys.stderr)
    sys.exit(2)
  except (train.NonFiniteError, checkpointing.CheckpointError) as e:
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
