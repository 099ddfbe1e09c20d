"""The default conv beta-VAE and its train step in PyTorch, for comparison.

`benchmarks.train_speed` times this next to the JAX step when PyTorch is
installed; it is our own baseline code and no dependency of the package.
Layers, the Bernoulli loss, the beta-weighted KL and Adam match the default
config, so images/s compare like for like. "eager" runs the module as is;
"compiled" wraps the whole step (forward, backward, Adam) in
`torch.compile`. Both use channels-last tensors, PyTorch's faster layout
for convolutions on CPU and for cuDNN.

`layer_and_inputs` and `layer_passes` give one layer's forward and
gradient passes alone, for `benchmarks.conv_passes`.

On CUDA the two frameworks' default float32 precisions differ: XLA runs
float32 matmuls and convolutions on the TF32 tensor cores, PyTorch only
its convolutions. The baseline turns TF32 matmuls on there too
(`torch.set_float32_matmul_precision("high")`), so both steps do the same
arithmetic.
"""

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

MODES = ("eager", "compiled")
# CUDA only: `torch.compile(mode="reduce-overhead")` replays the step as a
# CUDA graph, sparing the launch cost of a small model's many kernels.
CUDA_MODES = MODES + ("cudagraphs",)


def device_like(jax_backend: str) -> str | None:
  """PyTorch's device for JAX's backend, or None where PyTorch has none."""
  if jax_backend == "cpu":
    return "cpu"
  if jax_backend == "gpu" and torch.cuda.is_available():
    return "cuda"
  return None


def modes(device: str) -> tuple[str, ...]:
  """The modes that run on `device`."""
  return CUDA_MODES if device == "cuda" else MODES


