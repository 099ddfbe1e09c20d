r"""Pictures of a trained beta-VAE: traversals, reconstructions, samples, KL.

  python -m betavae_jax.visualize --workdir=runs/dsprites [--step=N]

writes PNGs (and a traversal GIF per seed image) to <workdir>/plots/<step>/,
drawn by `plotting.figures.run_figures` (see the `plotting` package).
"""

from collections.abc import Sequence
import os
import sys

from absl import app
from absl import flags

from betavae_jax import process
from betavae_jax import trained_run
from betavae_jax.plotting import figures
from betavae_jax.plotting import files
from betavae_jax.plotting.arrays import Options


_WORKDIR = flags.DEFINE_string(
    "workdir", None, "The run's directory (with --pretrained: where its "
    "figures go).")
_PRETRAINED = flags.DEFINE_string(
    "pretrained", None, "Draw this shipped model "
    "(betavae_jax.pretrained.available()) instead; figures go to --workdir, "
    "default runs/pretrained_<name>.")
_STEP = flags.DEFINE_integer("step", None,
                             "Checkpoint step; default the newest.")
_NUM_IMAGES = flags.DEFINE_integer(
    "num_images", 64, "Fixed images encoded; the KL per latent that sorts "
    "the traversal rows is averaged over them.")
_TRAVERSAL_IMAGES = flags.DEFINE_integer(
    "traversal_images", Options.num_traversal_images,
    "Seed images with a traversal grid and GIF.")
_TRAVERSAL_MAX = flags.DEFINE_float(
    "traversal_max", Options.traversal_range[1],
    "Each latent sweeps [-traversal_max, traversal_max].")
_GIFS = flags.DEFINE_bool("gifs", True, "Also write traversal GIFs.")


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  process.setup()
  options = Options(num_traversal_images=_TRAVERSAL_IMAGES.value,
                    traversal_range=(-_TRAVERSAL_MAX.value,
                                     _TRAVERSAL_MAX.value))
  name = _PRETRAINED.value
  workdir = _WORKDIR.value or os.path.join("runs", f"pretrained_{name}")
  try:
    if name:
      run = trained_run.from_pretrained(name, workdir, in_memory=False)
    elif _WORKDIR.value:  # 64 images: read from disk, not into memory.
      run = trained_run.load(workdir, _STEP.value, in_memory=False)
    else:
      raise trained_run.RunError("Pass --workdir=<run> or --pretrained=<name>.")
  except trained_run.LOAD_ERRORS as e:
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(2)
  pictures, animations = figures.run_figures(run, _NUM_IMAGES.value, options,
                                             _GIFS.value)
  directory = os.path.join(run.workdir, "plots", str(run.step))
  for path in files.save(directory, pictures, animations, options.gif_frame_ms):
    print(path)


if __name__ == "__main__":
  app.run(main)
