"""FLOP counts of the conv model, layer by layer."""

from benchmarks import flops
from betavae_jax import base_config


def test_default_model_flops_per_image():
  """97.6 MFLOP: the 16.26 M forward multiply-adds, x2 x3."""
  count = flops.model_flops_per_image(base_config.base_config().model,
                                      (64, 64, 1))
  assert count == 6 * 16_260_608


def test_conv_layers_chain_and_the_decoder_mirrors_the_encoder():
  model = base_config.base_config().model
  layers = flops.conv_layers(model, (28, 28, 3))  # Padded to 32 x 32.
  assert [layer.name for layer in layers] == (
      [f"encoder/Conv_{i}" for i in range(4)]
      + [f"decoder/ConvTranspose_{i}" for i in range(4)])
  assert layers[0].in_shape == (32, 32, 3)
  for a, b in zip(layers[:-1], layers[1:]):
    h, w, _ = a.in_shape
    size = (2 * h, 2 * w) if a.transposed else (h // 2, w // 2)
    assert b.in_shape == size + (a.features,)
  assert layers[-1].features == 3
  encoder, decoder = layers[:4], layers[4:]
  assert ([layer.macs_per_image for layer in encoder]
          == [layer.macs_per_image for layer in decoder[::-1]])
  # The encoder's second layer: 8 x 8 outputs, 4 x 4 x 32 x 32 each.
  assert encoder[1].macs_per_image == 8 * 8 * 16 * 32 * 32