def stride2_layer(transposed: bool, in_channels: int, features: int,
                  kernel_size: int = 4) -> nn.Module:
  """flax's 'SAME' stride-2 conv, or transposed conv, in PyTorch."""
  if kernel_size % 2:
    raise ValueError(f"kernel_size must be even; got {kernel_size}.")
  make = nn.ConvTranspose2d if transposed else nn.Conv2d
  return make(in_channels, features, kernel_size, 2, (kernel_size - 2) // 2)


class ConvVAE(nn.Module):
  """Four 4x4 stride-2 convs, dense layers, the mirror decoder."""

  def __init__(self, image_shape: tuple[int, int, int],
               channels: Sequence[int], dense_sizes: Sequence[int],
               latent_dim: int):
    super().__init__()
    height, width, in_channels = image_shape
    factor = 2**len(channels)
    self.base = (channels[-1], height // factor, width // factor)
    flat = channels[-1] * (height // factor) * (width // factor)
    layers, c_in = [], in_channels
    for c in channels:
      layers += [stride2_layer(False, c_in, c), nn.ReLU()]
      c_in = c
    layers.append(nn.Flatten())
    for size in dense_sizes:
      layers += [nn.Linear(flat, size), nn.ReLU()]
      flat = size
    layers.append(nn.Linear(flat, 2 * latent_dim))
    self.encoder = nn.Sequential(*layers)
    layers, n_in = [], latent_dim
    for size in dense_sizes:
      layers += [nn.Linear(n_in, size), nn.ReLU()]
      n_in = size
    layers += [nn.Linear(n_in, int(np.prod(self.base))), nn.ReLU(),
               nn.Unflatten(1, self.base)]
    widths = list(channels[-2::-1]) + [in_channels]
    c_in = channels[-1]
    for i, c in enumerate(widths):
      layers.append(stride2_layer(True, c_in, c))
      if i < len(widths) - 1:
        layers.append(nn.ReLU())
      c_in = c
    self.decoder = nn.Sequential(*layers)

  def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    mean, logvar = self.encoder(x).chunk(2, dim=1)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    return self.decoder(z), mean, logvar


def _loss(model: ConvVAE, x: torch.Tensor, beta: float) -> torch.Tensor:
  """Bernoulli NLL summed over pixels plus beta * KL, batch means."""
  logits, mean, logvar = model(x)
  recon = nn.functional.binary_cross_entropy_with_logits(
      logits, x, reduction="sum") / x.shape[0]
  kl = 0.5 * torch.sum(logvar.exp() + mean.square() - 1.0 - logvar,
                       dim=1).mean()
  return recon + beta * kl


def make_step(mode: str, images: np.ndarray, *, device: str = "cpu",
              channels: Sequence[int] = (32, 32, 64, 64),
              dense_sizes: Sequence[int] = (256,), latent_dim: int = 10,
              learning_rate: float = 1e-4,
              beta: float = 4.0) -> Callable[[], float]:
  """A no-argument train step on a fixed uint8 NHWC batch.

  Args:
    mode: one of `modes(device)`.
    images: (batch, height, width, channels) uint8 pixels in {0, 1}.
    device: "cpu" or "cuda".
    channels, dense_sizes, latent_dim, learning_rate, beta: the model and
      optimiser settings (the default config's values).

  Returns:
    A function that launches one step and returns its loss tensor; on CUDA
    it may return before the step finishes (see `wait`).
  """
  if mode not in modes(device):
    raise ValueError(f"mode must be one of {modes(device)} on {device}; "
                     f"got {mode!r}.")
  if device == "cuda":
    torch.set_float32_matmul_precision("high")  # TF32, as XLA's default.
  torch.manual_seed(0)
  model = ConvVAE(images.shape[1:], channels, dense_sizes, latent_dim)
  model = model.to(device, memory_format=torch.channels_last)
  x = torch.from_numpy(images).float().permute(0, 3, 1, 2).to(device)
  x = x.contiguous(memory_format=torch.channels_last)
  opt = torch.optim.Adam(model.parameters(), lr=learning_rate)

  def step() -> torch.Tensor:
    opt.zero_grad(set_to_none=True)
    loss = _loss(model, x, beta)
    loss.backward()
    opt.step()
    return loss.detach()

  if mode == "compiled":
    step = torch.compile(step)
  elif mode == "cudagraphs":
    step = torch.compile(step, mode="reduce-overhead")
  return step


def wait(device: str) -> None:
  """Blocks until every step launched on `device` has finished."""
  if device == "cuda":
    torch.cuda.synchronize()


def layer_and_inputs(transposed: bool, in_shape: tuple[int, int, int],
                     features: int, kernel_size: int, batch_size: int, *,
                     device: str = "cpu"):
  """One of `ConvVAE`'s stride-2 layers, channels-last, with a fixed
  random input of `in_shape` ((height, width, channels)) and output
  gradient: (layer, x, dy)."""
  h, w, c = in_shape
  torch.manual_seed(0)
  layer = stride2_layer(transposed, c, features, kernel_size).to(
      device, memory_format=torch.channels_last)
  x = torch.randn(batch_size, c, h, w, device=device).contiguous(
      memory_format=torch.channels_last)
  with torch.no_grad():
    dy = torch.randn_like(layer(x))
  return layer, x, dy


def layer_passes(layer: nn.Module, x: torch.Tensor,
                 dy: torch.Tensor) -> dict[str, Callable[[], object]]:
  """The passes a train step runs through `layer`, as no-argument calls:
  "forward", "input_grad" and "param_grad" (weight and bias).

  Each gradient call runs the backward pass alone, through a graph
  recorded once here (as a train step's backward pass follows its
  forward), so that it times what JAX's gradient passes compute.
  `benchmarks.conv_passes` times them beside JAX's.
  """
  params = list(layer.parameters())
  x_in = x.detach().requires_grad_(True)
  for p in params:
    p.requires_grad_(False)
  y_in = layer(x_in)  # A graph back to x only.
  for p in params:
    p.requires_grad_(True)
  y_params = layer(x)  # A graph back to the parameters only.

  def forward():
    with torch.no_grad():
      return layer(x)

  def input_grad():
    return torch.autograd.grad(y_in, x_in, dy, retain_graph=True)

  def param_grad():
    return torch.autograd.grad(y_params, params, dy, retain_graph=True)

  return {"forward": forward, "input_grad": input_grad,
          "param_grad": param_grad}
