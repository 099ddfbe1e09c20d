"""Stride-2 convolutions that XLA:CPU runs fast, as drop-in flax modules.

`Conv` and `ConvTranspose` compute what `flax.linen.Conv` and
`flax.linen.ConvTranspose` compute with `strides=2, padding="SAME"` (same
parameter names, shapes and initialisers, so checkpoints carry over), but
choose the formulation of each convolution and of its gradients:

* Autodiff of a transposed convolution emits base-dilated convolutions
  whose kernel gradient XLA:CPU runs on a generic loop path (about 80% of
  the plain flax train step). Here every kernel gradient is the kernel
  gradient of a *strided* convolution (kernel flipped, channels swapped),
  which XLA hands to its fast convolution library.
* A transposed convolution (the decoder's forward pass and every input
  gradient of a strided one) runs as four stride-1 convolutions, one per
  output phase, fused into a single convolution with 4x the output
  channels and interleaved afterwards, so no multiply touches an inserted
  zero.
* Under `jax.vmap` over population members, XLA would turn a convolution
  with per-member kernels into a grouped convolution, a slow path on CPU.
  The batching rules below instead stack the members' kernels into one
  wider convolution when the input is shared (the images of the first
  layer), fold members into the batch when the kernel is shared, and
  otherwise run one convolution per member. The train step stays a plain
  `jax.vmap` over members.

The maths is the same as flax's up to float rounding; tests compare values
and gradients, single and vmapped. Only the spatial size must be even,
which the encoder's padding guarantees.
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


def same_pads(size: int, kernel_size: int) -> tuple[int, int]:
  """flax/lax "SAME" padding of a stride-2 conv on an even `size`."""
  total = max(kernel_size - 2, 0)
  del size  # (size / 2 - 1) * 2 + kernel_size - size does not depend on it.
  return total // 2, total - total // 2


def transpose_pad(kernel_size: int) -> int:
  """Low padding of flax's stride-2 "SAME" transposed conv (dilated input)."""
  if kernel_size <= 2:
    return kernel_size - 1
  return -(-kernel_size // 2)


def _flip_swap(kernel: jax.Array) -> jax.Array:
  """The kernel of the adjoint convolution: flipped, in/out swapped."""
  return jnp.swapaxes(kernel[::-1, ::-1], -1, -2)


# The three primitives, unbatched. Each maps NHWC inputs and HWIO kernels.


def _strided(x: jax.Array, kernel: jax.Array, pads: Pads) -> jax.Array:
  """y[m] = sum_i x[2m + i - lo] k[i]: the encoder's convolution."""
  return lax.conv_general_dilated(x, kernel, (2, 2), pads,
                                  dimension_numbers=_DN)


def _kernel_grad(x: jax.Array, dy: jax.Array, pads: Pads,
                 kernel_size: int) -> jax.Array:
  """d/dk of `_strided(x, k, pads)` against the cotangent `dy`.

  Written as the convolution autodiff would emit for a strided conv (batch
  and features of `x` exchanged, `dy` as a dilated window), the form XLA
  maps to its fast convolution library.
  """
  (lo_h, _), (lo_w, _) = pads
  hi = [kernel_size + 2 * (dy.shape[d] - 1) - x.shape[d] - lo
        for d, lo in ((1, lo_h), (2, lo_w))]
  return lax.conv_general_dilated(
      x, dy, (1, 1), ((lo_h, hi[0]), (lo_w, hi[1])), rhs_dilation=(2, 2),
      dimension_numbers=("CHWN", "IHWO", "HWNC"))


def _phase_taps(kernel_size: int, pad: int) -> tuple[int, list, list]:
  """Per output phase a: first kernel tap and input offset; tap count.

  out[2m + a] = sum_t x[m + offset_a + t] k[first_a + 2t].
  """
  first = [(pad - a) % 2 for a in (0, 1)]
  offset = [(a + first[a] - pad) // 2 for a in (0, 1)]
  return -(-kernel_size // 2), first, offset


def _dilated(x: jax.Array, kernel: jax.Array, pads: tuple[int, int],
             out_size: tuple[int, int]) -> jax.Array:
  """out[o] = sum_i xd[o + i - pad] k[i], xd = x with zeros between pixels.

  The flax transposed convolution, and the input gradient of `_strided`.
  Computed as one stride-1 convolution whose output channels hold the four
  phases (even/odd rows x even/odd columns), then interleaved.
  """
  k = kernel.shape[0]
  taps, firsts, offsets, xpads, shifts = [], [], [], [], []
  for d, pad in enumerate(pads):
    j, first, offset = _phase_taps(k, pad)
    lo = min(offset)
    length = out_size[d] // 2 + max(offset) - lo
    xpads.append((-lo, length + j - 1 + lo - x.shape[1 + d]))
    taps.append(j)
    firsts.append(first)
    shifts.append([o - lo for o in offset])
  jh, jw = taps
  kp = jnp.pad(kernel, ((0, 2 * jh), (0, 2 * jw), (0, 0), (0, 0)))
  phase_kernels = [kp[fh:fh + 2 * jh:2, fw:fw + 2 * jw:2]
                   for fh in firsts[0] for fw in firsts[1]]
  xp = lax.pad(x, jnp.zeros((), x.dtype),
               ((0, 0, 0), xpads[0] + (0,), xpads[1] + (0,), (0, 0, 0)))
  y = lax.conv_general_dilated(xp, jnp.concatenate(phase_kernels, axis=-1),
                               (1, 1), "VALID", dimension_numbers=_DN)
  n, o = x.shape[0], kernel.shape[-1]
  mh, mw = out_size[0] // 2, out_size[1] // 2
  y = y.reshape(y.shape[:3] + (2, 2, o))
  rows = []
  for a, sh in enumerate(shifts[0]):
    cols = [y[:, sh:sh + mh, sw:sw + mw, a, b]
            for b, sw in enumerate(shifts[1])]
    rows.append(jnp.stack(cols, axis=3))
  return jnp.stack(rows, axis=2).reshape(n, 2 * mh, 2 * mw, o)


# Batching rules: what a population (vmap over members) runs instead of
# XLA's grouped convolutions.


def _per_member(fn: Callable, a: jax.Array, b: jax.Array) -> jax.Array:
  """One call per member on CPU; elsewhere XLA's own batching."""
  if jax.default_backend() != "cpu":
    return jax.vmap(fn)(a, b)
  return jnp.stack([fn(a[i], b[i]) for i in range(a.shape[0])])


def _split_channels(y: jax.Array, size: int, axis: int) -> jax.Array:
  """Moves `size` member blocks of channel `axis` to a new leading axis."""
  axis %= y.ndim
  y = y.reshape(y.shape[:axis] + (size, -1) + y.shape[axis + 1:])
  return jnp.moveaxis(y, axis, 0)


def _join_channels(x: jax.Array) -> jax.Array:
  """(P, ..., C) -> (..., P * C), members side by side in the channels."""
  x = jnp.moveaxis(x, 0, -2)
  return x.reshape(x.shape[:-2] + (-1,))


def _conv_like(fn: Callable) -> Callable:
  """`fn(x, kernel)`, linear in both, with a member batching rule."""
  wrapped = jax.custom_batching.custom_vmap(fn)

  @wrapped.def_vmap
  def rule(size, batched, x, kernel):
    if all(batched):
      return _per_member(fn, x, kernel), True
    if batched[1]:  # Shared input: the members' kernels side by side.
      return _split_channels(fn(x, _join_channels(kernel)), size, -1), True
    y = fn(x.reshape((-1,) + x.shape[2:]), kernel)  # Members as batch.
    return y.reshape((size, -1) + y.shape[1:]), True

  return wrapped


def _kernel_grad_like(fn: Callable) -> Callable:
  """`fn(x, dy)` -> kernel gradient, with a member batching rule."""
  wrapped = jax.custom_batching.custom_vmap(fn)

  @wrapped.def_vmap
  def rule(size, batched, x, dy):
    if all(batched):
      return _per_member(fn, x, dy), True
    if batched[1]:  # Shared input: one gradient for all output channels.
      return _split_channels(fn(x, _join_channels(dy)), size, -1), True
    return _split_channels(fn(_join_channels(x), dy), size, -2), True

  return wrapped


@functools.cache
def _primitives(pads: Pads, kernel_size: int, size: tuple[int, int]):
  """A strided conv geometry's forward, kernel gradient and adjoint.

  `size` is the strided conv's input size; the adjoint (input gradient)
  maps its output back to that size.
  """
  strided = _conv_like(functools.partial(_strided, pads=pads))
  kernel_grad = _kernel_grad_like(
      functools.partial(_kernel_grad, pads=pads, kernel_size=kernel_size))
  adjoint = _conv_like(functools.partial(
      _dilated, pads=tuple(kernel_size - 1 - lo for lo, _ in pads),
      out_size=size))
  return strided, kernel_grad, adjoint


def _even_size(x: jax.Array) -> tuple[int, int]:
  h, w = x.shape[1:3]
  if h % 2 or w % 2:
    raise ValueError(f"conv_ops needs even spatial sizes; got {h}x{w}.")
  return h, w


def _conv_geometry(x: jax.Array, kernel: jax.Array):
  """Primitives of `conv(x, kernel)`."""
  k = kernel.shape[0]
  h, w = _even_size(x)
  return _primitives((same_pads(h, k), same_pads(w, k)), k, (h, w))


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


class Conv(nn.Module):
  """`nn.Conv(features, (k, k), strides=2, padding="SAME")`, fast on CPU."""

  features: int
  kernel_size: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init,
                        (k, k, inputs.shape[-1], self.features),
                        self.param_dtype)
    bias = self.param("bias", self.bias_init, (self.features,),
                      self.param_dtype)
    inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias,
                                                   dtype=self.dtype)
    return _apply(conv, inputs, kernel, bias)


class ConvTranspose(nn.Module):
  """`nn.ConvTranspose(features, (k, k), strides=(2, 2), padding="SAME")`."""

  features: int
  kernel_size: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init,
                        (k, k, inputs.shape[-1], self.features),
                        self.param_dtype)
    bias = self.param("bias", self.bias_init, (self.features,),
                      self.param_dtype)
    inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias,
                                                   dtype=self.dtype)
    return _apply(conv_transpose, inputs, kernel, bias)
