"""Stride-2 convolutions that XLA:CPU runs fast, as drop-in flax layers.

`Conv` and `ConvTranspose` compute what `flax.linen.Conv` and
`flax.linen.ConvTranspose` compute with `strides=2, padding="SAME"` (same
parameter names, shapes and initialisers, so checkpoints carry over), with
custom VJPs that pick each convolution's formulation. Profiling the plain
flax train step on a CPU showed why (figures: docs/performance.md):

* Autodiff of a transposed convolution emits base-dilated convolutions
  that XLA:CPU runs on a generic loop path: their kernel gradients took
  most of the step. Here a transposed convolution is the adjoint of a
  strided one, and all gradients are written in terms of three primitives
  (below) that run on XLA's fast paths.
* A transposed convolution (the decoder's forward pass, every input
  gradient of a strided one) runs as four stride-1 convolutions, one per
  output phase, fused into one convolution with 4x the output channels and
  interleaved afterwards: no multiply touches an inserted zero.
* Where one side has an image's few channels (the encoder's first layer,
  the decoder's last and their input gradients), each convolution is one
  matrix product of patches with the kernel: convolution libraries leave
  most of the machine idle over one channel (such a layer's forward and
  backward ran markedly slower).
* Kernel gradients are single matrix products of space-to-depth images
  with shifted copies of the output gradient (or, with few input channels,
  of the input's patches with the output gradient). The convolution form
  autodiff emits wants the input transposed batch-last, a transpose XLA
  fuses into slow strided loops, worst of all inside a population.
* Under `jax.vmap` over population members, XLA batches a convolution with
  per-member kernels into a grouped convolution, much slower per member
  on CPU. The batching rules below instead loop over members with
  `lax.map` (one compiled body, so compile time does not grow with the
  population; an unrolled loop compiled far slower for no speed), or fold
  members into the batch when the kernel is shared, or into the channels
  when the input is (the first layer sees the images all members share).
  The train step stays a plain `jax.vmap` over members. Other backends
  keep XLA's own batching for per-member inputs and kernels. On one CPU
  device the train step, encode and decode loop over members around the
  whole model instead (`population.in_turn_on_cpu`, faster still); these rules
  serve populations sharded over several CPU devices and user code.

Values and gradients match flax's up to float rounding (tests compare them,
single and vmapped). Spatial sizes must be even, which the encoder's
padding guarantees.
"""

from collections.abc import Callable, Sequence
import functools
from typing import Any

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp

Dtype = Any
Pads = tuple[tuple[int, int], tuple[int, int]]
_DN = ("NHWC", "HWIO", "NHWC")
# Up to this many output channels (grey, RGB, RGBA images), transposed
# convolutions take `_dilated_few_outputs`.
_FEW_CHANNELS = 4


def same_pads(kernel_size: int) -> tuple[int, int]:
  """flax's "SAME" padding of a stride-2 conv on an even size."""
  total = max(kernel_size - 2, 0)
  return total // 2, total - total // 2


