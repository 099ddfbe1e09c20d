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


def _define_flags() -> None:
  """Defines the CLI's flags, only when this module runs as a script.

  Tests and studies import this module next to main.py's own --workdir.
  """
  flags.DEFINE_string("workdir", None, "The run's directory (with "
                      "--pretrained: where its figures go).")
  flags.DEFINE_string("pretrained", None, "Draw this shipped model "
                      "(betavae_jax.pretrained.available()) instead; figures "
                      "go to --workdir, default runs/pretrained_<name>.")
  flags.DEFINE_integer("step", None, "Checkpoint step; default the newest.")
  flags.DEFINE_integer(
      "num_images", 64, "Fixed images encoded; the KL per latent that sorts "
      "the traversal rows is averaged over them.")
  flags.DEFINE_integer("traversal_images", Options.num_traversal_images,
                       "Seed images with a traversal grid and GIF.")
  flags.DEFINE_float("traversal_max", Options.traversal_range[1],
                     "Each latent sweeps [-traversal_max, traversal_max].")
  flags.DEFINE_bool("gifs", True, "Also write traversal GIFs.")


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  process.setup()
  f = flags.FLAGS
  options = Options(num_traversal_images=f.traversal_images,
                    traversal_range=(-f.traversal_max, f.traversal_max))
  workdir = f.workdir or os.path.join("runs", f"pretrained_{f.pretrained}")
  try:
    if f.pretrained:
      run = trained_run.from_pretrained(f.pretrained, workdir, in_memory=False)
    elif f.workdir:
      run = trained_run.load(f.workdir, f.step, in_memory=False)  # 64 images.
    else:
      raise trained_run.RunError("Pass --workdir=<run> or --pretrained=<name>.")
  except trained_run.LOAD_ERRORS as e:
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(2)
  pictures, animations = figures.run_figures(run, f.num_images, options, f.gifs)
  directory = os.path.join(run.workdir, "plots", str(run.step))
  for path in files.save(directory, pictures, animations, options.gif_frame_ms):
    print(path)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
