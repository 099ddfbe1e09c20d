"""The figures as files: a PNG per image, a looping GIF per animation."""

import os

import numpy as np
from PIL import Image

from betavae_jax.plotting.arrays import Options


def _uint8(image: np.ndarray) -> np.ndarray:
  return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def save(directory: str, images: dict[str, np.ndarray],
         animations: dict[str, list[np.ndarray]] | None = None,
         frame_ms: int = Options.gif_frame_ms) -> list[str]:
  """Writes <name>.png per image and a looping <name>.gif per animation.

  Returns:
    The paths written.
  """
  os.makedirs(directory, exist_ok=True)
  paths = []
  for name, image in images.items():
    paths.append(os.path.join(directory, f"{name}.png"))
    Image.fromarray(_uint8(image)).save(paths[-1])
  for name, frames in (animations or {}).items():
    # Forward then back, so the loop has no jump.
    pil = [Image.fromarray(_uint8(f)) for f in frames + frames[-2:0:-1]]
    paths.append(os.path.join(directory, f"{name}.gif"))
    pil[0].save(paths[-1], save_all=True, append_images=pil[1:],
                duration=frame_ms, loop=0)
  return paths