def transpose_pad(kernel_size: int) -> int:
  """Low padding of flax's stride-2 "SAME" transposed conv (dilated input)."""
  if kernel_size <= 2:
    return kernel_size - 1
  return -(-kernel_size // 2)


def _flip_swap(kernel: jax.Array) -> jax.Array:
  """The kernel of the adjoint convolution: flipped, in/out swapped."""
  return jnp.swapaxes(kernel[::-1, ::-1], -1, -2)


def _pad(x: jax.Array, rows: tuple[int, int],
         cols: tuple[int, int]) -> jax.Array:
  """Zero-pads (negative: crops) the spatial dims of NHWC `x`."""
  return lax.pad(x, jnp.zeros((), x.dtype),
                 ((0, 0, 0), rows + (0,), cols + (0,), (0, 0, 0)))


# The three primitives, for one model. NHWC inputs, HWIO kernels.


def _strided(x: jax.Array, kernel: jax.Array, pads: Pads) -> jax.Array:
  """y[m] = sum_i x[2m + i - lo] k[i]: the encoder's convolution."""
  if x.shape[-1] <= _FEW_CHANNELS:
    return _strided_few_inputs(x, kernel, pads)
  return lax.conv_general_dilated(x, kernel, (2, 2), pads,
                                  dimension_numbers=_DN)


def _strided_few_inputs(x: jax.Array, kernel: jax.Array,
                        pads: Pads) -> jax.Array:
  """`_strided` for a few input channels (an image's: the encoder's first
  layer, the input gradient of the decoder's last), where convolution
  libraries idle over the channels: one matrix product of x's patches,
  gathered in the space-to-depth frame, with the kernel.
  """
  k, c, o = kernel.shape[0], kernel.shape[2], kernel.shape[3]
  j = -(-k // 2)
  n, h, w, _ = x.shape
  (lo_h, hi_h), (lo_w, hi_w) = pads
  ho, wo = (h + lo_h + hi_h - k) // 2 + 1, (w + lo_w + hi_w - k) // 2 + 1
  xs = _space_to_depth(x, pads, j, (ho, wo))
  patches = jnp.stack([xs[:, t:t + ho, u:u + wo]
                       for t in range(j) for u in range(j)], axis=3)
  kp = jnp.pad(kernel, ((0, 2 * j - k), (0, 2 * j - k), (0, 0), (0, 0)))
  kp = kp.reshape(j, 2, j, 2, c, o).transpose(0, 2, 1, 3, 4, 5)
  y = patches.reshape(-1, 4 * j * j * c) @ kp.reshape(-1, o)
  return y.reshape(n, ho, wo, o)


def _space_to_depth(x: jax.Array, pads: Pads, taps: int,
                    out_size: tuple[int, int]) -> jax.Array:
  """xs[n, p, q, a, b, c] = padded x[n, 2p + a, 2q + b, c].

  The grid is (out + taps - 1) cells per side: a stride-2 conv of x is a
  stride-1 conv of xs with `taps` x `taps` windows.
  """
  hs, ws = (s + taps - 1 for s in out_size)
  (lo_h, _), (lo_w, _) = pads
  n, h, w, c = x.shape
  xp = _pad(x, (lo_h, 2 * hs - h - lo_h), (lo_w, 2 * ws - w - lo_w))
  return xp.reshape(n, hs, 2, ws, 2, c).transpose(0, 1, 3, 2, 4, 5)


def _kernel_grad(x: jax.Array, dy: jax.Array, pads: Pads,
                 kernel_size: int) -> jax.Array:
  """d/dk of `_strided(x, k, pads)` against the cotangent `dy`.

  One matrix product over the batch and pixels, in the space-to-depth
  frame where tap (2t + a, 2u + b) reads cell (p + t, q + u), phase (a, b):
  with few input channels, x's patches times dy; otherwise the cells times
  dy shifted by each (t, u), which copies dy (the smaller) and not x.
  """
  j = -(-kernel_size // 2)
  n, ho, wo, o = dy.shape
  c = x.shape[-1]
  xs = _space_to_depth(x, pads, j, (ho, wo))
  shifts = [(t, u) for t in range(j) for u in range(j)]
  if x.size < dy.size:
    xs = xs.transpose(3, 4, 5, 0, 1, 2)  # (a, b, c, n, p, q)
    patches = jnp.stack([xs[..., t:t + ho, u:u + wo] for t, u in shifts])
    dk = patches.reshape(-1, n * ho * wo) @ dy.reshape(-1, o)
    dk = dk.reshape(j, j, 2, 2, c, o)
  else:
    dyt = dy.transpose(3, 0, 1, 2)  # Pads after the transpose: faster.
    shifted = jnp.stack([
        jnp.pad(dyt, ((0, 0), (0, 0), (t, j - 1 - t), (u, j - 1 - u)))
        for t, u in shifts])
    dk = shifted.reshape(j * j * o, -1) @ xs.reshape(-1, 4 * c)
    dk = dk.reshape(j, j, o, 2, 2, c).transpose(0, 1, 3, 4, 5, 2)
  dk = dk.transpose(0, 2, 1, 3, 4, 5).reshape(2 * j, 2 * j, c, o)
  return dk[:kernel_size, :kernel_size]


def _phase_taps(kernel_size: int, pad: int) -> tuple[int, list, list]:
  """Taps per phase; per output phase a, first kernel tap and offset.

  out[2m + a] = sum_t x[m + offset_a + t] k[first_a + 2t].
  """
  first = [(pad - a) % 2 for a in (0, 1)]
  offset = [(a + first[a] - pad) // 2 for a in (0, 1)]
  return -(-kernel_size // 2), first, offset


def _dilated(x: jax.Array, kernel: jax.Array, pads: tuple[int, int],
             out_size: tuple[int, int]) -> jax.Array:
  """out[o] = sum_i xd[o + i - pad] k[i], xd = x with zeros between pixels.

  flax's transposed convolution, and the input gradient of `_strided`.
  One stride-1 convolution whose output channels hold the four phases
  (even/odd rows x even/odd columns), then interleaved.
  """
  k = kernel.shape[0]
  if kernel.shape[-1] <= _FEW_CHANNELS:
    return _dilated_few_outputs(x, kernel, pads, out_size)
  xpads, firsts, shifts = [], [], []
  for d, pad in enumerate(pads):
    j, first, offset = _phase_taps(k, pad)
    lo = min(offset)
    length = out_size[d] // 2 + max(offset) - lo
    xpads.append((-lo, length + j - 1 + lo - x.shape[1 + d]))
    firsts.append(first)
    shifts.append([o - lo for o in offset])
  kp = jnp.pad(kernel, ((0, 2 * j), (0, 2 * j), (0, 0), (0, 0)))
  phases = jnp.concatenate([kp[fh:fh + 2 * j:2, fw:fw + 2 * j:2]
                            for fh in firsts[0] for fw in firsts[1]], -1)
  # XLA would fold the padding into the convolution, and its fast library
  # declines a window padded on both sides; the barrier keeps them apart.
  xp = lax.optimization_barrier(_pad(x, *xpads))
  y = lax.conv_general_dilated(xp, phases, (1, 1), "VALID",
                               dimension_numbers=_DN)
  n, o = x.shape[0], kernel.shape[-1]
  mh, mw = out_size[0] // 2, out_size[1] // 2
  y = y.reshape(y.shape[:3] + (2, 2, o))
  rows = [jnp.stack([y[:, sh:sh + mh, sw:sw + mw, a, b]
                     for b, sw in enumerate(shifts[1])], axis=3)
          for a, sh in enumerate(shifts[0])]
  return jnp.stack(rows, axis=2).reshape(n, 2 * mh, 2 * mw, o)


def _dilated_few_outputs(x: jax.Array, kernel: jax.Array,
                         pads: tuple[int, int],
                         out_size: tuple[int, int]) -> jax.Array:
  """`_dilated` for a few output channels (an image's), e.g. the decoder's
  last layer, where 4 x out channels leave the convolution library idle
  (an order of magnitude slower). One matmul gives each input pixel's
  product with every kernel tap; each output phase sums its taps' shifted
  planes.
  """
  k, c, o = kernel.shape[0], kernel.shape[2], kernel.shape[3]
  n, h, w, _ = x.shape
  z = x.reshape(-1, c) @ kernel.transpose(2, 0, 1, 3).reshape(c, -1)
  (j, first_h, off_h), (_, first_w, off_w) = (_phase_taps(k, p) for p in pads)
  mh, mw = out_size[0] // 2, out_size[1] // 2
  lo_h, lo_w = max(0, -min(off_h)), max(0, -min(off_w))
  z = _pad(z.reshape(n, h, w, k * k * o),
           (lo_h, max(0, max(off_h) + j - 1 + mh - h)),
           (lo_w, max(0, max(off_w) + j - 1 + mw - w)))
  z = z.reshape(z.shape[:3] + (k, k, o))
  zero = jnp.zeros((n, mh, mw, o), z.dtype)  # A phase may have no taps.
  rows = []
  for fh, oh in zip(first_h, off_h):
    cols = []
    for fw, ow in zip(first_w, off_w):
      cols.append(sum((
          z[:, lo_h + oh + t:lo_h + oh + t + mh,
            lo_w + ow + u:lo_w + ow + u + mw, fh + 2 * t, fw + 2 * u]
          for t in range(j) if fh + 2 * t < k
          for u in range(j) if fw + 2 * u < k), zero))
    rows.append(jnp.stack(cols, axis=3))
  return jnp.stack(rows, axis=2).reshape(n, 2 * mh, 2 * mw, o)


# Batching rules: what a population (vmap over members) runs instead of
# XLA's grouped convolutions.


def _per_member(fn: Callable, batched: Sequence[bool], *args: jax.Array):
  """fn on each member's arguments (shared ones as they are), stacked."""
  if jax.default_backend() != "cpu":
    return jax.vmap(fn, in_axes=[0 if b else None for b in batched])(*args)
  members = [a for a, b in zip(args, batched) if b]

  def one(sliced):
    it = iter(sliced)
    return fn(*[next(it) if b else a for a, b in zip(args, batched)])

  if members[0].shape[0] == 1:  # A reshape, not a loop.
    return one([m[0] for m in members])[None]
  return lax.map(one, members)


def _batched(fn: Callable, fold_first: bool) -> Callable:
  """`fn(a, b)` with a member batching rule.

  Members run one by one, except where one call does for all: when only
  `a` is batched and `fold_first`, members fold into its batch dimension;
  when only `b` is batched, into its channels, since for every primitive
  here output channel o reads only channel o of `b` (a population's first
  layer, on images all members share).
  """
  wrapped = jax.custom_batching.custom_vmap(fn)

  @wrapped.def_vmap
  def rule(size, batched, a, b):
    if fold_first and batched[0] and not batched[1]:
      y = fn(a.reshape((-1,) + a.shape[2:]), b)
      return y.reshape((size, -1) + y.shape[1:]), True
    if batched[1] and not batched[0]:
      y = fn(a, jnp.moveaxis(b, 0, -2).reshape(b.shape[1:-1] + (-1,)))
      return jnp.moveaxis(y.reshape(y.shape[:-1] + (size, -1)), -2, 0), True
    return _per_member(fn, batched, a, b), True

  return wrapped


@functools.cache
def _primitives(pads: Pads, kernel_size: int, size: tuple[int, int]):
  """A strided conv geometry's forward, kernel gradient and adjoint.

  `size` is the strided conv's input size; the adjoint (input gradient)
  maps its output back to that size.
  """
  strided = _batched(functools.partial(_strided, pads=pads), True)
  kernel_grad = _batched(functools.partial(
      _kernel_grad, pads=pads, kernel_size=kernel_size), False)
  adjoint = _batched(functools.partial(
      _dilated, pads=tuple(kernel_size - 1 - lo for lo, _ in pads),
      out_size=size), True)
  return strided, kernel_grad, adjoint


def _even_size(x: jax.Array) -> tuple[int, int]:
  h, w = x.shape[1:3]
  if h % 2 or w % 2:
    raise ValueError(f"conv_ops needs even spatial sizes; got {h}x{w}.")
  return h, w


def _conv_geometry(x: jax.Array, kernel: jax.Array):
  """Primitives of `conv(x, kernel)`."""
  k = kernel.shape[0]
  return _primitives((same_pads(k),) * 2, k, _even_size(x))


def _transpose_geometry(x: jax.Array, kernel: jax.Array):
  """Primitives of the strided conv whose adjoint is `conv_transpose`."""
  k = kernel.shape[0]
  h, w = _even_size(x)
  lo = k - 1 - transpose_pad(k)
  return _primitives(((lo, k - 2 - lo),) * 2, k, (2 * h, 2 * w))


# The layers' maths, with custom VJPs made of the primitives.


@jax.custom_vjp
def conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """flax `Conv(strides=2, padding="SAME")` on NHWC `x`, HWIO `kernel`."""
  return _conv_geometry(x, kernel)[0](x, kernel)


def _conv_fwd(x, kernel):
  return conv(x, kernel), (x, kernel)


def _conv_bwd(res, dy):
  x, kernel = res
  _, kernel_grad, adjoint = _conv_geometry(x, kernel)
  return adjoint(dy, _flip_swap(kernel)), kernel_grad(x, dy)


conv.defvjp(_conv_fwd, _conv_bwd)


@jax.custom_vjp
def conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """flax `ConvTranspose(strides=2, padding="SAME")`, kernel not flipped."""
  return _transpose_geometry(x, kernel)[2](x, kernel)


def _conv_transpose_fwd(x, kernel):
  return conv_transpose(x, kernel), (x, kernel)


def _conv_transpose_bwd(res, dy):
  x, kernel = res
  strided, kernel_grad, _ = _transpose_geometry(x, kernel)
  return (strided(dy, _flip_swap(kernel)),
          _flip_swap(kernel_grad(dy, x)))


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


# Linen layers. Class names match flax's so that auto-named submodules
# (Conv_0, ConvTranspose_0, ...) and their parameters keep flax's names.


def _apply(op: Callable, inputs: jax.Array, kernel: jax.Array,
           bias: jax.Array) -> jax.Array:
  """Runs `op` on any number of leading batch dims (none included)."""
  batch_shape = inputs.shape[:-3]
  x = inputs.reshape((-1,) + inputs.shape[-3:])
  y = op(x, kernel) + bias
  return y.reshape(batch_shape + y.shape[1:])


class _Layer(nn.Module):
  """A k x k, stride-2, 'SAME' layer with flax's parameters."""

  features: int
  kernel_size: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()

  def _run(self, op: Callable, inputs: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init,
                        (k, k, inputs.shape[-1], self.features),
                        self.param_dtype)
    bias = self.param("bias", self.bias_init, (self.features,),
                      self.param_dtype)
    inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias,
                                                   dtype=self.dtype)
    return _apply(op, inputs, kernel, bias)


class Conv(_Layer):
  """`nn.Conv(features, (k, k), strides=2, padding="SAME")`, fast on CPU."""

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    return self._run(conv, inputs)


class ConvTranspose(_Layer):
  """`nn.ConvTranspose(features, (k, k), strides=(2, 2), padding="SAME")`."""

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    return self._run(conv_transpose, inputs)
