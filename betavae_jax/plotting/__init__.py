"""Pictures of a trained beta-VAE: traversals, reconstructions, samples, KL.

The figures are pure functions of two callables and fixed arrays, so the
visualize command, the train loop's figure hook, the notebook and the
sweep report draw the same pictures. Both callables carry a leading
population axis P: `encode` maps uint8 images (N, H, W, C) to (mean,
logvar), each (P, N, D), and `decode` maps latents (P, N, D) to decoder
outputs (P, N, H, W, C). Every figure is an HWC float image in [0, 1] with
one panel per population member, titled with its name (beta and seed).

* `arrays`: what the figures show, as arrays (no matplotlib);
* `draw`: matplotlib drawing of those arrays into images;
* `figures`: every figure of a model or a loaded run;
* `files`: PNG and GIF files.

The package imports none of its modules, so `plotting.arrays` loads no
matplotlib.
"""
